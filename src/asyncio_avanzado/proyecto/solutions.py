"""Las soluciones de referencia de los ejercicios 10.1 a 10.6 (`show_solution("10.1")`…).

Se escriben como las escribiría el alumno en el cuaderno: con los nombres que importa la
celda de preparación (`web`, `asyncpg`, `asyncio`, `fetch_price`, `simulate_price`…). Las
bibliotecas se cargan al comprobar (`import_libraries`), no al importar el paquete.
"""

import asyncio
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any

from .cpu import simulate_price
from .legacy_client import fetch_price

__all__ = [
    "apagar",
    "crear_app",
    "crear_servicio",
    "import_libraries",
    "precio_en_hilo",
    "precio_nativo",
    "simulacion",
]

web: Any = None
asyncpg: Any = None


def import_libraries() -> None:
    """Importa aiohttp y asyncpg (tardan: la primera vez, en un hilo)."""
    global web, asyncpg
    import asyncpg as _asyncpg
    from aiohttp import web as _web

    web, asyncpg = _web, _asyncpg


# -- 10.1 ---------------------------------------------------------------------------------------


async def crear_app(dsn: str) -> Any:
    """Devuelve una aplicación con GET /articulos/{id}: el artículo en JSON, 400 o 404."""
    consulta = "SELECT id, codigo, nombre, stock FROM articulos WHERE id = $1"
    clave_pool = web.AppKey("pool", asyncpg.Pool)

    async def base_de_datos(app: web.Application):
        # El pool nace al arrancar la aplicación y se cierra al pararla (cleanup_ctx).
        async with asyncpg.create_pool(dsn, min_size=1, max_size=4) as pool:
            app[clave_pool] = pool
            yield

    async def articulo(request: web.Request) -> web.Response:
        texto = request.match_info["id"]
        try:
            ident = int(texto)
        except ValueError:
            return web.json_response(
                {"error": f"el identificador debe ser un número entero, no {texto!r}"}, status=400
            )
        fila = await request.app[clave_pool].fetchrow(consulta, ident)  # parámetro $1
        if fila is None:
            return web.json_response({"error": f"no hay ningún artículo {ident}"}, status=404)
        return web.json_response(dict(fila))

    app = web.Application()
    app.cleanup_ctx.append(base_de_datos)
    app.router.add_get("/articulos/{id}", articulo)
    return app


# -- 10.2 ---------------------------------------------------------------------------------------


async def precio_en_hilo(
    ejecutor: ThreadPoolExecutor, direccion: tuple[str, int], codigo: str, plazo: float
) -> int | None:
    """Devuelve el precio con la biblioteca bloqueante en `ejecutor`, o None si vence `plazo`."""
    bucle = asyncio.get_running_loop()
    try:
        # asyncio.timeout responde a tiempo aunque la llamada espere en la cola del pool; el
        # plazo del socket hace que el hilo se rinda y quede libre (un hilo no se cancela).
        async with asyncio.timeout(plazo):
            return await bucle.run_in_executor(ejecutor, fetch_price, direccion, codigo, plazo)
    except TimeoutError:
        return None


# -- 10.3 ---------------------------------------------------------------------------------------


async def precio_nativo(direccion: tuple[str, int], codigo: str, plazo: float) -> int | None:
    """Devuelve el precio de `codigo` con streams, o None si el servicio tarda más de `plazo`."""
    try:
        async with asyncio.timeout(plazo):
            reader, writer = await asyncio.open_connection(*direccion)
            try:
                writer.write(f"PRECIO {codigo}\n".encode())
                await writer.drain()
                linea = await reader.readline()  # delimitada por el salto de línea
            finally:
                writer.close()
                await writer.wait_closed()
    except TimeoutError:
        return None
    ok, _, centimos = linea.decode().split()
    if ok != "OK":
        raise ValueError(f"respuesta inesperada: {linea!r}")
    return int(centimos)


# -- 10.4 ---------------------------------------------------------------------------------------


async def simulacion(pool: Executor, codigo: str, precio: int, rondas: int) -> int:
    """Devuelve simulate_price(codigo, precio, rondas), calculado en el pool de procesos."""
    bucle = asyncio.get_running_loop()
    return await bucle.run_in_executor(pool, simulate_price, codigo, precio, rondas)


# -- 10.5 ---------------------------------------------------------------------------------------


async def apagar(
    runner: Any, db: Any, hilos: ThreadPoolExecutor, procesos: ProcessPoolExecutor
) -> None:
    """Detiene el servicio en orden, sin congelar el bucle."""
    # 1. Deja de aceptar y espera a las peticiones en curso (con el plazo del runner).
    await runner.cleanup()
    # 2. Ya nadie consulta: se cierra la base de datos.
    await db.close()
    # 3. Los hilos no se esperan (cada uno termina con el plazo de su socket)...
    hilos.shutdown(wait=False, cancel_futures=True)
    # 4. ...y esperar a los procesos bloquea: en un hilo.
    await asyncio.to_thread(procesos.shutdown, cancel_futures=True)


# -- 10.6 ---------------------------------------------------------------------------------------

PLAZO = 0.5


async def crear_servicio(buscar: Any, heredado: tuple[str, int]) -> Any:
    """Devuelve la aplicación final: GET /articulos/{id} con el artículo y su precio.

    `buscar(id)` es la consulta del paso 1 (devuelve el artículo como dict, o None); el precio
    sale del servicio heredado en `heredado`, con `precio_nativo` y un plazo de PLAZO s.
    """

    def error(estado: int, mensaje: str) -> web.Response:
        return web.json_response({"error": mensaje}, status=estado)

    async def articulo(request: web.Request) -> web.Response:
        try:
            ident = int(request.match_info["id"])
        except ValueError:
            return error(400, "el identificador debe ser un número entero")
        fila = await buscar(ident)
        if fila is None:
            return error(404, f"no hay ningún artículo {ident}")
        try:
            precio = await precio_nativo(heredado, fila["codigo"], PLAZO)
        except (ConnectionError, ValueError) as fallo:
            return error(502, f"el servicio de precios falló: {fallo}")
        if precio is None:
            return error(504, f"el servicio de precios no respondió en {PLAZO} s")
        return web.json_response({**fila, "precio": precio})

    app = web.Application()
    app.router.add_get("/articulos/{id}", articulo)
    return app


async def _naive_service(buscar: Any, heredado: tuple[str, int]) -> Any:
    # La versión ingenua que mide 10.6: la biblioteca bloqueante dentro del manejador.
    async def articulo(request: Any) -> Any:
        try:
            ident = int(request.match_info["id"])
        except ValueError:
            return web.json_response({"error": "no es un número"}, status=400)
        fila = await buscar(ident)
        if fila is None:
            return web.json_response({"error": "no existe"}, status=404)
        try:
            precio = fetch_price(heredado, fila["codigo"], PLAZO)  # ← bloquea el bucle
        except TimeoutError:
            return web.json_response({"error": "sin respuesta"}, status=504)
        except (ConnectionError, ValueError) as fallo:
            return web.json_response({"error": str(fallo)}, status=502)
        return web.json_response({**fila, "precio": precio})

    app = web.Application()
    app.router.add_get("/articulos/{id}", articulo)
    return app
