"""Ejercicios de la lección 07 (librerías nativas: asyncpg y aiohttp)."""

import asyncio
import contextlib
import random
import threading
import urllib.request
from collections.abc import AsyncIterator, Iterator
from typing import Any

from ..background import BackgroundServer, running_servers
from ..postgres import PostgresError, TemporaryPostgres
from ..text import plural
from .core import (
    Exercise,
    Failure,
    Mistake,
    Wrong,
    call_coroutine,
    expect_equal,
    register,
    unpredictable_text,
)
from .servers import wait_until

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
# esto, mucho más que lo que tolera la comprobación (0.1 s en total).
DELAY = 0.3


class _ThreadWork:
    """Lo que se llevó a hilos mientras miraba: llamadas a `run_in_executor` e hilos nuevos."""

    def __init__(self) -> None:
        self.executor_calls = 0
        self.threads_started = 0

    @property
    def any(self) -> bool:
        """Devuelve True si algo se llevó a un hilo."""
        return bool(self.executor_calls or self.threads_started)

    def describe(self) -> str:
        """Devuelve qué se vio, en español."""
        parts = []
        if self.executor_calls:
            parts.append(
                plural(
                    self.executor_calls,
                    "llamada a to_thread/run_in_executor",
                    "llamadas a to_thread/run_in_executor",
                )
            )
        if self.threads_started:
            parts.append(plural(self.threads_started, "hilo nuevo", "hilos nuevos"))
        return " y ".join(parts)


@contextlib.contextmanager
def _thread_work(loop: asyncio.AbstractEventLoop) -> Iterator[_ThreadWork]:
    """Cuenta, mientras dura el bloque, lo que se lleva a hilos (`to_thread`,
    `run_in_executor`, `threading.Thread`)."""
    seen = _ThreadWork()
    original_executor = loop.run_in_executor
    original_start = threading.Thread.start

    def counting_executor(*args: Any, **kwargs: Any) -> Any:
        seen.executor_calls += 1
        return original_executor(*args, **kwargs)

    def counting_start(self: threading.Thread) -> None:
        seen.threads_started += 1
        original_start(self)

    patched_loop = True
    try:
        loop.run_in_executor = counting_executor  # type: ignore[method-assign]
    except AttributeError:  # un bucle que no admite atributos propios (uvloop): no contamos
        patched_loop = False
    threading.Thread.start = counting_start  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        threading.Thread.start = original_start  # type: ignore[method-assign]
        if patched_loop:
            del loop.run_in_executor  # vuelve el método de la clase


# -- 07.1: de un bucle bloqueante a consultas a la vez ------------------------------------------

TABLE = "cuentas_07"
CLIENTS = 6
CONNECTIONS = 3
QUERY = "SELECT saldo FROM cuentas_07, pg_sleep(0.3) WHERE cliente = $1"


async def saldos(dsn: str, clientes: list[str], conexiones: int) -> dict[str, int]:
    """Devuelve {cliente: saldo} con asyncpg: las consultas a la vez, con un pool de como
    mucho `conexiones` conexiones."""
    consulta = "SELECT saldo FROM cuentas_07, pg_sleep(0.3) WHERE cliente = $1"
    # El pool presta sus conexiones a las consultas y las reutiliza: nunca más de max_size a
    # la vez; las demás consultas esperan a que quede una libre.
    async with asyncpg.create_pool(dsn, min_size=1, max_size=conexiones) as pool:
        valores = await asyncio.gather(*(pool.fetchval(consulta, c) for c in clientes))
    return dict(zip(clientes, valores, strict=True))


async def _blocking_loop(dsn: str, clientes: list[str], conexiones: int) -> dict[str, int]:
    # El bucle de partida del enunciado, tal cual, dentro de una corrutina.
    with psycopg.connect(dsn) as conexion:
        return {
            c: conexion.execute(
                "SELECT saldo FROM cuentas_07, pg_sleep(0.3) WHERE cliente = %s", (c,)
            ).fetchone()[0]
            for c in clientes
        }


async def _blocking_in_slices(dsn: str, clientes: list[str], conexiones: int) -> dict[str, int]:
    # Cede el bucle entre consulta y consulta... pero cada una lo congela igual.
    resultado = {}
    with psycopg.connect(dsn) as conexion:
        for c in clientes:
            fila = conexion.execute(
                "SELECT saldo FROM cuentas_07, pg_sleep(0.3) WHERE cliente = %s", (c,)
            ).fetchone()
            resultado[c] = fila[0]
            await asyncio.sleep(0)
    return resultado


