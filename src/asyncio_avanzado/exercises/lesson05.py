"""Ejercicios de la lección 05 (trabajo intensivo de CPU)."""

import asyncio
import hashlib
import math
import random
import threading
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any

from .. import cpu
from ..cpu import count_primes, sha256_hex
from ..text import plural
from .core import (
    Exercise,
    Failure,
    Mistake,
    Wrong,
    call_coroutine,
    register,
    unpredictable,
)
from .cpuwork import SpyPool, calibrate, close_pool, warm_pool, watch_work

__all__: list[str] = []

TARGET = 0.6
"""Segundos de CPU que debe costar, en esta máquina, hacer todo el cálculo en el bucle."""

# -- 05.1: cálculos en un pool de procesos, sin bloquear el bucle -----------------------------


async def primos_en_procesos(pool: Executor, limites: list[int]) -> list[int]:
    """Devuelve count_primes(limite) de cada límite, en orden, calculados a la vez en `pool`."""
    bucle = asyncio.get_running_loop()
    return await asyncio.gather(
        *(bucle.run_in_executor(pool, count_primes, limite) for limite in limites)
    )


def _primes_below(limits: list[int]) -> list[int]:
    """Cuenta los primos menores que cada límite con una criba: rápido, para la comprobación."""
    top = max(limits)
    sieve = bytearray([1]) * top
    sieve[:2] = b"\x00\x00"[: min(2, top)]
    for n in range(2, math.isqrt(max(top - 1, 0)) + 1):
        if sieve[n]:
            sieve[n * n :: n] = bytes(len(range(n * n, top, n)))
    counts, running, done = {}, 0, 0
    for limit in sorted(set(limits)):
        running += sum(sieve[done:limit])
        done = limit
        counts[limit] = running
    return [counts[limit] for limit in limits]


def _limits() -> tuple[list[int], float]:
    """Tres límites distintos, al azar, que en el bucle costarían unos TARGET s en total."""
    each = calibrate(count_primes, 40_000, TARGET / 3, exponent=1.4)
    limits = [int(each * random.uniform(0.8, 1.2)) + random.randrange(1000) for _ in range(3)]
    return limits, TARGET


async def _inline(pool: Executor, limites: list[int]) -> list[int]:
    # Resultado correcto, pero calcula en el hilo del bucle: lo congela entero.
    return [count_primes(limite) for limite in limites]


async def _blocking_result(pool: Executor, limites: list[int]) -> list[int]:
    # Usa el pool... y espera cada resultado con .result(), que bloquea el bucle.
    return [pool.submit(count_primes, limite).result() for limite in limites]


async def _one_at_a_time(pool: Executor, limites: list[int]) -> list[int]:
    # No bloquea, pero espera cada proceso antes de enviar el siguiente trabajo.
    bucle = asyncio.get_running_loop()
    return [await bucle.run_in_executor(pool, count_primes, limite) for limite in limites]


async def _threads_instead(pool: Executor, limites: list[int]) -> list[int]:
    # Hilos: el bucle respira a trompicones, y por el GIL no hay cálculo en paralelo.
    return await asyncio.gather(*(asyncio.to_thread(count_primes, n) for n in limites))


async def _own_pool(pool: Executor, limites: list[int]) -> list[int]:
    # Crea (y cierra bien) un pool propio en cada llamada, en vez de usar el que recibe.
    propio = ProcessPoolExecutor(max_workers=2)
    try:
        bucle = asyncio.get_running_loop()
        return await asyncio.gather(
            *(bucle.run_in_executor(propio, count_primes, limite) for limite in limites)
        )
    finally:
        await asyncio.to_thread(propio.shutdown)


async def _own_pool_left_open(pool: Executor, limites: list[int]) -> list[int]:
    # Un pool propio que nadie cierra: sus procesos siguen vivos al terminar.
    propio = ProcessPoolExecutor(max_workers=2)
    bucle = asyncio.get_running_loop()
    return await asyncio.gather(
        *(bucle.run_in_executor(propio, count_primes, limite) for limite in limites)
    )


async def _sieve_on_the_loop(pool: Executor, limites: list[int]) -> list[int]:
    # Los números correctos, con otro algoritmo y sin el pool: la respuesta sin el trabajo.
    return _primes_below(limites)


