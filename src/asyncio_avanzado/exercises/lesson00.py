"""Ejercicios de la lección 00 (bienvenida), y las comprobaciones que comparten las 00 a 02."""

import asyncio
import socket
from typing import Any

from ..background import BackgroundEchoServer
from ..text import plural
from .calls import run_calls, sizes
from .core import Exercise, Failure, Mistake, Wrong, register, unpredictable
from .servers import HasStats, WriterSpy, spy_writers, wait_all_closed

__all__: list[str] = []


# -- utilidades que comparten las comprobaciones de las lecciones 00, 01 y 02 -------------------


def expect_bytes(expected: bytes, got: Any, what: str) -> None:
    """Lanza `Failure` si `got` no es `expected`; si es solo un trozo, dice que faltó leer."""
    if got == expected:
        return
    if isinstance(got, bytes | bytearray) and got and expected.startswith(got):
        raise Failure(
            f"{what}: llegó solo una parte ({len(got)} de {len(expected)} bytes). Un read(n) "
            "devuelve lo que haya llegado ya, no el mensaje entero: lee exactamente los bytes "
            "que esperas (readexactly) o hasta el final (read() sin argumento)"
        )
    if isinstance(got, bytes | bytearray) and len(got) < len(expected):
        raise Failure(
            f"{what}: llegaron {len(got)} bytes de {len(expected)}, y no coinciden con los "
            "enviados: devuelve la respuesta del servidor, entera y sin cambiar nada"
        )
    shown = repr(got) if len(repr(got)) < 60 else repr(got)[:55] + "…"
    raise Failure(f"{what}: se esperaban los {len(expected)} bytes enviados, llegó {shown}")


def expect_traffic(server: HasStats, received: int, sent: int, what: str) -> None:
    """Lanza `Failure` si `server` no recibió `received` bytes y envió `sent`.

    Es la respuesta sin el trabajo: un resultado que no vino del servidor. `what` nombra lo
    que el alumno debía enviar («tus mensajes»).
    """
    stats = server.stats
    if stats.bytes_received < received or stats.bytes_sent < sent:
        raise Failure(
            f"el servidor recibió {plural(stats.bytes_received, 'byte')} y devolvió "
            f"{plural(stats.bytes_sent, 'byte')} de los {received} bytes de {what}: la respuesta "
            "no vino del servidor. Envía todo y devuelve lo que él conteste"
        )
    if stats.bytes_received > received:
        raise Failure(
            f"el servidor recibió {plural(stats.bytes_received, 'byte')}, más que los "
            f"{received} bytes de {what}: envía cada cosa una sola vez"
        )


def expect_streams(spy: WriterSpy, calls: int, task: str) -> None:
    """Lanza `Failure` si hubo menos conexiones de *streams* que `calls` (otra herramienta)."""
    if spy.opened < calls:
        raise Failure(
            f"{task} sin abrir una conexión con asyncio.open_connection "
            f"({plural(spy.opened, 'conexión de streams', 'conexiones de streams')} para "
            f"{plural(calls, 'llamada')}): no usaste asyncio.open_connection. El resultado es "
            "correcto, pero el ejercicio pide los streams de asyncio (ni un socket bloqueante, "
            "ni un hilo, ni loop.sock_*)"
        )


# -- 00.1: tu primer eco ------------------------------------------------------------------------

ECHO_DELAY = 0.1
"""Lo que tarda el servidor en devolver cada trozo (de hasta 64 KiB) de un mensaje."""
DEADLINE = 5.0


async def pedir_eco(direccion: tuple[str, int], mensaje: bytes) -> bytes:
    """Devuelve el eco de `mensaje` que da el servidor en `direccion`."""
    reader, writer = await asyncio.open_connection(*direccion)
    try:
        writer.write(mensaje)
        await writer.drain()
        # Un eco devuelve exactamente lo enviado: leemos ese número de bytes, ni uno menos.
        return await reader.readexactly(len(mensaje))
    finally:
        writer.close()
        await writer.wait_closed()


async def _check_pedir_eco(candidate: Any) -> None:
    # Mensajes al azar (no se pueden escribir a mano): dos cortos, uno mediano y uno de unos
    # 200 KiB, cuyo eco llega en cuatro trozos separados por el retardo del servidor.
    messages = [
        unpredictable(n) for n in sizes((10, 60), (10, 60), (900, 4000), (190_000, 230_000))
    ]
    with BackgroundEchoServer(delay=ECHO_DELAY) as server, spy_writers(server.address) as spy:
        # Las cuatro llamadas a la vez: bloquear el bucle en una retrasa a todas.
        got = await run_calls(
            candidate,
            [(server.address, message) for message in messages],
            DEADLINE,
            "¿lees más bytes de los que devuelve el eco? Un eco devuelve exactamente los enviados",
        )
        for message, echo in zip(messages, got, strict=True):
            expect_bytes(message, echo, f"eco de un mensaje de {len(message)} bytes")
        spy.raise_if_left_open()
        await wait_all_closed(server)
        total = sum(map(len, messages))
        expect_traffic(server, total, total, "tus mensajes")
        expect_streams(spy, len(messages), "el eco llegó")


