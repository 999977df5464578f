"""Ejercicios de la lección 08 (rendimiento comparado)."""

import asyncio
import random
import socket
import threading
from dataclasses import dataclass
from typing import Any

from ..background import BackgroundServer
from ..lag import format_duration
from ..text import plural
from .core import (
    Exercise,
    Failure,
    Mistake,
    Wrong,
    call_coroutine,
    register,
    unpredictable,
)
from .lesson00 import expect_streams
from .servers import spy_writers, wait_all_closed

__all__: list[str] = []

# -- 08.1: un generador de carga en miniatura ----------------------------------------------

CONNECTIONS = 4
SECONDS = 1.0
PIECES = 4
"""El servidor devuelve cada eco en estos trozos, con `DELAY` segundos antes de cada uno."""
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


@dataclass
class _Stats:
    """Lo que vio el servidor de la comprobación (lo lee otro hilo: solo enteros)."""

    active: int = 0
    peak_active: int = 0
    connections: int = 0
    bytes_received: int = 0
    bytes_sent: int = 0
    complete: int = 0
    """Ecos completos (un múltiplo del tamaño del mensaje) devueltos, sumando cada conexión."""
    max_in_flight: int = 0
    """Lo más que alguna conexión llegó a tener enviado y aún sin su eco, en bytes."""


class PiecewiseEcho:
    """Servidor de eco que devuelve cada mensaje en `pieces` trozos, con `delay` segundos
    antes de cada trozo, y anota cuánto tiene cada conexión enviado sin su eco.

    Se ejecuta en su propio hilo (`BackgroundServer`): un cliente bloqueante no lo congela.
    """

    def __init__(self, size: int, pieces: int, delay: float) -> None:
        self.size = size
        self.piece = -(-size // pieces)
        self.delay = delay
        self.stats = _Stats()
        self._lock = threading.Lock()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        stats = self.stats
        with self._lock:
            stats.active += 1
            stats.connections += 1
            stats.peak_active = max(stats.peak_active, stats.active)
        counts = {"received": 0, "sent": 0}
        pending = bytearray()
        arrived = asyncio.Event()
        ended = False

        async def read_everything() -> None:
            # Lee todo lo que llegue, aunque aún no hayamos devuelto lo anterior: así se ve
            # cuánto tiene el cliente enviado sin su eco.
            nonlocal ended
            try:
                while data := await reader.read(64 * 1024):
                    counts["received"] += len(data)
                    pending.extend(data)
                    with self._lock:
                        stats.bytes_received += len(data)
                        in_flight = counts["received"] - counts["sent"]
                        stats.max_in_flight = max(stats.max_in_flight, in_flight)
                    arrived.set()
            except ConnectionError:
                pass
            finally:
                ended = True
                arrived.set()

        reading = asyncio.create_task(read_everything())
        try:
            while True:
                if not pending:
                    if ended:
                        break
                    arrived.clear()
                    await arrived.wait()
                    continue
                await asyncio.sleep(self.delay)
                chunk = bytes(pending[: self.piece])
                del pending[: self.piece]
                writer.write(chunk)
                before = counts["sent"] // self.size
                counts["sent"] += len(chunk)  # antes de ceder: el cliente ya puede contestar
                with self._lock:
                    stats.bytes_sent += len(chunk)
                    stats.complete += counts["sent"] // self.size - before
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            reading.cancel()
            await asyncio.gather(reading, return_exceptions=True)
            with self._lock:
                stats.active -= 1
            writer.close()
            self._tasks.discard(task)

    async def start(self) -> None:
        """Arranca en 127.0.0.1, en un puerto libre."""
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)

    async def stop(self) -> None:
        """Deja de escuchar y corta las conexiones que queden."""
        if self._server is not None:
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._server.wait_closed()
            self._server = None

    @property
    def address(self) -> tuple[str, int]:
        """Devuelve la dirección `(host, puerto)` en que escucha."""
        assert self._server is not None
        host, port = self._server.sockets[0].getsockname()[:2]
        return host, port


