"""Lo que ejecuta cada proceso hijo del banco de pruebas: un servidor o un generador de carga.

El coordinador (`runner.py`) crea los hijos con `processes.Child`, que llama a `serve` o a
`generate_load` en otro proceso y les pasa un extremo de una tubería de `multiprocessing`.
Por ella van las órdenes (diccionarios con una clave `cmd`) y las respuestas:

- servidor: en cuanto escucha, anuncia `{"puerto": ..., "hilos_pool": ...}`; después contesta
  a `{"cmd": "cpu"}` con su reloj y la CPU que lleva gastada (`time.perf_counter()` y
  `time.process_time()`, leídos a la vez) y termina con `{"cmd": "exit"}` o cuando se cierra
  la tubería.
- cliente: las órdenes de `load.run_client`.

Si algo falla, el hijo envía `{"error": traza}` antes de terminar, para que el coordinador
pueda explicar qué pasó.
"""

import asyncio
import os
import threading
import time
import traceback
from collections.abc import Callable, Coroutine
from multiprocessing.connection import Connection
from typing import Any

from . import load, servers, system
from .recvcost import ASYNCIO_MAX_SIZE as RECV_SIZE

__all__ = ["generate_load", "serve"]


def _pin(cores: list[int] | None) -> None:
    # Antes de crear ningún hilo: los hilos heredan los núcleos permitidos al nacer.
    if cores and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cores)


def _settle_allocator() -> None:
    """Deja el asignador de memoria en el mismo estado en todos los procesos del banco.

    Con glibc, `recv(256 KiB)` (lo que hace el transporte de asyncio en cada lectura) cuesta
    tres llamadas al sistema más mientras el umbral dinámico de `mmap` siga en 128 KiB, y ese
    umbral sube la primera vez que el proceso libera un bloque grande: depende de lo que el
    proceso hizo antes. Liberamos uno al empezar, en todos, para que una diferencia en la
    tabla venga del código de cada servidor y no de esa historia (la lección 08 mide el otro
    régimen con `measure_recv_cost`). Con otros asignadores no cambia nada.
    """
    block = bytes(RECV_SIZE + 64 * 1024)
    del block


def _run(coro: Coroutine[Any, Any, None], use_uvloop: bool) -> None:
    if use_uvloop:
        import uvloop

        factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    else:
        factory = asyncio.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(coro)


def _guarded(conn: Connection, main: Callable[[], None]) -> None:
    """Ejecuta `main()`; si falla, envía la traza por `conn` y termina con código 1."""
    try:
        main()
    except BaseException:
        try:
            conn.send({"error": traceback.format_exc()})
        except OSError:
            pass
        raise SystemExit(1) from None
    finally:
        conn.close()


def _answer_commands(conn: Connection, on_exit: Callable[[], None]) -> None:
    """Atiende en un hilo las órdenes del coordinador a un servidor hasta `exit`."""

    def answer() -> None:
        while True:
            try:
                command = conn.recv()
            except (EOFError, OSError):  # el coordinador ya no está: a terminar
                command = {"cmd": "exit"}
            if command["cmd"] == "cpu":
                conn.send({"reloj": time.perf_counter(), "cpu": time.process_time()})
            elif command["cmd"] == "exit":
                on_exit()
                return

    threading.Thread(target=answer, name="ordenes", daemon=True).start()


def _prepare(cores: list[int] | None, fds: int) -> None:
    _pin(cores)
    _settle_allocator()
    # El proceso auxiliar de forkserver heredó el límite de descriptores de cuando arrancó.
    system.fd_limit_problem(fds)


def serve(conn: Connection, name: str, use_uvloop: bool, cores: list[int] | None, fds: int) -> None:
    """Ejecuta el servidor `name` hasta que el coordinador diga `exit`. No devuelve nada.

    `cores`: núcleos a los que se fija; `fds`: descriptores de archivo que necesitará.
    """
    _prepare(cores, fds)

    stoppers: list[Callable[[], None]] = []  # cómo detener el servidor, cuando ya escucha

    def announce(address: tuple[str, int]) -> None:
        conn.send({"puerto": address[1], "hilos_pool": servers.default_pool_size()})
        _answer_commands(conn, lambda: stoppers[0]())

    def main() -> None:
        if name in servers.THREAD_SERVERS:
            stop = threading.Event()
            stoppers.append(stop.set)
            servers.THREAD_SERVERS[name].serve(announce, stop)
        else:
            _run(serve_async(), use_uvloop)

    async def serve_async() -> None:
        loop = asyncio.get_running_loop()
        event = asyncio.Event()
        stoppers.append(lambda: loop.call_soon_threadsafe(event.set))
        await servers.ASYNC_SERVERS[name].serve(announce, event)

    _guarded(conn, main)


def generate_load(conn: Connection, use_uvloop: bool, cores: list[int] | None, fds: int) -> None:
    """Ejecuta un proceso cliente hasta que el coordinador diga `exit`. No devuelve nada."""
    _prepare(cores, fds)

    async def client() -> None:
        loop = asyncio.get_running_loop()
        commands: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

        def read() -> None:
            while True:
                try:
                    command = conn.recv()
                except (EOFError, OSError):
                    command = {"cmd": "exit"}
                loop.call_soon_threadsafe(commands.put_nowait, command)
                if command["cmd"] == "exit":
                    return

        threading.Thread(target=read, name="ordenes", daemon=True).start()
        await load.run_client(commands, conn.send)

    _guarded(conn, lambda: _run(client(), use_uvloop))
