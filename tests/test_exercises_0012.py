"""Piezas de las comprobaciones de las lecciones 00, 01 y 02 (los ejercicios, en test_exercises)."""

import asyncio

import pytest

from asyncio_avanzado.exercises.core import Failure
from asyncio_avanzado.exercises.lesson00 import expect_bytes, run_calls
from asyncio_avanzado.exercises.lesson01 import _count_executor_calls


def test_run_calls_runs_every_call_at_once():
    async def slow_double(x):
        await asyncio.sleep(0.1)
        return 2 * x

    async def main():
        loop = asyncio.get_running_loop()
        start = loop.time()
        got = await run_calls(slow_double, [(1,), (2,), (3,)], 2.0, "pista")
        return got, loop.time() - start

    got, elapsed = asyncio.run(main())
    assert got == [2, 4, 6]
    assert elapsed < 0.25


def test_run_calls_explains_a_deadline_with_the_hint():
    async def never(x):
        await asyncio.sleep(10)

    with pytest.raises(Failure, match="no terminó en .*: mira el plazo"):
        asyncio.run(run_calls(never, [(1,)], 0.1, "mira el plazo"))


def test_run_calls_keeps_the_learners_timeout_apart_from_its_own():
    async def raises_timeout(x):
        raise TimeoutError("el del alumno")

    with pytest.raises(Failure, match="tu función lanzó TimeoutError: el del alumno") as info:
        asyncio.run(run_calls(raises_timeout, [(1,)], 2.0, "pista"))
    assert isinstance(info.value.__cause__, TimeoutError)


def test_run_calls_lets_not_implemented_through():
    async def stub(x):
        raise NotImplementedError("completa")

    with pytest.raises(NotImplementedError):
        asyncio.run(run_calls(stub, [(1,)], 2.0, "pista"))


def test_expect_bytes_names_a_partial_read():
    with pytest.raises(Failure, match="llegó solo una parte .3 de 6 bytes."):
        expect_bytes(b"abcdef", b"abc", "eco")
    with pytest.raises(Failure, match="no coinciden"):
        expect_bytes(b"abcdef", b"xyz", "eco")
    expect_bytes(b"abc", b"abc", "eco")


def test_counting_executor_calls_restores_the_loop():
    async def main():
        loop = asyncio.get_running_loop()
        with _count_executor_calls(loop) as calls:
            await asyncio.to_thread(sum, [1, 2])
            await loop.run_in_executor(None, sum, [3])
        assert "run_in_executor" not in vars(loop)
        return calls[0]

    assert asyncio.run(main()) == 2
