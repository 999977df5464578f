"""Pruebas del servidor que se apaga en orden, del cliente que se deja parar y del script."""

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from asyncio_avanzado import BackgroundServer, Timeline
from asyncio_avanzado.shutdown import ShutdownReport, SlowServer, Stopped, slow_request


async def _ask(address, seconds: float) -> bytes:
    reader, writer = await asyncio.open_connection(*address)
    try:
        writer.write(f"{seconds}\n".encode())
        await writer.drain()
        return await reader.readline()
    finally:
        writer.close()
        await writer.wait_closed()


def test_slow_server_answers_after_the_time_asked():
    async def main():
        async with SlowServer() as server:
            began = time.perf_counter()
            reply = await _ask(server.address, 0.1)
            return reply, time.perf_counter() - began, server.finished

    reply, elapsed, finished = asyncio.run(main())
    assert reply == b"hecho 0.1\n"
    assert elapsed >= 0.1 and finished == 1


def test_bad_request_gets_a_spanish_error_line():
    async def main():
        async with SlowServer() as server:
            return await _ask(server.address, "mucho")  # type: ignore[arg-type]

    assert asyncio.run(main()).startswith(b"error: se esperaban los segundos")


def test_shutdown_finishes_in_flight_within_grace_and_aborts_the_rest():
    async def main():
        timeline = Timeline()
        server = await SlowServer(timeline=timeline).start()
        address = server.address
        fast = asyncio.create_task(_ask(address, 0.1))
        slow = asyncio.create_task(_ask(address, 5))
        idle_reader, idle_writer = await asyncio.open_connection(*address)
        while server.in_flight < 2:
            await asyncio.sleep(0.01)
        report = await server.shutdown(grace=0.4)
        with pytest.raises(OSError):
            await asyncio.open_connection(*address)  # ya no acepta
        idle_eof = await idle_reader.read()
        idle_writer.close()
        await idle_writer.wait_closed()
        return report, await fast, await slow, idle_eof, timeline

    report, fast, slow, idle_eof, timeline = asyncio.run(main())
    assert isinstance(report, ShutdownReport)
    assert (report.finished, report.aborted, report.idle_closed) == (1, 1, 1)
    assert 0.3 < report.elapsed < 3
    assert fast == b"hecho 0.1\n" and slow == b"" and idle_eof == b""
    assert "terminadas 1 · abortadas 1 · inactivas cerradas 1" in str(report)
    assert {s.label for s in timeline.spans} == {"petición 0.1 s", "petición 5 s"}


def test_shutdown_of_a_stopped_server_is_explained():
    async def main():
        await SlowServer().shutdown(1)

    with pytest.raises(RuntimeError, match="no está en marcha"):
        asyncio.run(main())


def test_slow_request_returns_the_answer_from_a_thread_friendly_server():
    with BackgroundServer(SlowServer()) as server:
        assert slow_request(server.address, 0.05) == "hecho 0.05"


def test_slow_request_stops_soon_after_the_event_is_set():
    with BackgroundServer(SlowServer()) as background:
        stop = threading.Event()
        threading.Timer(0.1, stop.set).start()
        began = time.perf_counter()
        with pytest.raises(Stopped):
            slow_request(background.address, 5, stop=stop, poll=0.02)
        assert time.perf_counter() - began < 2
        # El servidor ve el cierre del cliente enseguida.
        deadline = time.monotonic() + 2
        while background.server.stats.active and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not background.server.stats.active


def test_slow_request_has_an_overall_deadline():
    with BackgroundServer(SlowServer()) as background:
        with pytest.raises(TimeoutError, match="sin respuesta"):
            slow_request(background.address, 5, timeout=0.2)


def test_slow_request_rejects_bad_times():
    with pytest.raises(ValueError, match="segundos positivos"):
        slow_request(("127.0.0.1", 9), 1, poll=0)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM con add_signal_handler: Unix")
def test_service_script_stops_in_order_on_sigterm():
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "asyncio_avanzado.service", "--grace", "0.3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        first = proc.stdout.readline()
        assert first.startswith("escuchando en 127.0.0.1:")
        host, port = first.split()[-1].rsplit(":", 1)
        # Una petición instantánea y, en la misma conexión, una de 5 s: cuando llega la
        # respuesta de la primera, el servidor ya está atendiendo esa conexión.
        sock = socket.create_connection((host, int(port)), timeout=5)
        sock.sendall(b"0\n")
        assert sock.recv(100) == b"hecho 0\n"
        sock.sendall(b"5\n")
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
        rest = sock.recv(100)  # el servidor abortó la petición de 5 s: fin sin respuesta
        sock.close()
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0, err
    assert "SIGTERM recibida: apagado ordenado" in out
    assert "terminadas 0 · abortadas 1" in out
    assert rest == b""
    assert err == ""
