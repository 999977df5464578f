"""Ejercicios de la lección 06 (buenas prácticas y detección del bloqueo)."""

import asyncio
import hashlib
import random
import socket
import string
from concurrent.futures import Executor, ProcessPoolExecutor
from typing import Any

from ..chunky import BackgroundChunkyServer
from ..text import plural
from .core import (
    Exercise,
    Failure,
    Mistake,
    Wrong,
    call_coroutine,
    expect_equal,
    register,
    unpredictable,
)
from .cpuwork import SpyPool, calibrate, close_pool, warm_pool, watch_work
from .servers import spy_writers, wait_all_closed

__all__: list[str] = []

_random = random.SystemRandom()


# -- 06.1: encuentra el bloqueo escondido ---------------------------------------------------------


async def informe(direccion: tuple[str, int], productos: list[str]) -> dict[str, str]:
    """Consulta todos los productos a la vez; devuelve {producto: respuesta}."""

    # El bloqueo estaba en preguntar_servicio: un socket bloqueante dentro de la corrutina.
    # Con streams, cada espera cede el bucle.
    async def preguntar_servicio(dato: bytes) -> bytes:
        reader, writer = await asyncio.open_connection(*direccion)
        try:
            writer.write(dato + b"\n")
            await writer.drain()
            return (await reader.readline()).rstrip(b"\n")  # la línea entera, llegue como llegue
        finally:
            writer.close()
            await writer.wait_closed()

    async def consultar_producto(producto: str) -> str:
        return (await preguntar_servicio(producto.strip().lower().encode())).decode()

    async with asyncio.TaskGroup() as tg:
        tareas = {p: tg.create_task(consultar_producto(p)) for p in productos}
    return {p: t.result() for p, t in tareas.items()}


def _ask_blocking(direccion: tuple[str, int], dato: bytes) -> bytes:
    # El bloqueo escondido del esqueleto: un socket bloqueante, con su plazo.
    with socket.create_connection(direccion, timeout=5) as sock:
        sock.sendall(dato + b"\n")
        with sock.makefile("rb") as respuesta:
            return respuesta.readline().rstrip(b"\n")


def _normalize(producto: str) -> bytes:
    return producto.strip().lower().encode()


async def _hidden_blocking(direccion: tuple[str, int], productos: list[str]) -> dict[str, str]:
    # El programa tal como llega: concurrente en apariencia, bloqueante por dentro.
    async def consultar(p: str) -> str:
        return _ask_blocking(direccion, _normalize(p)).decode()

    async with asyncio.TaskGroup() as tg:
        tareas = {p: tg.create_task(consultar(p)) for p in productos}
    return {p: t.result() for p, t in tareas.items()}


async def _await_in_front(direccion: tuple[str, int], productos: list[str]) -> dict[str, str]:
    # «Le pongo await»: primero bloquea y luego lanza TypeError.
    async def consultar(p: str) -> str:
        return (await _ask_blocking(direccion, _normalize(p))).decode()  # type: ignore[misc]

    async with asyncio.TaskGroup() as tg:
        tareas = {p: tg.create_task(consultar(p)) for p in productos}
    return {p: t.result() for p, t in tareas.items()}


async def _one_after_another(direccion: tuple[str, int], productos: list[str]) -> dict[str, str]:
    # Ya no bloquea (hilo aparte), pero espera cada consulta antes de lanzar la siguiente.
    resultado = {}
    for p in productos:
        resultado[p] = (await asyncio.to_thread(_ask_blocking, direccion, _normalize(p))).decode()
    return resultado


async def _without_asking(direccion: tuple[str, int], productos: list[str]) -> dict[str, str]:
    # «El servicio devuelve el nombre normalizado»: la respuesta inventada, sin preguntar.
    return {p: p.strip().lower() for p in productos}


async def _reads_once(direccion: tuple[str, int], productos: list[str]) -> dict[str, str]:
    # Streams, a la vez y cerrando bien... pero un solo read(): llega el primer trozo.
    async def consultar(p: str) -> str:
        reader, writer = await asyncio.open_connection(*direccion)
        try:
            writer.write(_normalize(p) + b"\n")
            await writer.drain()
            return (await reader.read(1024)).rstrip(b"\n").decode()
        finally:
            writer.close()
            await writer.wait_closed()

    async with asyncio.TaskGroup() as tg:
        tareas = {p: tg.create_task(consultar(p)) for p in productos}
    return {p: t.result() for p, t in tareas.items()}