def _where_it_ran(seen: Any, spy: SpyPool, cost: float, what: str) -> None:
    """Lanza `Failure` si el cálculo no lo hicieron los procesos del pool que recibió."""
    if spy.cpu_in_workers() >= 0.25 * cost:
        return
    if seen.process_pools or seen.reaped_children_cpu >= 0.25 * cost:
        raise Failure(
            f"{what} lo calcularon procesos de otro pool, creado dentro de tu función: usa el "
            "pool que recibes (arrancar procesos en cada llamada cuesta, y los del pool de la "
            "comprobación ya estaban listos)"
        )
    if seen.own_cpu >= 0.25 * cost:
        raise Failure(
            f"{what} se calculó en este proceso, en el hilo del bucle o en hilos, y no en el pool "
            "de procesos que recibes: con el GIL, los hilos no calculan Python puro en paralelo. "
            "Envía cada trabajo con await bucle.run_in_executor(pool, count_primes, limite)"
        )
    raise Failure(
        f"ni los procesos del pool ni este proceso hicieron el trabajo de {what}: ¿devolviste "
        "números calculados de otra forma? Envía count_primes(limite) al pool, un trabajo por "
        "límite"
    )


async def _check_primos(candidate: Any) -> None:
    limits, cost = await asyncio.to_thread(_limits)  # fuera de la ventana que se juzga
    expected = _primes_below(limits)
    inner = ProcessPoolExecutor(max_workers=2)
    seen = None
    try:
        workers = await warm_pool(inner, 2)
        spy = SpyPool(inner)
        with watch_work(keep=workers) as seen:
            got = await call_coroutine(candidate, spy, list(limits))
        await seen.raise_if_pools_left()
        if got != expected:
            raise Failure(
                f"para los límites {limits} se esperaba {expected} (count_primes de cada uno, "
                f"en orden), llegó {got!r}"
            )
        _where_it_ran(seen, spy, cost, f"count_primes de {plural(len(limits), 'límite')}")
        if spy.peak < len(limits):
            raise Failure(
                f"el pool llegó a tener {plural(spy.peak, 'trabajo')} a la vez, no "
                f"{len(limits)}: los enviaste de uno en uno. Envíalos todos antes de esperar "
                "(asyncio.gather o un TaskGroup)"
            )
        if spy.shutdowns:
            raise Failure(
                "cerraste el pool que recibes (shutdown o with): es de quien lo creó, y otras "
                "llamadas lo necesitan; tu función solo debe usarlo"
            )
    finally:
        if seen is not None:
            await seen.close_leftovers()
        await close_pool(inner)


register(
    Exercise(
        key="05.1",
        title="Cálculos en un pool de procesos",
        function_name="primos_en_procesos",
        checker=_check_primos,
        solution=primos_en_procesos,
        wrong=(
            Wrong(_inline, Mistake.BLOCKING, "congeló el bucle"),
            Wrong(_blocking_result, Mistake.BLOCKING, "congeló el bucle"),
            Wrong(_one_at_a_time, Mistake.PROTOCOL, "de uno en uno"),
            Wrong(_threads_instead, Mistake.WRONG_TOOL, "en hilos"),
            Wrong(_own_pool, Mistake.WRONG_TOOL, "usa el pool que recibes"),
            Wrong(_own_pool_left_open, Mistake.LEFT_OPEN, "cuando tu función terminó"),
            Wrong(_sieve_on_the_loop, Mistake.NO_WORK, "calculados de otra forma"),
        ),
        applies=frozenset(
            {
                Mistake.NO_WORK,
                Mistake.LEFT_OPEN,
                Mistake.WRONG_TOOL,
                Mistake.BLOCKING,
                Mistake.PROTOCOL,
            }
        ),
        timeout=30.0,
    )
)

# -- 05.2: hilos para lo que suelta el GIL --------------------------------------------------

BLOCKS = 4
BLOCK_SIZE = 2**20


async def resumenes(bloques: list[bytes], vueltas: int) -> list[str]:
    """Devuelve sha256_hex(bloque, vueltas) de cada bloque, en orden, en hilos a la vez."""
    return await asyncio.gather(
        *(asyncio.to_thread(sha256_hex, bloque, vueltas) for bloque in bloques)
    )


async def _hash_inline(bloques: list[bytes], vueltas: int) -> list[str]:
    return [sha256_hex(bloque, vueltas) for bloque in bloques]


async def _hash_block_by_block(bloques: list[bytes], vueltas: int) -> list[str]:
    # «Cedo el bucle entre bloque y bloque»: cada bloque lo congela igual.
    digests = []
    for bloque in bloques:
        digests.append(sha256_hex(bloque, vueltas))
        await asyncio.sleep(0)
    return digests


