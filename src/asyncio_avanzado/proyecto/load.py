"""La prueba de carga del proyecto: muchos clientes HTTP a la vez y lo que vio el bucle."""

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ..lag import LagMonitor, format_duration

__all__ = ["Answer", "LoadResult", "load_test", "plot_comparison"]


@dataclass(frozen=True)
class Answer:
    """Una respuesta de la prueba: qué se pidió, qué llegó y cuánto tardó."""

    path: str
    status: int
    body: Any
    latency: float


@dataclass
class LoadResult:
    """Lo que midió una prueba de carga: las respuestas, la duración y el retraso del bucle."""

    answers: list[Answer] = field(default_factory=list)
    duration: float = 0.0
    lag: LagMonitor = field(default_factory=LagMonitor)

    @property
    def statuses(self) -> Counter[int]:
        """Devuelve cuántas respuestas hubo de cada código HTTP."""
        return Counter(a.status for a in self.answers)

    @property
    def throughput(self) -> float:
        """Devuelve las respuestas por segundo."""
        return len(self.answers) / self.duration if self.duration else 0.0

    def latency(self, p: float) -> float:
        """Devuelve el percentil `p` (0–100) de la latencia, en segundos (el más cercano)."""
        ordered = sorted(a.latency for a in self.answers)
        if not ordered:
            return 0.0
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]

    def __repr__(self) -> str:
        codes = ", ".join(f"{code}: {n}" for code, n in sorted(self.statuses.items()))
        return (
            f"<LoadResult {len(self.answers)} respuestas ({codes}) en "
            f"{format_duration(self.duration)} · p99 {format_duration(self.latency(99))} · "
            f"bucle máx {format_duration(self.lag.max_lag if self.lag.count else 0.0)}>"
        )


async def load_test(url: str, paths: list[str], clients: int, deadline: float = 10.0) -> LoadResult:
    """Reparte `paths` entre `clients` clientes que piden a la vez; devuelve un `LoadResult`.

    Cada cliente pide sus rutas una detrás de otra (con la misma `ClientSession`, hasta
    `clients` conexiones) y anota código, cuerpo JSON y latencia. Mientras, un `LagMonitor`
    mide el bucle en que corre la prueba (si el servicio vive en el mismo bucle, también el
    suyo). `deadline`: plazo de cada petición, en segundos.
    """
    import aiohttp

    result = LoadResult()
    shares = [paths[i::clients] for i in range(clients)]
    limits = aiohttp.ClientTimeout(total=deadline)
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(url, connector=connector, timeout=limits) as session:

        async def client(share: list[str]) -> None:
            for path in share:
                began = time.perf_counter()
                async with session.get(path) as response:
                    body = await response.json(content_type=None)
                result.answers.append(
                    Answer(path, response.status, body, time.perf_counter() - began)
                )

        began = time.perf_counter()
        async with result.lag, asyncio.TaskGroup() as tg:
            for share in shares:
                tg.create_task(client(share))
        result.duration = time.perf_counter() - began
    return result


def plot_comparison(results: dict[str, LoadResult]) -> Any:
    """Dibuja, para cada versión, respuestas por segundo, latencia p99 y retraso máximo del bucle.

    Devuelve la figura de matplotlib (tres paneles de barras).
    """
    import matplotlib.pyplot as plt  # aquí y no arriba: importar el paquete es rápido

    names = list(results)
    colors = ["tab:red", "tab:green", "tab:blue", "tab:orange"][: len(names)]
    fig, axes = plt.subplots(1, 3, figsize=(10, 3), layout="constrained")
    panels = [
        ("respuestas por segundo", [r.throughput for r in results.values()]),
        ("latencia p99 (ms)", [1000 * r.latency(99) for r in results.values()]),
        ("retraso máximo del bucle (ms)", [1000 * r.lag.max_lag for r in results.values()]),
    ]
    for ax, (title, values) in zip(axes, panels, strict=True):
        ax.bar(names, values, color=colors)
        ax.set_title(title, fontsize=10)
        ax.tick_params(axis="x", labelsize=8)
    return fig
