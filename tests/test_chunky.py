"""Pruebas del servidor de líneas que responde por trozos."""

import asyncio
import socket

import pytest

from asyncio_avanzado.chunky import BackgroundChunkyServer, ChunkyServer, shout, split_pieces


def test_shout_uppercases_one_line():
    assert shout("¿qué tal, ñandú?\n".encode()) == "¿QUÉ TAL, ÑANDÚ?\n".encode()
    assert shout(b"sin salto") == b"SIN SALTO\n"


@pytest.mark.parametrize("size", [0, 1, 2, 3, 10, 26])
@pytest.mark.parametrize("pieces", [1, 3, 5])
def test_split_pieces_keeps_every_byte_in_order(size, pieces):
    data = bytes(range(size))
    parts = split_pieces(data, pieces)
    assert b"".join(parts) == data
    assert len(parts) == min(size, pieces)
    assert all(parts)


def test_bad_options_are_explained():
    with pytest.raises(ValueError, match="pieces"):
        ChunkyServer(pieces=0)
    with pytest.raises(ValueError, match="pause y delay"):
        ChunkyServer(pause=-1)


async def _ask(address, line: bytes):
    reader, writer = await asyncio.open_connection(*address)
    try:
        writer.write(line)
        await writer.drain()
        first = await reader.read(100)
        rest = await reader.readline()
        return first, rest
    finally:
        writer.close()
        await writer.wait_closed()


def test_reply_arrives_in_pieces_and_readline_gets_it_all():
    async def main():
        async with ChunkyServer(pieces=3, pause=0.1) as server:
            first, rest = await _ask(server.address, b"hola, servidor\n")
            return first, rest, server.stats

    first, rest, stats = asyncio.run(main())
    assert first == b"HOLA,"
    assert first + rest == b"HOLA, SERVIDOR\n"
    assert stats.connections == 1
    assert stats.bytes_sent == len(b"HOLA, SERVIDOR\n")


def test_custom_reply_and_several_lines_until_eof():
    async def main():
        async with ChunkyServer(pieces=2, pause=0.01, reply=lambda line: line[::-1]) as server:
            reader, writer = await asyncio.open_connection(*server.address)
            writer.write(b"abc\ndef\n")
            writer.write_eof()
            data = await reader.read()
            writer.close()
            await writer.wait_closed()
            return data

    assert asyncio.run(main()) == b"\ncba\nfed"


def test_stop_cuts_a_slow_reply_and_leaves_nothing_open():
    async def main():
        server = await ChunkyServer(delay=30).start()
        reader, writer = await asyncio.open_connection(*server.address)
        writer.write(b"tardas mucho\n")
        await writer.drain()
        while server.stats.active < 1:
            await asyncio.sleep(0.01)
        await asyncio.wait_for(server.stop(), 5)
        data = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        await writer.wait_closed()
        return data, server.stats.active, server.running

    assert asyncio.run(main()) == (b"", 0, False)


def test_background_server_serves_blocking_clients():
    with BackgroundChunkyServer(pieces=4, pause=0.05) as server:
        with socket.create_connection(server.address, timeout=5) as sock:
            sock.sendall(b"bloqueante\n")
            sock.shutdown(socket.SHUT_WR)
            chunks = []
            while chunk := sock.recv(100):
                chunks.append(chunk)
        assert b"".join(chunks) == b"BLOQUEANTE\n"
        assert len(chunks) > 1
        assert repr(server).startswith("<BackgroundChunkyServer 127.0.0.1:")
    assert repr(server) == "<BackgroundChunkyServer detenido>"


def test_address_before_start_is_explained():
    with pytest.raises(RuntimeError, match="no está en marcha"):
        _ = ChunkyServer().address


async def _converse(address, lines: list[bytes], wait_each: bool) -> list[bytes]:
    reader, writer = await asyncio.open_connection(*address)
    try:
        if not wait_each:
            writer.write(b"".join(lines))
            await writer.drain()
            return [await reader.readline() for _ in lines]
        answers = []
        for line in lines:
            writer.write(line)
            await writer.drain()
            answers.append(await reader.readline())
        return answers
    finally:
        writer.close()
        await writer.wait_closed()


@pytest.mark.parametrize(("wait_each", "early"), [(True, 0), (False, 2)])
def test_early_lines_tells_ping_pong_from_pipelining(wait_each, early):
    async def main():
        async with ChunkyServer(pieces=2, pause=0.01, delay=0.02) as server:
            answers = await _converse(server.address, [b"uno\n", b"dos\n", b"tres\n"], wait_each)
            return answers, server.early_lines

    answers, early_lines = asyncio.run(main())
    assert answers == [b"UNO\n", b"DOS\n", b"TRES\n"]
    assert early_lines == early


def test_background_server_reports_early_lines():
    with BackgroundChunkyServer(pieces=1, pause=0, delay=0.02) as server:
        asyncio.run(_converse(server.address, [b"a\n", b"b\n"], wait_each=False))
        assert server.early_lines == 1