async def _hash_in_processes(bloques: list[bytes], vueltas: int) -> list[str]:
    # Funciona, pero copia cada bloque a otro proceso para nada: hashlib ya suelta el GIL.
    bucle = asyncio.get_running_loop()
    pool = ProcessPoolExecutor(max_workers=2)
    try:
        return await asyncio.gather(
            *(bucle.run_in_executor(pool, sha256_hex, bloque, vueltas) for bloque in bloques)
        )
    finally:
        await asyncio.to_thread(pool.shutdown)


async def _hash_one_thread_at_a_time(bloques: list[bytes], vueltas: int) -> list[str]:
    return [await asyncio.to_thread(sha256_hex, bloque, vueltas) for bloque in bloques]


async def _thread_pool_left_open(bloques: list[bytes], vueltas: int) -> list[str]:
    # Un ThreadPoolExecutor propio que nadie cierra.
    pool = ThreadPoolExecutor(max_workers=BLOCKS)
    bucle = asyncio.get_running_loop()
    return await asyncio.gather(
        *(bucle.run_in_executor(pool, sha256_hex, bloque, vueltas) for bloque in bloques)
    )


async def _ignores_rounds(bloques: list[bytes], vueltas: int) -> list[str]:
    # Una sola vuelta por bloque: rápido, a la vez... y no es lo que se pidió.
    return await asyncio.gather(*(asyncio.to_thread(sha256_hex, bloque, 1) for bloque in bloques))


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


def _rounds() -> int:
    """Las vueltas con las que hashear los BLOCKS bloques costaría unos TARGET s aquí."""
    block = bytes(BLOCK_SIZE)
    return max(2, calibrate(lambda n: sha256_hex(block, n), 8, TARGET / BLOCKS, exponent=1))


async def _check_resumenes(candidate: Any) -> None:
    # Bloques al azar y vueltas calibradas en esta máquina, fuera de la ventana juzgada.
    rounds = await asyncio.to_thread(_rounds)
    blocks = [unpredictable(BLOCK_SIZE) for _ in range(BLOCKS)]
    cpu._take_calls()  # empezamos con el registro vacío
    seen = None
    try:
        with watch_work() as seen:
            got = await call_coroutine(candidate, blocks, rounds)
        await seen.raise_if_pools_left()
    finally:
        calls = cpu._take_calls()
        if seen is not None:
            await seen.close_leftovers()
    # Lo esperado se calcula después (también fuera de la ventana juzgada): si la función del
    # alumno falla, no hace falta, y así la comprobación responde antes.
    expected = await asyncio.to_thread(_expected_digests, blocks, rounds)
    if got != expected:
        raise Failure(
            f"los {BLOCKS} resúmenes no coinciden con sha256_hex(bloque, vueltas) de cada bloque, "
            f"en orden (con vueltas={rounds}): calcula cada bloque con todas sus vueltas"
        )
    if len(calls) < BLOCKS:
        if seen.own_cpu < 0.25 * TARGET:
            raise Failure(
                f"solo {len(calls)} de {BLOCKS} llamadas a sha256_hex corrieron en este proceso: "
                "las mandaste a otros procesos. hashlib suelta el GIL, así que los hilos bastan, "
                "y no hay que copiar cada bloque a otro proceso"
            )
        raise Failure(
            "calculaste los resúmenes sin llamar a sha256_hex: úsala, la comprobación mira en "
            "qué hilo corrió cada llamada"
        )
    loop_thread = threading.get_ident()
    on_loop = sum(thread == loop_thread for thread, _, _ in calls)
    if on_loop:
        raise Failure(
            f"{plural(on_loop, 'llamada', 'llamadas')} a sha256_hex corrieron en el hilo del "
            "bucle: mándalas a hilos con asyncio.to_thread"
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
        wrong=(
            Wrong(_hash_inline, Mistake.BLOCKING, "congeló el bucle"),
            Wrong(_hash_block_by_block, Mistake.BLOCKING, "congeló el bucle"),
            Wrong(_hash_in_processes, Mistake.WRONG_TOOL, "otros procesos"),
            Wrong(_hash_one_thread_at_a_time, Mistake.PROTOCOL, "de una en una"),
            Wrong(_thread_pool_left_open, Mistake.LEFT_OPEN, "cuando tu función terminó"),
            Wrong(_ignores_rounds, Mistake.NO_WORK, "todas sus vueltas"),
        ),
        applies=frozenset(
            {
                Mistake.NO_WORK,
                Mistake.LEFT_OPEN,
                Mistake.WRONG_TOOL,
                Mistake.BLOCKING,
                Mistake.PROTOCOL,
            }
        ),
        timeout=30.0,
    )
)