async def _one_after_another(dsn: str, clientes: list[str], conexiones: int) -> dict[str, int]:
    # Ya no bloquea, pero cada await espera a la consulta anterior.
    async with asyncpg.create_pool(dsn, min_size=1, max_size=conexiones) as pool:
        return {c: await pool.fetchval(QUERY, c) for c in clientes}


async def _no_limit(dsn: str, clientes: list[str], conexiones: int) -> dict[str, int]:
    # Un pool con su tamaño por defecto (10): todas a la vez, sin el límite pedido.
    async with asyncpg.create_pool(dsn) as pool:
        valores = await asyncio.gather(*(pool.fetchval(QUERY, c) for c in clientes))
    return dict(zip(clientes, valores, strict=True))


async def _connection_per_query(dsn: str, clientes: list[str], conexiones: int) -> dict[str, int]:
    # Respeta el límite con un semáforo, pero abre y cierra una conexión por consulta.
    limite = asyncio.Semaphore(conexiones)

    async def una(cliente: str) -> int:
        async with limite:
            conexion = await asyncpg.connect(dsn)
            try:
                return await conexion.fetchval(QUERY, cliente)
            finally:
                await conexion.close()

    valores = await asyncio.gather(*(una(c) for c in clientes))
    return dict(zip(clientes, valores, strict=True))


async def _psycopg_in_threads(dsn: str, clientes: list[str], conexiones: int) -> dict[str, int]:
    # El controlador bloqueante en hilos: no congela el bucle, pero no es asyncpg.
    limite = asyncio.Semaphore(conexiones)

    def una(cliente: str) -> int:
        with psycopg.connect(dsn) as conexion:
            return conexion.execute(
                "SELECT saldo FROM cuentas_07, pg_sleep(0.3) WHERE cliente = %s", (cliente,)
            ).fetchone()[0]

    async def en_hilo(cliente: str) -> int:
        async with limite:
            return await asyncio.to_thread(una, cliente)

    valores = await asyncio.gather(*(en_hilo(c) for c in clientes))
    return dict(zip(clientes, valores, strict=True))


async def _without_asking(dsn: str, clientes: list[str], conexiones: int) -> dict[str, int]:
    # Un resultado inventado: no pregunta nada a PostgreSQL.
    return {c: 100 for c in clientes}


async def _pool_left_open(dsn: str, clientes: list[str], conexiones: int) -> dict[str, int]:
    # Hace bien las consultas, pero nunca cierra el pool: sus conexiones siguen abiertas.
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=conexiones)
    valores = await asyncio.gather(*(pool.fetchval(QUERY, c) for c in clientes))
    return dict(zip(clientes, valores, strict=True))


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


async def _prepare_accounts(dsn: str, accounts: dict[str, int]) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        # Sin DROP TABLE: una conexión olvidada de un intento anterior lo dejaría esperando.
        await conn.execute("SET lock_timeout = '2s'")
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {TABLE} (cliente text PRIMARY KEY, saldo int)"
        )
        async with conn.transaction():
            await conn.execute(f"DELETE FROM {TABLE}")
            await conn.executemany(f"INSERT INTO {TABLE} VALUES ($1, $2)", list(accounts.items()))
        # La misma forma de consulta que la del alumno, una vez: asyncpg prepara aquí lo que
        # necesita (tipos, códecs) y no dentro de la ventana en que se juzga su código.
        await conn.fetchval(f"SELECT saldo FROM {TABLE} WHERE cliente = $1", next(iter(accounts)))
    finally:
        await conn.close()


