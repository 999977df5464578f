"""Pruebas del hilo con bucle propio y del servidor de fondo."""

import asyncio
import threading

import pytest

from asyncio_avanzado import BackgroundEchoServer, LoopThread


def test_loop_thread_runs_coroutines_on_its_own_thread():
    async def where():
        return threading.current_thread().name

    thread = LoopThread(name="prueba").start()
    try:
        assert thread.run(where()) == "prueba"
    finally:
        thread.stop()
    thread.stop()


def test_loop_thread_not_started_is_explained():
    async def nothing():
        return None

    with pytest.raises(RuntimeError, match="no está en marcha"):
        LoopThread().run(nothing())


def test_background_server_works_from_inside_a_running_loop():
    """Un cuaderno arranca el servidor desde el bucle de ipykernel: no debe chocar."""

    async def main():
        with BackgroundEchoServer() as server:
            reader, writer = await asyncio.open_connection(*server.address)
            writer.write(b"desde el cuaderno")
            data = await reader.readexactly(17)
            writer.close()
            await writer.wait_closed()
        return data

    assert asyncio.run(main()) == b"desde el cuaderno"


def test_failed_start_leaves_no_thread():
    with BackgroundEchoServer() as busy:
        with pytest.raises(OSError):
            BackgroundEchoServer(port=busy.address[1]).start()


def test_repr_names_the_address():
    with BackgroundEchoServer() as server:
        assert repr(server).startswith("<BackgroundEchoServer 127.0.0.1:")