async def _reads_once(direccion: tuple[str, int], mensaje: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(*direccion)
    try:
        writer.write(mensaje)
        await writer.drain()
        return await reader.read(100)  # lo que haya llegado, hasta 100 bytes
    finally:
        writer.close()
        await writer.wait_closed()


async def _reads_one_big_chunk(direccion: tuple[str, int], mensaje: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(*direccion)
    try:
        writer.write(mensaje)
        await writer.drain()
        return await reader.read(1_000_000)  # «cabe de sobra»... pero llega en trozos
    finally:
        writer.close()
        await writer.wait_closed()


async def _returns_the_message(direccion: tuple[str, int], mensaje: bytes) -> bytes:
    return mensaje  # «un eco devuelve lo mismo»: sin hablar con el servidor


async def _connects_without_sending(direccion: tuple[str, int], mensaje: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(*direccion)
    writer.close()
    await writer.wait_closed()
    return mensaje


async def _blocking_socket(direccion: tuple[str, int], mensaje: bytes) -> bytes:
    with socket.create_connection(direccion, timeout=5) as sock:
        sock.sendall(mensaje)
        data = b""
        while len(data) < len(mensaje):
            data += sock.recv(65536)
        return data


async def _blocking_in_slices(direccion: tuple[str, int], mensaje: bytes) -> bytes:
    # «Cedo el bucle entre intento e intento»: cada recv() bloquea hasta 50 ms igualmente.
    with socket.create_connection(direccion, timeout=5) as sock:
        sock.sendall(mensaje)
        sock.settimeout(0.05)
        data = b""
        while len(data) < len(mensaje):
            try:
                data += sock.recv(65536)
            except TimeoutError:
                await asyncio.sleep(0)
        return data


async def _in_a_thread(direccion: tuple[str, int], mensaje: bytes) -> bytes:
    def blocking() -> bytes:
        with socket.create_connection(direccion, timeout=5) as sock:
            sock.sendall(mensaje)
            data = b""
            while len(data) < len(mensaje):
                data += sock.recv(65536)
            return data

    return await asyncio.to_thread(blocking)


async def _never_closes(direccion: tuple[str, int], mensaje: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(*direccion)
    writer.write(mensaje)
    await writer.drain()
    data = await reader.readexactly(len(mensaje))
    _never_closes.leaked.append(writer)  # type: ignore[attr-defined]
    return data


# Las pruebas cierran después estos writers: el error los deja abiertos a propósito. Los demás
# errores que dejan conexiones abiertas los apuntan aquí también.
_never_closes.leaked = []  # type: ignore[attr-defined]


async def _drops_the_writer(direccion: tuple[str, int], mensaje: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(*direccion)
    writer.write(mensaje)
    await writer.drain()
    return await reader.readexactly(len(mensaje))  # sin cerrar: que lo cierre la basura


async def _does_not_wait_closed(direccion: tuple[str, int], mensaje: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(*direccion)
    try:
        writer.write(mensaje)
        await writer.drain()
        return await reader.readexactly(len(mensaje))
    finally:
        writer.close()  # sin await writer.wait_closed()


register(
    Exercise(
        key="00.1",
        title="Tu primer eco",
        function_name="pedir_eco",
        checker=_check_pedir_eco,
        solution=pedir_eco,
        wrong=(
            Wrong(_reads_once, Mistake.PARTIAL_IO, "llegó solo una parte"),
            Wrong(_reads_one_big_chunk, Mistake.PARTIAL_IO, "llegó solo una parte"),
            Wrong(_returns_the_message, Mistake.NO_WORK, "no vino del servidor"),
            Wrong(_connects_without_sending, Mistake.NO_WORK, "no vino del servidor"),
            Wrong(_blocking_socket, Mistake.BLOCKING, "congeló el bucle"),
            Wrong(_blocking_in_slices, Mistake.BLOCKING, "congeló el bucle"),
            Wrong(_in_a_thread, Mistake.WRONG_TOOL, "no usaste asyncio.open_connection"),
            Wrong(_never_closes, Mistake.LEFT_OPEN, "cuando tu función terminó"),
            Wrong(_drops_the_writer, Mistake.LEFT_OPEN, "cuando tu función terminó"),
            Wrong(_does_not_wait_closed, Mistake.LEFT_OPEN, "no esperaste"),
        ),
        applies=frozenset(
            {
                Mistake.NO_WORK,
                Mistake.LEFT_OPEN,
                Mistake.PARTIAL_IO,
                Mistake.WRONG_TOOL,
                Mistake.BLOCKING,
            }
        ),
    )
)