async def _never_closes(direccion: tuple[str, int], productos: list[str]) -> dict[str, str]:
    # Streams a la vez, leyendo la línea entera, pero sin cerrar ninguna conexión.
    async def consultar(p: str) -> str:
        reader, writer = await asyncio.open_connection(*direccion)
        writer.write(_normalize(p) + b"\n")
        await writer.drain()
        return (await reader.readline()).rstrip(b"\n").decode()

    async with asyncio.TaskGroup() as tg:
        tareas = {p: tg.create_task(consultar(p)) for p in productos}
    return {p: t.result() for p, t in tareas.items()}


async def _no_wait_closed(direccion: tuple[str, int], productos: list[str]) -> dict[str, str]:
    async def consultar(p: str) -> str:
        reader, writer = await asyncio.open_connection(*direccion)
        try:
            writer.write(_normalize(p) + b"\n")
            await writer.drain()
            return (await reader.readline()).rstrip(b"\n").decode()
        finally:
            writer.close()  # sin await writer.wait_closed()

    async with asyncio.TaskGroup() as tg:
        tareas = {p: tg.create_task(consultar(p)) for p in productos}
    return {p: t.result() for p, t in tareas.items()}


PRODUCTS = 5
SERVICE_DELAY = 0.15
"""Lo que tarda el servicio en responder cada consulta (segundos de reloj, no de CPU)."""


def _products() -> list[str]:
    """Cinco nombres al azar, con mayúsculas y espacios alrededor (que hay que normalizar).

    Solo letras ASCII: un trozo de respuesta cortado a mitad de una letra con tilde no se
    podría decodificar, y el informe diría «UnicodeDecodeError» en vez de «solo una parte».
    """
    names: set[str] = set()
    while len(names) < PRODUCTS:
        names.add(" " + "".join(_random.choice(string.ascii_letters) for _ in range(10)) + " ")
    return sorted(names)


def _price_reply(salt: bytes):
    """El servicio: a cada línea le responde «nombre precio», con un precio que nadie adivina."""

    def reply(line: bytes) -> bytes:
        name = line.rstrip(b"\r\n")
        cents = int.from_bytes(hashlib.sha256(salt + name).digest()[:3], "big") % 100_000
        return name + f" {cents // 100}.{cents % 100:02d}".encode() + b"\n"

    return reply


async def _check_informe(candidate: Any) -> None:
    products = _products()
    reply = _price_reply(unpredictable(16))
    expected = {p: reply(_normalize(p)).rstrip(b"\n").decode() for p in products}
    sent = sum(len(_normalize(p)) + 1 for p in products)
    with (
        BackgroundChunkyServer(pieces=3, pause=0.03, delay=SERVICE_DELAY, reply=reply) as server,
        spy_writers(server.address) as spy,
    ):
        result = await call_coroutine(candidate, server.address, list(products))
        spy.raise_if_left_open()
        await wait_all_closed(server)
        stats = server.stats
    if stats.bytes_received < sent:
        raise Failure(
            f"el servicio recibió {plural(stats.bytes_received, 'byte')} de los {sent} de las "
            f"{PRODUCTS} consultas: cada respuesta debe venir del servicio, no se puede adivinar "
            "(los precios cambian en cada comprobación)"
        )
    if not isinstance(result, dict):
        raise Failure(f"informe debe devolver un dict {{producto: respuesta}}, llegó {result!r}")
    for product, answer in expected.items():
        got = result.get(product)
        if isinstance(got, str) and got != answer and answer.startswith(got):
            raise Failure(
                f"para {product!r} llegó solo una parte de la respuesta ({got!r} de {answer!r}): "
                "el servicio la envía en varios trozos; lee la línea entera (reader.readline(), "
                "o lee hasta el salto de línea)"
            )
    expect_equal(expected, result, "informe")
    if stats.peak_active < PRODUCTS:
        raise Failure(
            f"consultamos {PRODUCTS} productos, pero el servicio nunca tuvo más de "
            f"{plural(stats.peak_active, 'conexión abierta', 'conexiones abiertas')} a la vez: "
            "las consultas no avanzaron a la vez. Lánzalas todas antes de esperar (un TaskGroup)"
        )


