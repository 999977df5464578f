"""Mide cuánto frena el LagMonitor al trabajo que observa.

Ejecuta la misma carga asíncrona con y sin monitor, alternando el orden en cada
repetición para que el ruido de la máquina afecte a ambos por igual, y muestra la
sobrecarga relativa como cociente de medianas. Uso::

    python benchmarks/lag_overhead.py [--repeats 9]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable

from asyncio_avanzado.lag import LagMonitor

__all__ = ["echo_workload", "main", "measure", "sleep0_workload"]


async def sleep0_workload(tasks: int = 100, rounds: int = 5000) -> None:
    """Hace que ``tasks`` tareas cedan el control ``rounds`` veces cada una.

    Es el peor caso para el monitor: el bucle solo hace viajes de ida y vuelta. No devuelve nada.
    """

    async def worker() -> None:
        for _ in range(rounds):
            await asyncio.sleep(0)

    async with asyncio.TaskGroup() as tg:
        for _ in range(tasks):
            tg.create_task(worker())


async def echo_workload(clients: int = 20, messages: int = 1500) -> None:
    """Envía ``messages`` líneas por cliente a un servidor de eco local en el mismo bucle.

    No devuelve nada; falla si algún eco no coincide con lo enviado.
    """

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            writer.write(line)
            await writer.drain()
        writer.close()
        await writer.wait_closed()

    async def client(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for i in range(messages):
            line = f"mensaje {i}\n".encode()
            writer.write(line)
            await writer.drain()
            if await reader.readline() != line:
                raise RuntimeError("el eco no coincide con el mensaje enviado")
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server, asyncio.TaskGroup() as tg:
        for _ in range(clients):
            tg.create_task(client(port))


async def _timed(workload: Callable[[], Awaitable[None]], monitored: bool) -> float:
    start = time.perf_counter()
    if monitored:
        async with LagMonitor():
            await workload()
    else:
        await workload()
    return time.perf_counter() - start


def measure(workload: Callable[[], Awaitable[None]], repeats: int) -> tuple[float, float]:
    """Ejecuta la carga ``repeats`` veces con y sin monitor, en orden alterno.

    Devuelve las medianas (sin monitor, con monitor) en segundos.
    """
    plain: list[float] = []
    monitored: list[float] = []
    asyncio.run(_timed(workload, False))  # calentamiento: importaciones y cachés
    for i in range(repeats):
        for with_monitor in (i % 2 == 0, i % 2 == 1):
            elapsed = asyncio.run(_timed(workload, with_monitor))
            (monitored if with_monitor else plain).append(elapsed)
    return statistics.median(plain), statistics.median(monitored)


def main() -> None:
    """Mide cada carga e imprime la sobrecarga del monitor. No devuelve nada."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9, help="repeticiones de cada variante")
    args = parser.parse_args()
    for name, workload in [
        ("100 tareas × 5000 sleep(0)", sleep0_workload),
        ("eco local, 20 clientes × 1500", echo_workload),
    ]:
        plain, monitored = measure(workload, args.repeats)
        overhead = (monitored / plain - 1) * 100
        print(
            f"{name:30} sin monitor {plain * 1000:7.1f} ms · con monitor "
            f"{monitored * 1000:7.1f} ms · sobrecarga {overhead:+.1f} %"
        )


if __name__ == "__main__":
    main()
