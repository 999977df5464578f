"""Línea de tiempo de tareas: dibuja qué se ejecutó, dónde y cuándo.

Cada tramo es una fila (etiqueta), un tipo (corrutina, hilo o proceso) y un
intervalo en segundos desde el origen de la línea de tiempo. Con ella se ve de un
vistazo si el trabajo fue secuencial (barras una tras otra), concurrente (barras
que se solapan) o si una llamada bloqueante congeló el bucle (con un
``LagMonitor``, una banda roja que cruza todas las filas)::

    timeline = Timeline()
    async with timeline.span("cliente 1"):
        await asyncio.sleep(1)
    await asyncio.to_thread(timeline.thread(time.sleep, "hilo 1"), 1)
    timeline.plot()

Los procesos hijos no pueden escribir en este objeto (viven en otra memoria, y
``perf_counter`` no garantiza el mismo origen entre procesos), así que un proceso
se anota desde el padre, alrededor de la espera::

    async with timeline.span("cálculo", kind=PROCESS):
        await loop.run_in_executor(pool, calcula, n)

El tramo incluye entonces el envío de argumentos y el resultado y, si el *pool*
está lleno, la espera en su cola.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from .lag import DEFAULT_THRESHOLD, LagMonitor, format_duration

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["COROUTINE", "KINDS", "PROCESS", "THREAD", "Span", "Timeline", "compare"]

COROUTINE = "corrutina"
THREAD = "hilo"
PROCESS = "proceso"
KINDS = (COROUTINE, THREAD, PROCESS)

# Azul y naranja se distinguen también con daltonismo; el rojo queda para los bloqueos.
_COLORS = {COROUTINE: "tab:blue", THREAD: "tab:orange", PROCESS: "tab:purple"}
_STALL_COLOR = "tab:red"
_STALL_LABEL = "bucle bloqueado"

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class Span:
    """Un tramo: fila, tipo e intervalo en segundos desde el origen de su línea de tiempo."""

    label: str
    kind: str
    start: float
    end: float

    @property
    def duration(self) -> float:
        """Devuelve la duración del tramo, en segundos."""
        return self.end - self.start


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"tipo de tramo desconocido {kind!r}; se esperaba uno de {KINDS}")


class _SpanRecorder:
    """Anota un tramo al salir del bloque, con ``with`` o con ``async with``."""

    def __init__(self, timeline: Timeline, label: str, kind: str) -> None:
        self._timeline = timeline
        self._label = label
        self._kind = kind
        self._start = 0.0

    def __enter__(self) -> _SpanRecorder:
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc_info: object) -> None:
        # También si el bloque falla o se cancela: ese tiempo también se ocupó.
        self._timeline._add(self._label, self._kind, self._start, time.perf_counter())

    async def __aenter__(self) -> _SpanRecorder:
        return self.__enter__()

    async def __aexit__(self, *exc_info: object) -> None:
        self.__exit__()


class Timeline:
    """Registra tramos de corrutinas, hilos y procesos para dibujarlos en filas.

    ``origin`` es el ``time.perf_counter()`` de su creación y todos los tiempos son
    segundos desde él, así que conviene crearla justo antes del trabajo que se mide.
    Se puede anotar desde varios hilos a la vez.
    """

    def __init__(self) -> None:
        self.origin = time.perf_counter()
        self._spans: list[Span] = []
        self._marks: list[tuple[str, float]] = []
        self._lock = threading.Lock()

    # -- anotar --------------------------------------------------------------------

    def span(self, label: str, kind: str = COROUTINE) -> _SpanRecorder:
        """Prepara un tramo en la fila ``label`` que dura lo que el bloque ``with``/``async with``.

        Devuelve el gestor de contexto que lo anota al salir.
        """
        _check_kind(kind)
        return _SpanRecorder(self, label, kind)

    def thread(self, fn: Callable[P, R], label: str | None = None) -> Callable[P, R]:
        """Envuelve una función bloqueante para anotar cuándo se ejecuta en su hilo.

        Devuelve una función con la misma firma, para ``asyncio.to_thread`` o
        ``run_in_executor``; la fila es ``label`` o, si falta, el nombre de la función.
        El tramo empieza cuando el hilo la ejecuta de verdad, no cuando se encola.
        """
        row = label if label is not None else getattr(fn, "__name__", repr(fn))

        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            with self.span(row, kind=THREAD):
                return fn(*args, **kwargs)

        return wrapper

    def mark(self, label: str) -> None:
        """Anota un instante con nombre (se dibuja como una línea vertical).

        No devuelve nada.
        """
        now = time.perf_counter() - self.origin
        with self._lock:
            self._marks.append((label, now))

    def _add(self, label: str, kind: str, start: float, end: float) -> None:
        span = Span(label, kind, start - self.origin, end - self.origin)
        with self._lock:
            self._spans.append(span)

    # -- resultados ----------------------------------------------------------------

    @property
    def spans(self) -> list[Span]:
        """Devuelve una copia de los tramos, en el orden en que terminaron."""
        with self._lock:
            return list(self._spans)

    @property
    def marks(self) -> list[tuple[str, float]]:
        """Devuelve una copia de los instantes anotados como pares (etiqueta, segundos)."""
        with self._lock:
            return list(self._marks)

    @property
    def rows(self) -> list[str]:
        """Devuelve las etiquetas de fila, en el orden en que empezó su primer tramo."""
        first: dict[str, float] = {}
        for s in self.spans:
            first[s.label] = min(s.start, first.get(s.label, s.start))
        return sorted(first, key=first.__getitem__)

    @property
    def duration(self) -> float:
        """Devuelve el tiempo de reloj entre el primer inicio y el último final (0 si no hay)."""
        spans = self.spans
        if not spans:
            return 0.0
        return max(s.end for s in spans) - min(s.start for s in spans)

    @property
    def total(self) -> float:
        """Devuelve la suma de las duraciones de los tramos.

        Si ``total`` es bastante mayor que ``duration``, hubo trabajo en paralelo.
        """
        return sum(s.duration for s in self.spans)

    def overlap(self) -> int:
        """Calcula cuántos tramos llegaron a estar en marcha a la vez como máximo.

        Devuelve 1 para trabajo secuencial, más de 1 para concurrente, 0 si no hay tramos.
        """
        # Barrido por eventos; a igual tiempo, los finales van antes que los inicios
        # para que dos tramos que solo se tocan no cuenten como solapados.
        events = sorted([(s.start, 1) for s in self.spans] + [(s.end, -1) for s in self.spans])
        running = peak = 0
        for _, delta in events:
            running += delta
            peak = max(peak, running)
        return peak

    def __repr__(self) -> str:
        spans = self.spans
        return (
            f"<Timeline: {len(spans)} tramos en {len(self.rows)} filas, "
            f"duración {format_duration(self.duration)}>"
        )

    # -- gráfico -------------------------------------------------------------------

    def plot(
        self,
        ax: Axes | None = None,
        lag: LagMonitor | None = None,
        title: str | None = None,
        threshold: float = DEFAULT_THRESHOLD,
        legend: bool = True,
    ) -> Axes:
        """Dibuja una fila por etiqueta con sus tramos coloreados por tipo.

        Si se pasa ``lag``, sombrea en rojo los bloqueos del bucle de más de
        ``threshold`` segundos a lo alto de todas las filas. Devuelve los ``Axes``.
        """
        import matplotlib.pyplot as plt  # aquí y no arriba: importar el paquete es rápido

        rows = self.rows
        if ax is None:
            _, ax = plt.subplots(figsize=(8, 1.0 + 0.45 * max(len(rows), 1)), layout="constrained")
        y = {label: i for i, label in enumerate(rows)}
        right = 0.0  # lo más a la derecha que dibujamos, para fijar el eje x nosotros
        for kind in KINDS:
            spans = [s for s in self.spans if s.kind == kind]
            if spans:
                ax.barh(
                    [y[s.label] for s in spans],
                    [s.duration for s in spans],
                    left=[s.start for s in spans],
                    height=0.6,
                    color=_COLORS[kind],
                    edgecolor="white",
                    linewidth=0.8,
                    label=kind,
                    zorder=2,
                )
                right = max(right, *(s.end for s in spans))
        if lag is not None:
            shift = (lag.origin or self.origin) - self.origin
            for n, (start, end) in enumerate(lag.stalls(threshold)):
                # Detrás de las barras, para que conserven su color.
                ax.axvspan(
                    start + shift,
                    end + shift,
                    color=_STALL_COLOR,
                    alpha=0.2,
                    linewidth=0,
                    label=_STALL_LABEL if n == 0 else None,
                    zorder=1,
                )
                right = max(right, end + shift)
        for label, t in self.marks:
            ax.axvline(t, color="0.3", linestyle=":", linewidth=1, zorder=3)
            ax.annotate(
                label,
                (t, 1),
                xycoords=("data", "axes fraction"),
                xytext=(3, -3),
                textcoords="offset points",
                va="top",
                fontsize="small",
                color="0.3",
            )
            right = max(right, t)
        ax.set_yticks(range(len(rows)), rows)
        ax.set_ylim(len(rows) - 0.4, -0.6)  # primera fila arriba, como se lee
        # Límites explícitos: set_xlim(left=0) dejaría la derecha fija en lo que hubiera
        # entonces, y en compare() los paneles con el eje compartido se recortarían.
        ax.set_xlim(0, max(right * 1.03, 0.01))
        ax.set_xlabel("tiempo (s)")
        ax.grid(axis="x", alpha=0.3, zorder=0)
        if title is not None:
            ax.set_title(title, loc="left")
        handles, labels = _legend_entries([ax])
        if legend and handles:
            # Fuera del área de dibujo, a la derecha: así nunca tapa una barra.
            ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
        return ax


def _legend_entries(axes: list[Axes]) -> tuple[list[Any], list[str]]:
    """Reúne las entradas de leyenda de varios paneles, sin repetir y en un orden fijo.

    Devuelve (artistas, etiquetas): primero los tipos de tramo, luego «bucle bloqueado».
    """
    found: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            found.setdefault(label, handle)
    labels = [label for label in (*KINDS, _STALL_LABEL) if label in found]
    return [found[label] for label in labels], labels


def compare(
    timelines: Mapping[str, Timeline],
    lags: Mapping[str, LagMonitor] | None = None,
    threshold: float = DEFAULT_THRESHOLD,
) -> list[Axes]:
    """Dibuja varias líneas de tiempo apiladas, con el mismo eje x, para compararlas.

    ``timelines`` va de título a línea de tiempo; ``lags``, opcional, del mismo título
    a su ``LagMonitor``. Devuelve la lista de ``Axes``, uno por línea de tiempo.
    """
    import matplotlib.pyplot as plt

    if not timelines:
        raise ValueError("compare() necesita al menos una línea de tiempo")
    lags = lags or {}
    unknown = set(lags) - set(timelines)
    if unknown:
        raise ValueError(f"lags tiene títulos que no están en timelines: {sorted(unknown)}")
    heights = [max(len(t.rows), 1) for t in timelines.values()]
    fig, axes = plt.subplots(
        len(timelines),
        1,
        sharex=True,
        squeeze=False,
        figsize=(8, 0.9 * len(timelines) + 0.45 * sum(heights)),
        gridspec_kw={"height_ratios": heights},
        layout="constrained",
    )
    axs = list(axes[:, 0])
    right = 0.0
    for ax, (name, timeline) in zip(axs, timelines.items(), strict=True):
        timeline.plot(ax=ax, lag=lags.get(name), title=name, threshold=threshold, legend=False)
        right = max(right, ax.get_xlim()[1])  # cada plot() fija el eje compartido a lo suyo
    axs[0].set_xlim(0, right)
    for ax in axs[:-1]:
        ax.set_xlabel("")
    # Una sola leyenda para toda la figura, con lo que aparece en cualquier panel.
    handles, labels = _legend_entries(axs)
    if handles:
        fig.legend(handles, labels, loc="outside right upper", frameon=False)
    return axs
