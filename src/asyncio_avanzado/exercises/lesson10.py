"""Ejercicios de la lección 10 (el proyecto final), paso a paso.

Cada paso construye una pieza del servicio de `asyncio_avanzado.proyecto` y se comprueba desde
el otro lado: PostgreSQL (con datos al azar, y consultas que tardan lo que dice la
comprobación), el servicio heredado (precios que decide una semilla al azar, cuelgues y cortes
en códigos concretos), los *pools* de la comprobación y un cliente HTTP que hace de usuario.
Las soluciones de referencia están en `asyncio_avanzado.proyecto.solutions`.
"""

import asyncio
import contextlib
import os
import pickle
import random
import socket
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any

from ..background import running_servers
from ..lag import format_duration
from ..postgres import PostgresError, TemporaryPostgres
from ..proyecto import solutions
from ..proyecto.catalog import Item
from ..proyecto.cpu import simulate_price
from ..proyecto.legacy import BackgroundLegacyPriceServer
from ..proyecto.legacy_client import fetch_price
from ..proyecto.load import LoadResult, load_test
from ..proyecto.solutions import (
    apagar,
    crear_app,
    crear_servicio,
    precio_en_hilo,
    precio_nativo,
    simulacion,
)
from ..text import plural
from .core import (
    Exercise,
    Failure,
    Mistake,
    Wrong,
    call_coroutine,
    judged,
    register,
    unpredictable_text,
)
from .cpuwork import SpyPool, calibrate, close_pool, warm_pool, watch_work
from .lesson07 import _record_pools, _terminate_pools, _thread_work
from .servers import spy_writers, wait_until

__all__: list[str] = []

# Las bibliotecas se cargan al comprobar (como en la lección 07): importar el paquete es rápido.
aiohttp: Any = None
web: Any = None
asyncpg: Any = None


def _import_libraries() -> None:
    global aiohttp, web, asyncpg
    import aiohttp as _aiohttp
    import asyncpg as _asyncpg
    from aiohttp import web as _web

    solutions.import_libraries()
    aiohttp, web, asyncpg = _aiohttp, _web, _asyncpg


DATABASE = "ejercicios_10"
"""La base de datos de las comprobaciones, aparte de la del cuaderno (la suya no se toca)."""
DB_DELAY = 0.3
"""Lo que tarda cada consulta a `articulos` en 10.1: bloquear cuesta al menos esto."""
OVERLAP = 0.75
"""Las peticiones a la vez de 10.1 deben tardar menos que esta fracción de hacerlas una a una."""
INJECTION = "1%20OR%20TRUE"
"""Un identificador que, pegado en el texto de la consulta, la cambia (una inyección de SQL)."""
INJECTION_TEXT = "1 OR TRUE"


# -- lo que comparten las comprobaciones --------------------------------------------------------


def _code() -> str:
    return f"R{random.randrange(10**6)}-{random.randbytes(3).hex()}"


def _random_items(n: int) -> list[Item]:
    """Devuelve `n` artículos al azar (ids, códigos, nombres y existencias)."""
    ids = random.sample(range(1, 10_000), n)
    return [Item(i, _code(), unpredictable_text(10), random.randrange(1000)) for i in ids]


def _unused_id(items: list[Item]) -> int:
    taken = {i.id for i in items}
    return next(i for i in iter(lambda: random.randrange(10_000, 20_000), None) if i not in taken)


@contextlib.asynccontextmanager
async def _exercise_db() -> AsyncIterator[tuple[str, str]]:
    """Da (dsn de administración, dsn de `ejercicios_10`), en el PostgreSQL del cuaderno."""
    pg = next(
        (s for s in running_servers() if isinstance(s, TemporaryPostgres) and s.running), None
    )
    async with contextlib.AsyncExitStack() as stack:
        if pg is None:
            try:
                pg = await stack.enter_async_context(TemporaryPostgres())
            except PostgresError as error:
                raise Failure(f"la comprobación necesita PostgreSQL. {error}") from None
        admin = pg.dsn
        conn = await asyncpg.connect(admin)
        try:
            if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE):
                # Crearla cuesta una copia de la plantilla: solo la primera vez en cada servidor.
                await conn.execute(f"CREATE DATABASE {DATABASE}")
        finally:
            await conn.close()
        yield admin, admin.rsplit("/", 1)[0] + "/" + DATABASE


async def _fill(dsn: str, items: list[Item], delay: float) -> None:
    """Deja en `articulos` (una vista que tarda `delay` s por consulta) solo `items`."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SET lock_timeout = '2s'")
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS articulos_datos "
            "(id int PRIMARY KEY, codigo text NOT NULL, nombre text NOT NULL, stock int NOT NULL)"
        )
        # Una vista con pg_sleep: cada consulta tarda `delay` en el servidor, como una base de
        # datos cargada. Así bloquear el bucle con un controlador bloqueante se nota siempre.
        await conn.execute(
            "CREATE OR REPLACE VIEW articulos AS SELECT d.id, d.codigo, d.nombre, d.stock "
            f"FROM articulos_datos d, pg_sleep({float(delay)})"
        )
        async with conn.transaction():
            await conn.execute("DELETE FROM articulos_datos")
            await conn.executemany(
                "INSERT INTO articulos_datos VALUES ($1, $2, $3, $4)",
                [(i.id, i.codigo, i.nombre, i.stock) for i in items],
            )
    finally:
        await conn.close()


async def _backends_left(admin: str, within: float = 1.0, terminate: bool = True) -> int:
    """Devuelve cuántas conexiones con `ejercicios_10` quedan tras `within` s (y las corta)."""
    conn = await asyncpg.connect(admin)
    query = "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()"
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        # Sondeo: PostgreSQL no avisa cuando se va una conexión.
        while (left := await conn.fetchval(query, DATABASE)) and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        if left and terminate:
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                DATABASE,
            )
        return left
    finally:
        await conn.close()


@contextlib.contextmanager
def _count_connects() -> Iterator[list[int]]:
    """Cuenta las conexiones nuevas con `asyncpg.connect` mientras dura el bloque.

    El *pool* guarda la función de conectar al crearse, así que lo que abre un *pool* creado
    antes del bloque no cuenta: solo las conexiones que se abren a mano, petición a petición.
    """
    opened = [0]
    original = asyncpg.connect

    async def counting(*args: Any, **kwargs: Any) -> Any:
        opened[0] += 1
        return await original(*args, **kwargs)

    asyncpg.connect = counting
    try:
        yield opened
    finally:
        asyncpg.connect = original


@contextlib.asynccontextmanager
async def _serving(app: Any, judge: bool, shutdown: float = 2.0) -> AsyncIterator[Any]:
    """Sirve `app` en 127.0.0.1 (su arranque y su parada cuentan como código del alumno)."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=shutdown)
    judging = judged() if judge else contextlib.nullcontext()
    async with judging:
        await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        yield runner
    finally:
        judging = judged() if judge else contextlib.nullcontext()
        async with judging:
            await runner.cleanup()


def _url(runner: Any) -> str:
    host, port = runner.addresses[0][:2]
    return f"http://{host}:{port}"


async def _get(session: Any, path: str) -> tuple[int, Any, str]:
    """Devuelve (código, cuerpo JSON o texto, tipo de contenido) de GET `path`."""
    async with session.get(path) as response:
        text = await response.text()
        if response.content_type == "application/json":
            try:
                import json

                return response.status, json.loads(text), response.content_type
            except ValueError:
                pass
        return response.status, text, response.content_type


