"""Ejercicios de la lección 00 (bienvenida)."""

import asyncio
import socket
from typing import Any

from ..background import BackgroundEchoServer
from .core import Exercise, call_coroutine, expect_equal, register
from .servers import wait_all_closed

__all__: list[str] = []

MESSAGES = [b"Hola, eco", "¡Año nuevo, ñandú!".encode(), bytes(range(256)) * 800]


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
    # El retardo hace que cualquier llamada bloqueante congele el bucle de forma visible.
    with BackgroundEchoServer(delay=0.3) as server:
        for message in MESSAGES:
            got = await call_coroutine(candidate, server.address, message)
            expect_equal(message, got, f"eco de un mensaje de {len(message)} bytes")
        await wait_all_closed(server)


async def _reads_once(direccion: tuple[str, int], mensaje: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(*direccion)
    writer.write(mensaje)
    await writer.drain()
    data = await reader.read(100)
    writer.close()
    await writer.wait_closed()
    return data


async def _blocking_socket(direccion: tuple[str, int], mensaje: bytes) -> bytes:
    with socket.create_connection(direccion, timeout=5) as sock:
        sock.sendall(mensaje)
        data = b""
        while len(data) < len(mensaje):
            data += sock.recv(65536)
        return data


async def _never_closes(direccion: tuple[str, int], mensaje: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(*direccion)
    writer.write(mensaje)
    await writer.drain()
    data = await reader.readexactly(len(mensaje))
    _never_closes.leaked.append(writer)  # type: ignore[attr-defined]
    return data


_never_closes.leaked = []  # type: ignore[attr-defined]


register(
    Exercise(
        key="00.1",
        title="Tu primer eco",
        function_name="pedir_eco",
        checker=_check_pedir_eco,
        solution=pedir_eco,
        wrong=(_reads_once, _blocking_socket, _never_closes),
    )
)
