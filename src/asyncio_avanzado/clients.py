"""Clientes de prueba para un servidor: varios que esperan su respuesta y uno que corta a medias.

Con ellos se ve si un servidor aísla los errores de cada cliente: el que corta con RST
hace que la lectura del servidor falle con ``ConnectionResetError`` (o
``IncompleteReadError``), y los demás deberían recibir su respuesta igual::

    respuestas = await clients_with_one_reset(servidor.sockets[0].getsockname())
    print(sum(r == b"HOLA!" for r in respuestas), "de 4 clientes atendidos")
"""

import asyncio
import socket
import struct

__all__ = ["clients_with_one_reset", "reset_connection"]


def reset_connection(writer: asyncio.StreamWriter) -> None:
    """Corta la conexión de `writer` con un RST en lugar del cierre normal (FIN).

    Con ``SO_LINGER`` a cero, cerrar el *socket* descarta lo pendiente y envía un RST: al otro
    lado, la siguiente lectura o escritura falla con ``ConnectionResetError``. No devuelve nada.
    """
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def _patient_client(address: tuple[str, int], message: bytes, patience: float) -> bytes:
    reader, writer = await asyncio.open_connection(*address)
    try:
        writer.write(message)
        async with asyncio.timeout(patience):
            return await reader.read()
    except (ConnectionError, TimeoutError):
        return b""
    finally:
        writer.transport.abort()


async def _resetting_client(address: tuple[str, int], message: bytes, after: float) -> None:
    _, writer = await asyncio.open_connection(*address)
    writer.write(message[: len(message) // 2])  # media petición...
    await asyncio.sleep(after)
    reset_connection(writer)  # ...y un corte en seco


async def clients_with_one_reset(
    address: tuple[str, int],
    message: bytes = b"hola!",
    *,
    good: int = 4,
    reset_after: float = 0.05,
    patience: float = 2.0,
) -> list[bytes]:
    """Lanza a la vez `good` clientes que envían `message` y uno que corta con RST.

    Cada cliente bueno envía `message` y lee hasta que el servidor cierre (como mucho
    `patience` segundos). El que corta envía media `message` y, a los `reset_after` segundos,
    corta con `reset_connection`. Devuelve lo que recibió cada cliente bueno, en orden
    (``b""`` si le cortaron la conexión o pasaron `patience` segundos sin que el servidor cerrara).
    """
    if good < 0 or reset_after < 0 or patience <= 0:
        raise ValueError(
            "good y reset_after no pueden ser negativos, y patience debe ser positivo: "
            f"{good!r}, {reset_after!r}, {patience!r}"
        )
    patient = [
        asyncio.create_task(_patient_client(address, message, patience)) for _ in range(good)
    ]
    resetting = asyncio.create_task(_resetting_client(address, message, reset_after))
    try:
        await resetting
        return list(await asyncio.gather(*patient))
    finally:
        for task in (*patient, resetting):  # si nos cancelan, que no quede ningún cliente
            task.cancel()
        await asyncio.gather(*patient, resetting, return_exceptions=True)