register(
    Exercise(
        key="06.1",
        title="Encuentra el bloqueo escondido",
        function_name="informe",
        checker=_check_informe,
        solution=informe,
        wrong=(
            Wrong(_hidden_blocking, Mistake.BLOCKING, "congeló el bucle"),
            Wrong(_await_in_front, Mistake.BLOCKING, "congeló el bucle"),
            Wrong(_one_after_another, Mistake.PROTOCOL, "a la vez"),
            Wrong(_without_asking, Mistake.NO_WORK, "debe venir del servicio"),
            Wrong(_reads_once, Mistake.PARTIAL_IO, "llegó solo una parte"),
            Wrong(_never_closes, Mistake.LEFT_OPEN, "cuando tu función terminó"),
            Wrong(_no_wait_closed, Mistake.LEFT_OPEN, "no esperaste"),
        ),
        applies=frozenset(
            {
                Mistake.NO_WORK,
                Mistake.LEFT_OPEN,
                Mistake.PARTIAL_IO,
                Mistake.BLOCKING,
                Mistake.PROTOCOL,
            }
        ),
    )
)


# -- 06.2: el cálculo, fuera del bucle ---------------------------------------------------------


async def sumar_hasta(pool: Executor, n: int) -> int:
    """Devuelve sum(range(n)) calculado en un proceso de `pool`, sin congelar el bucle."""
    loop = asyncio.get_running_loop()
    # `sum` y `range` se importan por nombre en el proceso hijo: se pueden enviar al pool.
    # Si nos cancelan, await deja de esperar enseguida; el proceso termina su suma solo.
    return await loop.run_in_executor(pool, sum, range(n))


async def _sum_on_the_loop(pool: Executor, n: int) -> int:
    return sum(range(n))  # el esqueleto: congela el bucle


async def _sum_in_slices(pool: Executor, n: int) -> int:
    # «Cedo el bucle cada trozo»: cada trozo lo congela igual.
    total, step = 0, n // 5 + 1
    for start in range(0, n, step):
        total += sum(range(start, min(n, start + step)))
        await asyncio.sleep(0)
    return total


async def _sum_in_a_thread(pool: Executor, n: int) -> int:
    # sum() es código C que no suelta el GIL: el hilo del bucle tampoco puede avanzar.
    return await asyncio.to_thread(sum, range(n))


async def _blocking_result(pool: Executor, n: int) -> int:
    # En el pool, sí... pero .result() espera bloqueando el bucle.
    return pool.submit(sum, range(n)).result()


async def _with_a_new_pool(pool: Executor, n: int) -> int:
    # Un pool nuevo en cada llamada, con with: al salir (también al cancelarla) espera.
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(max_workers=1) as propio:
        return await loop.run_in_executor(propio, sum, range(n))


async def _own_pool_per_call(pool: Executor, n: int) -> int:
    # Un pool nuevo en cada llamada, bien cerrado, en vez del que recibe.
    propio = ProcessPoolExecutor(max_workers=1)
    try:
        return await asyncio.get_running_loop().run_in_executor(propio, sum, range(n))
    finally:
        await asyncio.to_thread(propio.shutdown)


async def _new_pool_left_open(pool: Executor, n: int) -> int:
    # Un pool nuevo en cada llamada que nadie cierra.
    propio = ProcessPoolExecutor(max_workers=1)
    return await asyncio.get_running_loop().run_in_executor(propio, sum, range(n))


async def _formula(pool: Executor, n: int) -> int:
    # El resultado exacto sin sumar nada: la respuesta sin el trabajo.
    return n * (n - 1) // 2


def _sum_range(n: int) -> int:
    return sum(range(n))


