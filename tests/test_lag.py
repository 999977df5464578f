"""Pruebas del monitor de retraso del bucle (lag.py)."""

import asyncio
import re
import time

import matplotlib
import pytest

from asyncio_avanzado.lag import LagMonitor, format_duration

matplotlib.use("Agg")


def run(coro):
    return asyncio.run(coro)


def test_blocking_call_shows_as_lag_and_stall():
    async def main():
        async with LagMonitor() as lag:
            await asyncio.sleep(0.05)
            before = time.perf_counter() - lag.origin
            time.sleep(0.2)
            after = time.perf_counter() - lag.origin
            await asyncio.sleep(0.05)
        return lag, before, after

    lag, before, after = run(main())
    assert lag.max_lag >= 0.15
    stalls = lag.stalls(0.05)
    # El bloqueo empieza, como mucho, un intervalo antes de lo que marca el monitor.
    assert any(
        start <= before + lag.interval + 0.05 and end >= after - 0.01 for start, end in stalls
    ), stalls


def test_block_at_the_very_end_is_recorded():
    async def main():
        async with LagMonitor() as lag:
            await asyncio.sleep(0.033)  # que el bloqueo no coincida con un latido
            time.sleep(0.3)
        return lag

    lag = run(main())
    assert lag.max_lag >= 0.25
    assert len(lag.stalls()) == 1


def test_block_that_never_yields_is_recorded():
    """Un bloque que bloquea sin ceder ni una vez (un error típico de ejercicio) también cuenta."""

    async def main():
        async with LagMonitor() as lag:
            time.sleep(0.3)
        return lag

    lag = run(main())
    assert lag.max_lag >= 0.25


def test_async_sleep_alone_has_small_lag():
    async def main():
        async with LagMonitor() as lag:
            await asyncio.sleep(0.3)
        return lag

    lag = run(main())
    assert lag.count >= 5
    assert lag.max_lag < 0.1  # margen amplio: la máquina de CI es ruidosa
    assert lag.stalls(0.1) == []


def test_stop_leaves_no_task_and_is_idempotent():
    async def main():
        lag = LagMonitor()
        await lag.stop()  # sin start(): no hace nada
        await lag.start()
        assert lag.running
        await asyncio.sleep(0.03)
        await lag.stop()
        await lag.stop()
        assert not lag.running
        return asyncio.all_tasks() - {asyncio.current_task()}

    assert run(main()) == set()


def test_exception_in_block_still_stops():
    async def main():
        lag = LagMonitor()
        with pytest.raises(ZeroDivisionError):
            async with lag:
                await asyncio.sleep(0.02)
                raise ZeroDivisionError("fallo dentro del bloque")
        return lag, asyncio.all_tasks() - {asyncio.current_task()}

    lag, left = run(main())
    assert not lag.running and left == set()


def test_start_twice_is_an_error():
    async def main():
        async with LagMonitor() as lag:
            with pytest.raises(RuntimeError, match="ya está midiendo"):
                await lag.start()

    run(main())


def test_results_without_samples_raise_in_spanish():
    lag = LagMonitor()
    with pytest.raises(RuntimeError, match="no tiene muestras"):
        lag.max_lag  # noqa: B018
    assert lag.report() == "retraso del bucle: sin muestras"
    assert "0 muestras" in repr(lag)


def test_invalid_arguments():
    with pytest.raises(ValueError, match="positivo"):
        LagMonitor(interval=0)

    async def main():
        async with LagMonitor() as lag:
            await asyncio.sleep(0.03)
        return lag

    lag = run(main())
    with pytest.raises(ValueError, match="entre 0 y 100"):
        lag.percentile(101)


def test_statistics_are_consistent():
    async def main():
        async with LagMonitor() as lag:
            await asyncio.sleep(0.05)
            time.sleep(0.1)
            await asyncio.sleep(0.05)
        return lag

    lag = run(main())
    lags = [value for _, value in lag.samples]
    assert lag.count == len(lags)
    assert lag.percentile(0) == min(lags)
    assert lag.percentile(100) == lag.max_lag == max(lags)
    assert min(lags) <= lag.percentile(50) <= lag.mean <= lag.max_lag
    times = [t for t, _ in lag.samples]
    assert times == sorted(times) and times[0] >= 0
    text = lag.report()
    assert text.startswith("retraso del bucle: máx ") and f"de {lag.count} con más de" in text
    assert lag.summary() == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(1.0021, "1.002 s"), (0.3, "300 ms"), (0.035, "35 ms"), (0.00012, "0.1 ms"), (0, "0.0 ms")],
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def test_plot_draws_lag_and_threshold():
    import matplotlib.pyplot as plt

    async def main():
        async with LagMonitor() as lag:
            await asyncio.sleep(0.03)
            time.sleep(0.1)
        return lag

    lag = run(main())
    ax = lag.plot(threshold=0.05)
    try:
        assert ax.get_ylabel() == "retraso del bucle (ms)"
        assert ax.get_xlabel() == "tiempo (s)"
        curve, threshold = ax.get_lines()
        assert max(curve.get_ydata()) == pytest.approx(lag.max_lag * 1000)
        assert list(threshold.get_ydata()) == [50, 50]
    finally:
        plt.close(ax.figure)


def test_frozen_total_counts_a_sleep_and_adds_slices():
    async def main():
        async with LagMonitor() as lag:
            await asyncio.sleep(0.02)
            for _ in range(4):
                time.sleep(0.05)
                await asyncio.sleep(0)
        return lag

    lag = run(main())
    assert 0.15 <= lag.frozen_total() <= 0.4
    assert lag.cpu_waits is None or len(lag.cpu_waits) == lag.count
    assert all(s.frozen <= s.lag for s in lag.detailed_samples)


def test_frozen_total_only_counts_inside_windows():
    async def main():
        async with LagMonitor() as lag:
            await asyncio.sleep(0.02)
            time.sleep(0.2)
            await asyncio.sleep(0.02)
            start = time.perf_counter()
            await asyncio.sleep(0.1)
            window = (start, time.perf_counter())
        return lag, window

    lag, window = run(main())
    assert lag.frozen_total() >= 0.15
    assert lag.frozen_total(windows=[window]) < 0.05


def test_cpu_wait_clock_counts_each_interval_once():
    from asyncio_avanzado.lag import CpuWaitClock

    clock = CpuWaitClock()
    try:
        start = time.perf_counter()
        clock.waited()
        time.sleep(0.05)
        waited = clock.waited()
        # Espera del hilo propio más la del que más esperó de los demás mientras el propio
        # estaba parado: nunca más que el rato transcurrido, por muchos hilos que haya.
        assert 0.0 <= waited <= time.perf_counter() - start
    finally:
        clock.close()


def test_report_with_cpu_and_split_plot():
    async def main():
        async with LagMonitor() as lag:
            await asyncio.sleep(0.02)
            time.sleep(0.1)
        return lag

    lag = run(main())
    assert "congelado por el código" in lag.report(cpu=True)
    assert "congelado" not in lag.report()
    ax = lag.plot(split=True)
    labels = ax.get_legend_handles_labels()[1]
    assert "congelado por el código" in labels


def test_report_counts_late_beats_instead_of_a_high_percentile():
    async def main():
        async with LagMonitor() as lag:
            await asyncio.sleep(0.05)
            time.sleep(0.12)
            await asyncio.sleep(0.05)
        return lag

    text = run(main()).report()
    assert "p99" not in text
    assert re.search(r"1 latido de \d+ con más de 50 ms", text), text
