"""Monitor del retraso del bucle de eventos: hace visible cuándo algo lo bloquea.

Una tarea «latido» duerme un intervalo corto una y otra vez y anota con cuánto
retraso despierta. Mientras el bucle está libre, el retraso es de décimas de
milisegundo; si una llamada bloqueante congela el bucle D segundos, el latido que
debía despertar durante ese tiempo despierta con unos D segundos de retraso.

Uso en un script o en un cuaderno (``await`` en la celda)::

    async with LagMonitor() as lag:
        await trabajo()
    print(lag.report())
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["DEFAULT_THRESHOLD", "LagMonitor", "format_duration"]

#: Retraso a partir del cual consideramos que el bucle estuvo bloqueado (segundos).
DEFAULT_THRESHOLD = 0.05


def format_duration(seconds: float) -> str:
    """Da formato legible a una duración en segundos.

    Devuelve un texto como ``"1.002 s"``, ``"35 ms"`` o ``"0.1 ms"``.
    """
    if seconds >= 1:
        return f"{seconds:.3f} s"
    if seconds >= 0.01:
        return f"{seconds * 1000:.0f} ms"
    return f"{seconds * 1000:.1f} ms"


class LagMonitor:
    """Mide el retraso con el que el bucle de eventos atiende a un latido periódico.

    Las marcas de tiempo salen de ``time.perf_counter()``; ``origin`` es el instante
    de ``start()`` y las muestras se expresan en segundos desde ese origen.
    """

    def __init__(self, interval: float = 0.01) -> None:
        if interval <= 0:
            raise ValueError(f"interval debe ser positivo (en segundos); se recibió {interval!r}")
        self.interval = interval
        self.origin: float | None = None
        self._samples: list[tuple[float, float]] = []  # (despertar absoluto, retraso)
        self._task: asyncio.Task[None] | None = None
        self._due: float | None = None  # cuándo debe despertar el latido que duerme ahora

    # -- ciclo de vida -------------------------------------------------------------

    async def start(self) -> None:
        """Empieza una medición nueva en el bucle en ejecución (borra las muestras previas).

        No devuelve nada; lanza ``RuntimeError`` si el monitor ya está midiendo.
        """
        if self.running:
            raise RuntimeError("el monitor ya está midiendo: llama a stop() antes de start()")
        self._samples = []
        self._due = None
        self.origin = time.perf_counter()
        self._task = asyncio.get_running_loop().create_task(self._beat(), name="LagMonitor")
        # Cedemos una vez para que el latido quede armado antes del código medido: si ese
        # código bloquea sin ceder nunca, el bloqueo se anota igualmente al parar.
        await asyncio.sleep(0)

    async def stop(self) -> None:
        """Detiene el latido y espera a que su tarea termine; llamarlo otra vez no hace nada.

        No devuelve nada.
        """
        task, self._task = self._task, None
        if task is None:
            return
        # Si el bloque que medimos acaba de bloquear el bucle, el latido que debía
        # despertar durante el bloqueo aún no se ha ejecutado y, al cancelarlo, su
        # retraso se perdería justo cuando más importa. Su hora prevista es conocida,
        # así que lo anotamos aquí. (Ceder el control con sleep(0) no basta: según la
        # fase del temporizador, la cancelación llega antes que el latido.)
        now = time.perf_counter()
        if self._due is not None and now > self._due:
            self._samples.append((now, now - self._due))
        self._due = None
        task.cancel()
        # wait() no propaga la cancelación de la tarea, pero sí la nuestra si nos cancelan.
        await asyncio.wait({task})

    async def __aenter__(self) -> LagMonitor:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _beat(self) -> None:
        while True:
            self._due = time.perf_counter() + self.interval
            await asyncio.sleep(self.interval)
            now = time.perf_counter()
            # El bucle puede despertar una fracción de microsegundo antes de tiempo.
            self._samples.append((now, max(0.0, now - self._due)))
            self._due = None

    # -- resultados ----------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Devuelve ``True`` mientras el latido está en marcha."""
        return self._task is not None

    @property
    def count(self) -> int:
        """Devuelve el número de muestras tomadas."""
        return len(self._samples)

    @property
    def samples(self) -> list[tuple[float, float]]:
        """Devuelve las muestras como pares (segundos desde el inicio, retraso en segundos)."""
        origin = self.origin or 0.0
        return [(t - origin, lag) for t, lag in self._samples]

    def _lags(self) -> list[float]:
        if not self._samples:
            raise RuntimeError(
                "el monitor no tiene muestras todavía: mide algo con «async with LagMonitor()» "
                "o con start()/stop() en el que el bucle llegue a ceder el control"
            )
        return [lag for _, lag in self._samples]

    @property
    def max_lag(self) -> float:
        """Devuelve el peor retraso observado, en segundos (el bloqueo más largo)."""
        return max(self._lags())

    @property
    def mean(self) -> float:
        """Devuelve el retraso medio, en segundos."""
        lags = self._lags()
        return sum(lags) / len(lags)

    def percentile(self, p: float) -> float:
        """Calcula el percentil ``p`` (de 0 a 100) del retraso, interpolando como numpy.

        Devuelve el retraso en segundos.
        """
        if not 0 <= p <= 100:
            raise ValueError(f"el percentil debe estar entre 0 y 100; se recibió {p!r}")
        lags = sorted(self._lags())
        pos = (len(lags) - 1) * p / 100
        low = int(pos)
        high = min(low + 1, len(lags) - 1)
        return lags[low] + (lags[high] - lags[low]) * (pos - low)

    def stalls(self, threshold: float = DEFAULT_THRESHOLD) -> list[tuple[float, float]]:
        """Busca los intervalos en que el bucle estuvo congelado más de ``threshold`` segundos.

        Devuelve pares (inicio, fin) en segundos desde el inicio: desde que el latido
        debía despertar (el bloqueo empezó como mucho un intervalo antes) hasta que
        despertó.
        """
        return [(t - lag, t) for t, lag in self.samples if lag >= threshold]

    def report(self) -> str:
        """Resume la medición en una línea.

        Devuelve un texto como ``"retraso del bucle: máx 1.002 s · p50 0.1 ms · p99 1.002 s
        · 87 muestras"``.
        """
        if not self._samples:
            return "retraso del bucle: sin muestras"
        parts = [
            f"máx {format_duration(self.max_lag)}",
            f"p50 {format_duration(self.percentile(50))}",
            f"p99 {format_duration(self.percentile(99))}",
            f"{self.count} muestras",
        ]
        return "retraso del bucle: " + " · ".join(parts)

    summary = report

    def __repr__(self) -> str:
        state = "midiendo" if self.running else "detenido"
        worst = f", máx {format_duration(self.max_lag)}" if self._samples else ""
        return f"<LagMonitor {state}: {self.count} muestras{worst}>"

    # -- gráfico -------------------------------------------------------------------

    def plot(
        self,
        ax: Axes | None = None,
        threshold: float = DEFAULT_THRESHOLD,
        origin: float | None = None,
    ) -> Axes:
        """Dibuja el retraso del bucle a lo largo del tiempo, con una línea en ``threshold``.

        Cada bloqueo aparece como un diente de sierra: el retraso crece desde que el
        latido debía despertar hasta que despertó. Para alinear el eje x con una
        ``Timeline``, pasa ``origin=timeline.origin``. Devuelve los ``Axes``.
        """
        import matplotlib.pyplot as plt  # aquí y no arriba: importar el paquete es rápido

        if ax is None:
            _, ax = plt.subplots(figsize=(8, 2.8), layout="constrained")
        shift = (self.origin or 0.0) - (origin if origin is not None else (self.origin or 0.0))
        xs: list[float] = []
        ys: list[float] = []
        for t, lag in self.samples:
            xs += [t + shift - lag, t + shift]
            ys += [0.0, lag * 1000]
        ax.plot(xs, ys, color="tab:blue", linewidth=1, label="retraso")
        ax.fill_between(xs, ys, color="tab:blue", alpha=0.15, linewidth=0)
        ax.axhline(
            threshold * 1000,
            color="tab:red",
            linestyle="--",
            linewidth=1,
            label=f"umbral ({format_duration(threshold)})",
        )
        ax.set_xlabel("tiempo (s)")
        ax.set_ylabel("retraso del bucle (ms)")
        ax.set_ylim(bottom=0)
        ax.set_xlim(left=min(0.0, *xs) if xs else 0.0)
        ax.legend(loc="upper right", frameon=False)
        return ax
