"""Mide cuánto rendimiento cuesta la contabilidad de nuestros servidores de eco.

Compara un bucle de eco desnudo sobre ``asyncio.start_server`` («base») con
``EchoServer``, ``BackgroundEchoServer`` y, como referencia, ``ThreadedEchoServer``.
Cada servidor corre en su propio subproceso (no comparte el GIL con el cliente); el
generador de carga corre en este proceso: C conexiones hacen ping-pong de mensajes de
M bytes (cada mensaje vuelve entero antes de enviar el siguiente) durante T segundos
tras un breve calentamiento. Los servidores se alternan por turnos durante R rondas y
se muestra la mediana de cada uno y su cociente con «base». Uso::

    python benchmarks/echo_overhead.py [--conexiones 50] [--bytes 1024] [--segundos 3]
                                       [--rondas 5] [--servidores base EchoServer ...]
    python benchmarks/echo_overhead.py --quick      # unos segundos, para las pruebas
"""

from __future__ import annotations

import argparse
import asyncio
import os
import select
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Measurement", "SERVERS", "main", "run_load"]

HOST = "127.0.0.1"
BASE = "base"
THRESHOLD = 0.9
"""Cociente con «base» por debajo del cual la contabilidad cuesta demasiado."""
STARTUP_TIMEOUT = 20.0
"""Segundos que se espera a que un subproceso servidor anuncie su puerto."""
SHUTDOWN_TIMEOUT = 5.0
"""Segundos que se espera a que un subproceso servidor termine antes de matarlo."""
CHILD_SCRIPT = Path(__file__).resolve()
"""Guion que se ejecuta en cada subproceso servidor (con ``--servir NOMBRE``)."""


# -- servidores (se ejecutan en el subproceso) -----------------------------------------------


async def _serve_until_told(start: Callable[[], Awaitable[tuple[str, int]]]) -> None:
    """Arranca un servidor en este bucle, anuncia el puerto y espera a que se cierre stdin o
    llegue SIGTERM. No devuelve nada."""
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, done.set)

    def on_stdin() -> None:
        if not os.read(sys.stdin.fileno(), 4096):
            loop.remove_reader(sys.stdin.fileno())
            done.set()

    loop.add_reader(sys.stdin.fileno(), on_stdin)
    _announce(await start())
    await done.wait()


