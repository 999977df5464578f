"""La figura de la lección 05: aceleración de hilos y procesos según cuántos trabajos van a la vez.

Vive aquí y no en el cuaderno para que la celda que dibuja quepa en unas líneas::

    plot_speedups(aceleracion, cores=2)
    plt.show()
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_speedups"]

# Los colores de la línea de tiempo (timeline.py): naranja para hilos, morado para procesos.
_COLORS = {"hilos": "tab:orange", "procesos": "tab:purple"}


def plot_speedups(speedups: Mapping[tuple[str, str, int], float], cores: float) -> Figure:
    """Dibuja la aceleración frente a los trabajos a la vez: un panel por cálculo.

    ``speedups`` va de ``(cálculo, "hilos" o "procesos", n)`` a la aceleración medida con
    ``n`` trabajos a la vez; ``cores`` (los núcleos utilizables) se dibuja como una línea de
    puntos, el techo de lo que puede acelerar el paralelo de verdad. Devuelve la figura.
    """
    import matplotlib.pyplot as plt  # aquí y no arriba: importar el paquete es rápido

    names = list(dict.fromkeys(name for name, _, _ in speedups))
    if not names:
        raise ValueError("speedups está vacío: no hay nada que dibujar")
    workers = sorted({n for _, _, n in speedups})
    fig, axs = plt.subplots(
        1, len(names), figsize=(4.5 * len(names), 3.4), sharey=True, layout="constrained"
    )
    axs = [axs] if len(names) == 1 else list(axs)
    top = max([cores, *speedups.values()])
    for ax, name in zip(axs, names, strict=True):
        for kind, color in _COLORS.items():
            points = [(n, speedups[name, kind, n]) for n in workers if (name, kind, n) in speedups]
            if points:
                ax.plot(*zip(*points, strict=True), "o-", color=color, label=kind)
        ax.axhline(cores, color="0.5", linestyle=":", linewidth=1)
        ax.axhline(1, color="0.5", linewidth=0.8)
        ax.annotate(
            "núcleos utilizables",
            (workers[-1], cores),
            xytext=(0, 3),
            textcoords="offset points",
            ha="right",
            va="bottom",
            color="0.4",
            fontsize="small",
        )
        ax.set_title(name, loc="left")
        ax.set_xticks(workers)
        ax.set_xlabel("trabajos a la vez")
        ax.set_ylim(0, max(2.5, top + 0.5))
    axs[0].set_ylabel("aceleración (× respecto a en serie)")
    axs[0].legend(frameon=False, loc="upper left")
    return fig
