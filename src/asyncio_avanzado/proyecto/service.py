"""El servicio de referencia del proyecto final: una API de existencias y precios con aiohttp.

Junta todo lo del curso en un programa de verdad:

- lee el catálogo de PostgreSQL con un *pool* de `asyncpg` (lección 07);
- pide el precio al servicio heredado con el cliente nativo de *streams* (lección 02), o con
  la biblioteca bloqueante en un *pool* de hilos acotado y con plazo (lección 04): un
  servicio colgado responde 504 dentro del plazo sin retrasar a nadie más;
- calcula la simulación de precios en un *pool* de procesos (lección 05);
- publica el retraso de su propio bucle en `GET /salud` con un `LagMonitor` (lección 06);
- se detiene en orden (la lección 09): deja de aceptar, espera a las peticiones en curso
  un plazo, y cierra la base de datos, los hilos y los procesos sin congelar el bucle.

Toda entrada mala recibe un JSON con el error en español: JSON mal formado, tipos que no
son, un cuerpo demasiado grande, rutas que no existen. Un cliente que se va a mitad de una
petición cancela solo su manejador; los demás siguen.
"""

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any, Literal, Self

from aiohttp import web

from ..lag import LagMonitor, format_duration
from ..text import plural
from .cpu import simulate_price
from .legacy_client import LegacyError, fetch_price
from .native import fetch_price_async

__all__ = ["ApiError", "Client", "PriceService", "json_error", "json_reply"]

log = logging.getLogger("asyncio_avanzado.proyecto")

Client = Literal["nativo", "hilos", "bloqueante"]
"""Cómo pide el servicio los precios: *streams*, la biblioteca bloqueante en hilos, o la
biblioteca bloqueante dentro del manejador (el error que el proyecto mide, solo para comparar)."""

MAX_BODY = 16 * 1024
"""Bytes como mucho del cuerpo de una petición: más, y se responde 413 sin leerlo entero."""

ITEM_QUERY = "SELECT id, codigo, nombre, stock FROM articulos WHERE id = $1"
RESERVE_QUERY = (
    "UPDATE articulos SET stock = stock - $2 WHERE id = $1 AND stock >= $2 RETURNING stock"
)

_LAG_WINDOW = 5.0  # segundos de latidos que resume /salud
_LAG_ROTATE = 60.0  # cada cuánto se empieza una medición nueva (la lista no crece sin fin)


