"""Ejercicios de la lección 08 (rendimiento comparado)."""

import asyncio
import socket
from typing import Any

from ..echo import EchoServer
from ..lag import format_duration
from .core import Exercise, Failure, call_coroutine, register
from .servers import wait_all_closed

__all__: list[str] = []

# -- 08.1: un generador de carga en miniatura ----------------------------------------------

MESSAGE = bytes(range(64))
CONNECTIONS = 4
SECONDS = 1.0
# El servidor lee de 16 en 16 bytes y espera 0.05 s antes de devolver cada trozo: cada eco
# tarda unos 0.2 s y llega en cuatro pedazos, así que contar una lectura suelta como un eco
# se nota en las cuentas.
CHUNK = 16
DELAY = 0.05


async def medir_ecos(
    direccion: tuple[str, int], mensaje: bytes, conexiones: int, segundos: float
) -> int:
    """Hace ping-pong con `mensaje` por `conexiones` conexiones a la vez durante `segundos`
    segundos; devuelve cuántos ecos completos recibió en total."""
    bucle = asyncio.get_running_loop()
    fin = bucle.time() + segundos

    async def una_conexion() -> int:
        reader, writer = await asyncio.open_connection(*direccion)
        ecos = 0
        try:
            while bucle.time() < fin:
                writer.write(mensaje)
                await writer.drain()
                # El eco mide lo mismo que el mensaje: lo leemos entero, llegue como llegue.
                if await reader.readexactly(len(mensaje)) != mensaje:
                    raise ValueError("el eco no coincide con el mensaje enviado")
                ecos += 1
            return ecos
        finally:
            writer.close()
            await writer.wait_closed()

    async with asyncio.TaskGroup() as tg:
        tareas = [tg.create_task(una_conexion()) for _ in range(conexiones)]
    return sum(tarea.result() for tarea in tareas)


async def _check_medir_ecos(candidate: Any) -> None:
    loop = asyncio.get_running_loop()
    async with EchoServer(delay=DELAY, chunk_size=CHUNK) as server:
        start = loop.time()
        got = await call_coroutine(candidate, server.address, MESSAGE, CONNECTIONS, SECONDS)
        elapsed = loop.time() - start
        await wait_all_closed(server)
        stats = server.stats
    if not isinstance(got, int) or isinstance(got, bool):
        raise Failure(f"medir_ecos debe devolver un entero (los ecos completos), no {got!r}")
    if stats.peak_active < CONNECTIONS:
        raise Failure(
            f"el servidor vio como mucho {stats.peak_active} conexión(es) abierta(s) a la vez y "
            f"pedimos {CONNECTIONS}: abre todas y haz que trabajen a la vez, una tarea por "
            "conexión (por ejemplo, con un asyncio.TaskGroup)"
        )
    complete = stats.bytes_sent // len(MESSAGE)
    if got > complete:
        raise Failure(
            f"devolviste {got} ecos, pero el servidor solo envió {stats.bytes_sent} bytes, es "
            f"decir, {complete} ecos completos de {len(MESSAGE)} bytes: ¿cuentas como eco una "
            "lectura que trae solo un trozo? Lee el eco entero con "
            "reader.readexactly(len(mensaje))"
        )
    # Al acabar el plazo, cada conexión puede dejar a medias (sin contar) su último eco.
    if got < max(CONNECTIONS, complete - CONNECTIONS):
        raise Failure(
            f"devolviste {got} ecos, pero el servidor devolvió {complete} completos: suma los "
            "ecos de todas las conexiones"
        )
    if elapsed < 0.9 * SECONDS:
        raise Failure(
            f"medir_ecos terminó en {format_duration(elapsed)}, antes de los {SECONDS:g} s que "
            "pedimos: cada conexión debe seguir haciendo ping-pong hasta que venza el plazo"
        )


async def _one_at_a_time(
    direccion: tuple[str, int], mensaje: bytes, conexiones: int, segundos: float
) -> int:
    bucle = asyncio.get_running_loop()
    ecos = 0
    for _ in range(conexiones):  # una conexión detrás de otra: nunca a la vez
        fin = bucle.time() + segundos / conexiones
        reader, writer = await asyncio.open_connection(*direccion)
        while bucle.time() < fin:
            writer.write(mensaje)
            await writer.drain()
            await reader.readexactly(len(mensaje))
            ecos += 1
        writer.close()
        await writer.wait_closed()
    return ecos


async def _reads_a_piece(
    direccion: tuple[str, int], mensaje: bytes, conexiones: int, segundos: float
) -> int:
    bucle = asyncio.get_running_loop()
    fin = bucle.time() + segundos

    async def una_conexion() -> int:
        reader, writer = await asyncio.open_connection(*direccion)
        ecos = 0
        while bucle.time() < fin:
            writer.write(mensaje)
            await writer.drain()
            await reader.read(len(mensaje))  # puede traer solo un trozo del eco
            ecos += 1
        writer.close()
        await writer.wait_closed()
        return ecos

    return sum(await asyncio.gather(*(una_conexion() for _ in range(conexiones))))


async def _blocking_sockets(
    direccion: tuple[str, int], mensaje: bytes, conexiones: int, segundos: float
) -> int:
    bucle = asyncio.get_running_loop()
    fin = bucle.time() + segundos
    ecos = 0
    socks = [socket.create_connection(direccion, timeout=1) for _ in range(conexiones)]
    try:
        while bucle.time() < fin:
            for sock in socks:  # bloqueante: el bucle se congela en cada recv
                sock.sendall(mensaje)
                recibido = b""
                while len(recibido) < len(mensaje):
                    recibido += sock.recv(len(mensaje) - len(recibido))
                ecos += 1
    finally:
        for sock in socks:
            sock.close()
    return ecos


register(
    Exercise(
        key="08.1",
        title="Un generador de carga en miniatura",
        function_name="medir_ecos",
        checker=_check_medir_ecos,
        solution=medir_ecos,
        wrong=(_one_at_a_time, _reads_a_piece, _blocking_sockets),
        timeout=10.0,
    )
)
