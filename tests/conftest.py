"""Configuración común: cada prueba debe dejar los hilos y descriptores como los encontró."""

import os
import subprocess
import sys
import threading
import time

import matplotlib
import pytest

from asyncio_avanzado import PostgresError, TemporaryPostgres

# Las pruebas dibujan sin pantalla.
matplotlib.use("Agg")


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else set()


@pytest.fixture(autouse=True)
def no_leaks():
    """Falla si la prueba deja hilos vivos o descriptores de archivo abiertos."""
    threads_before = set(threading.enumerate())
    fds_before = _open_fds()
    yield
    # Un hilo que ya terminó su trabajo puede tardar un instante en desaparecer.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        extra_threads = set(threading.enumerate()) - threads_before
        extra_fds = _open_fds() - fds_before
        if not extra_threads and not extra_fds:
            return
        time.sleep(0.05)
    assert not extra_threads, f"hilos que siguen vivos: {extra_threads}"
    details = {fd: os.readlink(f"/proc/self/fd/{fd}") for fd in extra_fds if _readable(fd)}
    assert not extra_fds, f"descriptores abiertos de más: {details}"


def _readable(fd: str) -> bool:
    try:
        os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return False
    return True


class BusyCores:
    """Procesos que gastan CPU sin parar, como un portátil con el navegador al lado.

    Dos; con pytest-xdist, uno por proceso de pytest (el otro proceso ya ocupa un núcleo).
    """

    def __init__(self) -> None:
        self.hogs: list[subprocess.Popen] = []

    def start(self) -> None:
        if not self.hogs:
            count = 1 if os.environ.get("PYTEST_XDIST_WORKER") else 2
            self.hogs = [
                subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)
            ]
            time.sleep(0.2)  # que ya estén compitiendo cuando empiece la comprobación

    def stop(self) -> None:
        for hog in self.hogs:
            hog.kill()
            hog.wait()
        self.hogs = []


@pytest.fixture(scope="module")
def cores():
    """Los procesos ocupados del módulo: `start()` y `stop()` según la prueba."""
    busy = BusyCores()
    yield busy
    busy.stop()


@pytest.fixture
def busy_cores(cores):
    """La prueba se ejecuta con la máquina ocupada."""
    cores.start()


@pytest.fixture(scope="module")
def postgres():
    """Un PostgreSQL para todo el módulo.

    Las comprobaciones de 07.1, 09.3 y 10.x usan el que esté en marcha, como en un cuaderno;
    sin él, cada una arranca el suyo (un par de segundos cada vez). Por módulo y no por sesión:
    algunas pruebas apagan con `stop_all()` todos los servidores en marcha.
    """
    try:
        pg = TemporaryPostgres().start()
    except PostgresError:  # sin PostgreSQL, cada comprobación lo explica por su cuenta
        yield None
        return
    try:
        yield pg
    finally:
        pg.stop()
