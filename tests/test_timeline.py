"""Pruebas de la línea de tiempo de tareas (timeline.py)."""

import asyncio
import time
from concurrent.futures import ProcessPoolExecutor

import matplotlib
import pytest

from asyncio_avanzado.lag import LagMonitor
from asyncio_avanzado.timeline import COROUTINE, PROCESS, THREAD, Timeline, compare

matplotlib.use("Agg")


async def client(timeline, label, seconds=0.1):
    async with timeline.span(label):
        await asyncio.sleep(seconds)


def sequential():
    async def main():
        timeline = Timeline()
        for i in range(3):
            await client(timeline, f"cliente {i}")
        return timeline

    return asyncio.run(main())


def concurrent():
    async def main():
        timeline = Timeline()
        await asyncio.gather(*(client(timeline, f"cliente {i}") for i in range(3)))
        return timeline

    return asyncio.run(main())


def test_sequential_does_not_overlap():
    timeline = sequential()
    assert timeline.overlap() == 1
    assert timeline.rows == ["cliente 0", "cliente 1", "cliente 2"]
    assert timeline.duration == pytest.approx(timeline.total, rel=0.1)
    assert all(span.kind == COROUTINE for span in timeline.spans)


def test_concurrent_overlaps():
    timeline = concurrent()
    assert timeline.overlap() == 3
    # Tres tramos de 0.1 s a la vez: el reloj avanza mucho menos que la suma.
    assert timeline.duration < timeline.total / 2


def test_thread_wrapper_records_a_thread_span():
    def blocking(x):
        time.sleep(0.05)
        return x * 2

    async def main():
        timeline = Timeline()
        wrapped = timeline.thread(blocking, "hilo 1")
        assert wrapped.__name__ == "blocking"
        results = await asyncio.gather(
            asyncio.to_thread(wrapped, 21),
            asyncio.get_running_loop().run_in_executor(None, timeline.thread(blocking), 1),
        )
        return timeline, results

    timeline, results = asyncio.run(main())
    assert results == [42, 2]
    assert sorted(s.label for s in timeline.spans) == ["blocking", "hilo 1"]
    assert all(s.kind == THREAD and s.duration >= 0.04 for s in timeline.spans)
    assert timeline.overlap() == 2


def test_process_span_from_the_parent():
    async def main():
        timeline = Timeline()
        with ProcessPoolExecutor(max_workers=1) as pool:
            async with timeline.span("cálculo", kind=PROCESS):
                await asyncio.get_running_loop().run_in_executor(pool, time.sleep, 0.05)
        return timeline

    (span,) = asyncio.run(main()).spans
    assert span.kind == PROCESS and span.duration >= 0.04


def test_span_is_recorded_even_if_the_block_fails():
    timeline = Timeline()
    with pytest.raises(KeyError), timeline.span("falla", kind=THREAD):
        raise KeyError("x")
    (span,) = timeline.spans
    assert span.label == "falla" and 0 <= span.start <= span.end


def test_unknown_kind_is_rejected():
    with pytest.raises(ValueError, match="tipo de tramo desconocido"):
        Timeline().span("x", kind="fibra")


def test_empty_timeline_and_marks():
    timeline = Timeline()
    assert (timeline.duration, timeline.total, timeline.overlap()) == (0.0, 0, 0)
    timeline.mark("inicio")
    ((label, t),) = timeline.marks
    assert label == "inicio" and t >= 0
    assert repr(timeline).startswith("<Timeline: 0 tramos en 0 filas")


def legend_texts(legend):
    return [text.get_text() for text in legend.get_texts()]


def test_plot_rows_bars_and_stall_band():
    import matplotlib.pyplot as plt

    async def main():
        timeline = Timeline()
        async with LagMonitor() as lag:
            await asyncio.gather(
                client(timeline, "a"),
                client(timeline, "b"),
                asyncio.to_thread(timeline.thread(time.sleep, "hilo"), 0.05),
            )
            async with timeline.span("bloquea"):
                time.sleep(0.15)
            await asyncio.sleep(0.02)
        return timeline, lag

    timeline, lag = asyncio.run(main())
    ax = timeline.plot(lag=lag, title="prueba")
    try:
        assert [t.get_text() for t in ax.get_yticklabels()] == timeline.rows
        assert len(timeline.rows) == 4
        bars = [bar for container in ax.containers for bar in container]
        assert len(bars) == len(timeline.spans) == 4
        assert legend_texts(ax.get_legend()) == ["corrutina", "hilo", "bucle bloqueado"]
        assert ax.get_title(loc="left") == "prueba"
        assert ax.get_xlim()[1] >= max(s.end for s in timeline.spans)
    finally:
        plt.close(ax.figure)


def test_compare_shares_the_x_axis():
    import matplotlib.pyplot as plt

    slow, fast = sequential(), concurrent()
    axs = compare({"secuencial": slow, "concurrente": fast})
    try:
        assert len(axs) == 2
        assert [ax.get_title(loc="left") for ax in axs] == ["secuencial", "concurrente"]
        # Eje compartido y suficiente para la más larga: la secuencial se ve más larga.
        assert axs[0].get_xlim() == axs[1].get_xlim()
        assert axs[1].get_xlim()[1] >= slow.duration
        (legend,) = axs[0].figure.legends
        assert legend_texts(legend) == ["corrutina"]
    finally:
        plt.close(axs[0].figure)


def test_compare_rejects_unknown_lag_titles():
    with pytest.raises(ValueError, match="no están en timelines"):
        compare({"a": Timeline()}, lags={"b": LagMonitor()})