class ApiError(Exception):
    """Un error que el servicio responde al cliente: código HTTP y mensaje en español."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def json_reply(data: Any, status: int = 200) -> web.Response:
    """Devuelve una respuesta JSON con `data`, con las tildes tal cual (se lee bien con curl)."""
    return web.json_response(data, status=status, dumps=_dumps)


def json_error(status: int, message: str) -> web.Response:
    """Devuelve una respuesta `{"error": message}` con el código `status`."""
    return json_reply({"error": message}, status)


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False)


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class PriceService:
    """El servicio HTTP del proyecto; se usa con `async with` o con `start()` / `stop()`.

    `dsn`: la base de datos (con la tabla `articulos`, ver `catalog.py`). `legacy`: la
    dirección del servicio heredado de precios. `client`: cómo se le piden los precios.
    `deadline`: plazo en segundos de cada petición al servicio heredado. `threads`: hilos del
    *pool* acotado (con `client="hilos"`). `processes`: el *pool* de procesos para la
    simulación (si no, crea uno de `workers` procesos y lo cierra al parar). `grace`: segundos
    que se espera a las peticiones en curso al parar.
    """

    def __init__(
        self,
        dsn: str,
        legacy: tuple[str, int],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        client: Client = "nativo",
        deadline: float = 1.0,
        threads: int = 4,
        processes: Executor | None = None,
        workers: int = 2,
        rounds: int = 2000,
        db_connections: int = 8,
        grace: float = 5.0,
        max_body: int = MAX_BODY,
    ) -> None:
        if client not in ("nativo", "hilos", "bloqueante"):
            raise ValueError(f"client debe ser «nativo», «hilos» o «bloqueante», no {client!r}")
        self.dsn = dsn
        self.legacy = legacy
        self.host = host
        self.port = port
        self.client = client
        self.deadline = deadline
        self.threads = threads
        self.workers = workers
        self.rounds = rounds
        self.db_connections = db_connections
        self.grace = grace
        self.max_body = max_body
        self.monitor = LagMonitor(interval=0.02)
        self.in_flight = 0
        self.served = 0
        self._given_processes = processes
        self._processes: Executor | None = None
        self._threads: ThreadPoolExecutor | None = None
        self._pool: Any = None
        self._runner: web.AppRunner | None = None
        self._rotation: asyncio.Task[None] | None = None

    # -- ciclo de vida -----------------------------------------------------------------------

    async def start(self) -> Self:
        """Abre la base de datos, los *pools* y el puerto; devuelve el propio servicio."""
        if self._runner is not None:
            raise RuntimeError(f"{self!r} ya está en marcha: llama a stop() antes de reiniciarlo")
        import asyncpg  # aquí: importar el paquete del curso no carga las bibliotecas

        try:
            self._pool = await asyncpg.create_pool(
                self.dsn, min_size=self.db_connections, max_size=self.db_connections
            )
            self._threads = ThreadPoolExecutor(self.threads, thread_name_prefix="heredado")
            if self._given_processes is not None:
                self._processes = self._given_processes
            else:
                self._processes = ProcessPoolExecutor(self.workers)
                loop = asyncio.get_running_loop()
                # Los procesos arrancan aquí, y no con la primera petición que los necesite.
                await asyncio.gather(
                    *(
                        loop.run_in_executor(self._processes, simulate_price, "", 1, 0)
                        for _ in range(self.workers)
                    )
                )
            await self.monitor.start()
            self._rotation = asyncio.create_task(self._rotate(), name="rotar-LagMonitor")
            self._runner = web.AppRunner(
                self.app(),
                access_log=None,
                handler_cancellation=True,  # un cliente que se va cancela su manejador
                shutdown_timeout=self.grace,
            )
            await self._runner.setup()
            await web.TCPSite(self._runner, self.host, self.port).start()
        except BaseException:
            await self.stop()
            raise
        log.info("servicio escuchando en %s", self.url)
        return self

    async def stop(self) -> None:
        """Se detiene en orden, sin congelar el bucle. Idempotente.

        1. Deja de aceptar conexiones y espera a las peticiones en curso (como mucho `grace`
           segundos; las que sigan, se cancelan).
        2. Cierra el *pool* de la base de datos.
        3. Cierra el *pool* de hilos sin esperarlos (cada hilo termina solo, como mucho en su
           plazo) y el de procesos en un hilo (esperar a un proceso bloquea).
        """
        runner, self._runner = self._runner, None
        if runner is not None:
            log.info(
                "deteniendo: no se aceptan conexiones; %s",
                plural(self.in_flight, "petición en curso", "peticiones en curso"),
            )
            await runner.cleanup()
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                async with asyncio.timeout(self.grace):
                    await pool.close()
            except TimeoutError:
                pool.terminate()
        threads, self._threads = self._threads, None
        if threads is not None:
            threads.shutdown(wait=False, cancel_futures=True)
        processes, self._processes = self._processes, None
        if processes is not None and processes is not self._given_processes:
            await asyncio.to_thread(processes.shutdown, True, cancel_futures=True)
        rotation, self._rotation = self._rotation, None
        if rotation is not None:
            rotation.cancel()
            await asyncio.wait({rotation})
        await self.monitor.stop()
        if runner is not None:
            log.info(
                "servicio detenido: %s",
                plural(self.served, "petición atendida", "peticiones atendidas"),
            )

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def running(self) -> bool:
        """Devuelve True mientras el servicio acepta peticiones."""
        return self._runner is not None

    @property
    def address(self) -> tuple[str, int]:
        """Devuelve la dirección real `(host, puerto)` en que escucha."""
        if self._runner is None or not self._runner.addresses:
            raise RuntimeError("el servicio no está en marcha: llama antes a start()")
        host, port = self._runner.addresses[0][:2]
        return host, port

    @property
    def url(self) -> str:
        """Devuelve la URL base, `http://127.0.0.1:PUERTO`."""
        host, port = self.address
        return f"http://{host}:{port}"

    def __repr__(self) -> str:
        where = self.url if self.running else "detenido"
        return f"<PriceService {self.client} {where}>"

    async def _rotate(self) -> None:
        while True:
            await asyncio.sleep(_LAG_ROTATE)
            await self.monitor.stop()
            await self.monitor.start()

    # -- la aplicación ---------------------------------------------------------------------------

    def app(self) -> web.Application:
        """Devuelve la aplicación aiohttp con sus rutas y el tratamiento de errores."""
        app = web.Application(client_max_size=self.max_body, middlewares=[self._errors])
        app.router.add_get("/articulos/{id}", self._item)
        app.router.add_get("/articulos/{id}/simulacion", self._simulation)
        app.router.add_post("/reservas", self._reserve)
        app.router.add_get("/salud", self._health)
        return app

    @web.middleware
    async def _errors(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """Convierte cada error en un JSON en español; un fallo nuestro, en un 500 anotado."""
        self.in_flight += 1
        try:
            return await handler(request)
        except ApiError as error:
            return json_error(error.status, error.message)
        except web.HTTPRequestEntityTooLarge:
            return json_error(413, f"el cuerpo pasa del límite de {self.max_body} bytes")
        except web.HTTPNotFound:
            return json_error(404, f"no existe la ruta {request.method} {request.path}")
        except web.HTTPMethodNotAllowed as error:
            allowed = ", ".join(sorted(error.allowed_methods))
            return json_error(405, f"{request.path} no admite {request.method} (admite {allowed})")
        except web.HTTPException as error:
            return json_error(error.status, error.reason)
        except Exception:
            log.exception("error inesperado en %s %s", request.method, request.path)
            return json_error(500, "error interno del servicio (queda anotado en su registro)")
        finally:
            self.in_flight -= 1
            self.served += 1

    async def _row(self, request: web.Request) -> dict[str, Any]:
        raw = request.match_info["id"]
        try:
            item_id = int(raw)
        except ValueError:
            raise ApiError(400, f"el identificador debe ser un número entero, no {raw!r}") from None
        if not -(2**31) <= item_id < 2**31:
            raise ApiError(400, f"el identificador {item_id} está fuera de rango")
        row = await self._pool.fetchrow(ITEM_QUERY, item_id)  # parámetros, nunca f-strings
        if row is None:
            raise ApiError(404, f"no hay ningún artículo con id {item_id}")
        return dict(row)

    async def price(self, code: str) -> int:
        """Devuelve el precio de `code` del servicio heredado; lanza `ApiError` 504 o 502."""
        try:
            if self.client == "nativo":
                return await fetch_price_async(self.legacy, code, self.deadline)
            if self.client == "hilos":
                loop = asyncio.get_running_loop()
                # Dos plazos: asyncio.timeout responde a tiempo (también si el pool está lleno
                # y la llamada espera en su cola); el del socket hace que el hilo termine.
                async with asyncio.timeout(self.deadline):
                    return await loop.run_in_executor(
                        self._threads, fetch_price, self.legacy, code, self.deadline
                    )
            # «bloqueante»: el error que el proyecto mide, congela el bucle entero.
            return fetch_price(self.legacy, code, self.deadline)
        except TimeoutError:
            raise ApiError(
                504,
                f"el servicio de precios no respondió en {format_duration(self.deadline)}",
            ) from None
        except (ConnectionError, LegacyError) as error:
            raise ApiError(502, f"el servicio de precios falló: {error}") from None

    async def _item(self, request: web.Request) -> web.Response:
        row = await self._row(request)
        row["precio"] = await self.price(row["codigo"])
        return json_reply(row)

    async def _simulation(self, request: web.Request) -> web.Response:
        row = await self._row(request)
        price = await self.price(row["codigo"])
        loop = asyncio.get_running_loop()
        p95 = await loop.run_in_executor(
            self._processes, simulate_price, row["codigo"], price, self.rounds
        )
        return json_reply({"id": row["id"], "codigo": row["codigo"], "precio": price, "p95": p95})

    async def _reserve(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except json.JSONDecodeError as error:
            raise ApiError(400, f"el cuerpo no es JSON válido: {error.msg}") from None
        except UnicodeDecodeError:
            raise ApiError(400, "el cuerpo no está en UTF-8") from None
        if not isinstance(body, dict):
            raise ApiError(400, 'se esperaba un objeto JSON: {"id": 1, "cantidad": 2}')
        missing = [k for k in ("id", "cantidad") if k not in body]
        if missing:
            raise ApiError(400, f"falta el campo {missing[0]!r} (se esperaba id y cantidad)")
        item_id, amount = body["id"], body["cantidad"]
        if not _integer(item_id) or not -(2**31) <= item_id < 2**31:
            raise ApiError(400, f"«id» debe ser un número entero, no {item_id!r}")
        if not _integer(amount) or not 0 < amount < 2**31:
            raise ApiError(400, f"«cantidad» debe ser un entero mayor que 0, no {amount!r}")
        stock = await self._pool.fetchval(RESERVE_QUERY, item_id, amount)
        if stock is None:
            if await self._pool.fetchval("SELECT 1 FROM articulos WHERE id = $1", item_id):
                raise ApiError(409, f"no hay {amount} unidades del artículo {item_id}")
            raise ApiError(404, f"no hay ningún artículo con id {item_id}")
        return json_reply({"id": item_id, "cantidad": amount, "stock": stock})

    async def _health(self, request: web.Request) -> web.Response:
        now = time.perf_counter() - (self.monitor.origin or time.perf_counter())
        lags = [lag for t, lag in self.monitor.samples if t >= now - _LAG_WINDOW]
        lags.sort()
        return json_reply(
            {
                "estado": "bien",
                "retraso_max_ms": round(1000 * lags[-1], 3) if lags else None,
                "retraso_p50_ms": round(1000 * lags[len(lags) // 2], 3) if lags else None,
                "latidos": len(lags),
                "peticiones_en_curso": self.in_flight - 1,  # sin contar esta
                "cliente_heredado": self.client,
            }
        )
