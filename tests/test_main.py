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


# -- python -m asyncio_avanzado postgres -------------------------------------------------------


def test_postgres_prints_the_dsn_and_ctrl_c_cleans_up():
    from pathlib import Path

    import psycopg
    from system_tools import require

    from asyncio_avanzado.postgres import PostgresNotFound, find_postgres

    try:
        found = bool(find_postgres())
    except PostgresNotFound:
        found = False
    require(found, "PostgreSQL (initdb y postgres)", "sudo apt-get install postgresql")
    command = [sys.executable, "-m", "asyncio_avanzado", "postgres"]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        try:
            dsn = read_until(proc, "postgresql://").strip()
            data = Path(re.search(r"en (\S+) y se borran", read_until(proc, "se borran")).group(1))
            read_until(proc, "Ctrl-C")
            with psycopg.connect(dsn) as conn:
                assert conn.execute("SELECT 6 * 7").fetchone() == (42,)
            assert data.exists()
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=30)
        finally:
            proc.kill()
    assert proc.returncode == 0
    assert "Traceback" not in out + err
    assert "PostgreSQL detenido" in out
    assert not data.parent.exists()


def test_postgres_missing_is_one_spanish_message(monkeypatch, capsys):
    from asyncio_avanzado import postgres
    from asyncio_avanzado.__main__ import main

    monkeypatch.setattr(postgres, "candidate_folders", lambda: [])
    assert main(["postgres"]) == 1
    out, err = capsys.readouterr()
    assert "No se encontró PostgreSQL" in err and "apt-get install postgresql" in err
    assert "Traceback" not in out + err