@contextlib.contextmanager
def _record_pools(created: list[Any] | None = None) -> Iterator[list[Any]]:
    """Anota en `created` (o en una lista nueva) los *pools* de asyncpg creados en el bloque.

    Al terminar la comprobación se cortan los que nadie cerró (`_terminate_pools`): un *pool*
    olvidado reabre sus conexiones por su cuenta (su mínimo, `min_size`) mientras viva el bucle.
    """
    import asyncpg.pool  # ya importado: las comprobaciones lo cargan fuera del bucle

    created = [] if created is None else created
    cls = asyncpg.pool.Pool
    original = cls.__init__

    def recording(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        created.append(self)

    cls.__init__ = recording
    try:
        yield created
    finally:
        cls.__init__ = original


def _terminate_pools(pools: list[Any]) -> None:
    for pool in pools:
        if not pool._closed:
            pool.terminate()


class _Watcher:
    """Mira `pg_stat_activity` cada 20 ms desde un hilo propio, con su propia conexión.

    Va en un hilo (con `psycopg` bloqueante, que ahí no molesta a nadie) para ver también lo
    que pasa mientras el código del alumno congela el bucle. Anota las conexiones nuevas de
    clientes, las consultas a la tabla que llega a ver en marcha (por proceso e inicio) y el
    máximo de consultas a la vez.
    """

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.peak = 0
        self.queries: set[tuple[int, Any]] = set()
        self.connections: set[int] = set()
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def _rows(self) -> list[tuple[int, str | None, str]]:
        return self._conn.execute(
            "SELECT pid, state, query, query_start FROM pg_stat_activity "
            "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
        ).fetchall()

    def open(self) -> None:
        """Conecta y anota las conexiones que ya había (bloquea: llámalo en un hilo)."""
        self._conn = psycopg.connect(self.dsn, autocommit=True)
        self._baseline = {row[0] for row in self._rows()}

    def _watch(self) -> None:
        while not self._stop.wait(0.02):
            try:
                rows = self._rows()
            except psycopg.Error:
                continue
            active = [
                r for r in rows if r[1] == "active" and TABLE in r[2] and "pg_stat" not in r[2]
            ]
            with self._lock:
                self.peak = max(self.peak, len(active))
                self.queries |= {(r[0], r[3]) for r in active}
                self.connections |= {r[0] for r in rows} - self._baseline

    def start(self) -> None:
        """Empieza a mirar, en un hilo propio."""
        self._thread = threading.Thread(target=self._watch, name="vigia-07", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Deja de mirar (bloquea un instante: llámalo en un hilo)."""
        self._stop.set()
        self._thread.join()

    def still_open(self, timeout: float = 1.0) -> int:
        """Devuelve cuántas de las conexiones nuevas siguen abiertas pasado, como mucho,
        `timeout` (bloquea: llámalo en un hilo)."""
        for _ in range(int(timeout / 0.05)):
            left = {row[0] for row in self._rows()} & self.connections
            if not left:
                return 0
            self._stop.wait(0.05)
        return len(left)

    def close(self) -> None:
        """Cierra su conexión (bloquea: llámalo en un hilo)."""
        self._conn.close()


async def _check_saldos(candidate: Any) -> None:
    await asyncio.to_thread(_import_libraries)  # la primera vez tarda: fuera del bucle
    names = random.sample(range(1000, 10_000), CLIENTS)
    accounts = {f"cliente {n} {unpredictable_text(5)}": random.randint(1, 99_999) for n in names}
    clients = list(accounts)
    loop = asyncio.get_running_loop()
    async with _postgres() as dsn:
        await _prepare_accounts(dsn, accounts)
        watcher = _Watcher(dsn)
        await asyncio.to_thread(watcher.open)
        pools: list[Any] = []
        try:
            watcher.start()
            try:
                with _thread_work(loop) as threads, _record_pools(pools):
                    got = await call_coroutine(candidate, dsn, clients, CONNECTIONS)
            finally:
                await asyncio.to_thread(watcher.stop)
            leftover = await asyncio.to_thread(watcher.still_open)
        finally:
            _terminate_pools(pools)  # los que el alumno dejó abiertos, ya contados
            await asyncio.to_thread(watcher.close)
    queries = len(watcher.queries)
    if queries == 0:
        raise Failure(
            f"PostgreSQL no vio ninguna consulta a {TABLE} mientras tu función trabajaba: la "
            "respuesta no vino de la base de datos. Haz una consulta por cliente, con "
            "pool.fetchval(consulta, cliente)"
        )
    expect_equal(accounts, got, f"saldos de {plural(CLIENTS, 'cliente')} (al azar)")
    if queries < CLIENTS:
        raise Failure(
            f"PostgreSQL vio {plural(queries, 'consulta')} a {TABLE} para "
            f"{plural(CLIENTS, 'cliente')}: haz la consulta del enunciado una vez por cliente"
        )
    if threads.any:
        raise Failure(
            f"llevaste el trabajo a hilos ({threads.describe()}): no congela el bucle, pero el "
            "ejercicio pide asyncpg, que espera en el propio bucle sin ningún hilo. Usa "
            "asyncpg.create_pool y await pool.fetchval(...)"
        )
    if watcher.peak > CONNECTIONS:
        raise Failure(
            f"PostgreSQL llegó a ver {plural(watcher.peak, 'consulta')} a la vez, y pedimos como "
            f"mucho {CONNECTIONS} (conexiones={CONNECTIONS}): crea el pool con "
            "max_size=conexiones, y que las consultas esperen su turno en él"
        )
    if len(watcher.connections) > CONNECTIONS:
        raise Failure(
            f"abriste {plural(len(watcher.connections), 'conexión', 'conexiones')} con PostgreSQL "
            f"para {plural(CLIENTS, 'consulta')}, con un límite de {CONNECTIONS}: una conexión por "
            "consulta cuesta un saludo y un proceso nuevo en el servidor cada vez. Usa un pool "
            "(asyncpg.create_pool), que abre como mucho max_size y las reutiliza"
        )
    if watcher.peak < CONNECTIONS:
        raise Failure(
            f"con conexiones={CONNECTIONS}, PostgreSQL nunca vio más de "
            f"{plural(watcher.peak, 'consulta')} en marcha a la vez: ¿un await por cliente, uno "
            "detrás de otro? Lánzalas todas a la vez (asyncio.gather o un TaskGroup) y deja que "
            "el pool las reparta"
        )
    if leftover:
        raise Failure(
            "al terminar tu función, "
            + plural(leftover, "conexión seguía abierta", "conexiones seguían abiertas")
            + " con PostgreSQL: cierra el pool (async with asyncpg.create_pool(...) as pool:, o "
            "await pool.close())"
        )


register(
    Exercise(
        key="07.1",
        title="De un bucle bloqueante a consultas a la vez",
        function_name="saldos",
        checker=_check_saldos,
        solution=saldos,
        wrong=(
            Wrong(_blocking_loop, Mistake.BLOCKING, "congeló el bucle"),
            Wrong(_blocking_in_slices, Mistake.BLOCKING, "congeló el bucle"),
            Wrong(_one_after_another, Mistake.PROTOCOL, "uno detrás de otro"),
            Wrong(_no_limit, Mistake.PROTOCOL, "como mucho"),
            Wrong(_connection_per_query, Mistake.WRONG_TOOL, "una conexión por consulta"),
            Wrong(_psycopg_in_threads, Mistake.WRONG_TOOL, "llevaste el trabajo a hilos"),
            Wrong(_without_asking, Mistake.NO_WORK, "no vino de la base de datos"),
            Wrong(_pool_left_open, Mistake.LEFT_OPEN, "seguían abiertas"),
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


def _urllib(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as respuesta:
        return respuesta.read().decode()


async def _urllib_in_the_coroutine(urls: list[str], limite: int) -> list[str]:
    return [_urllib(url) for url in urls]


async def _urllib_with_sleep0(urls: list[str], limite: int) -> list[str]:
    textos = []
    for url in urls:
        textos.append(_urllib(url))  # cada una congela el bucle lo que tarda la página
        await asyncio.sleep(0)
    return textos


async def _urllib_in_threads(urls: list[str], limite: int) -> list[str]:
    semaforo = asyncio.Semaphore(limite)

    async def bajar(url: str) -> str:
        async with semaforo:
            return await asyncio.to_thread(_urllib, url)

    return await asyncio.gather(*(bajar(url) for url in urls))


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


async def _guesses_the_pages(urls: list[str], limite: int) -> list[str]:
    # Lo que «debería» decir cada página, sin pedirla.
    return [f"página {url.rsplit('/', 1)[-1]}" for url in urls]


async def _session_never_closed(urls: list[str], limite: int) -> list[str]:
    sesion = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=limite))

    async def bajar(url: str) -> str:
        async with sesion.get(url) as respuesta:
            return await respuesta.text()

    return await asyncio.gather(*(bajar(url) for url in urls))


class SlowPages:
    """Servidor aiohttp que tarda `delay` en servir `/pagina/N`; cuenta peticiones y conexiones.

    Cada página lleva `token`, un texto al azar de esta comprobación. Se ejecuta en su propio
    hilo (`BackgroundServer`), así que un cliente bloqueante no lo congela.
    """

    def __init__(self, delay: float, token: str = "") -> None:
        self.delay = delay
        self.token = token
        self._lock = threading.Lock()
        self._in_flight = 0
        self.peak = 0
        self.requests = 0
        self.peers: set[Any] = set()
        self._runner: Any = None

    def text(self, n: int) -> str:
        """Devuelve el texto de la página `n`."""
        return f"página {n}: {self.token}" if self.token else f"página {n}"

    async def _page(self, request: Any) -> Any:
        with self._lock:
            self.requests += 1
            self.peers.add(request.transport.get_extra_info("peername"))
            self._in_flight += 1
            self.peak = max(self.peak, self._in_flight)
        try:
            await asyncio.sleep(self.delay)
        finally:
            with self._lock:
                self._in_flight -= 1
        return web.Response(text=self.text(int(request.match_info["n"])))

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


@contextlib.contextmanager
def _count_sessions() -> Iterator[list[int]]:
    """Cuenta las `aiohttp.ClientSession` que se crean mientras dura el bloque."""
    created = [0]
    cls = aiohttp.ClientSession
    original = cls.__init__

    def counting(self: Any, *args: Any, **kwargs: Any) -> None:
        created[0] += 1
        original(self, *args, **kwargs)

    cls.__init__ = counting  # type: ignore[method-assign]
    try:
        yield created
    finally:
        cls.__init__ = original  # type: ignore[method-assign]


async def _check_descargar(candidate: Any) -> None:
    await asyncio.to_thread(_import_libraries)  # la primera vez tarda: fuera del bucle
    server = SlowPages(DELAY, unpredictable_text(12))
    pages = random.sample(range(1, 100), PAGES)
    loop = asyncio.get_running_loop()
    with BackgroundServer(server) as background:
        host, port = background.address
        urls = [f"http://{host}:{port}/pagina/{n}" for n in pages]
        with _count_sessions() as sessions, _thread_work(loop) as threads:
            got = await call_coroutine(candidate, urls, LIMIT)
        await wait_until(lambda: not server.open_connections, within=1.0)
        still_open = server.open_connections
    if server.requests == 0:
        raise Failure(
            "el servidor no atendió ninguna petición: la respuesta no vino del servidor. Pide "
            "cada URL con la sesión (sesion.get(url)) y devuelve lo que conteste"
        )
    expect_equal([server.text(n) for n in pages], got, "textos, en orden (con un texto al azar)")
    if server.requests != PAGES:
        raise Failure(
            f"el servidor atendió {plural(server.requests, 'petición')} para "
            f"{plural(PAGES, 'página')}: pide cada URL una sola vez"
        )
    if threads.any:
        raise Failure(
            f"llevaste las descargas a hilos ({threads.describe()}): el ejercicio pide una "
            "aiohttp.ClientSession, que espera en el propio bucle sin ningún hilo"
        )
    if sessions[0] != 1:
        raise Failure(
            f"creaste {plural(sessions[0], 'ClientSession', 'ClientSession')} para "
            f"{plural(PAGES, 'página')}: usa una sola ClientSession para todas (ella guarda y "
            "reutiliza las conexiones), creada dentro de tu función y cerrada al final"
        )
    if server.peak != LIMIT:
        cause = (
            "no se respetó el límite: pon el límite en el conector "
            "(aiohttp.TCPConnector(limit=limite)) o con un asyncio.Semaphore"
            if server.peak > LIMIT
            else "las descargas no fueron a la vez: lánzalas juntas (asyncio.gather)"
        )
        raise Failure(
            f"con limite={LIMIT} y {plural(PAGES, 'página')}, el servidor atendió como mucho "
            f"{plural(server.peak, 'petición')} a la vez, y se esperaban exactamente {LIMIT}: "
            f"{cause}"
        )
    if len(server.peers) > LIMIT:
        raise Failure(
            f"el servidor recibió {plural(len(server.peers), 'conexión')} para "
            f"{plural(PAGES, 'página')}: con una sola ClientSession (y su conector) bastan "
            f"{LIMIT}, que se reutilizan"
        )
    if still_open:
        raise Failure(
            f"quedaron {plural(still_open, 'conexión abierta', 'conexiones abiertas')} con el "
            "servidor cuando tu función terminó: cierra la sesión "
            "(async with aiohttp.ClientSession() as sesion:)"
        )


register(
    Exercise(
        key="07.2",
        title="Muchas descargas, una sesión y un límite",
        function_name="descargar",
        checker=_check_descargar,
        solution=descargar,
        wrong=(
            Wrong(_urllib_in_the_coroutine, Mistake.BLOCKING, "congeló el bucle"),
            Wrong(_urllib_with_sleep0, Mistake.BLOCKING, "congeló el bucle"),
            Wrong(_urllib_in_threads, Mistake.WRONG_TOOL, "llevaste las descargas a hilos"),
            Wrong(_session_per_request, Mistake.WRONG_TOOL, "una sola ClientSession"),
            Wrong(_sequential, Mistake.PROTOCOL, "no fueron a la vez"),
            Wrong(_no_limit, Mistake.PROTOCOL, "no se respetó el límite"),
            Wrong(_guesses_the_pages, Mistake.NO_WORK, "no vino del servidor"),
            Wrong(_session_never_closed, Mistake.LEFT_OPEN, "quedaron 2 conexiones abiertas"),
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
