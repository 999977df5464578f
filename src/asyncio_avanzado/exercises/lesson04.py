"""Ejercicios de la lección 04 (ejecutores e hilos)."""

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..background import BackgroundEchoServer, BackgroundServer
from ..blocking import blocking_echo
from ..streamserver import StreamServer
from .core import Exercise, Failure, call_coroutine, expect_equal, register
from .servers import wait_all_closed

__all__: list[str] = []

# Retardo del servidor de eco: una llamada bloqueante en la corrutina congela el bucle
# al menos esto, bastante más que el umbral de la comprobación (0.15 s).
DELAY = 0.3


def _messages(count: int) -> list[bytes]:
    # Tamaños distintos, uno de ellos grande, para que el orden y el eco completo importen.
    return [f"mensaje {i} ".encode() * (1 + 4000 * (i == 1)) for i in range(count)]


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

    def _add(self, field: str, amount: int) -> None:
        with self._lock:
            setattr(self, field, getattr(self, field) + amount)
            self._peak = max(self._peak, self._in_flight)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> int:
        self._add("_open", 1)
        try:
            while data := await reader.read(65536):
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


async def _wait_until(predicate: Any, timeout: float) -> bool:
    """Espera, cediendo el bucle, a que `predicate()` se cumpla; devuelve si se cumplió."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate() and loop.time() < deadline:
        await asyncio.sleep(0.02)
    return bool(predicate())


# -- 04.1: varias llamadas bloqueantes a la vez ----------------------------------------------

CLIENTS = 4  # menos que los hilos del pool por defecto: min(32, núcleos + 4) >= 5


async def ecos_en_hilos(direccion: tuple[str, int], mensajes: list[bytes]) -> list[bytes]:
    """Devuelve el eco de cada mensaje, en orden, con `blocking_echo` en hilos a la vez."""
    async with asyncio.TaskGroup() as tg:
        tareas = [
            tg.create_task(asyncio.to_thread(blocking_echo, direccion, mensaje))
            for mensaje in mensajes
        ]
    return [tarea.result() for tarea in tareas]


async def _direct_calls(direccion: tuple[str, int], mensajes: list[bytes]) -> list[bytes]:
    # Funciona, pero cada llamada congela el bucle el retardo entero del servidor.
    return [blocking_echo(direccion, mensaje) for mensaje in mensajes]


async def _one_thread_at_a_time(direccion: tuple[str, int], mensajes: list[bytes]) -> list[bytes]:
    # No bloquea el bucle, pero espera cada hilo antes de lanzar el siguiente.
    return [await asyncio.to_thread(blocking_echo, direccion, mensaje) for mensaje in mensajes]


async def _check_ecos_en_hilos(candidate: Any) -> None:
    messages = _messages(CLIENTS)
    with BackgroundEchoServer(delay=DELAY) as server:
        got = await call_coroutine(candidate, server.address, messages)
        expect_equal(messages, got, "ecos, en el orden de los mensajes")
        await wait_all_closed(server)
        peak = server.stats.peak_active
    if peak < CLIENTS:
        raise Failure(
            f"enviamos {CLIENTS} mensajes, pero el máximo de conexiones abiertas a la vez fue "
            f"{peak}: las llamadas no corrieron en hilos a la vez (¿un await por mensaje, "
            "uno detrás de otro?)"
        )


register(
    Exercise(
        key="04.1",
        title="Varias llamadas bloqueantes a la vez",
        function_name="ecos_en_hilos",
        checker=_check_ecos_en_hilos,
        solution=ecos_en_hilos,
        wrong=(_direct_calls, _one_thread_at_a_time),
    )
)


# -- 04.2: un pool acotado --------------------------------------------------------------------

JOBS = 6


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


async def _pool_map(direccion: tuple[str, int], mensajes: list[bytes], limite: int) -> list[bytes]:
    # El pool es el correcto, pero su API es bloqueante: map() espera sin ceder el bucle.
    with ThreadPoolExecutor(max_workers=limite) as pool:
        return list(pool.map(blocking_echo, [direccion] * len(mensajes), mensajes))


async def _unbounded(direccion: tuple[str, int], mensajes: list[bytes], limite: int) -> list[bytes]:
    # Ignora el límite: el pool por defecto lanza todos los hilos que tiene.
    return await asyncio.gather(
        *(asyncio.to_thread(blocking_echo, direccion, mensaje) for mensaje in mensajes)
    )


async def _sequential(
    direccion: tuple[str, int], mensajes: list[bytes], limite: int
) -> list[bytes]:
    return [await asyncio.to_thread(blocking_echo, direccion, mensaje) for mensaje in mensajes]


async def _peak_with_limit(candidate: Any, messages: list[bytes], limit: int) -> int:
    """Ejecuta al alumno con `limit`; devuelve el máximo de peticiones a la vez."""
    server = InFlightEchoServer(delay=DELAY)
    with BackgroundServer(server) as background:
        got = await call_coroutine(candidate, background.address, messages, limit)
        expect_equal(messages, got, f"ecos con limite={limit}, en el orden de los mensajes")
        if not await _wait_until(lambda: server.open == 0, timeout=2.0):
            raise Failure(
                f"quedaron {server.open} conexiones abiertas: ¿usas blocking_echo, que "
                "cierra su socket con with?"
            )
    return server.peak


async def _check_ecos_limitados(candidate: Any) -> None:
    messages = _messages(JOBS)
    for limit in (2, 3):
        peak = await _peak_with_limit(candidate, messages, limit)
        if peak != limit:
            more_or_less = "más" if peak > limit else "menos"
            raise Failure(
                f"con limite={limit} y {JOBS} mensajes, el máximo de peticiones a la vez fue "
                f"{peak}, {more_or_less} de las permitidas: se esperaban exactamente {limit} "
                "(un pool con max_workers=limite las mantiene todas ocupadas)"
            )


register(
    Exercise(
        key="04.2",
        title="Un pool de hilos acotado",
        function_name="ecos_limitados",
        checker=_check_ecos_limitados,
        solution=ecos_limitados,
        wrong=(_pool_map, _unbounded, _sequential),
    )
)


# -- 04.3: un plazo que también para el hilo --------------------------------------------------

HOLD = 1.5  # lo que el servidor mudo aguanta antes de cortar: 5 veces el plazo pedido
DEADLINE = 0.3


async def eco_en_hilo_con_plazo(
    direccion: tuple[str, int], mensaje: bytes, plazo: float
) -> bytes | None:
    """Devuelve el eco de `mensaje`, o None si el servidor tarda más de `plazo` segundos."""
    try:
        # El plazo va en el propio socket: si vence, el hilo se rinde, cierra y termina.
        return await asyncio.to_thread(blocking_echo, direccion, mensaje, plazo)
    except TimeoutError:
        return None


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


async def _check_eco_con_plazo(candidate: Any) -> None:
    message = "¿hay alguien?".encode()
    with BackgroundEchoServer(delay=DELAY) as server:
        got = await call_coroutine(candidate, server.address, message, 5 * DELAY)
        expect_equal(
            message, got, f"eco de un servidor que tarda {DELAY} s, con plazo {5 * DELAY} s"
        )
        await wait_all_closed(server)
    silent = SilentServer(hold=HOLD)
    with BackgroundServer(silent) as background:
        try:
            got = await call_coroutine(candidate, background.address, message, DEADLINE)
        except TimeoutError:
            raise Failure(
                "cuando vence el plazo, la función debe devolver None, no dejar escapar "
                "TimeoutError"
            ) from None
        except OSError as error:
            if silent.closed[1]:
                raise Failure(
                    f"con plazo={DEADLINE} s, tu función esperó hasta que el servidor cortó "
                    f"a los {HOLD} s ({type(error).__name__}): el socket necesita su propio "
                    "timeout"
                ) from None
            raise
        expect_equal(None, got, f"con un servidor que nunca responde y plazo={DEADLINE} s")
        if silent.closed[1]:
            raise Failure(
                f"devolvió None, pero solo después de que el servidor cortara a los {HOLD} s: "
                f"el plazo de {DEADLINE} s no se aplicó"
            )
        if not await _wait_until(lambda: silent.closed[0] >= 1, timeout=0.5):
            raise Failure(
                "devolvió None a tiempo, pero la conexión sigue abierta: el hilo sigue "
                "bloqueado en recv() (un hilo no se puede cancelar). Dale al socket su propio "
                "timeout en vez de (o además de) asyncio.timeout"
            )


register(
    Exercise(
        key="04.3",
        title="Un plazo que también detiene el hilo",
        function_name="eco_en_hilo_con_plazo",
        checker=_check_eco_con_plazo,
        solution=eco_en_hilo_con_plazo,
        wrong=(_blocking_deadline, _asyncio_timeout_only, _no_deadline),
    )
)
