"""Ejercicios de la lección 05 (trabajo intensivo de CPU)."""

import asyncio
import hashlib
import threading
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from typing import Any

from .. import cpu
from ..cpu import count_primes, sha256_hex
from .core import Exercise, Failure, call_coroutine, expect_equal, register

__all__: list[str] = []

# -- 05.1: cálculos en un pool de procesos, sin bloquear el bucle -----------------------------


class CountingExecutor(Executor):
    """Envuelve un *executor* y cuenta cuántos trabajos recibe y cuántos llegó a tener a la vez."""

    def __init__(self, inner: Executor) -> None:
        self._inner = inner
        self._lock = threading.Lock()
        self._in_flight = 0
        self.submitted = 0
        self.peak = 0

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        with self._lock:
            self.submitted += 1
            self._in_flight += 1
            self.peak = max(self.peak, self._in_flight)
        future = self._inner.submit(fn, *args, **kwargs)
        future.add_done_callback(self._done)
        return future

    def _done(self, _: Future[Any]) -> None:
        with self._lock:
            self._in_flight -= 1

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        # El pool es de la comprobación: ella lo cierra, no el alumno.
        pass


# Límites distintos para que el orden de los resultados importe; sus valores, ya calculados.
LIMITS = [150_000, 100_000, 130_000]
EXPECTED = [13848, 9592, 12159]


async def primos_en_procesos(pool: Executor, limites: list[int]) -> list[int]:
    """Devuelve count_primes(limite) de cada límite, en orden, calculados a la vez en `pool`."""
    bucle = asyncio.get_running_loop()
    return await asyncio.gather(
        *(bucle.run_in_executor(pool, count_primes, limite) for limite in limites)
    )


async def _inline(pool: Executor, limites: list[int]) -> list[int]:
    # Resultado correcto, pero calcula en el hilo del bucle: lo congela entero.
    return [count_primes(limite) for limite in limites]


async def _one_at_a_time(pool: Executor, limites: list[int]) -> list[int]:
    # No bloquea, pero espera cada proceso antes de enviar el siguiente trabajo.
    bucle = asyncio.get_running_loop()
    return [await bucle.run_in_executor(pool, count_primes, limite) for limite in limites]


async def _threads_instead(pool: Executor, limites: list[int]) -> list[int]:
    # Hilos: el bucle respira, pero por el GIL no hay cálculo en paralelo.
    return await asyncio.gather(*(asyncio.to_thread(count_primes, n) for n in limites))


async def _check_primos(candidate: Any) -> None:
    with ProcessPoolExecutor(max_workers=2) as inner:
        # Arrancamos los procesos antes, para que su arranque no cuente como bloqueo.
        await asyncio.get_running_loop().run_in_executor(inner, count_primes, 10)
        pool = CountingExecutor(inner)
        got = await call_coroutine(candidate, pool, list(LIMITS))
    expect_equal(EXPECTED, got, f"count_primes de {LIMITS}, en orden")
    if pool.submitted < len(LIMITS):
        raise Failure(
            f"el pool recibió {pool.submitted} de {len(LIMITS)} trabajos: usa "
            "bucle.run_in_executor(pool, count_primes, limite) con el pool que te pasan "
            "(los hilos no calculan en paralelo Python puro)"
        )
    if pool.peak < len(LIMITS):
        raise Failure(
            f"el pool llegó a tener {pool.peak} trabajo(s) a la vez, no {len(LIMITS)}: "
            "envíalos todos antes de esperar (asyncio.gather o un TaskGroup)"
        )


register(
    Exercise(
        key="05.1",
        title="Cálculos en un pool de procesos",
        function_name="primos_en_procesos",
        checker=_check_primos,
        solution=primos_en_procesos,
        wrong=(_inline, _one_at_a_time, _threads_instead),
        timeout=30.0,
    )
)

# -- 05.2: hilos para lo que suelta el GIL --------------------------------------------------

BLOCKS = 4
BLOCK_SIZE = 4 * 2**20
ROUNDS = 40  # ~0.3 s de SHA-256 en total: en línea, congela el bucle bastante más que 0.15 s


async def resumenes(bloques: list[bytes], vueltas: int) -> list[str]:
    """Devuelve sha256_hex(bloque, vueltas) de cada bloque, en orden, en hilos a la vez."""
    return await asyncio.gather(
        *(asyncio.to_thread(sha256_hex, bloque, vueltas) for bloque in bloques)
    )


async def _hash_inline(bloques: list[bytes], vueltas: int) -> list[str]:
    return [sha256_hex(bloque, vueltas) for bloque in bloques]


async def _hash_in_processes(bloques: list[bytes], vueltas: int) -> list[str]:
    # Funciona, pero copia cada bloque a otro proceso para nada: hashlib ya suelta el GIL.
    bucle = asyncio.get_running_loop()
    with ProcessPoolExecutor(max_workers=2) as pool:
        return await asyncio.gather(
            *(bucle.run_in_executor(pool, sha256_hex, bloque, vueltas) for bloque in bloques)
        )


async def _hash_one_thread_at_a_time(bloques: list[bytes], vueltas: int) -> list[str]:
    return [await asyncio.to_thread(sha256_hex, bloque, vueltas) for bloque in bloques]


def _expected_digests(blocks: list[bytes], rounds: int) -> list[str]:
    digests = []
    for block in blocks:
        hasher = hashlib.sha256()
        for _ in range(rounds):
            hasher.update(block)
        digests.append(hasher.hexdigest())
    return digests


def _peak_overlap(calls: list[tuple[int, float, float]]) -> int:
    events = sorted([(s, 1) for _, s, _ in calls] + [(e, -1) for _, _, e in calls])
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    return peak


async def _check_resumenes(candidate: Any) -> None:
    blocks = [bytes([i + 1]) * BLOCK_SIZE for i in range(BLOCKS)]
    expected = await asyncio.to_thread(_expected_digests, blocks, ROUNDS)
    cpu._take_calls()  # empezamos con el registro vacío
    got = await call_coroutine(candidate, blocks, ROUNDS)
    calls = cpu._take_calls()
    expect_equal(expected, got, f"resúmenes de {BLOCKS} bloques, en orden")
    if len(calls) < BLOCKS:
        raise Failure(
            f"solo {len(calls)} de {BLOCKS} llamadas a sha256_hex corrieron en este proceso: "
            "¿usaste procesos? hashlib suelta el GIL, así que los hilos bastan y no hay que "
            "copiar cada bloque a otro proceso"
        )
    main = threading.get_ident()
    if any(thread == main for thread, _, _ in calls):
        raise Failure(
            "sha256_hex corrió en el hilo del bucle: mándala a hilos con asyncio.to_thread"
        )
    if _peak_overlap(calls) < 2:
        raise Failure(
            "las llamadas a sha256_hex corrieron de una en una: lánzalas todas a la vez "
            "(asyncio.gather o un TaskGroup)"
        )


register(
    Exercise(
        key="05.2",
        title="Hilos para un cálculo que suelta el GIL",
        function_name="resumenes",
        checker=_check_resumenes,
        solution=resumenes,
        wrong=(_hash_inline, _hash_in_processes, _hash_one_thread_at_a_time),
        timeout=30.0,
    )
)
