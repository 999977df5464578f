"""Ejercicios de la lección 07 (librerías nativas: asyncpg y aiohttp)."""

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator
from typing import Any

from ..background import BackgroundServer, running_servers
from ..postgres import PostgresError, TemporaryPostgres
from .core import Exercise, Failure, call_coroutine, expect_equal, register

# Las bibliotecas de la lección se importan al comprobar, no al importar el paquete: tardan
# en cargarse (y cada proceso de un pool importa el paquete), y el PostgreSQL temporal debe
# poder usarse también sin ellas. Las soluciones las usan por su nombre, como en el cuaderno.
aiohttp: Any = None
web: Any = None
asyncpg: Any = None
psycopg: Any = None


def _import_libraries() -> None:
    global aiohttp, web, asyncpg, psycopg
    import aiohttp as _aiohttp
    import asyncpg as _asyncpg
    import psycopg as _psycopg
    from aiohttp import web as _web

    aiohttp, web, asyncpg, psycopg = _aiohttp, _web, _asyncpg, _psycopg


__all__: list[str] = []

# Lo que tarda cada consulta o petición: una llamada bloqueante congela el bucle al menos
# esto, bastante más que el umbral de la comprobación (0.15 s).
DELAY = 0.3


# -- 07.1: de un bucle bloqueante a consultas a la vez ------------------------------------------

ACCOUNTS = {"ana": 120, "bruno": 45, "carla": 300}
TABLE = "cuentas_07"


async def saldos(dsn: str, clientes: list[str]) -> dict[str, int]:
    """Devuelve {cliente: saldo} con asyncpg, todas las consultas a la vez."""
    consulta = "SELECT saldo FROM cuentas_07, pg_sleep(0.3) WHERE cliente = $1"
    # Un pool: cada consulta en marcha necesita su propia conexión (max_size acota cuántas).
    async with asyncpg.create_pool(dsn, min_size=1, max_size=10) as pool:
        valores = await asyncio.gather(*(pool.fetchval(consulta, c) for c in clientes))
    return dict(zip(clientes, valores, strict=True))


async def _blocking_loop(dsn: str, clientes: list[str]) -> dict[str, int]:
    # El bucle de partida del enunciado, tal cual, dentro de una corrutina.
    with psycopg.connect(dsn) as conexion:
        return {
            c: conexion.execute(
                "SELECT saldo FROM cuentas_07, pg_sleep(0.3) WHERE cliente = %s", (c,)
            ).fetchone()[0]
            for c in clientes
        }


async def _one_after_another(dsn: str, clientes: list[str]) -> dict[str, int]:
    # Ya no bloquea, pero cada await espera a la consulta anterior.
    async with asyncpg.create_pool(dsn) as pool:
        return {
            c: await pool.fetchval(
                "SELECT saldo FROM cuentas_07, pg_sleep(0.3) WHERE cliente = $1", c
            )
            for c in clientes
        }


@contextlib.asynccontextmanager
async def _postgres() -> AsyncIterator[str]:
    """Da la cadena de conexión del PostgreSQL del cuaderno, o de uno propio si no hay."""
    for server in running_servers():
        if isinstance(server, TemporaryPostgres) and server.running:
            yield server.dsn
            return
    try:
        async with TemporaryPostgres() as pg:
            yield pg.dsn
    except PostgresError as error:
        raise Failure(f"la comprobación necesita PostgreSQL. {error}") from None


async def _prepare_accounts(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        # Sin DROP TABLE: una conexión olvidada de un intento anterior lo dejaría esperando.
        await conn.execute("SET lock_timeout = '2s'")
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {TABLE} (cliente text PRIMARY KEY, saldo int)"
        )
        await conn.executemany(
            f"INSERT INTO {TABLE} VALUES ($1, $2) "
            "ON CONFLICT (cliente) DO UPDATE SET saldo = EXCLUDED.saldo",
            list(ACCOUNTS.items()),
        )
    finally:
        await conn.close()


def _count(n: int, singular: str, plural: str) -> str:
    return f"{n} {singular if n == 1 else plural}"


