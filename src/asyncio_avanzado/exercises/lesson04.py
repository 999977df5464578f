"""Ejercicios de la lección 04 (ejecutores e hilos).

Las comprobaciones miran desde el servidor (bytes recibidos, peticiones que esperan a la vez,
quién cierra cada conexión) y vigilan los `ThreadPoolExecutor` que el alumno crea: uno que
nunca se cierra deja sus hilos vivos, esperando trabajo, hasta que el programa termina.
"""

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from contextlib import contextmanager
from typing import Any

from ..background import BackgroundEchoServer, BackgroundServer
from ..blocking import blocking_echo
from ..streamserver import StreamServer
from ..text import plural
from .calls import run_calls, sizes
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
from .lesson02 import ecos
from .lesson03 import settle
from .servers import spy_writers, wait_until

__all__: list[str] = []

# Retardo del servidor de eco: una llamada bloqueante en la corrutina congela el bucle al
# menos esto, tres veces el umbral de la comprobación.
DELAY = 0.3
DEADLINE = 5.0


def _messages(count: int) -> list[bytes]:
    """Devuelve `count` mensajes al azar, de tamaños distintos; el segundo, de unos 100 KB."""
    ranges = [(20, 200)] * count
    if count > 1:
        ranges[1] = (90_000, 120_000)
    return [unpredictable(n) for n in sizes(*ranges)]


# -- lo que comparten las comprobaciones ----------------------------------------------------


