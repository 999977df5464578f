"""El cliente de eco bloqueante: eco completo, plazo propio y errores claros."""

import socket
import threading
import time

import pytest

from asyncio_avanzado import BackgroundEchoServer
from asyncio_avanzado.blocking import blocking_echo, recv_exactly


@pytest.fixture(scope="module")
def server():
    with BackgroundEchoServer() as srv:
        yield srv


@pytest.mark.parametrize("size", [0, 1, 1000, 300_000])
def test_echo_returns_exactly_the_message(server, size):
    message = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    assert blocking_echo(server.address, message) == message


def test_large_echo_arrives_in_several_chunks_and_is_reassembled(server):
    message = b"0123456789" * 100_000  # 1 MB: más que un recv() y que los búferes
    assert blocking_echo(server.address, message, timeout=20) == message


def test_slow_server_raises_timeout_error_after_the_socket_timeout():
    with BackgroundEchoServer(delay=1.0) as slow:
        start = time.perf_counter()
        with pytest.raises(TimeoutError):
            blocking_echo(slow.address, b"hola", timeout=0.2)
        # Holgado: lo que importa es que no espera al eco (1 s).
        assert time.perf_counter() - start < 0.8


def test_the_socket_is_closed_after_a_timeout():
    with BackgroundEchoServer(delay=0.5) as slow:
        with pytest.raises(TimeoutError):
            blocking_echo(slow.address, b"hola", timeout=0.1)
    # El fixture no_leaks comprueba que no queda ningún descriptor abierto.


def test_refused_connection_raises_connection_refused_error():
    with BackgroundEchoServer() as srv:
        address = srv.address
    with pytest.raises(ConnectionRefusedError):
        blocking_echo(address, b"hola", timeout=2)


def test_server_closing_early_raises_connection_error_with_counts():
    with socket.create_server(("127.0.0.1", 0)) as listener:

        def answer_half() -> None:
            conn, _ = listener.accept()
            with conn:
                conn.recv(100)
                conn.sendall(b"ho")

        helper = threading.Thread(target=answer_half)
        helper.start()
        try:
            with pytest.raises(ConnectionError, match="tras 2 de los 4 bytes"):
                blocking_echo(listener.getsockname(), b"hola", timeout=5)
        finally:
            helper.join(5)


def test_recv_exactly_joins_partial_reads():
    left, right = socket.socketpair()
    with left, right:
        right.sendall(b"ab")
        right.sendall(b"cdef")
        assert recv_exactly(left, 5) == b"abcde"
        assert recv_exactly(left, 0) == b""
        assert recv_exactly(left, 1) == b"f"


def test_recv_exactly_rejects_a_negative_size():
    left, right = socket.socketpair()
    with left, right, pytest.raises(ValueError, match="size debe ser >= 0"):
        recv_exactly(left, -1)
