"""Pruebas del servidor de eco en el bucle de quien lo llama."""

import asyncio
import socket

import pytest
from echo_clients import many_clients

from asyncio_avanzado import EchoServer


def test_runs_on_the_callers_loop_and_leaves_no_task():
    async def main():
        before = asyncio.all_tasks()
        async with EchoServer() as server:
            reader, writer = await asyncio.open_connection(*server.address)
            writer.write(b"Hello World!")
            await writer.drain()
            assert await reader.readexactly(12) == b"Hello World!"
            writer.close()
            await writer.wait_closed()
        assert asyncio.all_tasks() == before
        return server

    server = asyncio.run(main())
    assert not server.running
    assert server.stats.bytes_sent == 12


def test_many_clients_on_the_same_loop():
    async def main():
        async with EchoServer() as server:
            return await many_clients(server.address, clients=100, messages=10), server

    total, server = asyncio.run(main())
    assert server.stats.bytes_received == server.stats.bytes_sent == total


def test_delay_lets_clients_overlap():
    """Con retardo, diez clientes concurrentes esperan a la vez, no uno detrás de otro."""

    async def one(address):
        reader, writer = await asyncio.open_connection(*address)
        writer.write(b"x")
        await reader.readexactly(1)
        writer.close()
        await writer.wait_closed()

    async def main():
        async with EchoServer(delay=0.3) as server:
            loop = asyncio.get_running_loop()
            start = loop.time()
            await one(server.address)
            single = loop.time() - start
            start = loop.time()
            async with asyncio.TaskGroup() as tg:
                for _ in range(10):
                    tg.create_task(one(server.address))

            return single, loop.time() - start, server.stats.peak_active

    single, ten, peak = asyncio.run(main())
    assert peak == 10
    # Secuenciales serían 10 veces más; margen amplio para una máquina ruidosa.
    assert ten < 4 * single


def test_stop_closes_clients_that_are_connected():
    async def main():
        server = await EchoServer().start()
        reader, writer = await asyncio.open_connection(*server.address)
        await server.stop()
        data = await asyncio.wait_for(reader.read(10), 5)
        writer.close()
        return data

    assert asyncio.run(main()) == b""


@pytest.mark.parametrize("turns", [0, 1, 2])
def test_stop_closes_connections_accepted_but_not_yet_handled(turns):
    """Una conexión aceptada justo antes de stop(), sin manejador aún, tampoco queda abierta."""

    async def main():
        server = await EchoServer().start()
        socks = [socket.create_connection(server.address, timeout=0.5) for _ in range(5)]
        for _ in range(turns):
            await asyncio.sleep(0)
        await server.stop()
        closed = 0
        for sock in socks:
            with sock:
                try:
                    closed += sock.recv(1) == b""
                except ConnectionResetError:
                    closed += 1
                except TimeoutError:
                    pass  # el servidor dejó esta conexión abierta
        return closed

    assert asyncio.run(main()) == 5


def test_start_needs_a_running_loop_and_address_needs_start():
    server = EchoServer()
    with pytest.raises(RuntimeError, match="no está en marcha"):
        _ = server.address
    assert repr(server) == "<EchoServer detenido>"