def _expect_json_error(path: str, got: tuple[int, Any, str], status: int, hint: str) -> None:
    code, body, content_type = got
    if code != status:
        raise Failure(f"GET {path}: se esperaba {status}, llegó {code} ({_brief(body)}): {hint}")
    if not (isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"]):
        raise Failure(
            f"GET {path} respondió {status}, pero con {content_type} ({_brief(body)}) y no en "
            'JSON: el cliente de una API espera {"error": "…"} en español. Usa '
            'web.json_response({"error": mensaje}, status=' + str(status) + ")"
        )


def _brief(body: Any) -> str:
    text = repr(body)
    return text if len(text) <= 80 else text[:75] + "…"


class _SpyThreads(ThreadPoolExecutor):
    """El *pool* de hilos acotado de la comprobación: cuenta lo que recibe y no deja cerrarse."""

    def __init__(self, max_workers: int) -> None:
        super().__init__(max_workers, thread_name_prefix="comprobacion-10")
        self.submitted = 0
        self.shutdowns = 0

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        self.submitted += 1
        return super().submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.shutdowns += 1  # es de la comprobación: la cierra ella con close()

    def close(self) -> None:
        """Cierra el *pool* de verdad, sin esperar a los hilos."""
        super().shutdown(wait=False, cancel_futures=True)


SPINNING = 0.9
"""Fracción del tiempo de reloj desde la que el hilo del bucle «da vueltas» (busy wait): un
bucle que espera duerme en el sistema operativo; uno que sondea con asyncio.sleep(0) está
siempre listo para correr (corriendo o en la cola de la CPU), ocupada o no la máquina."""
SPINNING_CPU = 0.05
"""Y además, segundos de CPU del hilo del bucle (la referencia gasta de 10 a 30 ms; un sondeo,
unos 100 ms o más incluso en una CPU compartida con otros procesos)."""
BUSY_CPU = 0.12
"""Sin /proc/…/schedstat: segundos de CPU del hilo del bucle desde los que da vueltas."""


class _LoopUse:
    """Lo que usó el hilo del bucle durante un bloque: CPU, tiempo listo para correr y reloj."""

    def __init__(self) -> None:
        self.cpu = 0.0
        self.runnable: float | None = None
        self.wall = 0.0

    def spinning(self) -> bool:
        if self.runnable is None:
            return self.cpu >= BUSY_CPU
        return self.runnable >= SPINNING * self.wall and self.cpu >= SPINNING_CPU


def _schedstat() -> tuple[float, float] | None:
    """Devuelve (CPU, espera en la cola de la CPU) del hilo actual, en segundos, si se sabe."""
    try:
        with open(f"/proc/self/task/{threading.get_native_id()}/schedstat") as f:
            cpu, waited = f.read().split()[:2]
        return int(cpu) / 1e9, int(waited) / 1e9
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def _loop_use() -> Iterator[_LoopUse]:
    """Mide lo que usa el hilo del bucle (el que entra en el bloque) mientras dura el bloque.

    Se mide tiempo de ese hilo (de CPU y en la cola de la CPU), no de reloj: un hilo que
    espera con await duerme y no suma nada, por ocupada que esté la máquina.
    """
    use = _LoopUse()
    began, cpu, sched = time.perf_counter(), time.thread_time(), _schedstat()
    try:
        yield use
    finally:
        use.wall = time.perf_counter() - began
        use.cpu = time.thread_time() - cpu
        after = _schedstat()
        if sched is not None and after is not None:
            use.runnable = (after[0] - sched[0]) + (after[1] - sched[1])


def _raise_if_spinning(use: _LoopUse, how: str) -> None:
    """Lanza `Failure` si el hilo del bucle estuvo listo para correr casi todo el tiempo."""
    if use.spinning():
        busy = ""
        if use.runnable is not None:
            share = round(100 * use.runnable / use.wall)
            busy = f" y estuvo listo para correr el {share} % del tiempo"
        raise Failure(
            f"mientras esperaba al servicio, el hilo del bucle gastó {format_duration(use.cpu)} "
            f"de CPU{busy}: tu código da vueltas sin esperar (busy wait), preguntando una y otra "
            f"vez si ya hay respuesta. {how}"
        )


async def _timed(
    candidate: Any, limit: float, *args: Any
) -> tuple[Any, BaseException | None, float]:
    """Llama al alumno con un tope de `limit` s; devuelve (resultado, excepción, segundos)."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    try:
        async with asyncio.timeout(limit):
            return await call_coroutine(candidate, *args), None, loop.time() - began
    except (NotImplementedError, Failure):
        raise
    except Exception as error:
        return None, error, loop.time() - began


# -- 10.1: el esqueleto HTTP y la consulta ------------------------------------------------------


async def _check_crear_app(candidate: Any) -> None:
    await asyncio.to_thread(_import_libraries)  # la primera vez tarda: fuera del bucle
    items = _random_items(5)
    asked, missing = items[:4], _unused_id(items)
    loop = asyncio.get_running_loop()
    async with _exercise_db() as (admin, dsn):
        await _fill(dsn, items, DB_DELAY)
        with _record_pools() as pools:
            try:
                app = await call_coroutine(candidate, dsn)
                if not isinstance(app, web.Application):
                    raise Failure(
                        f"crear_app debe devolver una web.Application, y devolvió {_brief(app)}"
                    )
                async with _serving(app, judge=True) as runner:
                    # Los datos cambian después de arrancar: una copia hecha al arrancar no vale.
                    asked = await _change_items(dsn, asked)
                    async with aiohttp.ClientSession(_url(runner)) as session:
                        with _count_connects() as connects:
                            async with judged():
                                began = loop.time()
                                got = await asyncio.gather(
                                    *(_get(session, f"/articulos/{i.id}") for i in asked)
                                )
                                together = loop.time() - began
                                not_found = await _get(session, f"/articulos/{missing}")
                                bad = await _get(session, "/articulos/abc")
                                injected = await _get(session, f"/articulos/{INJECTION}")
                left = await _backends_left(admin, terminate=False)
            finally:
                _terminate_pools(pools)
                await _backends_left(admin, within=0.0)
    for item, (status, body, _) in zip(asked, got, strict=True):
        if status >= 500:
            raise Failure(
                f"GET /articulos/{item.id} respondió {status} ({_brief(body)}): un error dentro "
                "del manejador. Mira la traza que escribió aiohttp en la salida"
            )
        if (status, body) != (200, item.as_json()):
            raise Failure(
                f"GET /articulos/{item.id} respondió {status} {_brief(body)}, y en la base de "
                f"datos (con datos al azar) el artículo es {_brief(item.as_json())}: la respuesta "
                "no vino de la base de datos (los datos cambiaron después de arrancar tu "
                "aplicación: una copia hecha al arrancar no vale). Consulta con el pool: "
                "await pool.fetchrow(consulta, id) y devuelve dict(fila) con web.json_response"
            )
    if together >= OVERLAP * len(asked) * DB_DELAY:
        raise Failure(
            f"{plural(len(asked), 'petición')} a la vez (cada consulta tarda "
            f"{format_duration(DB_DELAY)} en PostgreSQL) tardaron {format_duration(together)}: "
            "las consultas se hicieron una a una. El pool debe tener varias conexiones "
            "(max_size de 4 o más) para que las peticiones a la vez consulten a la vez"
        )
    if connects[0] >= 3:
        raise Failure(
            f"abriste {plural(connects[0], 'conexión', 'conexiones')} con PostgreSQL para "
            f"{plural(len(asked) + 1, 'petición')}: una conexión por petición cuesta un saludo y "
            "un proceso nuevo del servidor cada vez. Crea un pool al arrancar la aplicación "
            "(app.cleanup_ctx) y que cada petición tome prestada una conexión suya"
        )
    _expect_json_error(
        f"/articulos/{missing}", not_found, 404, "un artículo que no existe es un 404"
    )
    _expect_json_error(
        "/articulos/abc",
        bad,
        400,
        "comprueba que el identificador es un número (int(...)) antes de consultar, y responde "
        "400 con un mensaje claro si no lo es",
    )
    code, body, content_type = injected
    if code == 200:
        raise Failure(
            f"GET /articulos/{INJECTION_TEXT} respondió 200 {_brief(body)}: el texto de la "
            "ruta llegó a la consulta tal cual (una inyección de SQL). Comprueba que es un "
            "número con int() y pásalo como parámetro ($1), nunca dentro del texto de la consulta"
        )
    _expect_json_error(
        f"/articulos/{INJECTION_TEXT}",
        injected,
        400,
        "el identificador no es un número: compruébalo con int(...) antes de consultar",
    )
    if left:
        raise Failure(
            "al parar la aplicación, "
            + plural(left, "conexión seguía abierta", "conexiones seguían abiertas")
            + " con PostgreSQL: cierra el pool al pararla (con app.cleanup_ctx y async with "
            "asyncpg.create_pool(...), o await pool.close() en app.on_cleanup)"
        )


async def _change_items(dsn: str, items: list[Item]) -> list[Item]:
    """Cambia nombre y existencias de `items` en PostgreSQL; devuelve los artículos nuevos."""
    changed = [Item(i.id, i.codigo, unpredictable_text(10), random.randrange(1000)) for i in items]
    conn = await asyncpg.connect(dsn)
    try:
        await conn.executemany(
            "UPDATE articulos_datos SET nombre = $2, stock = $3 WHERE id = $1",
            [(i.id, i.nombre, i.stock) for i in changed],
        )
    finally:
        await conn.close()
    return changed


def _pool_key() -> Any:
    return web.AppKey("pool", asyncpg.Pool)


def _app_with(handler: Any, startup: Any = None) -> Any:
    app = web.Application()
    if startup is not None:
        app.cleanup_ctx.append(startup)
    app.router.add_get("/articulos/{id}", handler)
    return app


async def _invented_items(dsn: str) -> Any:
    async def articulo(request: Any) -> Any:
        ident = int(request.match_info["id"])
        return web.json_response({"id": ident, "codigo": f"A-{ident}", "nombre": "?", "stock": 0})

    return _app_with(articulo)


async def _pool_never_closed(dsn: str) -> Any:
    clave = _pool_key()

    async def arrancar(app: Any) -> Any:
        app[clave] = await asyncpg.create_pool(dsn, min_size=1, max_size=4)  # nadie lo cierra
        yield

    async def articulo(request: Any) -> Any:
        try:
            ident = int(request.match_info["id"])
        except ValueError:
            return web.json_response({"error": "no es un número"}, status=400)
        fila = await request.app[clave].fetchrow("SELECT * FROM articulos WHERE id = $1", ident)
        if fila is None:
            return web.json_response({"error": "no existe"}, status=404)
        return web.json_response(dict(fila))

    return _app_with(articulo, arrancar)


async def _connection_per_request(dsn: str) -> Any:
    async def articulo(request: Any) -> Any:
        try:
            ident = int(request.match_info["id"])
        except ValueError:
            return web.json_response({"error": "no es un número"}, status=400)
        conexion = await asyncpg.connect(dsn)  # una conexión nueva en cada petición
        try:
            fila = await conexion.fetchrow("SELECT * FROM articulos WHERE id = $1", ident)
        finally:
            await conexion.close()
        if fila is None:
            return web.json_response({"error": "no existe"}, status=404)
        return web.json_response(dict(fila))

    return _app_with(articulo)


async def _psycopg_in_the_handler(dsn: str) -> Any:
    import psycopg

    async def articulo(request: Any) -> Any:
        try:
            ident = int(request.match_info["id"])
        except ValueError:
            return web.json_response({"error": "no es un número"}, status=400)
        with psycopg.connect(dsn) as conexion:  # ← bloqueante, en el hilo del bucle
            fila = conexion.execute(
                "SELECT id, codigo, nombre, stock FROM articulos WHERE id = %s", (ident,)
            ).fetchone()
        if fila is None:
            return web.json_response({"error": "no existe"}, status=404)
        return web.json_response(dict(zip(("id", "codigo", "nombre", "stock"), fila, strict=True)))

    return _app_with(articulo)


async def _no_validation(dsn: str) -> Any:
    clave = _pool_key()

    async def arrancar(app: Any) -> Any:
        async with asyncpg.create_pool(dsn, min_size=1, max_size=4) as pool:
            app[clave] = pool
            yield

    async def articulo(request: Any) -> Any:
        # El texto de la ruta, tal cual: «abc» llega a asyncpg, que lo rechaza con un 500.
        fila = await request.app[clave].fetchrow(
            "SELECT * FROM articulos WHERE id = $1::text::int", request.match_info["id"]
        )
        if fila is None:
            return web.json_response({"error": "no existe"}, status=404)
        return web.json_response(dict(fila))

    return _app_with(articulo, arrancar)


async def _errors_as_text(dsn: str) -> Any:
    clave = _pool_key()

    async def arrancar(app: Any) -> Any:
        async with asyncpg.create_pool(dsn, min_size=1, max_size=4) as pool:
            app[clave] = pool
            yield

    async def articulo(request: Any) -> Any:
        try:
            ident = int(request.match_info["id"])
        except ValueError:
            raise web.HTTPBadRequest() from None  # «400: Bad Request», en texto
        fila = await request.app[clave].fetchrow("SELECT * FROM articulos WHERE id = $1", ident)
        if fila is None:
            raise web.HTTPNotFound()
        return web.json_response(dict(fila))

    return _app_with(articulo, arrancar)


async def _cached_at_startup(dsn: str) -> Any:
    clave = web.AppKey("copia", dict)

    async def arrancar(app: Any) -> Any:
        async with asyncpg.create_pool(dsn, min_size=1, max_size=4) as pool:
            filas = await pool.fetch("SELECT * FROM articulos")  # ← una copia, al arrancar
            app[clave] = {f["id"]: dict(f) for f in filas}
            yield

    async def articulo(request: Any) -> Any:
        try:
            ident = int(request.match_info["id"])
        except ValueError:
            return web.json_response({"error": "no es un número"}, status=400)
        fila = request.app[clave].get(ident)
        if fila is None:
            return web.json_response({"error": "no existe"}, status=404)
        return web.json_response(fila)

    return _app_with(articulo, arrancar)


async def _pool_of_one(dsn: str) -> Any:
    clave = _pool_key()

    async def arrancar(app: Any) -> Any:
        async with asyncpg.create_pool(dsn, min_size=1, max_size=1) as pool:  # ← una conexión
            app[clave] = pool
            yield

    async def articulo(request: Any) -> Any:
        try:
            ident = int(request.match_info["id"])
        except ValueError:
            return web.json_response({"error": "no es un número"}, status=400)
        fila = await request.app[clave].fetchrow("SELECT * FROM articulos WHERE id = $1", ident)
        if fila is None:
            return web.json_response({"error": "no existe"}, status=404)
        return web.json_response(dict(fila))

    return _app_with(articulo, arrancar)


async def _sql_in_the_text(dsn: str) -> Any:
    clave = _pool_key()

    async def arrancar(app: Any) -> Any:
        async with asyncpg.create_pool(dsn, min_size=1, max_size=4) as pool:
            app[clave] = pool
            yield

    async def articulo(request: Any) -> Any:
        texto = request.match_info["id"]
        try:
            fila = await request.app[clave].fetchrow(f"SELECT * FROM articulos WHERE id = {texto}")
        except asyncpg.PostgresError:
            return web.json_response({"error": "no es un número"}, status=400)
        if fila is None:
            return web.json_response({"error": "no existe"}, status=404)
        return web.json_response(dict(fila))

    return _app_with(articulo, arrancar)


register(
    Exercise(
        key="10.1",
        title="El esqueleto HTTP y la consulta",
        function_name="crear_app",
        checker=_check_crear_app,
        solution=crear_app,
        wrong=(
            Wrong(_invented_items, Mistake.NO_WORK, "no vino de la base de datos"),
            Wrong(_pool_never_closed, Mistake.LEFT_OPEN, "seguían abiertas"),
            Wrong(_connection_per_request, Mistake.WRONG_TOOL, "una conexión por petición"),
            Wrong(_psycopg_in_the_handler, Mistake.BLOCKING, "congeló el bucle"),
            Wrong(_no_validation, Mistake.PROTOCOL, "se esperaba 400"),
            Wrong(_errors_as_text, Mistake.PROTOCOL, "no en JSON"),
            Wrong(_cached_at_startup, Mistake.NO_WORK, "una copia hecha al arrancar"),
            Wrong(_pool_of_one, Mistake.WRONG_TOOL, "una a una"),
            Wrong(_sql_in_the_text, Mistake.PROTOCOL, "inyección de SQL"),
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
        timeout=40.0,
    )
)


# -- 10.2 y 10.3: el precio del servicio heredado -----------------------------------------------

LEGACY_DELAY = 0.3
"""Lo que tarda el servicio heredado en 10.2 y 10.3: bloquear cuesta al menos esto."""
PLAZO = 0.6
HOLD = 3.0
"""Lo que calla un código colgado antes de que el servicio corte: mucho más que el plazo."""
MARGIN = 0.6
"""Lo que se tolera sobre el plazo (una máquina ocupada tarda en despertar a un hilo)."""


def _expect_prices(codes: list[str], results: list[Any], legacy: Any, hint: str) -> None:
    for code, (got, error, _) in zip(codes, results, strict=True):
        expected = legacy.price(code)
        if error is not None:
            raise Failure(
                f"para el código {code!r} (el servicio responde {expected}) tu función lanzó "
                f"{type(error).__name__}: {error}. {hint}"
            )
        if got != expected:
            raise Failure(
                f"para el código {code!r} el servicio respondió {expected} céntimos, y tu "
                f"función devolvió {_brief(got)}. {hint}"
            )


def _expect_none_in_time(code: str, result: Any) -> None:
    got, error, seconds = result
    if seconds >= PLAZO + MARGIN:  # también si saltó nuestro tope (TimeoutError)
        raise Failure(
            f"el código {code!r} cuelga el servicio, y tu función no había vuelto al cabo de "
            f"{format_duration(seconds)}: no cumple el plazo de {format_duration(PLAZO)}. Pon "
            "un plazo a la llamada"
        )
    if isinstance(error, TimeoutError):
        raise Failure(
            "cuando vence el plazo, la función debe devolver None, no dejar escapar TimeoutError"
        )
    if error is not None:
        raise Failure(
            f"con el código {code!r}, que cuelga el servicio, tu función lanzó "
            f"{type(error).__name__}: {error}; se esperaba None al vencer el plazo"
        )
    if got is not None:
        raise Failure(f"con un código que cuelga el servicio se esperaba None, llegó {_brief(got)}")


async def _check_precio_en_hilo(candidate: Any) -> None:
    codes = [_code() for _ in range(4)]
    hung = codes[-1]
    options = {"seed": random.randrange(10**9), "delay": LEGACY_DELAY, "hold": HOLD}
    with BackgroundLegacyPriceServer(**options, hang={hung}) as legacy:
        executor = _SpyThreads(max_workers=len(codes))
        # Otro pool, lleno: su único hilo está ocupado, y la llamada espera en su cola.
        full, release = _SpyThreads(max_workers=1), threading.Event()
        full.submit(release.wait, 10)
        try:
            with _loop_use() as spent:
                *results, queued = await asyncio.gather(
                    *(
                        _timed(candidate, PLAZO + MARGIN, executor, legacy.address, c, PLAZO)
                        for c in codes
                    ),
                    _timed(candidate, PLAZO + MARGIN, full, legacy.address, _code(), PLAZO),
                )
            release.set()
            stats = legacy.legacy_stats
            if stats.requests == 0:
                raise Failure(
                    "el servicio heredado no recibió ninguna petición: la respuesta no vino del "
                    "servicio. Llama a fetch_price(direccion, codigo, plazo) en el ejecutor"
                )
            _expect_prices(codes[:-1], results[:-1], legacy, "Devuelve lo que da fetch_price")
            _expect_none_in_time(hung, results[-1])
            _raise_if_spinning(
                spent,
                "Espera al hilo con await: await bucle.run_in_executor(...) despierta al bucle "
                "cuando el hilo termina",
            )
            if executor.submitted < len(codes):
                raise Failure(
                    "el ejecutor acotado que recibes solo vio "
                    f"{plural(executor.submitted, 'llamada')} de {len(codes)}: no usaste el "
                    "ejecutor que recibes (asyncio.to_thread usa otro, el del bucle, sin el "
                    "límite del servicio). Usa bucle.run_in_executor(ejecutor, fetch_price, ...)"
                )
            if queued[2] >= PLAZO + MARGIN:
                raise Failure(
                    "con el pool lleno (su único hilo ocupado), tu función no había vuelto al "
                    f"cabo de {format_duration(queued[2])}: la llamada espera su turno en la "
                    "cola del pool, y mientras espera el plazo del socket aún no ha empezado. "
                    "Pon el plazo a toda la espera: async with asyncio.timeout(plazo) alrededor "
                    "de run_in_executor (y el plazo también en fetch_price)"
                )
            if queued[0] is not None or queued[1] is not None:
                what = _brief(queued[0]) if queued[1] is None else type(queued[1]).__name__
                raise Failure(
                    "con el pool lleno (su único hilo ocupado) y un plazo de "
                    f"{format_duration(PLAZO)}, se esperaba None al vencer el plazo, y llegó {what}"
                )
            if not await wait_until(lambda: legacy.legacy_stats.hung_closed_by_client, 1.0):
                raise Failure(
                    "devolviste None a tiempo, pero el hilo sigue colgado esperando al servicio "
                    "(un hilo no se cancela) y ocupa uno de los pocos hilos del pool: pasa el "
                    "plazo también a fetch_price(direccion, codigo, plazo), para que su socket "
                    "se rinda"
                )
            if executor.shutdowns:
                raise Failure(
                    "cerraste el ejecutor que recibes: es del servicio, y las demás peticiones "
                    "lo necesitan"
                )
        finally:
            release.set()
            executor.close()
            full.close()


async def _blocking_call(
    ejecutor: ThreadPoolExecutor, direccion: tuple[str, int], codigo: str, plazo: float
) -> int | None:
    try:
        return fetch_price(direccion, codigo, plazo)  # ← en el hilo del bucle
    except TimeoutError:
        return None


async def _default_executor(
    ejecutor: ThreadPoolExecutor, direccion: tuple[str, int], codigo: str, plazo: float
) -> int | None:
    try:
        async with asyncio.timeout(plazo):
            return await asyncio.to_thread(fetch_price, direccion, codigo, plazo)
    except TimeoutError:
        return None


async def _only_asyncio_timeout(
    ejecutor: ThreadPoolExecutor, direccion: tuple[str, int], codigo: str, plazo: float
) -> int | None:
    bucle = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(plazo):  # responde a tiempo... y el hilo sigue colgado
            return await bucle.run_in_executor(ejecutor, fetch_price, direccion, codigo)
    except TimeoutError:
        return None


async def _busy_poll(
    ejecutor: ThreadPoolExecutor, direccion: tuple[str, int], codigo: str, plazo: float
) -> int | None:
    futuro = ejecutor.submit(fetch_price, direccion, codigo, plazo)
    fin = time.monotonic() + plazo
    while not futuro.done():  # ← pregunta una y otra vez, sin dormir
        if time.monotonic() > fin:
            return None
        await asyncio.sleep(0)
    try:
        return futuro.result()
    except TimeoutError:
        return None


async def _only_socket_timeout(
    ejecutor: ThreadPoolExecutor, direccion: tuple[str, int], codigo: str, plazo: float
) -> int | None:
    bucle = asyncio.get_running_loop()
    try:  # el plazo del socket no cuenta la espera en la cola del pool
        return await bucle.run_in_executor(ejecutor, fetch_price, direccion, codigo, plazo)
    except TimeoutError:
        return None


async def _no_deadline(
    ejecutor: ThreadPoolExecutor, direccion: tuple[str, int], codigo: str, plazo: float
) -> int | None:
    bucle = asyncio.get_running_loop()
    return await bucle.run_in_executor(ejecutor, fetch_price, direccion, codigo)


async def _guessed_price(
    ejecutor: ThreadPoolExecutor, direccion: tuple[str, int], codigo: str, plazo: float
) -> int | None:
    return 1000


register(
    Exercise(
        key="10.2",
        title="El cliente heredado en un hilo, con plazo y un pool acotado",
        function_name="precio_en_hilo",
        checker=_check_precio_en_hilo,
        solution=precio_en_hilo,
        wrong=(
            Wrong(_guessed_price, Mistake.NO_WORK, "no vino del servicio"),
            Wrong(_only_asyncio_timeout, Mistake.LEFT_OPEN, "el hilo sigue colgado"),
            Wrong(_default_executor, Mistake.WRONG_TOOL, "no usaste el ejecutor que recibes"),
            Wrong(_blocking_call, Mistake.BLOCKING, "congeló el bucle"),
            Wrong(_no_deadline, Mistake.PROTOCOL, "no cumple el plazo"),
            Wrong(_only_socket_timeout, Mistake.PROTOCOL, "con el pool lleno"),
            Wrong(_busy_poll, Mistake.BLOCKING, "busy wait"),
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
    )
)


async def _check_precio_nativo(candidate: Any) -> None:
    codes = [_code() for _ in range(4)]
    hung = codes[-1]
    options = {"seed": random.randrange(10**9), "delay": LEGACY_DELAY, "hold": HOLD}
    loop = asyncio.get_running_loop()
    with BackgroundLegacyPriceServer(**options, hang={hung}) as legacy:
        with (
            spy_writers(legacy.address) as writers,
            _thread_work(loop) as threads,
            _loop_use() as spent,
        ):
            results = await asyncio.gather(
                *(_timed(candidate, PLAZO + MARGIN, legacy.address, c, PLAZO) for c in codes)
            )
        if legacy.legacy_stats.requests == 0:
            raise Failure(
                "el servicio heredado no recibió ninguna petición: la respuesta no vino del "
                "servicio. Conecta con asyncio.open_connection y envía PRECIO <código>"
            )
        if threads.any:
            raise Failure(
                f"llevaste el trabajo a hilos ({threads.describe()}): no congela el bucle, pero "
                "este paso sustituye la biblioteca bloqueante por un cliente nativo con streams "
                "(asyncio.open_connection), que no necesita ningún hilo"
            )
        _expect_prices(
            codes[:-1],
            results[:-1],
            legacy,
            "La respuesta llega en trozos: una sola lectura (read(100)) puede traer media línea. "
            "Delimítala con await reader.readline()",
        )
        _expect_none_in_time(hung, results[-1])
        _raise_if_spinning(
            spent,
            "Usa streams: await reader.readline() duerme hasta que llega la línea "
            "(asyncio.open_connection)",
        )
        writers.raise_if_left_open()
        if not await wait_until(lambda: legacy.legacy_stats.hung_closed_by_client, 1.0):
            raise Failure(
                "devolviste None a tiempo, pero la conexión con el servicio colgado seguía "
                "abierta: ciérrala también cuando vence el plazo (try/finally con "
                "writer.close() y await writer.wait_closed())"
            )


async def _native_blocking(direccion: tuple[str, int], codigo: str, plazo: float) -> int | None:
    try:
        return fetch_price(direccion, codigo, plazo)  # ← la biblioteca bloqueante, sin hilo
    except TimeoutError:
        return None


async def _still_in_a_thread(direccion: tuple[str, int], codigo: str, plazo: float) -> int | None:
    try:
        async with asyncio.timeout(plazo):
            return await asyncio.to_thread(fetch_price, direccion, codigo, plazo)
    except TimeoutError:
        return None


async def _single_read(direccion: tuple[str, int], codigo: str, plazo: float) -> int | None:
    try:
        async with asyncio.timeout(plazo):
            reader, writer = await asyncio.open_connection(*direccion)
            try:
                writer.write(f"PRECIO {codigo}\n".encode())
                await writer.drain()
                linea = await reader.read(100)  # ← puede traer solo una parte
            finally:
                writer.close()
                await writer.wait_closed()
    except TimeoutError:
        return None
    return int(linea.split()[-1])


async def _writer_left_open(direccion: tuple[str, int], codigo: str, plazo: float) -> int | None:
    try:
        async with asyncio.timeout(plazo):
            reader, writer = await asyncio.open_connection(*direccion)
            writer.write(f"PRECIO {codigo}\n".encode())
            await writer.drain()
            linea = await reader.readline()
    except TimeoutError:
        return None
    return int(linea.split()[2])  # nadie cierra el writer


async def _native_no_deadline(direccion: tuple[str, int], codigo: str, plazo: float) -> int | None:
    reader, writer = await asyncio.open_connection(*direccion)
    try:
        writer.write(f"PRECIO {codigo}\n".encode())
        await writer.drain()
        linea = await reader.readline()
    finally:
        writer.close()
        await writer.wait_closed()
    return int(linea.split()[2]) if linea else None


async def _busy_socket(direccion: tuple[str, int], codigo: str, plazo: float) -> int | None:
    fin = time.monotonic() + plazo
    with socket.create_connection(direccion) as conexion:
        conexion.setblocking(False)
        conexion.sendall(f"PRECIO {codigo}\n".encode())
        datos = b""
        while not datos.endswith(b"\n"):
            if time.monotonic() > fin:
                return None
            try:
                trozo = conexion.recv(256)
            except BlockingIOError:
                await asyncio.sleep(0)  # ← vuelve a preguntar enseguida
                continue
            if not trozo:
                raise ConnectionError("el servicio cortó la conexión")
            datos += trozo
    return int(datos.split()[2])


async def _native_guess(direccion: tuple[str, int], codigo: str, plazo: float) -> int | None:
    return sum(map(ord, codigo)) * 10


register(
    Exercise(
        key="10.3",
        title="El cliente nativo del protocolo heredado",
        function_name="precio_nativo",
        checker=_check_precio_nativo,
        solution=precio_nativo,
        wrong=(
            Wrong(_native_guess, Mistake.NO_WORK, "no vino del servicio"),
            Wrong(_writer_left_open, Mistake.LEFT_OPEN, "cuando tu función terminó"),
            Wrong(_single_read, Mistake.PARTIAL_IO, "readline"),
            Wrong(_still_in_a_thread, Mistake.WRONG_TOOL, "llevaste el trabajo a hilos"),
            Wrong(_native_blocking, Mistake.BLOCKING, "congeló el bucle"),
            Wrong(_native_no_deadline, Mistake.PROTOCOL, "no cumple el plazo"),
            Wrong(_busy_socket, Mistake.BLOCKING, "busy wait"),
        ),
        applies=frozenset(
            {
                Mistake.NO_WORK,
                Mistake.LEFT_OPEN,
                Mistake.PARTIAL_IO,
                Mistake.WRONG_TOOL,
                Mistake.BLOCKING,
                Mistake.PROTOCOL,
            }
        ),
    )
)


# -- 10.4: la simulación en un pool de procesos -------------------------------------------------

SIMULATION_COST = 0.2
"""Segundos de CPU de cada simulación en esta máquina (dos: 0.4 s si se hacen en el bucle)."""


def _rounds() -> int:
    return calibrate(lambda r: simulate_price("calibrar", 1000, r), 100, SIMULATION_COST, 1.0)


def _simulation_ran_in_pool(seen: Any, spy: SpyPool, cost: float) -> None:
    """Lanza `Failure` si la simulación no la calcularon los procesos del pool que recibió."""
    if spy.cpu_in_workers() >= 0.25 * cost:
        return
    if seen.process_pools or seen.reaped_children_cpu >= 0.25 * cost:
        raise Failure(
            "la simulación la calcularon procesos de otro pool, creado dentro de tu función: usa "
            "el pool que recibes (arrancar procesos en cada llamada cuesta, y los del pool de la "
            "comprobación ya estaban listos)"
        )
    if seen.own_cpu >= 0.25 * cost:
        raise Failure(
            "la simulación se calculó en este proceso, en el hilo del bucle o en hilos, y no en "
            "el pool de procesos que recibes: con el GIL, los hilos no calculan Python puro en "
            "paralelo. Envíala con await bucle.run_in_executor(pool, simulate_price, codigo, "
            "precio, rondas)"
        )
    raise Failure(
        "ni los procesos del pool ni este proceso hicieron el trabajo de la simulación: "
        "¿devolviste un número calculado de otra forma? Envía simulate_price(codigo, precio, "
        "rondas) al pool que recibes"
    )


async def _check_simulacion(candidate: Any) -> None:
    rounds = await asyncio.to_thread(_rounds)  # fuera de la ventana que se juzga
    jobs = [(_code(), random.randrange(100, 100_000)) for _ in range(2)]
    loop = asyncio.get_running_loop()
    inner = ProcessPoolExecutor(max_workers=2)
    seen = None
    try:
        workers = await warm_pool(inner, 2)
        spy = SpyPool(inner)
        with watch_work(keep=workers) as seen:
            try:
                got = await asyncio.gather(
                    *(call_coroutine(candidate, spy, c, p, rounds) for c, p in jobs)
                )
            except (pickle.PicklingError, AttributeError, TypeError) as error:
                if "pickle" not in str(error).lower():
                    raise
                raise Failure(
                    f"el trabajo no pudo viajar al pool de procesos ({type(error).__name__}: "
                    f"{error}): un proceso recibe la función por pickle, por su nombre, y una "
                    "lambda o una función definida dentro de otra no lo tienen. Envía la función "
                    "importable con sus argumentos: await bucle.run_in_executor(pool, "
                    "simulate_price, codigo, precio, rondas)"
                ) from None
        await seen.raise_if_pools_left()
        # Lo que debía dar, calculado después (y en el pool): un alumno que aún no empezó no
        # espera a la simulación.
        expected = await asyncio.gather(
            *(loop.run_in_executor(inner, simulate_price, c, p, rounds) for c, p in jobs)
        )
        for (code, price), want, answer in zip(jobs, expected, got, strict=True):
            if answer != want:
                raise Failure(
                    f"simulate_price({code!r}, {price}, {rounds}) da {want}, y tu función devolvió "
                    f"{_brief(answer)}: no es el resultado de la simulación. Devuelve lo que "
                    "calcula simulate_price con esos mismos argumentos"
                )
        _simulation_ran_in_pool(seen, spy, SIMULATION_COST * len(jobs))
        if spy.shutdowns:
            raise Failure(
                "cerraste el pool que recibes (shutdown o with): es del servicio, y las demás "
                "peticiones lo necesitan"
            )
    finally:
        if seen is not None:
            await seen.close_leftovers()
        await close_pool(inner)


async def _simulation_inline(pool: Any, codigo: str, precio: int, rondas: int) -> int:
    return simulate_price(codigo, precio, rondas)  # ← en el hilo del bucle


async def _simulation_in_a_thread(pool: Any, codigo: str, precio: int, rondas: int) -> int:
    return await asyncio.to_thread(simulate_price, codigo, precio, rondas)


async def _simulation_own_pool_left_open(pool: Any, codigo: str, precio: int, rondas: int) -> int:
    propio = ProcessPoolExecutor(max_workers=1)  # nadie lo cierra
    bucle = asyncio.get_running_loop()
    return await bucle.run_in_executor(propio, simulate_price, codigo, precio, rondas)


async def _simulation_skipped(pool: Any, codigo: str, precio: int, rondas: int) -> int:
    return precio  # «el precio apenas cambia»


register(
    Exercise(
        key="10.4",
        title="La simulación en un pool de procesos",
        function_name="simulacion",
        checker=_check_simulacion,
        solution=simulacion,
        wrong=(
            Wrong(_simulation_skipped, Mistake.NO_WORK, "no es el resultado de la simulación"),
            Wrong(_simulation_own_pool_left_open, Mistake.LEFT_OPEN, "cuando tu función terminó"),
            Wrong(_simulation_in_a_thread, Mistake.WRONG_TOOL, "en hilos"),
            Wrong(_simulation_inline, Mistake.BLOCKING, "congeló el bucle"),
        ),
        applies=frozenset(
            {Mistake.NO_WORK, Mistake.LEFT_OPEN, Mistake.WRONG_TOOL, Mistake.BLOCKING}
        ),
        timeout=30.0,
    )
)


# -- 10.5: apagado ordenado ---------------------------------------------------------------------

IN_FLIGHT = 0.3
"""Lo que tarda la petición que está en curso al pedir el apagado."""
BUSY_THREAD = 0.7
"""Lo que sigue ocupado un hilo del pool al apagar (como una llamada heredada con su plazo)."""
PROCESS_JOB = 1.0
"""Lo que dura el trabajo que está en curso en el pool de procesos al pedir el apagado."""


class StandInPool:
    """Hace de *pool* de `asyncpg` en 10.5: `fetchval` y `close`, y anota cuándo se cerró.

    Un *pool* de verdad, cerrado, lanza `InterfaceError` si alguien consulta; este, lo mismo.
    """

    def __init__(self) -> None:
        self.closed = False
        self.used_after_close = 0

    async def fetchval(self, query: str, *args: Any) -> Any:
        """Devuelve 1 tras ceder el bucle; lanza `RuntimeError` si ya se cerró."""
        await asyncio.sleep(0)
        if self.closed:
            self.used_after_close += 1
            raise RuntimeError("el pool está cerrado")
        return 1

    async def close(self) -> None:
        """Cierra el *pool* (espera un instante, como uno de verdad)."""
        await asyncio.sleep(0.01)
        self.closed = True

    def terminate(self) -> None:
        """Cierra el *pool* de golpe, sin esperar (como `asyncpg.Pool.terminate`)."""
        self.closed = True


def _job_until(seconds: float, flag: str) -> None:
    """El trabajo en curso del pool de procesos de 10.5: dura `seconds`, o hasta que exista `flag`.

    Para quien apaga es un `time.sleep(seconds)`; la comprobación crea `flag` al terminar, y
    así no espera el trabajo entero cuando la solución falló antes de esperarlo. No devuelve nada.
    """
    end = time.monotonic() + seconds
    while time.monotonic() < end and not os.path.exists(flag):
        time.sleep(0.01)


async def _check_apagar(candidate: Any) -> None:
    await asyncio.to_thread(_import_libraries)
    # Al terminar la comprobación, el hilo y el proceso ocupados acaban ya (no a su hora).
    release = threading.Event()
    flag_dir = tempfile.mkdtemp(prefix="comprobacion-10.5-")
    flag = os.path.join(flag_dir, "fin")
    db = StandInPool()
    started = asyncio.Event()
    pools_closed_early = [0]

    async def slow(request: Any) -> Any:
        started.set()
        await asyncio.sleep(IN_FLIGHT)
        try:  # la petición en curso aún necesita el pool de hilos
            await asyncio.get_running_loop().run_in_executor(threads, abs, -1)
        except RuntimeError as error:  # «cannot schedule new futures after shutdown»
            pools_closed_early[0] += 1
            return web.json_response({"error": str(error)}, status=500)
        try:
            return web.json_response({"valor": await db.fetchval("SELECT 1")})
        except RuntimeError as error:  # la base de datos ya estaba cerrada
            return web.json_response({"error": str(error)}, status=500)

    app = web.Application()
    app.router.add_get("/lento", slow)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=3.0)
    await runner.setup()
    threads = ThreadPoolExecutor(2, thread_name_prefix="comprobacion-10.5")
    processes = ProcessPoolExecutor(1)
    job: Any = None
    try:
        # Los procesos, antes de abrir el puerto: un proceso hijo hereda los sockets abiertos
        # al nacer (fork), y mantendría el puerto escuchando después del apagado.
        workers = await warm_pool(processes, 1)
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        address = runner.addresses[0][:2]
        busy = threads.submit(release.wait, BUSY_THREAD)
        async with aiohttp.ClientSession() as session:

            async def in_flight() -> tuple[int, Any]:
                async with session.get(f"http://{address[0]}:{address[1]}/lento") as response:
                    return response.status, await response.text()

            request = asyncio.create_task(in_flight())
            try:
                await asyncio.wait_for(started.wait(), 5)
                # Un trabajo en curso en el pool de procesos: esperarlo en el bucle lo congela.
                job = asyncio.get_running_loop().run_in_executor(
                    processes, _job_until, PROCESS_JOB, flag
                )
                await call_coroutine(candidate, runner, db, threads, processes)
                workers_alive = [p for p in workers if p.is_alive()]
                done, _ = await asyncio.wait({request}, timeout=IN_FLIGHT + 3)
            finally:
                request.cancel()
                await asyncio.wait({request})
        accepting = False
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(*address), 1.0)
        except (OSError, TimeoutError):
            pass
        else:
            accepting = True
            writer.close()
            await writer.wait_closed()
        if accepting:
            raise Failure(
                "después de apagar, el servidor siguió aceptando conexiones: lo primero es "
                "dejar de aceptar y esperar a las peticiones en curso, con await runner.cleanup()"
            )
        if not done or request.cancelled() or request.exception() is not None:
            raise Failure(
                "la petición que estaba en curso se quedó sin respuesta: espera a que terminen "
                "(await runner.cleanup() lo hace, con su plazo)"
            )
        status, body = request.result()
        if pools_closed_early[0]:
            raise Failure(
                f"la petición que estaba en curso respondió {status} ({_brief(body)}): cerraste "
                "el pool de hilos antes de que terminaran las peticiones en curso, y una aún lo "
                "necesitaba. El orden: primero await runner.cleanup(), después la base de datos "
                "y al final los pools"
            )
        if status != 200 or db.used_after_close:
            raise Failure(
                f"la petición que estaba en curso respondió {status} ({_brief(body)}): cerraste la "
                "base de datos antes de que terminaran las peticiones en curso. El orden: primero "
                "await runner.cleanup() (deja de aceptar y espera a las que había), después "
                "await db.close()"
            )
        if not db.closed:
            raise Failure("no cerraste la base de datos: await db.close(), después del runner")
        if not threads._shutdown:
            raise Failure(
                "no cerraste el pool de hilos: hilos.shutdown(wait=False, cancel_futures=True) "
                "(sin esperar: cada hilo termina solo, con el plazo de su socket)"
            )
        if not getattr(processes, "_shutdown_thread", False):
            raise Failure(
                "no cerraste el pool de procesos: sus procesos siguen vivos. "
                "await asyncio.to_thread(procesos.shutdown) espera a que terminen sin congelar "
                "el bucle"
            )
        if workers_alive:
            raise Failure(
                "cuando tu función volvió, el proceso del pool seguía vivo con su trabajo en "
                "curso: cerraste el pool de procesos sin esperarlo (shutdown(wait=False)). "
                "await asyncio.to_thread(procesos.shutdown) espera a que terminen sin congelar "
                "el bucle"
            )
    finally:
        release.set()
        os.close(os.open(flag, os.O_CREAT | os.O_WRONLY))  # un archivo vacío: la señal de parar
        await runner.cleanup()
        await db.close()
        await asyncio.to_thread(threads.shutdown, True, cancel_futures=True)
        await close_pool(processes)
        os.remove(flag)
        os.rmdir(flag_dir)
        del busy, job


async def _does_nothing(runner: Any, db: Any, hilos: Any, procesos: Any) -> None:
    return None


async def _db_first(runner: Any, db: Any, hilos: Any, procesos: Any) -> None:
    await db.close()  # ← la petición en curso aún la necesita
    await runner.cleanup()
    hilos.shutdown(wait=False, cancel_futures=True)
    await asyncio.to_thread(procesos.shutdown)


async def _waits_for_threads(runner: Any, db: Any, hilos: Any, procesos: Any) -> None:
    await runner.cleanup()
    await db.close()
    hilos.shutdown(wait=True)  # ← espera al hilo ocupado en el hilo del bucle
    await asyncio.to_thread(procesos.shutdown)


async def _forgets_processes(runner: Any, db: Any, hilos: Any, procesos: Any) -> None:
    await runner.cleanup()
    await db.close()
    hilos.shutdown(wait=False, cancel_futures=True)


async def _pools_first(runner: Any, db: Any, hilos: Any, procesos: Any) -> None:
    hilos.shutdown(wait=False, cancel_futures=True)  # ← la petición en curso aún lo necesita
    await asyncio.to_thread(procesos.shutdown)
    await runner.cleanup()
    await db.close()


async def _processes_in_the_loop(runner: Any, db: Any, hilos: Any, procesos: Any) -> None:
    await runner.cleanup()
    await db.close()
    hilos.shutdown(wait=False, cancel_futures=True)
    procesos.shutdown()  # ← espera al trabajo en curso en el hilo del bucle


async def _processes_not_waited(runner: Any, db: Any, hilos: Any, procesos: Any) -> None:
    await runner.cleanup()
    await db.close()
    hilos.shutdown(wait=False, cancel_futures=True)
    procesos.shutdown(wait=False)  # ← vuelve con el proceso aún trabajando


register(
    Exercise(
        key="10.5",
        title="Apagado ordenado",
        function_name="apagar",
        checker=_check_apagar,
        solution=apagar,
        wrong=(
            Wrong(_does_nothing, Mistake.NO_WORK, "siguió aceptando conexiones"),
            Wrong(_forgets_processes, Mistake.LEFT_OPEN, "sus procesos siguen vivos"),
            Wrong(_waits_for_threads, Mistake.BLOCKING, "congeló el bucle"),
            Wrong(_db_first, Mistake.PROTOCOL, "cerraste la base de datos antes"),
            Wrong(_pools_first, Mistake.PROTOCOL, "cerraste el pool de hilos antes"),
            Wrong(_processes_in_the_loop, Mistake.BLOCKING, "congeló el bucle"),
            Wrong(_processes_not_waited, Mistake.LEFT_OPEN, "seguía vivo"),
        ),
        applies=frozenset({Mistake.NO_WORK, Mistake.LEFT_OPEN, Mistake.BLOCKING, Mistake.PROTOCOL}),
        timeout=30.0,
    )
)


# -- 10.6: el servicio entero, bajo carga -------------------------------------------------------

LOAD_DELAY = 0.05
"""Lo que tarda el servicio heredado en 10.6."""
LOAD_CLIENTS = 8
LOAD_HOLD = 2.0
RATIO = 4
"""El peor bloqueo del bucle con la versión del alumno debe ser al menos RATIO veces menor que
el de la versión ingenua, medida en la misma prueba."""


def _worst_freeze(result: LoadResult) -> float:
    """Devuelve el peor tramo que el código congeló el bucle (sin la espera de CPU)."""
    return max((s.frozen for s in result.lag.detailed_samples), default=0.0)


async def _run_load(
    app: Any, paths: list[str], judge: bool, probe: Any = None
) -> tuple[LoadResult, float, _LoopUse]:
    """Sirve `app`, le lanza la carga y la para; devuelve el resultado, lo que tardó en parar y
    lo que usó el hilo del bucle durante la carga.

    `probe(url)`, si se da, se espera antes de la carga (con el servicio ya servido).
    """
    loop = asyncio.get_running_loop()
    async with contextlib.AsyncExitStack() as stack:
        runner = await stack.enter_async_context(_serving(app, judge))
        if probe is not None:
            await probe(_url(runner))
        judging = judged() if judge else contextlib.nullcontext()
        async with judging:
            try:
                with _loop_use() as use:
                    result = await load_test(_url(runner), paths, LOAD_CLIENTS)
            except Exception as error:  # la prueba de carga no pudo leer una respuesta
                leaf = error
                while isinstance(leaf, BaseExceptionGroup) and leaf.exceptions:
                    leaf = leaf.exceptions[0]
                raise Failure(
                    "en la prueba de carga, una respuesta de tu servicio no se pudo leer como "
                    f"JSON ({type(leaf).__name__}: {leaf}): todas las respuestas, también las "
                    'de error (502, 504), deben ser JSON: web.json_response({"error": mensaje}, '
                    "status=...)"
                ) from None
        stopping_from = loop.time()  # al salir del bloque, el servicio se para
    return result, loop.time() - stopping_from, use


async def _check_servicio(candidate: Any) -> None:
    await asyncio.to_thread(_import_libraries)
    items = _random_items(6)
    hung, cut, good = items[0], items[1], items[2:]
    paths = [f"/articulos/{i.id}" for i in good] * 2 + [f"/articulos/{i.id}" for i in (hung, cut)]
    random.shuffle(paths)
    by_path = {f"/articulos/{i.id}": i for i in items}
    by_id = {i.id: i for i in items}
    looked_up = [0]

    async def buscar(ident: int) -> dict[str, Any] | None:
        """La consulta del paso 1, hecha por la comprobación (cuenta cuántas veces se usa)."""
        looked_up[0] += 1
        await asyncio.sleep(0.005)
        item = by_id.get(ident)
        return None if item is None else item.as_json()

    options = {"seed": random.randrange(10**9), "delay": LOAD_DELAY, "hold": LOAD_HOLD}
    with BackgroundLegacyPriceServer(**options, hang={hung.codigo}, reset={cut.codigo}) as legacy:
        threads_before = set(threading.enumerate())
        app = await call_coroutine(candidate, buscar, legacy.address)
        if not isinstance(app, web.Application):
            raise Failure(
                f"crear_servicio debe devolver una web.Application, y devolvió {_brief(app)}"
            )
        # La versión ingenua, en la misma prueba y fuera de la ventana que se juzga.
        naive, _, _ = await _run_load(
            await solutions._naive_service(buscar, legacy.address), paths, judge=False
        )
        before, looked_up[0] = legacy.legacy_stats.requests, 0
        missing = _unused_id(items)

        async def probe(url: str) -> None:
            # Un artículo que no existe, un identificador que no es un número y un código cuya
            # conexión corta el servicio heredado: cada uno con su código y un JSON de error.
            async with aiohttp.ClientSession(url) as session:
                _expect_json_error(
                    f"/articulos/{missing}",
                    await _get(session, f"/articulos/{missing}"),
                    404,
                    "un artículo que no existe (buscar devuelve None) es un 404",
                )
                _expect_json_error(
                    "/articulos/abc",
                    await _get(session, "/articulos/abc"),
                    400,
                    "comprueba que el identificador es un número (int(...)) antes de buscar, y "
                    "responde 400 con un mensaje claro si no lo es",
                )
                # El corte, aquí solo si da un 500 o un 502 sin JSON (lo demás lo dice la carga).
                cut_answer = await _get(session, f"/articulos/{cut.id}")
                if cut_answer[0] in (500, 502):
                    _expect_json_error(
                        f"/articulos/{cut.id}",
                        cut_answer,
                        502,
                        "el servicio heredado cortó la conexión: captura el error "
                        "(ConnectionError, o ValueError si la línea llega incompleta) y responde "
                        "502",
                    )

        with _thread_work(asyncio.get_running_loop()) as threads:
            result, stopping, use = await _run_load(app, paths, judge=True, probe=probe)
        asked = legacy.legacy_stats.requests - before
        closed = await wait_until(lambda: not legacy.legacy_stats.open_connections, 1.0)

        def new_threads() -> list[threading.Thread]:
            # Los del ejecutor por defecto del bucle (asyncio_N) son del bucle, no del servicio.
            return [
                t
                for t in threading.enumerate()
                if t not in threads_before and not t.name.startswith("asyncio_")
            ]

        await wait_until(lambda: not new_threads(), 1.0)
        leftover_threads = new_threads()
    if asked == 0:
        raise Failure(
            "el servicio heredado no recibió ninguna petición de tu servicio: el precio no vino "
            "del servicio heredado. Pídelo con tu precio_nativo (10.3) en cada petición"
        )
    if looked_up[0] == 0:
        raise Failure(
            "tu servicio no llamó nunca a buscar(id): los artículos no vinieron de la base de "
            "datos. Busca cada artículo con await buscar(id)"
        )
    for answer in sorted(result.answers, key=lambda a: a.path != f"/articulos/{hung.id}"):
        item = by_path[answer.path]
        if item is hung:
            if answer.status != 504 or answer.latency >= solutions.PLAZO + MARGIN + 0.4:
                raise Failure(
                    f"GET {answer.path} (su precio cuelga el servicio heredado) respondió "
                    f"{answer.status} al cabo de {format_duration(answer.latency)}: se esperaba "
                    f"504 dentro del plazo de {solutions.PLAZO} s. Pon un plazo a la llamada "
                    "(asyncio.timeout) y responde 504 con un JSON de error"
                )
        elif item is cut:
            if answer.status != 502:
                raise Failure(
                    f"GET {answer.path} (el servicio heredado corta la conexión) respondió "
                    f"{answer.status}: se esperaba 502, con un JSON de error"
                )
        else:
            expected = {**item.as_json(), "precio": legacy.price(item.codigo)}
            if (answer.status, answer.body) != (200, expected):
                raise Failure(
                    f"GET {answer.path} respondió {answer.status} {_brief(answer.body)}, y se "
                    f"esperaba 200 {_brief(expected)}. Si el precio no cuadra: la respuesta del "
                    "servicio heredado llega en trozos, delimítala con await reader.readline()"
                )
    if threads.any:
        raise Failure(
            f"tu servicio llevó trabajo a hilos ({threads.describe()}): el precio debe pedirse "
            "con tu cliente nativo, precio_nativo (10.3), que no necesita ningún hilo; en un "
            "hilo, cada petición colgada ocupa uno"
        )
    _raise_if_spinning(
        use,
        "Pide el precio con tu precio_nativo (10.3): await reader.readline() duerme hasta que "
        "llega la línea",
    )
    ours, theirs = _worst_freeze(result), _worst_freeze(naive)
    if ours * RATIO > theirs:
        raise Failure(
            f"en la prueba de carga, tu servicio congeló el bucle hasta {format_duration(ours)}, "
            f"y la versión ingenua (la biblioteca bloqueante en el manejador) "
            f"{format_duration(theirs)}: se esperaba al menos {RATIO} veces menos"
        )
    if stopping > 2.0:
        raise Failure(f"tu servicio tardó {format_duration(stopping)} en pararse, sin peticiones")
    if leftover_threads:
        raise Failure(
            f"al parar tu servicio seguían vivos {plural(len(leftover_threads), 'hilo')} que "
            "creó él: cierra al pararlo lo que abriste al arrancarlo (un ThreadPoolExecutor, con "
            "shutdown() en app.on_cleanup)"
        )
    if not closed:
        raise Failure(
            "al terminar la prueba, alguna conexión con el servicio heredado seguía abierta: "
            "cierra el writer de cada petición (writer.close() y await writer.wait_closed())"
        )


async def _naive(buscar: Any, heredado: tuple[str, int]) -> Any:
    return await solutions._naive_service(buscar, heredado)


def _service_with(buscar: Any, price: Any) -> Any:
    """Un servicio como el de referencia, con otra forma de pedir el precio."""

    async def articulo(request: Any) -> Any:
        try:
            ident = int(request.match_info["id"])
        except ValueError:
            return web.json_response({"error": "no es un número"}, status=400)
        fila = await buscar(ident)
        if fila is None:
            return web.json_response({"error": "no existe"}, status=404)
        try:
            precio = await price(fila["codigo"])
        except (ConnectionError, ValueError, IndexError) as fallo:
            return web.json_response({"error": str(fallo)}, status=502)
        if precio is None:
            return web.json_response({"error": "sin respuesta a tiempo"}, status=504)
        return web.json_response({**fila, "precio": precio})

    return _app_with(articulo)


async def _service_guesses(buscar: Any, heredado: tuple[str, int]) -> Any:
    async def adivina(codigo: str) -> int:
        return 1000

    return _service_with(buscar, adivina)


async def _service_single_read(buscar: Any, heredado: tuple[str, int]) -> Any:
    return _service_with(buscar, lambda codigo: _single_read(heredado, codigo, solutions.PLAZO))


async def _service_writer_left_open(buscar: Any, heredado: tuple[str, int]) -> Any:
    return _service_with(
        buscar, lambda codigo: _writer_left_open(heredado, codigo, solutions.PLAZO)
    )


async def _service_no_deadline(buscar: Any, heredado: tuple[str, int]) -> Any:
    return _service_with(buscar, lambda codigo: _native_no_deadline(heredado, codigo, 0))


async def _service_in_threads(buscar: Any, heredado: tuple[str, int]) -> Any:
    async def en_hilo(codigo: str) -> int | None:
        try:
            async with asyncio.timeout(solutions.PLAZO):
                return await asyncio.to_thread(fetch_price, heredado, codigo, solutions.PLAZO)
        except TimeoutError:
            return None

    return _service_with(buscar, en_hilo)


async def _service_busy_socket(buscar: Any, heredado: tuple[str, int]) -> Any:
    return _service_with(buscar, lambda codigo: _busy_socket(heredado, codigo, solutions.PLAZO))


async def _service_without_404(buscar: Any, heredado: tuple[str, int]) -> Any:
    async def articulo(request: Any) -> Any:
        try:
            ident = int(request.match_info["id"])
        except ValueError:
            return web.json_response({"error": "no es un número"}, status=400)
        fila = await buscar(ident)  # ← None si no existe: fila["codigo"] da un 500
        try:
            precio = await solutions.precio_nativo(heredado, fila["codigo"], solutions.PLAZO)
        except (ConnectionError, ValueError) as fallo:
            return web.json_response({"error": str(fallo)}, status=502)
        if precio is None:
            return web.json_response({"error": "sin respuesta a tiempo"}, status=504)
        return web.json_response({**fila, "precio": precio})

    return _app_with(articulo)


register(
    Exercise(
        key="10.6",
        title="El servicio entero, bajo carga",
        function_name="crear_servicio",
        checker=_check_servicio,
        solution=crear_servicio,
        wrong=(
            Wrong(_service_guesses, Mistake.NO_WORK, "no vino del servicio heredado"),
            Wrong(_service_writer_left_open, Mistake.LEFT_OPEN, "dejaste abierto"),
            Wrong(_service_single_read, Mistake.PARTIAL_IO, "readline"),
            Wrong(_naive, Mistake.BLOCKING, "congeló el bucle"),
            Wrong(_service_no_deadline, Mistake.PROTOCOL, "se esperaba 504"),
            Wrong(_service_without_404, Mistake.PROTOCOL, "se esperaba 404"),
            Wrong(_service_in_threads, Mistake.WRONG_TOOL, "llevó trabajo a hilos"),
            Wrong(_service_busy_socket, Mistake.BLOCKING, "busy wait"),
        ),
        applies=frozenset(
            {
                Mistake.NO_WORK,
                Mistake.LEFT_OPEN,
                Mistake.PARTIAL_IO,
                Mistake.WRONG_TOOL,
                Mistake.BLOCKING,
                Mistake.PROTOCOL,
            }
        ),
        timeout=20.0,
    )
)
