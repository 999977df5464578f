"""La figura de aceleraciones de la lección 05."""

import matplotlib.pyplot as plt
import pytest

from asyncio_avanzado.cpuplots import plot_speedups

SPEEDUPS = {
    (name, kind, n): value
    for name in ("Python puro", "hashlib")
    for kind, values in (("hilos", (1.0, 1.0, 1.0)), ("procesos", (1.0, 1.9, 1.9)))
    for n, value in zip((1, 2, 4), values, strict=True)
}


def test_one_panel_per_calculation_with_both_kinds_and_the_cores_line():
    fig = plot_speedups(SPEEDUPS, cores=2)
    try:
        axs = fig.axes
        assert [ax.get_title(loc="left") for ax in axs] == ["Python puro", "hashlib"]
        for ax in axs:
            assert [line.get_label() for line in ax.get_lines()][:2] == ["hilos", "procesos"]
            assert list(ax.get_lines()[1].get_ydata()) == [1.0, 1.9, 1.9]
            assert list(ax.get_xticks()) == [1, 2, 4]
            assert 2 in [line.get_ydata()[0] for line in ax.get_lines()[2:]]
    finally:
        plt.close(fig)


def test_the_y_axis_fits_more_cores_than_the_speedups():
    fig = plot_speedups(SPEEDUPS, cores=8)
    try:
        assert fig.axes[0].get_ylim()[1] >= 8
    finally:
        plt.close(fig)


def test_a_single_calculation_and_partial_data():
    fig = plot_speedups({("solo", "hilos", 1): 1.0, ("solo", "hilos", 2): 1.1}, cores=1)
    try:
        assert len(fig.axes) == 1
    finally:
        plt.close(fig)


def test_empty_is_an_error():
    with pytest.raises(ValueError, match="vacío"):
        plot_speedups({}, cores=1)
