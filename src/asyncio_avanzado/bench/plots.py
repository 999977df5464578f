"""Las figuras del banco de pruebas: ecos por segundo, latencia y escalado.

Cada función dibuja en unos ejes de matplotlib (los crea si no se le dan) y los devuelve.
Los colores dicen la familia: gris la referencia, azul asyncio, verde uvloop, naranja hilos.
"""

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .stats import Summary

if TYPE_CHECKING:
    from .runner import BenchResult

__all__ = ["family", "plot_latency", "plot_rates", "plot_scaling"]

COLORS = {
    "referencia": "#8c8c8c",
    "asyncio": "#1f77b4",
    "uvloop": "#2ca02c",
    "hilos": "#ff7f0e",
}


def family(server: str) -> str:
    """Devuelve la familia de un servidor: «referencia», «asyncio», «uvloop» o «hilos»."""
    if server.startswith("hilos"):
        return "hilos"
    if server.endswith("-uvloop"):
        return "uvloop"
    return "referencia" if server == "base" else "asyncio"


def _axes(ax: Any, size: tuple[float, float]) -> Any:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=size, layout="constrained")[1]


def _legend(ax: Any, summaries: Sequence[Summary], extra: list[Any] | None = None) -> None:
    from matplotlib.patches import Patch

    present = {family(s.server) for s in summaries}
    handles = [Patch(color=color, label=f) for f, color in COLORS.items() if f in present]
    ax.legend(handles=handles + (extra or []), loc="lower right", fontsize="small")


def _table_rows(result: "BenchResult") -> list[Summary]:
    counts = sorted({s.connections for s in result.summaries})
    if len(counts) != 1:
        raise ValueError("esta figura es para una sola configuración; usa plot_scaling")
    return list(result.summaries)


def plot_rates(result: "BenchResult", ax: Any = None) -> Any:
    """Dibuja los ecos por segundo de cada servidor (barras horizontales); devuelve los ejes.

    Las barras rayadas son medidas en que el cliente se saturó: el servidor quizá daba más.
    """
    from matplotlib.patches import Patch

    rows = _table_rows(result)
    ax = _axes(ax, (8, 0.35 * len(rows) + 1.2))
    names = [s.server for s in rows][::-1]
    rates = [s.rate for s in rows][::-1]
    bars = ax.barh(names, rates, color=[COLORS[family(n)] for n in names])
    for bar, s in zip(bars, rows[::-1], strict=True):
        if s.client_limited:
            bar.set_hatch("//")
            bar.set_edgecolor("white")
        label = " bloqueado" if s.rate == 0 else f" {s.rate / 1000:.0f} mil"
        ax.text(s.rate, bar.get_y() + bar.get_height() / 2, label, va="center", fontsize="small")
    s0 = rows[0]
    ax.set_title(
        f"Ecos por segundo ({s0.connections} conexiones, {s0.active} activas, "
        f"mensajes de {s0.size} bytes)"
    )
    ax.set_xlabel("ecos por segundo (mediana; más es mejor)")
    ax.set_xlim(right=max(rates, default=1) * 1.15)  # sitio para las etiquetas
    ax.grid(axis="x", alpha=0.3)
    limited = [Patch(facecolor="white", edgecolor="black", hatch="//", label="cliente saturado")]
    _legend(ax, rows, limited if any(s.client_limited for s in rows) else None)
    return ax


def plot_latency(result: "BenchResult", ax: Any = None) -> Any:
    """Dibuja la latencia p50 (barra) y p99 (raya) de cada servidor, en escala logarítmica;
    devuelve los ejes."""
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter

    rows = [s for s in _table_rows(result) if s.latency_p50 is not None][::-1]
    ax = _axes(ax, (8, 0.35 * len(rows) + 1.2))
    names = [s.server for s in rows]
    p50 = [(s.latency_p50 or 0) * 1e3 for s in rows]
    p99 = [(s.latency_p99 or 0) * 1e3 for s in rows]
    ax.barh(names, p50, color=[COLORS[family(n)] for n in names])
    ax.scatter(p99, names, marker="|", s=300, color="black", zorder=3)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.set_xlabel("milisegundos por eco (escala logarítmica; menos es mejor)")
    ax.set_title("Latencia de un eco: p50 (barra) y p99 (raya)")
    ax.grid(axis="x", alpha=0.3, which="both")
    p99_handle = Line2D([], [], color="black", marker="|", linestyle="", markersize=12)
    p99_handle.set_label("p99")
    _legend(ax, rows, [p99_handle])
    return ax


def plot_scaling(result: "BenchResult", axes: Any = None) -> Any:
    """Dibuja, frente al número de conexiones, los ecos por segundo y la memoria por
    conexión de cada servidor (la pendiente desde el número anterior; dos paneles, eje x
    logarítmico); devuelve los ejes."""
    if axes is None:
        import matplotlib.pyplot as plt

        axes = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")[1]
    rate_ax, memory_ax = axes
    markers = "osD^v<>"
    servers = list(dict.fromkeys(s.server for s in result.summaries))
    families = [family(server) for server in servers]
    for i, server in enumerate(servers):
        rows = sorted(
            (s for s in result.summaries if s.server == server), key=lambda s: s.connections
        )
        style: dict[str, Any] = {"marker": markers[i % len(markers)], "label": server}
        if families.count(family(server)) == 1:  # si no, los colores de siempre, uno por línea
            style["color"] = COLORS[family(server)]
        counts = [s.connections for s in rows]
        rate_ax.plot(counts, [s.rate for s in rows], **style)
        memory_ax.plot(counts, [s.memory_per_connection / 1024 for s in rows], **style)
    shares = {round(100 * s.active / s.connections) for s in result.summaries}
    if len(shares) == 1:
        active = f"el {shares.pop()} % de las conexiones hace ping-pong; las demás, calladas"
    else:
        active = "activas: " + ", ".join(dict.fromkeys(f"{s.active}" for s in result.summaries))
    rate_ax.set_title("Ecos por segundo")
    rate_ax.set_ylabel("ecos por segundo (mediana)")
    rate_ax.set_ylim(bottom=0)
    memory_ax.set_title("Memoria residente por conexión (pendiente desde el punto anterior)")
    memory_ax.set_ylabel("KiB por conexión nueva")
    memory_ax.set_ylim(bottom=0)
    from matplotlib.ticker import FuncFormatter, NullLocator

    for ax in axes:
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        # Los puntos caen en las potencias de 10: las marcas menores no dicen nada y
        # dibujarlas casi duplica lo que tarda la figura.
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xlabel("conexiones abiertas (escala logarítmica)")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize="small")
    rate_ax.figure.suptitle(f"Escalado ({active})")
    return axes
