"""Punto de entrada de los procesos hijos del banco de pruebas: un servidor o un cliente.

El coordinador (`runner.py`) los lanza como intérpretes nuevos::

    python -m asyncio_avanzado.bench.worker servidor NOMBRE [--uvloop] [--nucleos 0]
    python -m asyncio_avanzado.bench.worker cliente [--uvloop] [--nucleos 1]

y habla con ellos por líneas de texto: el servidor anuncia su puerto en una línea JSON y
se detiene cuando se cierra su entrada estándar; el cliente lee su configuración (una
línea JSON) y después las órdenes de `load.run_client`.
"""

import argparse
import asyncio
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Coroutine
from typing import Any

from . import load, servers
from .recvcost import ASYNCIO_MAX_SIZE as RECV_SIZE

__all__ = ["main"]


def _emit(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


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


def _watch_stdin(on_line: Callable[[str], None]) -> threading.Thread:
    """Lee la entrada estándar en un hilo (funciona igual en todos los sistemas) y llama a
    `on_line` con cada línea y con `"eof"` al final. Devuelve el hilo."""

    def read() -> None:
        for line in sys.stdin:
            on_line(line.strip())
        on_line("eof")

    thread = threading.Thread(target=read, name="ordenes", daemon=True)
    thread.start()
    return thread


def _announce(address: tuple[str, int]) -> None:
    _emit(json.dumps({"puerto": address[1], "hilos_pool": servers.default_pool_size()}))


def serve(name: str, use_uvloop: bool) -> None:
    """Ejecuta el servidor `name` hasta que se cierre la entrada estándar."""
    if name in servers.THREAD_SERVERS:
        stop = threading.Event()
        _watch_stdin(lambda line: stop.set() if line == "eof" else None)
        servers.THREAD_SERVERS[name].serve(_announce, stop)
        return

    spec = servers.ASYNC_SERVERS[name]

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop_event = asyncio.Event()

        def on_line(line: str) -> None:
            if line == "eof":
                loop.call_soon_threadsafe(stop_event.set)

        _watch_stdin(on_line)
        await spec.serve(_announce, stop_event)

    _run(main(), use_uvloop)


def client(use_uvloop: bool) -> None:
    """Ejecuta un proceso cliente: lee su configuración y obedece las órdenes."""
    config = load.ClientConfig(**json.loads(sys.stdin.readline()))

    async def main() -> None:
        loop = asyncio.get_running_loop()
        commands: asyncio.Queue[str] = asyncio.Queue()
        _watch_stdin(lambda line: loop.call_soon_threadsafe(commands.put_nowait, line))
        await load.run_client(config, commands, _emit)

    _run(main(), use_uvloop)


def main(argv: list[str] | None = None) -> None:
    """Punto de entrada del proceso hijo. No devuelve nada."""
    parser = argparse.ArgumentParser(prog="python -m asyncio_avanzado.bench.worker")
    parser.add_argument("papel", choices=["servidor", "cliente"])
    parser.add_argument("nombre", nargs="?")
    parser.add_argument("--uvloop", action="store_true")
    parser.add_argument("--nucleos", type=int, nargs="*")
    args = parser.parse_args(argv)
    # Ctrl-C en la terminal llega a todo el grupo: quien decide cuándo parar es el padre.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _pin(args.nucleos)
    _settle_allocator()
    if args.papel == "servidor":
        serve(args.nombre, args.uvloop)
    else:
        client(args.uvloop)


if __name__ == "__main__":
    main()
