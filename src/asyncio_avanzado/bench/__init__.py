"""Banco de pruebas: los enfoques del curso, uno junto a otro, con carga real.

Servidores de eco (asyncio con *streams*, `Protocol`, `BufferedProtocol`, `loop.sock_*`,
`run_in_executor`, un hilo por conexión y las variantes con uvloop), cada uno en su propio
proceso, y un generador de carga en uno o varios más. Desde la terminal::

    python -m asyncio_avanzado bench --help

Desde Python::

    from asyncio_avanzado.bench import run_benchmark
    resultado = run_benchmark(quick=True)
    print(resultado.table())
"""

from .plots import plot_latency, plot_rates, plot_scaling
from .processes import BenchError
from .recvcost import RecvCost, measure_recv_cost
from .runner import (
    DEFAULT_SERVERS,
    SCALING_SERVERS,
    BenchResult,
    Config,
    Settings,
    Skipped,
    all_servers,
    describe,
    run_benchmark,
    run_scaling,
)
from .servers import default_pool_size
from .stats import Run, Summary
from .system import uvloop_unavailable

__all__ = [
    "DEFAULT_SERVERS",
    "SCALING_SERVERS",
    "BenchError",
    "BenchResult",
    "Config",
    "RecvCost",
    "Run",
    "Settings",
    "Skipped",
    "Summary",
    "all_servers",
    "default_pool_size",
    "describe",
    "measure_recv_cost",
    "plot_latency",
    "plot_rates",
    "plot_scaling",
    "run_benchmark",
    "run_scaling",
    "uvloop_unavailable",
]