class _ActiveQueries:
    """Mira en `pg_stat_activity` cada 20 ms cuántas consultas a la tabla hay en marcha.

    Al salir del bloque sin errores, `leftover` dice cuántas conexiones abiertas durante el
    bloque siguen abiertas (se espera hasta un segundo a que se cierren).
    """

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.peak = 0
        self.leftover = 0
        self._stop = asyncio.Event()

    async def _client_connections(self) -> int:
        return await self._conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
        )

    async def _watch(self) -> None:
        while not self._stop.is_set():
            active = await self._conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
                f"AND query LIKE '%{TABLE}%' AND pid <> pg_backend_pid()"
            )
            self.peak = max(self.peak, active)
            await asyncio.sleep(0.02)

    async def __aenter__(self) -> "_ActiveQueries":
        self._conn = await asyncpg.connect(self.dsn)
        self._baseline = await self._client_connections()
        self._task = asyncio.create_task(self._watch())
        return self

    async def __aexit__(self, exc_type: object, *exc_info: object) -> None:
        self._stop.set()
        try:
            await self._task  # la conexión solo admite una consulta a la vez: primero, parar
            if exc_type is None:
                loop = asyncio.get_running_loop()
                deadline = loop.time() + 1.0
                while (extra := await self._client_connections() - self._baseline) > 0:
                    if loop.time() > deadline:
                        break
                    await asyncio.sleep(0.05)
                self.leftover = max(extra, 0)
        finally:
            await self._conn.close()


async def _check_saldos(candidate: Any) -> None:
    await asyncio.to_thread(_import_libraries)  # la primera vez tarda: fuera del bucle
    clients = list(ACCOUNTS)
    async with _postgres() as dsn:
        await _prepare_accounts(dsn)
        async with _ActiveQueries(dsn) as watcher:
            got = await call_coroutine(candidate, dsn, clients)
            expect_equal(ACCOUNTS, got, f"saldos de {clients}")
    if watcher.peak == 0:
        raise Failure(
            "PostgreSQL no llegó a ver ninguna consulta en marcha mientras lo mirábamos: o el "
            "bucle estuvo congelado (un controlador bloqueante dentro de la corrutina), o las "
            "consultas no pasaron por PostgreSQL"
        )
    if watcher.peak < len(clients):
        raise Failure(
            f"pedimos {len(clients)} saldos, pero PostgreSQL nunca vio más de "
            + _count(watcher.peak, "consulta", "consultas")
            + " en marcha a la vez: ¿un await por cliente, uno detrás de otro, o un pool más "
            "pequeño que el número de clientes?"
        )
    if watcher.leftover:
        raise Failure(
            "al terminar, "
            + _count(watcher.leftover, "conexión seguía abierta", "conexiones seguían abiertas")
            + ": cierra el pool (async with asyncpg.create_pool(...) as pool:) o la conexión"
        )


register(
    Exercise(
        key="07.1",
        title="De un bucle bloqueante a consultas a la vez",
        function_name="saldos",
        checker=_check_saldos,
        solution=saldos,
        wrong=(_blocking_loop, _one_after_another),
    )
)


# -- 07.2: muchas descargas, una sesión y un límite ---------------------------------------------

PAGES = 4
LIMIT = 2


async def descargar(urls: list[str], limite: int) -> list[str]:
    """Devuelve el texto de cada URL, en orden, con una sesión y como mucho `limite` a la vez."""
    # El conector de la sesión acota las conexiones; la sesión las reutiliza.
    conector = aiohttp.TCPConnector(limit=limite)
    async with aiohttp.ClientSession(connector=conector) as sesion:

        async def bajar(url: str) -> str:
            async with sesion.get(url) as respuesta:
                respuesta.raise_for_status()
                return await respuesta.text()

        return await asyncio.gather(*(bajar(url) for url in urls))


async def _urllib_in_the_coroutine(urls: list[str], limite: int) -> list[str]:
    import urllib.request

    textos = []
    for url in urls:
        with urllib.request.urlopen(url, timeout=5) as respuesta:
            textos.append(respuesta.read().decode())
    return textos


