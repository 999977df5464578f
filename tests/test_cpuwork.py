"""Las piezas de las comprobaciones de cálculo: el pool espía y lo que se mide alrededor."""

import asyncio
import gc
import os
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import pytest

from asyncio_avanzado.cpu import count_primes
from asyncio_avanzado.exercises.core import Failure
from asyncio_avanzado.exercises.cpuwork import (
    SpyPool,
    calibrate,
    close_pool,
    warm_pool,
    watch_work,
)


async def _with_pool(body, workers=1):
    inner = ProcessPoolExecutor(max_workers=workers)
    try:
        kept = await warm_pool(inner, workers)
        return await body(inner, kept)
    finally:
        await close_pool(inner)


def test_spy_pool_counts_jobs_peak_and_who_computed_them():
    async def body(inner, kept):
        spy = SpyPool(inner)
        loop = asyncio.get_running_loop()
        # Trabajos de unos 30 ms: uno de microsegundos podía terminar antes de que se enviara el
        # segundo, y entonces nunca habría dos a la vez.
        limits = (30_000, 30_001)
        got = await asyncio.gather(*(loop.run_in_executor(spy, count_primes, n) for n in limits))
        assert got == [3245, 3245]
        assert spy.submitted == 2 and spy.peak == 2
        assert {job.pid for job in spy.jobs} <= {p.pid for p in kept}
        assert os.getpid() not in {job.pid for job in spy.jobs}
        assert spy.cpu_in_workers(count_primes) >= 0
        spy.shutdown()
        assert spy.shutdowns == 1
        assert loop.run_in_executor(spy, int) is not None  # sigue sirviendo: no lo cerró
        return len(kept)

    assert asyncio.run(_with_pool(body, workers=2)) == 2


def test_spy_pool_passes_exceptions_and_cancellation_through():
    async def body(inner, kept):
        spy = SpyPool(inner)
        with pytest.raises(ValueError, match="limit"):
            await asyncio.get_running_loop().run_in_executor(spy, count_primes, -1)
        busy = spy.submit(time.sleep, 0.3)
        waiting = spy.submit(int)
        assert waiting.cancel()  # aún en cola: se cancela, como en un pool de verdad
        busy.result(timeout=5)
        assert waiting.cancelled()

    asyncio.run(_with_pool(body))
    gc.collect()  # la traza de ValueError guarda marcos que aún apuntan al pool y sus tuberías


def test_watch_work_sees_own_cpu_and_pools_left_open():
    async def body():
        with watch_work() as seen:
            count_primes(30_000)
            ThreadPoolExecutor(max_workers=1).submit(int).result()
            closed = ThreadPoolExecutor(max_workers=1)
            closed.shutdown()
        assert seen.own_cpu > 0
        assert len(seen.thread_pools) == 2 and len(seen.thread_pools_left) == 1
        with pytest.raises(Failure, match="ThreadPoolExecutor que creaste seguía abierto"):
            await seen.raise_if_pools_left()
        assert not seen.thread_pools_left  # la comprobación lo cerró

    asyncio.run(body())


def test_watch_work_keeps_a_forgotten_process_pool_alive_until_it_is_seen():
    async def forgotten():
        pool = ProcessPoolExecutor(max_workers=1)
        await asyncio.get_running_loop().run_in_executor(pool, int)

    async def body():
        with watch_work() as seen:
            await forgotten()  # el pool ya no tiene nombre: la basura lo cerraría
        assert len(seen.process_pools_left) == 1
        with pytest.raises(Failure, match="pool de procesos que creaste seguía abierto"):
            await seen.raise_if_pools_left()

    asyncio.run(body())


def test_watch_work_counts_the_cpu_of_a_pool_that_was_closed():
    async def body():
        with watch_work() as seen:
            pool = ProcessPoolExecutor(max_workers=1)
            await asyncio.get_running_loop().run_in_executor(pool, count_primes, 60_000)
            await asyncio.to_thread(pool.shutdown)
        assert seen.process_pools and not seen.process_pools_left
        assert seen.reaped_children_cpu > 0

    asyncio.run(body())


def test_watch_work_restores_the_pool_classes():
    init = ProcessPoolExecutor.__init__, ThreadPoolExecutor.__init__
    with watch_work():
        assert ProcessPoolExecutor.__init__ is not init[0]
    assert (ProcessPoolExecutor.__init__, ThreadPoolExecutor.__init__) == init


def test_calibrate_scales_with_the_cost_exponent():
    linear = calibrate(lambda n: sum(range(n)), 100_000, 0.05, 1)
    assert linear > 100_000
    start = time.thread_time()
    sum(range(linear))
    assert 0.01 < time.thread_time() - start < 0.5