async def _check_medir_ecos(candidate: Any) -> None:
    message = unpredictable(random.randint(48, 96))
    server = PiecewiseEcho(len(message), PIECES, DELAY)
    loop = asyncio.get_running_loop()
    with BackgroundServer(server) as background:
        with spy_writers(background.address) as spy:
            start = loop.time()
            got = await call_coroutine(candidate, background.address, message, CONNECTIONS, SECONDS)
            elapsed = loop.time() - start
        spy.raise_if_left_open()
        await wait_all_closed(server)
    stats = server.stats
    if not isinstance(got, int) or isinstance(got, bool):
        raise Failure(f"medir_ecos debe devolver un entero (los ecos completos), no {got!r}")
    expect_streams(spy, CONNECTIONS, "medir_ecos trabajó")
    if stats.peak_active < CONNECTIONS:
        raise Failure(
            "el servidor vio como mucho "
            f"{plural(stats.peak_active, 'conexión abierta', 'conexiones abiertas')} a la vez y "
            f"pedimos {CONNECTIONS}: abre todas y haz que trabajen a la vez, una "
            "tarea por conexión (por ejemplo, con un asyncio.TaskGroup)"
        )
    size = len(message)
    if got > stats.complete:
        raise Failure(
            f"devolviste {got} ecos, pero el servidor solo envió "
            f"{plural(stats.bytes_sent, 'byte')}, es decir, "
            f"{plural(stats.complete, 'eco completo', 'ecos completos')} de {size} bytes: "
            "¿cuentas como eco una lectura que trae solo un trozo? Lee el eco entero con "
            "reader.readexactly(len(mensaje))"
        )
    if stats.max_in_flight > size:
        raise Failure(
            f"una conexión llegó a tener {stats.max_in_flight} bytes enviados sin su eco, más que "
            f"un mensaje ({size} bytes): en un ping-pong se envía un mensaje, se espera su eco "
            "entero y solo entonces se envía el siguiente (un solo mensaje en vuelo)"
        )
    # Al acabar el plazo, cada conexión puede dejar a medias (sin contar) su último eco.
    if got < max(CONNECTIONS, stats.complete - CONNECTIONS):
        raise Failure(
            f"devolviste {got} ecos, pero el servidor devolvió {stats.complete} completos: suma "
            "los ecos de todas las conexiones"
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


async def _pipelines(
    direccion: tuple[str, int], mensaje: bytes, conexiones: int, segundos: float
) -> int:
    # Envía cuatro mensajes seguidos y luego lee sus cuatro ecos: más rápido, pero ya no es
    # un ping-pong (cuatro mensajes en vuelo).
    bucle = asyncio.get_running_loop()
    fin = bucle.time() + segundos

    async def una_conexion() -> int:
        reader, writer = await asyncio.open_connection(*direccion)
        ecos = 0
        try:
            while bucle.time() < fin:
                writer.write(mensaje * 4)
                await writer.drain()
                await reader.readexactly(4 * len(mensaje))
                ecos += 4
            return ecos
        finally:
            writer.close()
            await writer.wait_closed()

    return sum(await asyncio.gather(*(una_conexion() for _ in range(conexiones))))


async def _reads_a_piece(
    direccion: tuple[str, int], mensaje: bytes, conexiones: int, segundos: float
) -> int:
    bucle = asyncio.get_running_loop()
    fin = bucle.time() + segundos

    async def una_conexion() -> int:
        reader, writer = await asyncio.open_connection(*direccion)
        ecos = 0
        try:
            while bucle.time() < fin:
                writer.write(mensaje)
                await writer.drain()
                await reader.read(len(mensaje))  # puede traer solo un trozo del eco
                ecos += 1
            return ecos
        finally:
            writer.close()
            await writer.wait_closed()

    return sum(await asyncio.gather(*(una_conexion() for _ in range(conexiones))))


async def _guesses_the_count(
    direccion: tuple[str, int], mensaje: bytes, conexiones: int, segundos: float
) -> int:
    # Abre las conexiones, espera y devuelve una estimación: ningún eco de verdad.
    conexiones_abiertas = [await asyncio.open_connection(*direccion) for _ in range(conexiones)]
    await asyncio.sleep(segundos)
    for _, writer in conexiones_abiertas:
        writer.close()
        await writer.wait_closed()
    return int(conexiones * segundos / 0.2)


async def _never_closes(
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
            await reader.readexactly(len(mensaje))
            ecos += 1
        return ecos  # sin writer.close(): la conexión sigue abierta

    return sum(await asyncio.gather(*(una_conexion() for _ in range(conexiones))))


async def _no_wait_closed(
    direccion: tuple[str, int], mensaje: bytes, conexiones: int, segundos: float
) -> int:
    bucle = asyncio.get_running_loop()
    fin = bucle.time() + segundos

    async def una_conexion() -> int:
        reader, writer = await asyncio.open_connection(*direccion)
        ecos = 0
        try:
            while bucle.time() < fin:
                writer.write(mensaje)
                await writer.drain()
                await reader.readexactly(len(mensaje))
                ecos += 1
            return ecos
        finally:
            writer.close()  # sin await writer.wait_closed()

    return sum(await asyncio.gather(*(una_conexion() for _ in range(conexiones))))


def _blocking_ping_pong(sock: socket.socket, mensaje: bytes) -> None:
    sock.sendall(mensaje)
    recibido = b""
    while len(recibido) < len(mensaje):
        recibido += sock.recv(len(mensaje) - len(recibido))


async def _blocking_sockets(
    direccion: tuple[str, int], mensaje: bytes, conexiones: int, segundos: float
) -> int:
    bucle = asyncio.get_running_loop()
    fin = bucle.time() + segundos
    ecos = 0
    socks = [socket.create_connection(direccion, timeout=2) for _ in range(conexiones)]
    try:
        while bucle.time() < fin:
            for sock in socks:  # bloqueante: el bucle se congela en cada recv
                _blocking_ping_pong(sock, mensaje)
                ecos += 1
            await asyncio.sleep(0)  # ceder entre vuelta y vuelta no lo arregla
    finally:
        for sock in socks:
            sock.close()
    return ecos


async def _threads_and_sockets(
    direccion: tuple[str, int], mensaje: bytes, conexiones: int, segundos: float
) -> int:
    # Un hilo por conexión con sockets bloqueantes: funciona, pero no son los streams pedidos.
    bucle = asyncio.get_running_loop()
    fin = bucle.time() + segundos

    def una_conexion() -> int:
        ecos = 0
        with socket.create_connection(direccion, timeout=2) as sock:
            while bucle.time() < fin:
                _blocking_ping_pong(sock, mensaje)
                ecos += 1
        return ecos

    return sum(await asyncio.gather(*(asyncio.to_thread(una_conexion) for _ in range(conexiones))))


register(
    Exercise(
        key="08.1",
        title="Un generador de carga en miniatura",
        function_name="medir_ecos",
        checker=_check_medir_ecos,
        solution=medir_ecos,
        wrong=(
            Wrong(_one_at_a_time, Mistake.PROTOCOL, "a la vez"),
            Wrong(_pipelines, Mistake.PROTOCOL, "un solo mensaje en vuelo"),
            Wrong(_reads_a_piece, Mistake.PARTIAL_IO, "solo un trozo"),
            Wrong(_guesses_the_count, Mistake.NO_WORK, "el servidor solo envió 0 bytes"),
            Wrong(_never_closes, Mistake.LEFT_OPEN, "cuando tu función terminó"),
            Wrong(_no_wait_closed, Mistake.LEFT_OPEN, "no esperaste"),
            Wrong(_blocking_sockets, Mistake.BLOCKING, "congeló el bucle"),
            Wrong(_threads_and_sockets, Mistake.WRONG_TOOL, "no usaste asyncio.open_connection"),
        ),
        applies=frozenset(
            {
                Mistake.NO_WORK,
                Mistake.LEFT_OPEN,
                Mistake.PARTIAL_IO,
                Mistake.WRONG_TOOL,
                Mistake.BLOCKING,
                Mistake.PROTOCOL,
            }
        ),
        timeout=10.0,
    )
)
