"""Configuración común: cada prueba debe dejar los hilos y descriptores como los encontró."""

import os
import threading
import time

import matplotlib
import pytest

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
