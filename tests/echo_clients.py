"""Clientes de prueba para los servidores de eco (bloqueantes y asyncio)."""

import asyncio
import random
import socket

TIMEOUT = 20.0


def roundtrip(address: tuple[str, int], payload: bytes) -> bytes:
    """Envía `payload`, cierra la escritura y devuelve todo lo recibido hasta EOF."""
    with socket.create_connection(address, timeout=TIMEOUT) as sock:
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        return recv_to_eof(sock)


def recv_to_eof(sock: socket.socket) -> bytes:
    """Devuelve todo lo que llega por `sock` hasta que el otro lado cierra."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


async def chatty_client(address: tuple[str, int], seed: int, messages: int) -> int:
    """Envía `messages` mensajes aleatorios y comprueba cada eco; devuelve los bytes ecoados."""
    rng = random.Random(seed)
    reader, writer = await asyncio.open_connection(*address)
    total = 0
    try:
        for _ in range(messages):
            message = rng.randbytes(rng.randint(1, 4096))
            writer.write(message)
            await writer.drain()
            echoed = await reader.readexactly(len(message))
            assert echoed == message, f"cliente {seed}: el eco no coincide"
            total += len(message)
        writer.write_eof()
        assert await reader.read() == b"", "tras el eco completo debía llegar EOF"
    finally:
        writer.close()
        await writer.wait_closed()
    return total


async def many_clients(address: tuple[str, int], clients: int, messages: int) -> int:
    """Lanza `clients` clientes a la vez; devuelve el total de bytes ecoados."""
    async with asyncio.timeout(120):
        async with asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(chatty_client(address, i, messages)) for i in range(clients)]
    return sum(t.result() for t in tasks)