async def _check_sumar_hasta(candidate: Any) -> None:
    # Cuántos números suma esta máquina en 0.5 s de CPU, medido fuera de la ventana juzgada.
    big = await asyncio.to_thread(calibrate, _sum_range, 1_000_000, 0.5, 1)
    inner = ProcessPoolExecutor(max_workers=1)
    seen = None
    try:
        workers = await warm_pool(inner, 1)
        spy = SpyPool(inner)
        small = random.randrange(10, 1000)
        expect_equal(sum(range(small)), await call_coroutine(candidate, spy, small), "sumar_hasta")
        n = big + random.randrange(1000)
        with watch_work(keep=workers) as seen:
            got = await call_coroutine(candidate, spy, n)
        await seen.raise_if_pools_left()
        expect_equal(n * (n - 1) // 2, got, f"sumar_hasta(pool, {n})")
        await _cancel_halfway(candidate, spy, inner, n)
        _where_it_summed(seen, spy, big)
        if spy.shutdowns:
            raise Failure(
                "cerraste el pool que recibes (shutdown o with): es de quien lo creó, y otras "
                "llamadas lo necesitan; tu función solo debe usarlo"
            )
    finally:
        if seen is not None:
            await seen.close_leftovers()
        await close_pool(inner)


def _where_it_summed(seen: Any, spy: SpyPool, big: int) -> None:
    """Lanza `Failure` si la suma grande no la hizo el proceso del pool que recibió."""
    cost = 0.5  # segundos de CPU de la suma grande, por la calibración
    if spy.cpu_in_workers() >= 0.25 * cost:
        return
    if seen.process_pools or seen.reaped_children_cpu >= 0.25 * cost:
        raise Failure(
            "la suma la hizo un proceso de otro pool, creado en tu función: usa el pool que "
            "recibes, que ya está arrancado (crear un pool en cada llamada cuesta un proceso "
            "nuevo cada vez)"
        )
    if seen.own_cpu >= 0.25 * cost:
        raise Failure(
            "la suma se hizo en este proceso (en el hilo del bucle o en un hilo), no en el pool: "
            "sum() no suelta el GIL, así que en un hilo el bucle también se congela (regla 4). "
            "Envíala al proceso: await loop.run_in_executor(pool, sum, range(n))"
        )
    raise Failure(
        "ningún proceso sumó nada: devolviste el resultado sin calcular sum(range(n)) (con una "
        "fórmula, por ejemplo). El ejercicio es llevar ese cálculo al pool de procesos"
    )


async def _cancel_halfway(candidate: Any, spy: SpyPool, inner: Executor, n: int) -> None:
    """Cancela una llamada a medias, como un plazo; su bloqueo del bucle cuenta en el veredicto."""
    task = asyncio.create_task(call_coroutine(candidate, spy, n))
    await asyncio.sleep(0.1)
    task.cancel()
    await asyncio.wait({task})
    if not task.cancelled():
        task.exception()  # ya terminó (bloqueando, quizá): el veredicto del bloqueo lo dirá
    # El proceso sigue con su suma (no se puede cancelar): esperamos a que acabe, fuera.
    await asyncio.to_thread(inner.submit(int).result)


register(
    Exercise(
        key="06.2",
        title="El cálculo, fuera del bucle",
        function_name="sumar_hasta",
        checker=_check_sumar_hasta,
        solution=sumar_hasta,
        wrong=(
            Wrong(_sum_on_the_loop, Mistake.BLOCKING, "congeló el bucle"),
            Wrong(_sum_in_slices, Mistake.BLOCKING, "congeló el bucle"),
            Wrong(_blocking_result, Mistake.BLOCKING, "congeló el bucle"),
            Wrong(_with_a_new_pool, Mistake.BLOCKING, "congeló el bucle"),
            Wrong(_sum_in_a_thread, Mistake.WRONG_TOOL, "no suelta el GIL"),
            Wrong(_own_pool_per_call, Mistake.WRONG_TOOL, "usa el pool que recibes"),
            Wrong(_new_pool_left_open, Mistake.LEFT_OPEN, "cuando tu función terminó"),
            Wrong(_formula, Mistake.NO_WORK, "sin calcular"),
        ),
        applies=frozenset(
            {Mistake.NO_WORK, Mistake.LEFT_OPEN, Mistake.WRONG_TOOL, Mistake.BLOCKING}
        ),
        timeout=30.0,
    )
)
