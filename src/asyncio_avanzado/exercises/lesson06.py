"""Ejercicios de la lección 06 (buenas prácticas y detección del bloqueo)."""

import asyncio
import socket
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from ..background import BackgroundEchoServer
from .core import Exercise, Failure, call_coroutine, expect_equal, register
from .servers import wait_all_closed

__all__: list[str] = []


# -- 06.1: encuentra el bloqueo escondido ---------------------------------------------------------


def normalizar(producto: str) -> bytes:
    """Devuelve el nombre del producto sin espacios, en minúsculas y codificado."""
    return producto.strip().lower().encode()


async def informe(direccion: tuple[str, int], productos: list[str]) -> dict[str, str]:
    """Consulta todos los productos a la vez; devuelve {producto: respuesta}."""

    # El bloqueo estaba aquí: un socket bloqueante. Con streams, cada espera cede el bucle.
    async def preguntar_servicio(dato: bytes) -> bytes:
        reader, writer = await asyncio.open_connection(*direccion)
        try:
            writer.write(dato + b"\n")
            await writer.drain()
            return (await reader.readline()).rstrip(b"\n")
        finally:
            writer.close()
            await writer.wait_closed()

    async def consultar_producto(producto: str) -> str:
        return (await preguntar_servicio(normalizar(producto))).decode()

    async with asyncio.TaskGroup() as tg:
        tareas = {p: tg.create_task(consultar_producto(p)) for p in productos}
    return {p: t.result() for p, t in tareas.items()}


def _ask_blocking(direccion: tuple[str, int], dato: bytes) -> bytes:
    # El bloqueo escondido del esqueleto: un socket bloqueante, con su plazo.
    with socket.create_connection(direccion, timeout=5) as sock:
        sock.sendall(dato + b"\n")
        respuesta = b""
        while not respuesta.endswith(b"\n"):
            trozo = sock.recv(1024)
            if not trozo:
                break
            respuesta += trozo
        return respuesta.rstrip(b"\n")


async def _hidden_blocking(direccion: tuple[str, int], productos: list[str]) -> dict[str, str]:
    # El programa tal como llega: concurrente en apariencia, bloqueante por dentro.
    async def consultar(p: str) -> str:
        return _ask_blocking(direccion, normalizar(p)).decode()

    async with asyncio.TaskGroup() as tg:
        tareas = {p: tg.create_task(consultar(p)) for p in productos}
    return {p: t.result() for p, t in tareas.items()}


async def _await_in_front(direccion: tuple[str, int], productos: list[str]) -> dict[str, str]:
    # «Le pongo await»: primero bloquea y luego lanza TypeError.
    async def consultar(p: str) -> str:
        return (await _ask_blocking(direccion, normalizar(p))).decode()  # type: ignore[misc]

    async with asyncio.TaskGroup() as tg:
        tareas = {p: tg.create_task(consultar(p)) for p in productos}
    return {p: t.result() for p, t in tareas.items()}


async def _one_after_another(direccion: tuple[str, int], productos: list[str]) -> dict[str, str]:
    # Ya no bloquea (hilo aparte), pero espera cada consulta antes de lanzar la siguiente.
    resultado = {}
    for p in productos:
        resultado[p] = (await asyncio.to_thread(_ask_blocking, direccion, normalizar(p))).decode()
    return resultado


PRODUCTS = [" Café", "TÉ ", "Ñandú", "mate", "Yerba Mate"]


async def _check_informe(candidate: Any) -> None:
    with BackgroundEchoServer(delay=0.3) as server:
        result = await call_coroutine(candidate, server.address, list(PRODUCTS))
        expected = {p: p.strip().lower() for p in PRODUCTS}
        expect_equal(expected, result, "informe")
        await wait_all_closed(server)
        peak = server.stats.peak_active
    if peak < len(PRODUCTS):
        raise Failure(
            f"consultamos {len(PRODUCTS)} productos, pero el servicio nunca tuvo más de {peak} "
            "conexiones abiertas a la vez: las consultas no avanzaron en paralelo"
        )


register(
    Exercise(
        key="06.1",
        title="Encuentra el bloqueo escondido",
        function_name="informe",
        checker=_check_informe,
        solution=informe,
        wrong=(_hidden_blocking, _await_in_front, _one_after_another),
    )
)


# -- 06.2: el cálculo, fuera del bucle ---------------------------------------------------------


async def sumar_hasta(n: int) -> int:
    """Devuelve sum(range(n)) calculado en otro proceso, sin congelar el bucle."""
    loop = asyncio.get_running_loop()
    # `sum` y `range` se importan por nombre en el proceso hijo: se pueden enviar al pool.
    with ProcessPoolExecutor(max_workers=1) as pool:
        return await loop.run_in_executor(pool, sum, range(n))


async def _sum_on_the_loop(n: int) -> int:
    return sum(range(n))


async def _sum_in_a_thread(n: int) -> int:
    # sum() es código C que no suelta el GIL: el hilo del bucle tampoco puede avanzar.
    return await asyncio.to_thread(sum, range(n))


BIG_N = 50_000_000  # unos 0.5 s de cálculo en un portátil corriente


async def _check_sumar_hasta(candidate: Any) -> None:
    expect_equal(sum(range(10)), await call_coroutine(candidate, 10), "sumar_hasta(10)")
    expect_equal(BIG_N * (BIG_N - 1) // 2, await call_coroutine(candidate, BIG_N), "sumar_hasta(N)")


register(
    Exercise(
        key="06.2",
        title="El cálculo, fuera del bucle",
        function_name="sumar_hasta",
        checker=_check_sumar_hasta,
        solution=sumar_hasta,
        wrong=(_sum_on_the_loop, _sum_in_a_thread),
    )
)
