"""Pruebas de los clientes de prueba: los que esperan su respuesta y el que corta con RST."""

import asyncio

import pytest

from asyncio_avanzado.clients import clients_with_one_reset, reset_connection


async def _serve(handler):
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()


def test_reset_connection_makes_the_peer_see_a_reset():
    async def main():
        errors: list[BaseException] = []
        done = asyncio.Event()

        async def handler(reader, writer):
            try:
                await reader.readexactly(5)
            except (ConnectionError, asyncio.IncompleteReadError) as error:
                errors.append(error)
            finally:
                writer.transport.abort()
                done.set()

        server, address = await _serve(handler)
        async with server:
            _, writer = await asyncio.open_connection(*address)
            writer.write(b"ho")
            await asyncio.sleep(0.05)
            reset_connection(writer)
            await asyncio.wait_for(done.wait(), 5)
        return errors

    errors = asyncio.run(main())
    assert len(errors) == 1 and isinstance(errors[0], ConnectionResetError)


def test_good_clients_get_their_answers_and_one_resets():
    async def main():
        seen: list[str] = []

        async def handler(reader, writer):
            try:
                request = await reader.readexactly(5)
                await asyncio.sleep(0.1)
                writer.write(request.upper())
                await writer.drain()
                seen.append("respondida")
            except (ConnectionError, asyncio.IncompleteReadError) as error:
                seen.append(type(error).__name__)
            finally:
                writer.transport.abort()

        server, address = await _serve(handler)
        async with server:
            replies = await clients_with_one_reset(address, good=3)
            while len(seen) < 4:
                await asyncio.sleep(0.01)
        return replies, seen

    replies, seen = asyncio.run(main())
    assert replies == [b"HOLA!"] * 3
    assert sorted(seen) == ["ConnectionResetError"] + ["respondida"] * 3


def test_a_server_that_never_answers_gives_empty_replies_after_their_patience():
    async def main():
        async def handler(reader, writer):
            await reader.read()  # lee hasta que el cliente se canse y corte, sin contestar
            writer.transport.abort()

        server, address = await _serve(handler)
        async with server:
            return await clients_with_one_reset(address, good=2, patience=0.1)

    assert asyncio.run(main()) == [b"", b""]


def test_bad_arguments_are_rejected_in_spanish():
    with pytest.raises(ValueError, match="no pueden ser negativos"):
        asyncio.run(clients_with_one_reset(("127.0.0.1", 1), good=-1))