@contextmanager
def spy_thread_pools() -> Iterator[list[ThreadPoolExecutor]]:
    """Anota los `ThreadPoolExecutor` que se crean dentro del bloque y nadie cierra.

    Envuelve `ThreadPoolExecutor.__init__` y `shutdown` mientras dura el bloque. Devuelve una
    lista que, al salir, tiene los *pools* creados dentro y nunca cerrados con `shutdown()`
    (ni con `with`), sin contar el ejecutor por defecto del bucle.
    """
    loop = asyncio.get_running_loop()
    created: list[ThreadPoolExecutor] = []
    closed: set[int] = set()
    original_init = ThreadPoolExecutor.__init__
    original_shutdown = ThreadPoolExecutor.shutdown

    def __init__(self: ThreadPoolExecutor, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        created.append(self)

    def shutdown(self: ThreadPoolExecutor, *args: Any, **kwargs: Any) -> None:
        closed.add(id(self))
        original_shutdown(self, *args, **kwargs)

    ThreadPoolExecutor.__init__ = __init__  # type: ignore[method-assign]
    ThreadPoolExecutor.shutdown = shutdown  # type: ignore[method-assign]
    left: list[ThreadPoolExecutor] = []
    try:
        yield left
    finally:
        ThreadPoolExecutor.__init__ = original_init  # type: ignore[method-assign]
        ThreadPoolExecutor.shutdown = original_shutdown  # type: ignore[method-assign]
        default = getattr(loop, "_default_executor", None)
        left += [p for p in created if id(p) not in closed and p is not default]


def expect_pools_closed(left: list[ThreadPoolExecutor]) -> None:
    """Lanza `Failure` si quedaron *pools* sin cerrar; antes los cierra, sin esperar."""
    if not left:
        return
    for pool in left:
        pool.shutdown(wait=False, cancel_futures=True)
    raise Failure(
        f"creaste {plural(len(left), 'ThreadPoolExecutor', 'ThreadPoolExecutor')} y no "
        f"{'lo' if len(left) == 1 else 'los'} cerraste: sus hilos siguen vivos, esperando "
        "trabajo, hasta que el programa termine. Ciérralo al acabar, en un finally, con "
        "pool.shutdown(wait=False, cancel_futures=True) (dentro de una corrutina, «with» "
        "esperaría a los hilos y congelaría el bucle si algo falla antes de tiempo)"
    )


def expect_no_streams(opened: int) -> None:
    """Lanza `Failure` si la función abrió conexiones de *streams* (otra herramienta)."""
    if opened:
        raise Failure(
            f"abriste {plural(opened, 'conexión')} con asyncio.open_connection: funciona, pero "
            "esta lección es la de los hilos. El ejercicio pide llamar a blocking_echo, que "
            "es bloqueante, en hilos: con asyncio.to_thread o loop.run_in_executor"
        )


def expect_traffic(received: int, total: int) -> None:
    """Lanza `Failure` si el servidor no recibió `total` bytes (la respuesta sin el trabajo)."""
    if received != total:
        raise Failure(
            f"el servidor recibió {plural(received, 'byte')} de los {total} de tus mensajes: "
            "la respuesta no vino del servidor. Pide cada eco con blocking_echo y devuelve lo "
            "que conteste"
        )


def _as_list(got: Any) -> Any:
    return list(got) if isinstance(got, tuple) else got


# -- servidores de las comprobaciones ---------------------------------------------------------


class _CheckServer(StreamServer):
    """Base de los servidores de estas comprobaciones: asyncio, 127.0.0.1, puerto libre.

    Se ejecutan en su propio hilo con `BackgroundServer(servidor)`, para que un cliente
    bloqueante no pueda congelarlos.
    """

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()  # los contadores se leen desde el hilo del cuaderno


class InFlightEchoServer(_CheckServer):
    """Eco con retardo que cuenta cuántas peticiones espera a la vez, sin carreras.

    Una petición cuenta desde que llegan sus bytes hasta justo antes de responder, así que
    el cliente solo puede empezar la siguiente cuando la anterior ya no cuenta. (Contar
    conexiones abiertas no sirve: el servidor ve el cierre de una un instante después de
    que el mismo hilo haya abierto la siguiente.)
    """

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay
        self._in_flight = 0
        self._peak = 0
        self._open = 0
        self._received = 0

    @property
    def peak(self) -> int:
        """Devuelve el máximo de peticiones que llegaron a esperar respuesta a la vez."""
        with self._lock:
            return self._peak

    @property
    def open(self) -> int:
        """Devuelve cuántas conexiones siguen abiertas."""
        with self._lock:
            return self._open

    @property
    def received(self) -> int:
        """Devuelve cuántos bytes ha recibido, en total."""
        with self._lock:
            return self._received

    def _add(self, field: str, amount: int) -> None:
        with self._lock:
            setattr(self, field, getattr(self, field) + amount)
            self._peak = max(self._peak, self._in_flight)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> int:
        self._add("_open", 1)
        try:
            while data := await reader.read(65536):
                self._add("_received", len(data))
                self._add("_in_flight", 1)
                try:
                    await asyncio.sleep(self.delay)
                finally:
                    self._add("_in_flight", -1)
                writer.write(data)
                await writer.drain()
        finally:
            self._add("_open", -1)
        return 0


class SilentServer(_CheckServer):
    """Servidor que acepta, lee y nunca responde; anota quién cierra cada conexión.

    Corta él mismo a los `hold` segundos, así que ningún cliente espera para siempre.
    """

    def __init__(self, hold: float) -> None:
        super().__init__()
        self.hold = hold
        self._closed_by_client = 0
        self._closed_by_server = 0

    @property
    def closed(self) -> tuple[int, int]:
        """Devuelve cuántas conexiones cerró el cliente y cuántas cortó el servidor."""
        with self._lock:
            return self._closed_by_client, self._closed_by_server

    def _count(self, by_client: bool) -> None:
        with self._lock:
            if by_client:
                self._closed_by_client += 1
            else:
                self._closed_by_server += 1

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> int:
        try:
            async with asyncio.timeout(self.hold):
                while await reader.read(65536):
                    pass  # leemos y callamos
        except ConnectionError:
            self._count(by_client=True)
        except TimeoutError:
            self._count(by_client=False)
        else:
            self._count(by_client=True)
        return 0


def _no_hint() -> str:
    return "¿esperas algo que nunca llega?"


# -- 04.1: varias llamadas bloqueantes a la vez ----------------------------------------------

CLIENTS = 4  # menos que los hilos del pool por defecto, que son 5 o más en cualquier máquina


async def ecos_en_hilos(direccion: tuple[str, int], mensajes: list[bytes]) -> list[bytes]:
    """Devuelve el eco de cada mensaje, en orden, con `blocking_echo` en hilos a la vez."""
    async with asyncio.TaskGroup() as tg:
        tareas = [
            tg.create_task(asyncio.to_thread(blocking_echo, direccion, mensaje))
            for mensaje in mensajes
        ]
    return [tarea.result() for tarea in tareas]


async def _check_ecos_en_hilos(candidate: Any) -> None:
    messages = _messages(CLIENTS)
    with BackgroundEchoServer(delay=DELAY) as server, spy_writers(server.address) as writers:
        try:
            with spy_thread_pools() as left:
                (got,) = await run_calls(
                    candidate, [(server.address, messages)], DEADLINE, _no_hint
                )
            expect_equal(messages, _as_list(got), "ecos, en el orden de los mensajes")
            expect_traffic(server.stats.bytes_received, sum(map(len, messages)))
            expect_no_streams(writers.opened)
            expect_pools_closed(left)
            peak = server.stats.peak_active
            if peak < CLIENTS:
                raise Failure(
                    f"enviamos {CLIENTS} mensajes, pero el servidor nunca tuvo más de "
                    f"{plural(peak, 'conexión abierta', 'conexiones abiertas')} a la vez: las "
                    "llamadas no corrieron a la vez (¿un await por mensaje, uno detrás de "
                    "otro?). Lánzalas todas y espéralas juntas (TaskGroup o gather)"
                )
        finally:
            await settle(server)


async def _returns_the_messages(direccion: tuple[str, int], mensajes: list[bytes]) -> list[bytes]:
    return list(mensajes)  # «el eco es lo mismo»


async def _direct_calls(direccion: tuple[str, int], mensajes: list[bytes]) -> list[bytes]:
    # Funciona, pero cada llamada congela el bucle el retardo entero del servidor.
    return [blocking_echo(direccion, mensaje) for mensaje in mensajes]


async def _waits_with_result(direccion: tuple[str, int], mensajes: list[bytes]) -> list[bytes]:
    # Los hilos corren a la vez... pero .result() los espera bloqueando el bucle.
    pool = ThreadPoolExecutor(max_workers=len(mensajes))
    try:
        futuros = [pool.submit(blocking_echo, direccion, mensaje) for mensaje in mensajes]
        return [futuro.result() for futuro in futuros]
    finally:
        pool.shutdown(wait=False)


async def _polls_in_slices(direccion: tuple[str, int], mensajes: list[bytes]) -> list[bytes]:
    # «Cedo el bucle entre espera y espera»: cada wait() bloquea hasta 50 ms igualmente.
    pool = ThreadPoolExecutor(max_workers=len(mensajes))
    try:
        futuros = [pool.submit(blocking_echo, direccion, mensaje) for mensaje in mensajes]
        while not all(futuro.done() for futuro in futuros):
            wait_futures(futuros, timeout=0.05)
            await asyncio.sleep(0)
        return [futuro.result() for futuro in futuros]
    finally:
        pool.shutdown(wait=False)


async def _one_thread_at_a_time(direccion: tuple[str, int], mensajes: list[bytes]) -> list[bytes]:
    # No bloquea el bucle, pero espera cada hilo antes de lanzar el siguiente.
    return [await asyncio.to_thread(blocking_echo, direccion, mensaje) for mensaje in mensajes]


async def _pool_never_closed(direccion: tuple[str, int], mensajes: list[bytes]) -> list[bytes]:
    pool = ThreadPoolExecutor(max_workers=len(mensajes))  # nadie llama a pool.shutdown()
    loop = asyncio.get_running_loop()
    return await asyncio.gather(
        *(loop.run_in_executor(pool, blocking_echo, direccion, mensaje) for mensaje in mensajes)
    )


async def _with_streams(direccion: tuple[str, int], mensajes: list[bytes]) -> list[bytes]:
    return await ecos(direccion, mensajes)  # la solución de la 02.2, con streams


register(
    Exercise(
        key="04.1",
        title="Varias llamadas bloqueantes a la vez",
        function_name="ecos_en_hilos",
        checker=_check_ecos_en_hilos,
        solution=ecos_en_hilos,
        wrong=(
            Wrong(_returns_the_messages, Mistake.NO_WORK, "no vino del servidor"),
            Wrong(_pool_never_closed, Mistake.LEFT_OPEN, "no lo cerraste"),
            Wrong(_with_streams, Mistake.WRONG_TOOL, "la de los hilos"),
            Wrong(_direct_calls, Mistake.BLOCKING, "congeló el bucle"),
            Wrong(_waits_with_result, Mistake.BLOCKING, "congeló el bucle"),
            Wrong(_polls_in_slices, Mistake.BLOCKING, "congeló el bucle"),
            Wrong(_one_thread_at_a_time, Mistake.PROTOCOL, "no corrieron a la vez"),
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


# -- 04.2: un pool acotado --------------------------------------------------------------------

JOBS = 6
LIMITS = (2, 3)
POOL_DELAY = 0.2  # seis trabajos con 2 o 3 hilos: al menos dos oleadas, 0.4 s bloqueando


async def ecos_limitados(
    direccion: tuple[str, int], mensajes: list[bytes], limite: int
) -> list[bytes]:
    """Devuelve el eco de cada mensaje, en orden, con como mucho `limite` hilos a la vez."""
    loop = asyncio.get_running_loop()
    pool = ThreadPoolExecutor(max_workers=limite)
    try:
        futuros = [
            loop.run_in_executor(pool, blocking_echo, direccion, mensaje) for mensaje in mensajes
        ]
        return await asyncio.gather(*futuros)
    finally:
        # Sin esperar a los hilos: «with pool» esperaría aquí y congelaría el bucle si
        # algo falló antes de tiempo. Lo que quede en la cola no llega a empezar.
        pool.shutdown(wait=False, cancel_futures=True)


async def _check_ecos_limitados(candidate: Any) -> None:
    for limit in LIMITS:
        messages = _messages(JOBS)
        server = InFlightEchoServer(delay=POOL_DELAY)
        with BackgroundServer(server) as background, spy_writers(background.address) as writers:
            with spy_thread_pools() as left:
                (got,) = await run_calls(
                    candidate, [(background.address, messages, limit)], DEADLINE, _no_hint
                )
            expect_equal(messages, _as_list(got), f"ecos con limite={limit}, en orden")
            expect_traffic(server.received, sum(map(len, messages)))
            expect_no_streams(writers.opened)
            expect_pools_closed(left)
            if not await wait_until(lambda: not background.server.open, within=2.0):
                still = background.server.open
                raise Failure(
                    f"quedaron {plural(still, 'conexión abierta', 'conexiones abiertas')}: "
                    "¿usas blocking_echo, que cierra su socket con with?"
                )
            peak = server.peak
        if peak > limit:
            raise Failure(
                f"con limite={limit} y {JOBS} mensajes, el servidor llegó a tener {peak} "
                f"peticiones a la vez, más de las permitidas: no acotaste los hilos. El pool "
                "por defecto (to_thread) tiene más; usa un ThreadPoolExecutor(max_workers="
                "limite) propio con run_in_executor (o un asyncio.Semaphore(limite))"
            )
        if peak < limit:
            raise Failure(
                f"con limite={limit} y {JOBS} mensajes, el servidor nunca tuvo más de "
                f"{plural(peak, 'petición', 'peticiones')} a la vez, menos de las permitidas: "
                f"se esperaban {limit} todo el tiempo. Lánzalas todas a la vez y deja que el "
                "pool las reparta"
            )


async def _pool_map(direccion: tuple[str, int], mensajes: list[bytes], limite: int) -> list[bytes]:
    # El pool es el correcto, pero su API es bloqueante: map() espera sin ceder el bucle.
    with ThreadPoolExecutor(max_workers=limite) as pool:
        return list(pool.map(blocking_echo, [direccion] * len(mensajes), mensajes))


async def _waits_in_slices(
    direccion: tuple[str, int], mensajes: list[bytes], limite: int
) -> list[bytes]:
    # Cede el bucle cada 50 ms, pero entre medias lo bloquea esperando a los hilos.
    pool = ThreadPoolExecutor(max_workers=limite)
    try:
        futuros = [pool.submit(blocking_echo, direccion, mensaje) for mensaje in mensajes]
        while not all(futuro.done() for futuro in futuros):
            wait_futures(futuros, timeout=0.05)
            await asyncio.sleep(0)
        return [futuro.result() for futuro in futuros]
    finally:
        pool.shutdown(wait=False)


async def _unbounded(direccion: tuple[str, int], mensajes: list[bytes], limite: int) -> list[bytes]:
    # Ignora el límite: el pool por defecto lanza todos los hilos que tiene.
    return await asyncio.gather(
        *(asyncio.to_thread(blocking_echo, direccion, mensaje) for mensaje in mensajes)
    )


async def _sequential(
    direccion: tuple[str, int], mensajes: list[bytes], limite: int
) -> list[bytes]:
    return [await asyncio.to_thread(blocking_echo, direccion, mensaje) for mensaje in mensajes]


async def _returns_the_messages_2(
    direccion: tuple[str, int], mensajes: list[bytes], limite: int
) -> list[bytes]:
    return list(mensajes)


async def _bounded_pool_never_closed(
    direccion: tuple[str, int], mensajes: list[bytes], limite: int
) -> list[bytes]:
    loop = asyncio.get_running_loop()
    pool = ThreadPoolExecutor(max_workers=limite)  # sin shutdown()
    return await asyncio.gather(
        *(loop.run_in_executor(pool, blocking_echo, direccion, mensaje) for mensaje in mensajes)
    )


register(
    Exercise(
        key="04.2",
        title="Un pool de hilos acotado",
        function_name="ecos_limitados",
        checker=_check_ecos_limitados,
        solution=ecos_limitados,
        wrong=(
            Wrong(_returns_the_messages_2, Mistake.NO_WORK, "no vino del servidor"),
            Wrong(_bounded_pool_never_closed, Mistake.LEFT_OPEN, "no lo cerraste"),
            Wrong(_unbounded, Mistake.WRONG_TOOL, "no acotaste los hilos"),
            Wrong(_pool_map, Mistake.BLOCKING, "congeló el bucle"),
            Wrong(_waits_in_slices, Mistake.BLOCKING, "congeló el bucle"),
            Wrong(_sequential, Mistake.PROTOCOL, "menos de las permitidas"),
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


# -- 04.3: un plazo que también para el hilo --------------------------------------------------

HOLD = 1.0  # lo que el servidor mudo aguanta antes de cortar: 3 veces el plazo pedido
DEADLINE_ASKED = 0.3
CANCEL_PLAZO = 0.6  # el plazo de la llamada que cancelamos: la cancelación llega antes
CANCEL_AFTER = 0.1
CANCEL_GRACE = CANCEL_PLAZO + 1.0  # esperar al hilo al cancelar (como mucho, su plazo) vale


async def eco_en_hilo_con_plazo(
    direccion: tuple[str, int], mensaje: bytes, plazo: float
) -> bytes | None:
    """Devuelve el eco de `mensaje`, o None si el servidor tarda más de `plazo` segundos."""
    try:
        # El plazo va en el propio socket: si vence, el hilo se rinde, cierra y termina.
        return await asyncio.to_thread(blocking_echo, direccion, mensaje, plazo)
    except TimeoutError:
        return None


async def _check_eco_con_plazo(candidate: Any) -> None:
    message = unpredictable(64)
    with BackgroundEchoServer(delay=DELAY) as server, spy_writers(server.address) as writers:
        try:
            (got,) = await run_calls(
                candidate, [(server.address, message, 5 * DELAY)], DEADLINE, _no_hint
            )
            expect_equal(
                message, got, f"eco de un servidor que tarda {DELAY} s, con plazo {5 * DELAY} s"
            )
            expect_traffic(server.stats.bytes_received, len(message))
            expect_no_streams(writers.opened)
        finally:
            await settle(server)
    silent = SilentServer(hold=HOLD)
    with BackgroundServer(silent) as background:
        await _expect_none_in_time(candidate, background.address, message, silent)
        await _expect_cancellation(candidate, background.address, message)


async def _expect_none_in_time(
    candidate: Any, address: tuple[str, int], message: bytes, silent: SilentServer
) -> None:
    """Lanza `Failure` si, con un servidor mudo, no devuelve None a tiempo y sin hilo colgado."""
    try:
        got = await call_coroutine(candidate, address, message, DEADLINE_ASKED)
    except TimeoutError:
        raise Failure(
            "cuando vence el plazo, la función debe devolver None, no dejar escapar TimeoutError"
        ) from None
    except OSError as error:
        if silent.closed[1]:
            raise Failure(
                f"con plazo={DEADLINE_ASKED} s, tu función esperó hasta que el servidor cortó a "
                f"los {HOLD} s ({type(error).__name__}): no cumple el plazo. El socket del hilo "
                "necesita su propio plazo (blocking_echo(..., timeout=plazo))"
            ) from None
        raise
    expect_equal(None, got, f"con un servidor que nunca responde y plazo={DEADLINE_ASKED} s")
    if silent.closed[1]:
        raise Failure(
            f"devolvió None, pero solo después de que el servidor cortara a los {HOLD} s: no "
            f"cumple el plazo de {DEADLINE_ASKED} s. Dale al socket del hilo su propio plazo"
        )
    if not await wait_until(lambda: silent.closed[0] >= 1, within=0.5):
        raise Failure(
            "devolvió None a tiempo, pero la conexión seguía abierta: el hilo sigue bloqueado "
            "en recv() (un hilo no se puede cancelar) y con él su socket. Dale al socket su "
            "propio plazo (blocking_echo(..., timeout=plazo)) en vez de (o además de) "
            "asyncio.timeout"
        )


async def _expect_cancellation(candidate: Any, address: tuple[str, int], message: bytes) -> None:
    """Lanza `Failure` si, al cancelarla mientras espera, la función no se deja cancelar."""
    task = asyncio.ensure_future(call_coroutine(candidate, address, message, CANCEL_PLAZO))
    await asyncio.sleep(CANCEL_AFTER)
    if task.done():
        # Terminó antes de poder cancelarla: si bloqueó el bucle, ya lo dice ese veredicto.
        if not task.cancelled():
            task.exception()  # la marcamos como vista: que asyncio no la repita en el registro
        return
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=CANCEL_GRACE)
    if not done:
        task.cancel()
        await asyncio.wait({task}, timeout=1.0)
        raise Failure(
            f"la cancelamos mientras esperaba y no terminó en {CANCEL_GRACE:.1f} s: al "
            "cancelarla, deja que la CancelledError siga su camino"
        )
    if task.cancelled():
        return
    error = task.exception()
    if error is None:
        raise Failure(
            f"la cancelamos mientras esperaba (con plazo={CANCEL_PLAZO} s) y devolvió "
            f"{task.result()!r} como si nada: tragaste la cancelación. Atrapa solo "
            "TimeoutError (no CancelledError, ni BaseException, ni un except: a secas), para "
            "que quien cancela se entere"
        )
    if isinstance(error, NotImplementedError | Failure):
        raise error
    raise Failure(
        f"la cancelamos mientras esperaba y lanzó {type(error).__name__} en vez de "
        "CancelledError: deja que la cancelación siga su camino"
    )


async def _blocking_deadline(
    direccion: tuple[str, int], mensaje: bytes, plazo: float
) -> bytes | None:
    # El plazo es correcto, pero la espera ocurre en el hilo del bucle.
    try:
        return blocking_echo(direccion, mensaje, plazo)
    except TimeoutError:
        return None


async def _asyncio_timeout_only(
    direccion: tuple[str, int], mensaje: bytes, plazo: float
) -> bytes | None:
    # Devuelve a tiempo, pero el hilo sigue colgado en recv(): nadie puede cancelarlo.
    try:
        async with asyncio.timeout(plazo):
            return await asyncio.to_thread(blocking_echo, direccion, mensaje, None)
    except TimeoutError:
        return None


async def _no_deadline(direccion: tuple[str, int], mensaje: bytes, plazo: float) -> bytes | None:
    try:
        return await asyncio.to_thread(blocking_echo, direccion, mensaje, None)
    except TimeoutError:
        return None


async def _swallows_cancellation(
    direccion: tuple[str, int], mensaje: bytes, plazo: float
) -> bytes | None:
    try:
        return await asyncio.to_thread(blocking_echo, direccion, mensaje, plazo)
    except (TimeoutError, asyncio.CancelledError):  # «si algo va mal, None»
        return None


async def _returns_the_message(
    direccion: tuple[str, int], mensaje: bytes, plazo: float
) -> bytes | None:
    await asyncio.sleep(0.05)
    return mensaje


async def _with_streams_and_timeout(
    direccion: tuple[str, int], mensaje: bytes, plazo: float
) -> bytes | None:
    # Correcto en asyncio, pero sin hilos: no es lo que pide esta lección.
    try:
        async with asyncio.timeout(plazo):
            reader, writer = await asyncio.open_connection(*direccion)
            try:
                writer.write(mensaje)
                await writer.drain()
                return await reader.readexactly(len(mensaje))
            finally:
                writer.close()
                await writer.wait_closed()
    except TimeoutError:
        return None


register(
    Exercise(
        key="04.3",
        title="Un plazo que también detiene el hilo",
        function_name="eco_en_hilo_con_plazo",
        checker=_check_eco_con_plazo,
        solution=eco_en_hilo_con_plazo,
        wrong=(
            Wrong(_returns_the_message, Mistake.NO_WORK, "no vino del servidor"),
            Wrong(_asyncio_timeout_only, Mistake.LEFT_OPEN, "el hilo sigue bloqueado"),
            Wrong(_with_streams_and_timeout, Mistake.WRONG_TOOL, "la de los hilos"),
            Wrong(_blocking_deadline, Mistake.BLOCKING, "congeló el bucle"),
            Wrong(_no_deadline, Mistake.PROTOCOL, "no cumple el plazo"),
            Wrong(_swallows_cancellation, Mistake.PROTOCOL, "tragaste la cancelación"),
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