def _block_until_told(address: tuple[str, int]) -> None:
    """Anuncia el puerto y bloquea el hilo principal hasta que se cierre stdin o llegue
    SIGTERM. No devuelve nada."""

    def on_sigterm(signum: int, frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        _announce(address)
        while os.read(sys.stdin.fileno(), 4096):
            pass
    except SystemExit:
        pass
    finally:
        # Un segundo SIGTERM durante el cierre ya no interrumpe stop().
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _announce(address: tuple[str, int]) -> None:
    print(address[1], flush=True)


def serve_base() -> None:
    """El bucle de eco más simple posible, sin ninguna contabilidad."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            # Al salir, asyncio.run cancela las conexiones abiertas; en Python 3.11 los
            # streams imprimirían una traza si la tarea acabara cancelada.
            pass
        finally:
            writer.close()

    async def run() -> None:
        server = await asyncio.start_server(handle, HOST, 0)
        async with server:

            async def start() -> tuple[str, int]:
                return server.sockets[0].getsockname()[:2]

            await _serve_until_told(start)

    asyncio.run(run())


def serve_echo_server() -> None:
    """``EchoServer`` en el bucle de ``asyncio.run``."""
    from asyncio_avanzado import EchoServer

    async def run() -> None:
        server = EchoServer(HOST, 0)
        try:

            async def start() -> tuple[str, int]:
                await server.start()
                return server.address

            await _serve_until_told(start)
        finally:
            await server.stop()

    asyncio.run(run())


def serve_background() -> None:
    """``BackgroundEchoServer``, como en los cuadernos: el hilo principal solo espera."""
    from asyncio_avanzado import BackgroundEchoServer

    with BackgroundEchoServer(HOST, 0) as server:
        _block_until_told(server.address)


def serve_threaded() -> None:
    """``ThreadedEchoServer``: un hilo por conexión, sin asyncio (como referencia)."""
    from asyncio_avanzado import ThreadedEchoServer

    with ThreadedEchoServer(HOST, 0) as server:
        _block_until_told(server.address)


SERVERS: dict[str, Callable[[], None]] = {
    BASE: serve_base,
    "EchoServer": serve_echo_server,
    "BackgroundEchoServer": serve_background,
    "ThreadedEchoServer": serve_threaded,
}
"""Nombre de cada servidor y la función que lo ejecuta en el subproceso."""


# -- subprocesos servidores (desde el proceso principal) ----------------------------------------


def start_server_process(
    name: str, running: set[subprocess.Popen[bytes]]
) -> tuple[subprocess.Popen[bytes], int]:
    """Lanza el servidor `name` en un subproceso y lo apunta en `running`.

    Devuelve el proceso y el puerto que anuncia; si no lo anuncia a tiempo, lo detiene y
    lanza RuntimeError.
    """
    proc = subprocess.Popen(
        [sys.executable, str(CHILD_SCRIPT), "--servir", name],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    running.add(proc)
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], STARTUP_TIMEOUT)
    line = proc.stdout.readline() if ready else b""
    if not line.strip().isdigit():
        stop_server_process(proc, running)
        raise RuntimeError(
            f"el servidor {name!r} no anunció su puerto en {STARTUP_TIMEOUT:.0f} s "
            f"(código de salida: {proc.returncode})"
        )
    return proc, int(line)


def stop_server_process(
    proc: subprocess.Popen[bytes], running: set[subprocess.Popen[bytes]]
) -> None:
    """Cierra stdin del subproceso, espera a que salga y, si no sale a tiempo, lo mata.

    No devuelve nada. Sirve también si el proceso ya terminó.
    """
    try:
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                try:
                    pipe.close()
                except OSError:
                    pass
        try:
            proc.wait(SHUTDOWN_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.wait(SHUTDOWN_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    finally:
        running.discard(proc)


def _process_cpu_seconds(pid: int) -> tuple[float, float] | None:
    """Devuelve los segundos de CPU (de usuario, totales) del proceso `pid`, o None si el
    sistema no tiene /proc."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    # Tras el nombre vienen el estado (campo 3) y, en las posiciones 14 y 15, utime y stime.
    user, system = int(fields[11]), int(fields[12])
    tick = os.sysconf("SC_CLK_TCK")
    return user / tick, (user + system) / tick


# -- generador de carga ----------------------------------------------------------------------


@dataclass(frozen=True)
class Measurement:
    """Resultado de una medida contra un servidor."""

    messages_per_s: float
    mib_per_s: float
    """MiB/s devueltos por el servidor (en un solo sentido)."""
    server_cpu: float | None
    """Fracción de una CPU que usó el servidor (None si no se pudo medir)."""
    server_user: float | None
    """Fracción de una CPU que usó el servidor en modo usuario, es decir, en Python: el
    trabajo del núcleo en la red local se apunta a un proceso u otro según el momento."""
    client_cpu: float
    """Fracción de una CPU que usó el generador de carga."""

    @property
    def server_us_per_message(self) -> float | None:
        """Microsegundos de CPU de usuario del servidor por mensaje devuelto (None si no se
        midió)."""
        if self.server_user is None or not self.messages_per_s:
            return None
        return self.server_user / self.messages_per_s * 1e6


async def run_load(
    port: int,
    connections: int,
    size: int,
    seconds: float,
    warmup: float,
    server_pid: int | None = None,
) -> Measurement:
    """Abre `connections` conexiones que hacen ping-pong de `size` bytes con el servidor.

    Cuenta solo los mensajes completados durante `seconds` segundos tras `warmup` segundos
    de calentamiento. Devuelve la medida.
    """
    payload = bytes(i % 251 for i in range(size))
    completed = 0
    stopping = False

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal completed
        try:
            while not stopping:
                writer.write(payload)
                await writer.drain()
                if await reader.readexactly(size) != payload:
                    raise RuntimeError("el eco no coincide con el mensaje enviado")
                completed += 1
        finally:
            writer.close()

    streams = await asyncio.wait_for(
        asyncio.gather(*(asyncio.open_connection(HOST, port) for _ in range(connections))),
        STARTUP_TIMEOUT,
    )
    tasks = [asyncio.create_task(client(r, w)) for r, w in streams]
    try:
        await asyncio.sleep(warmup)
        count0, wall0, cpu0 = completed, time.perf_counter(), time.process_time()
        server0 = _process_cpu_seconds(server_pid) if server_pid else None
        await asyncio.sleep(seconds)
        count1, wall1, cpu1 = completed, time.perf_counter(), time.process_time()
        server1 = _process_cpu_seconds(server_pid) if server_pid else None
        stopping = True
        # Cada cliente termina su ida y vuelta en curso y sale; si alguno falló, aquí se ve.
        await asyncio.wait_for(asyncio.gather(*tasks), SHUTDOWN_TIMEOUT)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    elapsed = wall1 - wall0
    rate = (count1 - count0) / elapsed
    if server0 is None or server1 is None:
        server_user = server_cpu = None
    else:
        server_user = (server1[0] - server0[0]) / elapsed
        server_cpu = (server1[1] - server0[1]) / elapsed
    return Measurement(rate, rate * size / 2**20, server_cpu, server_user, (cpu1 - cpu0) / elapsed)


async def measure_all(
    names: list[str],
    rounds: int,
    connections: int,
    size: int,
    seconds: float,
    warmup: float,
    running: set[subprocess.Popen[bytes]],
) -> dict[str, list[Measurement]]:
    """Mide cada servidor una vez por ronda, rotando el orden en cada ronda.

    Devuelve las medidas de cada servidor, en orden de ronda.
    """
    results: dict[str, list[Measurement]] = {name: [] for name in names}
    for r in range(rounds):
        shift = r % len(names)
        order = names[shift:] + names[:shift]
        parts = []
        for name in order:
            proc, port = start_server_process(name, running)
            try:
                m = await run_load(port, connections, size, seconds, warmup, proc.pid)
            finally:
                stop_server_process(proc, running)
            results[name].append(m)
            parts.append(f"{name} {m.messages_per_s:.0f}")
        print(f"ronda {r + 1}/{rounds}: " + " · ".join(parts) + " mensajes/s", flush=True)
    return results


# -- informe ---------------------------------------------------------------------------------


def _percent(fraction: float | None) -> str:
    return "—" if fraction is None else f"{fraction * 100:.0f} %"


def _median(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def report(results: dict[str, list[Measurement]]) -> None:
    """Imprime la tabla de medianas, el posible límite del cliente y el veredicto."""
    rows = {
        name: (
            statistics.median(m.messages_per_s for m in ms),
            statistics.median(m.mib_per_s for m in ms),
            _median([m.server_us_per_message for m in ms]),
            _median([m.server_cpu for m in ms]),
            statistics.median(m.client_cpu for m in ms),
        )
        for name, ms in results.items()
    }
    base = rows[BASE] if BASE in rows else None
    print()
    print(
        f"{'servidor':<22} {'mensajes/s':>11} {'MiB/s':>7} {'× base':>7} "
        f"{'µs usu/msj':>11} {'× base':>7} {'CPU serv.':>10} {'CPU cliente':>12}"
    )
    print("-" * 93)
    for name, (rate, mib, us, server_cpu, client_cpu) in rows.items():
        ratio = f"{rate / base[0]:.2f}" if base else "—"
        us_text = "—" if us is None else f"{us:.1f}"
        us_ratio = f"{us / base[2]:.2f}" if base and us is not None and base[2] else "—"
        print(
            f"{name:<22} {rate:>11.0f} {mib:>7.1f} {ratio:>7} {us_text:>11} {us_ratio:>7} "
            f"{_percent(server_cpu):>10} {_percent(client_cpu):>12}"
        )
    print(
        "(medianas; MiB/s devueltos en un sentido; «µs usu/msj»: CPU de usuario (Python) que "
        "gasta el servidor por mensaje; CPU en % de un núcleo)"
    )

    busiest_client = max(row[4] for row in rows.values())
    if busiest_client >= 0.9:
        print(
            "Aviso: el generador de carga es un solo proceso y llegó al "
            f"{_percent(busiest_client)} de un núcleo: puede ser él el límite y atenuar "
            "las diferencias en mensajes/s; "
            "la columna «µs usu/msj» no depende de eso."
        )

    helpers = [name for name in ("EchoServer", "BackgroundEchoServer") if name in rows]
    if base is None or not helpers:
        print("Veredicto: hace falta «base» y algún servidor del curso para comparar.")
        return
    if base[2] and all(rows[name][2] is not None for name in helpers):
        costs = ", ".join(f"{name} {rows[name][2] / base[2]:.2f}×" for name in helpers)
        print(
            f"CPU de usuario del servidor por mensaje respecto a base: {costs} "
            "(más estable que mensajes/s si la máquina está cargada)."
        )
    verdicts = [f"{name} {rows[name][0] / base[0]:.2f}×" for name in helpers]
    ok = all(rows[name][0] / base[0] >= THRESHOLD for name in helpers)
    limit = _percent(1 - THRESHOLD)
    conclusion = (
        f"todos ≥ {THRESHOLD}× base: la contabilidad cuesta menos de un {limit} de rendimiento."
        if ok
        else f"alguno < {THRESHOLD}× base: la contabilidad cuesta más de un {limit} de rendimiento."
    )
    print(f"Veredicto: {', '.join(verdicts)}; {conclusion}")


# -- línea de órdenes ------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """Devuelve el analizador de argumentos de la orden."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--conexiones", type=int, help="conexiones simultáneas del cliente (por defecto, 50)"
    )
    parser.add_argument(
        "--bytes", type=int, help="tamaño de cada mensaje en bytes (por defecto, 1024)"
    )
    parser.add_argument(
        "--segundos", type=float, help="segundos de cada medida, sin el calentamiento (3)"
    )
    parser.add_argument("--rondas", type=int, help="rondas en que se alternan los servidores (5)")
    parser.add_argument(
        "--servidores",
        nargs="+",
        choices=list(SERVERS),
        default=list(SERVERS),
        metavar="NOMBRE",
        help=f"servidores que se comparan, entre: {', '.join(SERVERS)} (por defecto, todos)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="medida rápida para pruebas: 1 s, 2 rondas, 10 conexiones (salvo que se indique)",
    )
    parser.add_argument("--servir", choices=list(SERVERS), help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> None:
    """Ejecuta la comparación (o, con ``--servir``, un servidor). No devuelve nada."""
    args = build_parser().parse_args(argv)
    if args.servir:
        # Ctrl-C en la terminal también llega aquí: quien decide cuándo parar es el padre.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        SERVERS[args.servir]()
        return

    quick = args.quick
    connections = args.conexiones or (10 if quick else 50)
    size = args.bytes or 1024
    seconds = args.segundos or (1.0 if quick else 3.0)
    rounds = args.rondas or (2 if quick else 5)
    warmup = 0.2 if quick else 0.5
    names = list(dict.fromkeys(args.servidores))
    print(
        f"Eco en ping-pong: {connections} conexiones × mensajes de {size} bytes, "
        f"{seconds:g} s por medida (+{warmup:g} s de calentamiento), {rounds} rondas; "
        f"cada servidor en su propio subproceso, el cliente en este.",
        flush=True,
    )
    running: set[subprocess.Popen[bytes]] = set()
    try:
        results = asyncio.run(
            measure_all(names, rounds, connections, size, seconds, warmup, running)
        )
    except KeyboardInterrupt:
        print("Interrumpido.", file=sys.stderr)
        sys.exit(130)
    finally:
        # Tras un Ctrl-C a destiempo puede quedar algún servidor: ninguno queda huérfano.
        for proc in list(running):
            proc.kill()
            stop_server_process(proc, running)
    report(results)


if __name__ == "__main__":
    main()
