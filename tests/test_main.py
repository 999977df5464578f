"""Pruebas de la orden de terminal `python -m asyncio_avanzado eco`."""

import re
import signal
import socket
import subprocess
import sys

from asyncio_avanzado.__main__ import DEFAULT_PORT, build_parser


def test_default_port_is_the_outlines():
    args = build_parser().parse_args(["eco"])
    assert (args.host, args.port) == ("127.0.0.1", DEFAULT_PORT) == ("127.0.0.1", 8888)


def start_cli(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "asyncio_avanzado", "eco", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def read_until(proc: subprocess.Popen, text: str) -> str:
    """Lee líneas de la salida hasta una que contenga `text`; la devuelve."""
    while line := proc.stdout.readline():
        if text in line:
            return line
    raise AssertionError(f"la orden terminó sin escribir {text!r}")


def test_serves_logs_in_spanish_and_ctrl_c_stops_cleanly():
    with start_cli("--port", "0") as proc:
        try:
            port = re.search(r"escuchando en 127\.0\.0\.1:(\d+)", read_until(proc, "escuchando"))
            address = ("127.0.0.1", int(port.group(1)))
            with socket.create_connection(address, timeout=5) as sock:
                sock.sendall(b"Hello World!")
                assert sock.recv(100) == b"Hello World!"
            read_until(proc, "terminó: 12 bytes devueltos")
            # Un cliente que sigue conectado al pulsar Ctrl-C tampoco debe dejar trazas.
            with socket.create_connection(address, timeout=5):
                read_until(proc, "conexión de 127.0.0.1:")
                proc.send_signal(signal.SIGINT)
                out, err = proc.communicate(timeout=10)
        finally:
            proc.kill()
    assert proc.returncode == 0
    assert "Traceback" not in out + err
    assert "Servidor detenido." in out


def test_port_in_use_is_one_spanish_line():
    with socket.create_server(("127.0.0.1", 0)) as busy:
        with start_cli("--port", str(busy.getsockname()[1])) as proc:
            out, err = proc.communicate(timeout=10)
    assert proc.returncode == 1
    assert "ya está en uso" in err
    assert "Traceback" not in err