async def _sequential(urls: list[str], limite: int) -> list[str]:
    async with aiohttp.ClientSession() as sesion:
        textos = []
        for url in urls:
            async with sesion.get(url) as respuesta:
                textos.append(await respuesta.text())
        return textos


async def _no_limit(urls: list[str], limite: int) -> list[str]:
    async with aiohttp.ClientSession() as sesion:

        async def bajar(url: str) -> str:
            async with sesion.get(url) as respuesta:
                return await respuesta.text()

        return await asyncio.gather(*(bajar(url) for url in urls))


async def _session_per_request(urls: list[str], limite: int) -> list[str]:
    semaforo = asyncio.Semaphore(limite)

    async def bajar(url: str) -> str:
        async with semaforo, aiohttp.ClientSession() as sesion:
            async with sesion.get(url) as respuesta:
                return await respuesta.text()

    return await asyncio.gather(*(bajar(url) for url in urls))


class SlowPages:
    """Servidor aiohttp que tarda `delay` en servir `/pagina/N`; cuenta peticiones y conexiones.

    Se ejecuta en su propio hilo (`BackgroundServer`), así que un cliente bloqueante no lo
    congela.
    """

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self._lock = threading.Lock()
        self._in_flight = 0
        self.peak = 0
        self.peers: set[Any] = set()
        self._runner: Any = None

    async def _page(self, request: Any) -> Any:
        with self._lock:
            self.peers.add(request.transport.get_extra_info("peername"))
            self._in_flight += 1
            self.peak = max(self.peak, self._in_flight)
        try:
            await asyncio.sleep(self.delay)
        finally:
            with self._lock:
                self._in_flight -= 1
        return web.Response(text=f"página {request.match_info['n']}")

    async def start(self) -> None:
        """Arranca en 127.0.0.1, en un puerto libre."""
        app = web.Application()
        app.router.add_get("/pagina/{n}", self._page)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()

    async def stop(self) -> None:
        """Cierra el servidor y sus conexiones."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def address(self) -> tuple[str, int]:
        """Devuelve la dirección `(host, puerto)` en que escucha."""
        return tuple(self._runner.addresses[0][:2])

    @property
    def open_connections(self) -> int:
        """Devuelve cuántas conexiones de clientes siguen abiertas."""
        return len(self._runner.server.connections)

    def __repr__(self) -> str:
        return f"<SlowPages {self.address[0]}:{self.address[1]}>"


async def _check_descargar(candidate: Any) -> None:
    await asyncio.to_thread(_import_libraries)  # la primera vez tarda: fuera del bucle
    server = SlowPages(DELAY)
    with BackgroundServer(server) as background:
        host, port = background.address
        urls = [f"http://{host}:{port}/pagina/{n}" for n in range(1, PAGES + 1)]
        got = await call_coroutine(candidate, urls, LIMIT)
        expect_equal([f"página {n}" for n in range(1, PAGES + 1)], got, "textos, en orden")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 1.0
        while server.open_connections and loop.time() < deadline:
            await asyncio.sleep(0.02)
        still_open = server.open_connections
    if server.peak != LIMIT:
        cause = (
            "no se respetó el límite" if server.peak > LIMIT else "las descargas no fueron a la vez"
        )
        raise Failure(
            f"con limite={LIMIT} y {PAGES} páginas, el servidor atendió como mucho "
            + _count(server.peak, "petición", "peticiones")
            + f" a la vez, y se esperaban exactamente {LIMIT}: {cause}"
        )
    if len(server.peers) > LIMIT:
        raise Failure(
            f"el servidor recibió {len(server.peers)} conexiones para {PAGES} páginas: con una "
            f"sola ClientSession (y su conector) bastan {LIMIT}, que se reutilizan"
        )
    if still_open:
        raise Failure(
            f"quedaron {still_open} conexiones abiertas: cierra la sesión "
            "(async with aiohttp.ClientSession() as sesion:)"
        )


register(
    Exercise(
        key="07.2",
        title="Muchas descargas, una sesión y un límite",
        function_name="descargar",
        checker=_check_descargar,
        solution=descargar,
        wrong=(_urllib_in_the_coroutine, _sequential, _no_limit, _session_per_request),
    )
)
