"""El veredicto común de check(): bloqueo (troceado o no, sin culpar a la máquina) y recursos."""

import asyncio
import hashlib
import socket
import subprocess
import sys
import threading
import time
import warnings

import pytest

from asyncio_avanzado import BackgroundEchoServer
from asyncio_avanzado.exercises import EXERCISES, check
from asyncio_avanzado.exercises.core import (
    Exercise,
    Failure,
    call_coroutine,
    unpredictable,
    unpredictable_text,
)
from asyncio_avanzado.exercises.servers import spy_writers

KEY = "99.9"


@pytest.fixture
def exercise():
    """Registra un ejercicio de prueba cuyo comprobador se elige en cada prueba."""
    made = []

    def make(checker):
        made.append(
            Exercise(key=KEY, title="prueba", function_name="f", checker=checker, solution=print)
        )
        EXERCISES[KEY] = made[-1]
        return KEY

    yield make
    EXERCISES.pop(KEY, None)


async def _call(candidate):
    await call_coroutine(candidate)


def run_check(key, candidate):
    return asyncio.run(check(key, candidate))


async def sleeps_properly():
    await asyncio.sleep(0.4)


async def blocks_once():
    time.sleep(0.3)


async def blocks_in_slices():
    # Cada tramo queda por debajo de cualquier umbral por tramo; la suma, no.
    for _ in range(6):
        time.sleep(0.05)
        await asyncio.sleep(0)


async def blocks_with_cpu():
    start = time.thread_time()
    while time.thread_time() - start < 0.3:
        pass


def test_a_coroutine_that_awaits_passes(exercise):
    assert run_check(exercise(_call), sleeps_properly).passed


@pytest.mark.parametrize("candidate", [blocks_once, blocks_in_slices, blocks_with_cpu])
def test_blocking_fails_however_it_is_sliced(exercise, candidate):
    result = run_check(exercise(_call), candidate)
    assert not result.passed
    assert "congeló el bucle" in repr(result)


def test_setup_outside_the_learners_window_is_not_blamed(exercise):
    async def checker(candidate):
        time.sleep(0.3)  # el montaje de la comprobación (arrancar un servidor, importar…)
        await call_coroutine(candidate)
        time.sleep(0.3)  # y su recogida

    assert run_check(exercise(checker), sleeps_properly).passed


@pytest.fixture
def busy_core():
    """El proceso de la prueba y dos procesos que gastan CPU, todos en el mismo núcleo."""
    import os

    if not hasattr(os, "sched_setaffinity"):
        pytest.skip("sin sched_setaffinity no se puede fijar el núcleo")
    before = os.sched_getaffinity(0)
    core = min(before)
    code = f"import os; os.sched_setaffinity(0, {{{core}}})\nwhile True: pass"
    hogs = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(2)]
    os.sched_setaffinity(0, {core})
    time.sleep(0.2)
    yield
    os.sched_setaffinity(0, before)
    for hog in hogs:
        hog.kill()
        hog.wait()


def test_a_busy_machine_is_not_blamed_on_the_learner(exercise, busy_core):
    result = run_check(exercise(_call), sleeps_properly)
    assert result.passed, repr(result)


def test_cpu_blocking_is_still_caught_on_a_busy_machine(exercise, busy_core):
    # Medido en tiempo de CPU del hilo: en una máquina ocupada tarda más en reloj, y el
    # veredicto resta la espera de CPU, no el trabajo.
    result = run_check(exercise(_call), blocks_with_cpu)
    assert "congeló el bucle" in repr(result)


def test_cpu_blocking_is_caught_with_a_busy_thread_beside_it(exercise, busy_core):
    # Un hilo del propio proceso que calcula sin el GIL (hashlib lo suelta con datos grandes) y
    # pasa en la cola de la CPU todo lo que no calcula: su espera no explica un bucle que
    # estaba calculando, y no se descuenta.
    stop = threading.Event()
    data = bytes(1 << 20)

    def restless() -> None:
        while not stop.is_set():
            hashlib.sha256(data).digest()

    thread = threading.Thread(target=restless)
    thread.start()
    try:
        result = run_check(exercise(_call), blocks_with_cpu)
    finally:
        stop.set()
        thread.join()
    assert "congeló el bucle" in repr(result)


def test_a_forgotten_socket_is_reported_as_left_open(exercise):
    async def checker(candidate):
        with BackgroundEchoServer() as server:
            await call_coroutine(candidate, server.address)

    async def forgets(address):
        sock = socket.create_connection(address)
        sock.sendall(b"hola")
        del sock  # sin close(): lo cierra la basura, con un ResourceWarning

    result = run_check(exercise(checker), forgets)
    assert "dejaste abierto" in repr(result)


def test_spy_writers_tells_closed_waited_and_forgotten_writers():
    async def main():
        with BackgroundEchoServer() as server:
            with spy_writers(server.address) as spy:
                for how in ("bien", "sin esperar", "olvidado"):
                    reader, writer = await asyncio.open_connection(*server.address)
                    writer.write(b"x")
                    await reader.readexactly(1)
                    if how != "olvidado":
                        writer.close()
                    if how == "bien":
                        await writer.wait_closed()
                    del reader, writer
                await asyncio.sleep(0.05)
            return spy

    originals = dict(vars(asyncio.StreamWriter))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        spy = asyncio.run(main())
    assert (spy.opened, spy.unclosed, spy.not_waited) == (3, 1, 1)
    with pytest.raises(Failure, match="seguía abierta"):
        spy.raise_if_left_open()
    assert dict(vars(asyncio.StreamWriter)) == originals, "el espía no dejó la clase como estaba"


def test_unpredictable_inputs_differ_each_time():
    assert unpredictable(32) != unpredictable(32)
    assert len(unpredictable_text(40)) == 40
