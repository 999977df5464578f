"""Ejercicios 07.1, 07.2 y 08.1: otras soluciones correctas, escritas de otra forma, aprueban.

Las pruebas comunes (`test_exercises.py`) comprueban la solución de referencia y los errores
típicos; aquí, que la comprobación no exige la forma exacta de la referencia.
"""

import asyncio

import pytest

from asyncio_avanzado import check
from asyncio_avanzado.exercises import lesson07


@pytest.fixture(autouse=True, scope="module")
def libraries():
    lesson07._import_libraries()


async def saldos_con_acquire(dsn: str, clientes: list[str], conexiones: int) -> dict[str, int]:
    # Un TaskGroup y una conexión prestada por consulta, con min_size igual a max_size.
    asyncpg = lesson07.asyncpg
    consulta = "SELECT saldo FROM cuentas_07, pg_sleep(0.3) WHERE cliente = $1"
    pool = await asyncpg.create_pool(dsn, min_size=conexiones, max_size=conexiones)
    try:
        resultado: dict[str, int] = {}

        async def una(cliente: str) -> None:
            async with pool.acquire() as conexion:
                resultado[cliente] = await conexion.fetchval(consulta, cliente)

        async with asyncio.TaskGroup() as tg:
            for cliente in clientes:
                tg.create_task(una(cliente))
        return {cliente: resultado[cliente] for cliente in clientes}
    finally:
        await pool.close()


async def descargar_con_semaforo(urls: list[str], limite: int) -> list[str]:
    # El límite con un semáforo propio en vez del conector.
    aiohttp = lesson07.aiohttp
    semaforo = asyncio.Semaphore(limite)
    async with aiohttp.ClientSession() as sesion:

        async def bajar(url: str) -> str:
            async with semaforo, sesion.get(url) as respuesta:
                return await respuesta.text()

        tareas = [asyncio.create_task(bajar(url)) for url in urls]
        return [await tarea for tarea in tareas]


async def medir_ecos_con_gather(
    direccion: tuple[str, int], mensaje: bytes, conexiones: int, segundos: float
) -> int:
    # Primero todas las conexiones, después el ping-pong con gather y un plazo común.
    abiertas = [await asyncio.open_connection(*direccion) for _ in range(conexiones)]
    fin = asyncio.get_running_loop().time() + segundos

    async def ping_pong(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> int:
        ecos = 0
        while asyncio.get_running_loop().time() < fin:
            writer.write(mensaje)
            await writer.drain()
            await reader.readexactly(len(mensaje))
            ecos += 1
        return ecos

    try:
        return sum(await asyncio.gather(*(ping_pong(r, w) for r, w in abiertas)))
    finally:
        for _, writer in abiertas:
            writer.close()
        for _, writer in abiertas:
            await writer.wait_closed()


@pytest.mark.parametrize(
    ("key", "solution"),
    [
        ("07.1", saldos_con_acquire),
        ("07.2", descargar_con_semaforo),
        ("08.1", medir_ecos_con_gather),
    ],
    ids=["07.1-acquire", "07.2-semaforo", "08.1-gather"],
)
def test_another_right_answer_passes(key, solution, postgres):
    result = asyncio.run(check(key, solution))
    assert result.passed, repr(result)
