"""Pruebas de comportamiento comunes a los servidores de eco de fondo (asyncio e hilos)."""

import asyncio
import hashlib
import socket
import struct
import threading
import time

import pytest
from echo_clients import TIMEOUT, many_clients, recv_to_eof, roundtrip
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asyncio_avanzado import BackgroundEchoServer, ThreadedEchoServer, running_servers, stop_all

KINDS = {"asyncio": BackgroundEchoServer, "hilos": ThreadedEchoServer}


@pytest.fixture(params=list(KINDS))
def kind(request):
    return KINDS[request.param]


@pytest.fixture
def server(kind):
    with kind() as srv:
        yield srv


def wait_for(predicate, timeout: float = 10.0) -> bool:
    """Espera a que `predicate()` sea cierto; devuelve si lo fue antes del plazo."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def test_classic_echo_without_newline(server):
    with socket.create_connection(server.address, timeout=TIMEOUT) as sock:
        sock.sendall(b"Hello")
        assert sock.recv(100) == b"Hello"


def test_binds_loopback_on_a_free_port(server):
    host, port = server.address
    assert host == "127.0.0.1"
    assert port > 0


def test_all_byte_values(server):
    payload = bytes(range(256)) * 64
    assert roundtrip(server.address, payload) == payload


def test_half_close_gets_everything_then_eof(server):
    payload = b"mitad cerrada\n" * 1000
    with socket.create_connection(server.address, timeout=TIMEOUT) as sock:
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        assert recv_to_eof(sock) == payload
        assert sock.recv(10) == b""


def test_hundreds_of_concurrent_clients(server):
    total = asyncio.run(many_clients(server.address, clients=300, messages=20))
    assert total > 0
    assert wait_for(lambda: server.stats.active == 0)
    stats = server.stats
    assert stats.connections == 300
    assert stats.bytes_received == stats.bytes_sent == total


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(payload=st.binary(min_size=1, max_size=20000), cuts=st.lists(st.integers(0, 20000)))
def test_any_chunking_is_echoed_exactly(server, payload, cuts):
    points = sorted({c % len(payload) for c in cuts} | {0, len(payload)})
    with socket.create_connection(server.address, timeout=TIMEOUT) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for start, end in zip(points, points[1:], strict=False):
            sock.sendall(payload[start:end])
        sock.shutdown(socket.SHUT_WR)
        assert recv_to_eof(sock) == payload


def test_tens_of_mebibytes(server):
    payload = bytes(range(256)) * (32 * 4096)  # 32 MiB
    sent_hash = hashlib.sha256(payload).hexdigest()
    with socket.create_connection(server.address, timeout=TIMEOUT) as sock:
        # Escribimos en otro hilo: si escribiéramos todo antes de leer, el eco llenaría los
        # búferes y ambos lados esperarían para siempre.
        writer = threading.Thread(target=lambda: (sock.sendall(payload), sock.shutdown(1)))
        writer.start()
        received = recv_to_eof(sock)
        writer.join()
    assert len(received) == len(payload)
    assert hashlib.sha256(received).hexdigest() == sent_hash


def reset(sock: socket.socket) -> None:
    """Cierra `sock` con un RST en vez de la despedida normal de TCP."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def test_client_reset_mid_message_is_ordinary(server, caplog):
    caplog.set_level("INFO", logger="asyncio_avanzado")
    with socket.create_connection(server.address, timeout=TIMEOUT) as healthy:
        rude = socket.create_connection(server.address, timeout=TIMEOUT)
        rude.sendall(b"mensaje a med")
        assert rude.recv(100) == b"mensaje a med"
        rude.sendall(b"x" * 300_000)  # sin leer el eco: queda a medias
        reset(rude)
        assert wait_for(lambda: server.stats.resets == 1)
        healthy.sendall(b"sigo aqu\xc3\xad")
        assert healthy.recv(100) == "sigo aquí".encode()
    lines = [r.getMessage() for r in caplog.records if "cortó la conexión" in r.getMessage()]
    assert len(lines) == 1
    assert "\n" not in lines[0]
    assert all(r.levelname == "INFO" and r.exc_info is None for r in caplog.records)


def test_idle_clients_do_not_starve_others(server):
    idle = [socket.create_connection(server.address, timeout=TIMEOUT) for _ in range(50)]
    try:
        assert wait_for(lambda: server.stats.active == 50)
        for i in range(20):
            message = f"activo {i}".encode()
            assert roundtrip(server.address, message) == message
    finally:
        for sock in idle:
            sock.close()
    assert wait_for(lambda: server.stats.active == 0)


def test_writer_that_never_reads_does_not_grow_memory(kind):
    with kind(max_buffer=64 * 1024) as server:
        hog = socket.create_connection(server.address, timeout=0.5)
        sent = 0
        try:
            while sent < 200 * 2**20:
                sent += hog.send(b"\0" * 65536)
        except TimeoutError:
            pass  # ya nadie acepta más: el servidor dejó de leer
        received = server.stats.bytes_received
        time.sleep(0.3)
        assert server.stats.bytes_received == received, "el servidor siguió leyendo"
        # Lo que el servidor retiene es lo leído y aún no devuelto: acotado por sus búferes.
        held = server.stats.bytes_received - server.stats.bytes_sent
        assert held <= 4 * 64 * 1024 + 64 * 1024
        assert sent < 200 * 2**20
        assert roundtrip(server.address, b"los demas siguen") == b"los demas siguen"
        reset(hog)


def test_idle_timeout_closes_silent_connection(kind):
    with kind(idle_timeout=0.3) as server:
        with socket.create_connection(server.address, timeout=TIMEOUT) as sock:
            assert sock.recv(10) == b""
        assert server.stats.idle_closed == 1


def test_max_connections_rejects_the_extra_one(kind):
    with kind(max_connections=2) as server:
        first = socket.create_connection(server.address, timeout=TIMEOUT)
        second = socket.create_connection(server.address, timeout=TIMEOUT)
        try:
            for sock in (first, second):
                sock.sendall(b"a")
                assert sock.recv(1) == b"a"
            with socket.create_connection(server.address, timeout=TIMEOUT) as third:
                assert third.recv(10) == b""
            assert server.stats.rejected == 1
        finally:
            first.close()
            second.close()


def test_restart_on_same_port_right_after_stop(kind):
    server = kind().start()
    port = server.address[1]
    with socket.create_connection(server.address, timeout=TIMEOUT) as sock:
        sock.sendall(b"uno")
        assert sock.recv(10) == b"uno"
        server.stop()
    again = kind(port=port).start()
    try:
        assert roundtrip(again.address, b"dos") == b"dos"
    finally:
        again.stop()


def test_stop_is_idempotent_and_start_twice_is_an_error(kind):
    server = kind().start()
    with pytest.raises(RuntimeError, match="ya está en marcha"):
        server.start()
    server.stop()
    server.stop()
    assert not server.running
    with pytest.raises(RuntimeError, match="no está en marcha"):
        _ = server.address


def test_stop_all_stops_forgotten_servers(kind):
    forgotten = [kind().start() for _ in range(3)]
    assert set(forgotten) <= set(running_servers())
    stop_all()
    assert not any(s.running for s in forgotten)
    assert running_servers() == []


def test_bad_options_are_explained(kind):
    with pytest.raises(ValueError, match="delay debe ser >= 0"):
        kind(delay=-1)
    with pytest.raises(TypeError):
        kind(retardo=1)
