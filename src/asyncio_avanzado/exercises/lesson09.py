"""Ejercicios de la lección 09 (cancelación, plazos y apagado ordenado).

Las comprobaciones miran desde el otro lado: qué respuestas recibieron los clientes, qué
peticiones canceló el servidor y cuáles seguían vivas, cuándo vio el servidor que un hilo
cerraba su *socket*, qué consultas seguían activas en `pg_stat_activity` y qué procesos del
*pool* seguían vivos al volver la función del alumno.
"""

import asyncio
import contextlib
import random
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from ..background import BackgroundServer
from ..clients import reset_connection
from ..lag import format_duration
from ..shutdown import SlowServer, slow_request
from ..text import plural
from . import lesson07
from .core import Exercise, Failure, Mistake, Wrong, call_coroutine, register
from .servers import spy_writers, wait_until

__all__: list[str] = []


MARGIN = 0.3
"""Lo que puede pasarse una solución correcta de un plazo en una máquina lenta y ocupada."""


class _Call:
    """La llamada a la función del alumno: su tarea, cuándo empezó y terminó, y si la cortamos."""

    def __init__(self, task: asyncio.Task[Any], began: float) -> None:
        self.task = task
        self.began = began
        self.ended = began
        self.cut = False
        self.at_return: Any = None
        """Lo que vio `on_return` justo al volver la función, antes de que nada más corra."""

    @property
    def elapsed(self) -> float:
        return self.ended - self.began


async def _call_bounded(
    candidate: Any,
    args: tuple[Any, ...],
    within: float,
    on_return: Callable[[], Any] | None = None,
) -> _Call:
    """Llama a la función del alumno y espera como mucho `within` s.

    Si no ha terminado, la cancela (y espera un poco a que lo haga): `cut` lo anota. Los
    instantes son del reloj del bucle, medidos dentro de la propia tarea.
    """
    loop = asyncio.get_running_loop()

    async def timed() -> Any:
        try:
            return await call_coroutine(candidate, *args)
        finally:
            call.ended = loop.time()
            if on_return is not None:
                call.at_return = on_return()

    call = _Call(asyncio.ensure_future(timed()), loop.time())
    await asyncio.wait({call.task}, timeout=within)
    if not call.task.done():
        call.cut = True
        call.task.cancel()
        await asyncio.wait({call.task}, timeout=1.0)
    if not call.task.done():
        call.ended = loop.time()
    return call


def _raise_for_outcome(task: asyncio.Task[Any], hint: str = "") -> Any:
    """Devuelve el resultado de la tarea del alumno o explica por qué no lo hay."""
    if task.cancelled():
        raise Failure(
            "tu función terminó con CancelledError sin que nadie la cancelara: ¿lanzas "
            "CancelledError tú mismo, o cancelas tu propia tarea?"
        )
    error = task.exception()
    if error is None:
        return task.result()
    if isinstance(error, NotImplementedError | Failure):
        raise error
    raise Failure(f"tu función lanzó {type(error).__name__}: {error}{hint}") from error


# -- 09.1: un servidor que se apaga en orden ----------------------------------------------

PLAZO_1 = 0.6
SLOW_1 = 10.0  # una petición lenta: solo termina si alguien espera de más
RESET_AFTER = 0.1
CLEANUP = 0.1  # lo que tarda una petición cancelada en recoger lo suyo antes de terminar


class _RequestServer:
    """Servidor de la comprobación: una petición por conexión, cada una en su tarea.

    Las tareas de las peticiones en curso están en `in_flight` (el conjunto que recibe el
    alumno); al terminar, cada una sale de él. Cuenta lo que pasó con cada petición.
    """

    def __init__(self) -> None:
        self.in_flight: set[asyncio.Task[None]] = set()
        self.started = 0
        self.finished = 0
        self.cancelled = 0
        self.failed = 0
        self.accepted = 0
        self.cancelled_at: list[float] = []
        """Cuándo (reloj del bucle) le llegó la cancelación a cada petición."""
        self.finished_at: list[float] = []
        """Cuándo (reloj del bucle) contestó cada petición."""
        self._handlers: set[asyncio.Task[None]] = set()
        self.server: asyncio.Server | None = None

    async def start(self) -> tuple[str, int]:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        host, port = self.server.sockets[0].getsockname()[:2]
        return host, port

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self.accepted += 1
        try:
            line = await reader.readline()
            try:
                seconds = float(line)
            except ValueError:
                return
            request = asyncio.ensure_future(self._request(seconds, writer))
            self.in_flight.add(request)
            request.add_done_callback(self.in_flight.discard)
            self.started += 1
            await asyncio.wait({request})
            if request.cancelled():
                self.cancelled += 1
            elif request.exception() is not None:
                self.failed += 1
            else:
                self.finished += 1
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._handlers.discard(task)
            writer.transport.abort()

    async def _request(self, seconds: float, writer: asyncio.StreamWriter) -> None:
        try:
            await asyncio.sleep(seconds)
        except asyncio.CancelledError:
            self.cancelled_at.append(asyncio.get_running_loop().time())
            # Como una petición de verdad (deshacer, avisar, anotar): cancelar no es instantáneo.
            await asyncio.sleep(CLEANUP)
            raise
        writer.write(b"hecho\n")
        await writer.drain()  # un cliente que cortó: ConnectionResetError
        self.finished_at.append(asyncio.get_running_loop().time())

    @property
    def settled(self) -> bool:
        """Devuelve si ya se anotó cómo terminó cada petición empezada."""
        return self.finished + self.cancelled + self.failed >= self.started

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for request in list(self.in_flight):
            request.cancel()
        left = self.in_flight | self._handlers
        if left:
            await asyncio.wait(left, timeout=2.0)


async def _client(address: tuple[str, int], seconds: float) -> bytes:
    reader, writer = await asyncio.open_connection(*address)
    try:
        writer.write(f"{seconds}\n".encode())
        await writer.drain()
        return await reader.read()
    except ConnectionError:
        return b""
    finally:
        writer.transport.abort()


async def _resetting_client(address: tuple[str, int], seconds: float) -> None:
    """Pide una petición y corta con RST a los `RESET_AFTER` s, sin esperar la respuesta."""
    _, writer = await asyncio.open_connection(*address)
    writer.write(f"{seconds}\n".encode())
    await writer.drain()
    await asyncio.sleep(RESET_AFTER)
    reset_connection(writer)


async def _late_client(address: tuple[str, int], after: float, seen: list[str]) -> None:
    """A los `after` s del apagado intenta conectar: debe encontrarse la puerta cerrada."""
    await asyncio.sleep(after)
    try:
        _, writer = await asyncio.open_connection(*address)
    except OSError:
        seen.append("rechazada")
        return
    seen.append("aceptada")
    writer.transport.abort()


async def apagar_en_orden(
    servidor: asyncio.Server, en_curso: set[asyncio.Task], plazo: float
) -> int:
    """Deja de aceptar, espera como mucho `plazo` s a lo que está en curso y cancela el resto.

    Devuelve cuántas peticiones tuvo que cancelar.
    """
    servidor.close()  # 1. la puerta, cerrada: ni una conexión nueva
    pendientes: set[asyncio.Task] = set()
    if en_curso:
        # 2. lo empezado tiene hasta el plazo (wait no lanza los errores de las tareas)
        _, pendientes = await asyncio.wait(en_curso, timeout=plazo)
    for tarea in pendientes:  # 3. lo que no llegó, se cancela...
        tarea.cancel()
    if pendientes:
        await asyncio.wait(pendientes)  # ...y se espera a que termine de cancelarse
    await servidor.wait_closed()
    return len(pendientes)


EARLY_PLAZO = 3.0  # la ronda en la que todo termina pronto: el plazo sobra


def _spy_wait_closed(server: asyncio.Server, checked: _RequestServer) -> list[bool]:
    """Anota, cada vez que el alumno llama a `wait_closed()`, si aún había peticiones en curso."""
    calls: list[bool] = []
    original = server.wait_closed

    async def wait_closed() -> None:
        calls.append(any(not r.done() for r in checked.in_flight))
        await original()

    server.wait_closed = wait_closed  # type: ignore[method-assign]
    return calls


async def _check_apagar_en_orden(candidate: Any) -> None:
    await _check_deadline_round(candidate)
    await _check_early_round(candidate)


async def _check_deadline_round(candidate: Any) -> None:
    """Ronda 1: peticiones cortas, lentas y una de un cliente que corta; vence el plazo."""
    fast = [round(random.uniform(0.1, 0.3), 2) for _ in range(random.randint(1, 3))]
    slow = 2  # dos: quien da un plazo a cada una por turno cancela la segunda tarde
    checked = _RequestServer()
    address = await checked.start()
    clients: list[asyncio.Task[Any]] = []
    try:
        clients = [asyncio.ensure_future(_client(address, s)) for s in fast]
        clients += [asyncio.ensure_future(_client(address, SLOW_1)) for _ in range(slow)]
        clients.append(asyncio.ensure_future(_resetting_client(address, 0.4)))
        expected = len(fast) + slow + 1
        if not await wait_until(lambda: checked.started >= expected, within=3.0):
            raise Failure("la comprobación no pudo preparar sus clientes: vuelve a intentarlo")
        assert checked.server is not None
        waits = _spy_wait_closed(checked.server, checked)
        late: list[str] = []
        door = asyncio.ensure_future(_late_client(address, 0.1, late))
        call = await _call_bounded(
            candidate,
            (checked.server, checked.in_flight, PLAZO_1),
            PLAZO_1 + 1.0,
            on_return=lambda: [r for r in checked.in_flight if not r.done()],
        )
        task = call.task
        still_running: list[asyncio.Task[None]] = call.at_return or []
        await door
        if call.cut:
            raise Failure(
                f"con plazo={PLAZO_1} s, tu función seguía esperando a los "
                f"{format_duration(call.elapsed)}, pasado el plazo: hay una petición de "
                f"{SLOW_1:g} s que no va a terminar a tiempo. Espera con un límite "
                "(asyncio.wait(en_curso, timeout=plazo)) y cancela lo que quede"
            )
        if not task.cancelled() and isinstance(task.exception(), ConnectionError):
            raise Failure(
                f"tu función se cayó con {type(task.exception()).__name__}: una de las "
                "peticiones era de un cliente que cortó la conexión a medias, y su error "
                "salió por tu función (¿gather sin return_exceptions?). El error de un cliente "
                "no debe tumbar el apagado de los demás: asyncio.wait no lanza los errores"
            )
        returned = _raise_for_outcome(task)
        answers = [await c for c in clients[: len(fast)]]
        dropped = sum(a != b"hecho\n" for a in answers)
        if dropped:
            raise Failure(
                f"abandonaste {plural(dropped, 'petición en curso', 'peticiones en curso')} "
                f"que habría{'' if dropped == 1 else 'n'} terminado dentro del plazo "
                f"(duraban {', '.join(f'{s:g} s' for s in fast)}; plazo {PLAZO_1} s): no "
                "canceles nada antes de que venza el plazo, y no bloquees el bucle mientras "
                "esperas"
            )
        untouched = [r for r in still_running if not r.cancelling()]
        if untouched:
            left = plural(len(untouched), "petición seguía", "peticiones seguían")
            raise Failure(
                f"al volver tu función, {left} en curso y nadie la"
                f"{'' if len(untouched) == 1 else 's'} había cancelado: lo que no termina "
                "dentro del plazo se cancela (tarea.cancel()) y luego se espera a que termine "
                "de cancelarse (await asyncio.wait(pendientes))"
            )
        if still_running:
            left = plural(len(still_running), "petición seguía", "peticiones seguían")
            raise Failure(
                f"al volver tu función, {left} sin terminar: cancelar no es instantáneo "
                "(la CancelledError llega en el siguiente await de la tarea). Tras "
                "cancel(), espera a que terminen: await asyncio.wait(pendientes)"
            )
        if checked.cancelled_at and min(checked.cancelled_at) < call.began + PLAZO_1 - 0.02:
            at = format_duration(min(checked.cancelled_at) - call.began)
            raise Failure(
                f"cancelaste las peticiones lentas a los {at}, antes de que venciera el plazo "
                f"({PLAZO_1} s): el error de un cliente que cortó no acaba el plazo de los "
                "demás (¿asyncio.wait con return_when=FIRST_EXCEPTION?). Espera a que "
                "terminen todas o venza el plazo: asyncio.wait(en_curso, timeout=plazo)"
            )
        if checked.cancelled_at and max(checked.cancelled_at) > call.began + PLAZO_1 + MARGIN:
            at = format_duration(max(checked.cancelled_at) - call.began)
            raise Failure(
                f"con plazo={PLAZO_1} s, la cancelación les llegó a las peticiones lentas a los "
                f"{at}, pasado el plazo: usa el plazo que recibes, "
                "asyncio.wait(en_curso, timeout=plazo), y cancela en cuanto venza"
            )
        if "aceptada" in late:
            raise Failure(
                "a los 0.1 s de empezar el apagado, el servidor seguía aceptando conexiones "
                "nuevas: lo primero es dejar de aceptar, con servidor.close()"
            )
        if any(waits):
            raise Failure(
                "llamaste a servidor.wait_closed() con peticiones aún en curso: desde Python "
                "3.12 espera a que terminen todas las conexiones, así que se quedaría esperando "
                "a las lentas. close() va al principio; wait_closed(), al final, cuando ya no "
                "quede nada en curso"
            )
        # Cada manejador anota lo que pasó con su petición un paso del bucle después.
        await wait_until(lambda: checked.settled, within=1.0)
        if returned != checked.cancelled:
            raise Failure(
                f"devolviste {returned!r}, pero el servidor vio "
                f"{plural(checked.cancelled, 'petición cancelada', 'peticiones canceladas')}: "
                "devuelve cuántas cancelaste tú, contándolas"
            )
    finally:
        for client in clients:
            client.cancel()
        await asyncio.gather(*clients, return_exceptions=True)
        await checked.close()


async def _check_early_round(candidate: Any) -> None:
    """Ronda 2: todo termina mucho antes del plazo; hay que volver en cuanto termina."""
    fast = [round(random.uniform(0.1, 0.25), 2) for _ in range(random.randint(1, 2))]
    checked = _RequestServer()
    address = await checked.start()
    clients = [asyncio.ensure_future(_client(address, s)) for s in fast]
    try:
        if not await wait_until(lambda: checked.started >= len(fast), within=3.0):
            raise Failure("la comprobación no pudo preparar sus clientes: vuelve a intentarlo")
        assert checked.server is not None
        call = await _call_bounded(
            candidate, (checked.server, checked.in_flight, EARLY_PLAZO), max(fast) + 1.0
        )
        last = max(checked.finished_at, default=call.ended)
        if call.cut or call.ended > last + MARGIN:
            until = (
                f"seguía esperando a los {format_duration(call.elapsed)}, cuando la cortamos"
                if call.cut
                else f"no volvió hasta los {format_duration(call.elapsed)}"
            )
            raise Failure(
                f"con plazo={EARLY_PLAZO:g} s y peticiones de "
                f"{', '.join(f'{s:g} s' for s in fast)}, todas terminaron a los "
                f"{format_duration(last - call.began)}, y tu función {until}: el plazo es "
                "un máximo, no una espera "
                "fija. Vuelve en cuanto no quede nada en curso: asyncio.wait(en_curso, "
                "timeout=plazo) lo hace solo"
            )
        returned = _raise_for_outcome(call.task)
        answers = [await c for c in clients]
        await wait_until(lambda: checked.settled, within=1.0)
        if any(a != b"hecho\n" for a in answers) or checked.cancelled:
            raise Failure(
                f"con plazo={EARLY_PLAZO:g} s, abandonaste o cancelaste peticiones que "
                f"duraban {', '.join(f'{s:g} s' for s in fast)}: no canceles nada antes de "
                "que venza el plazo"
            )
        if returned != 0:
            raise Failure(
                f"con plazo={EARLY_PLAZO:g} s no había nada que cancelar, y devolviste "
                f"{returned!r}: devuelve cuántas cancelaste tú, contándolas"
            )
    finally:
        for client in clients:
            client.cancel()
        await asyncio.gather(*clients, return_exceptions=True)
        await checked.close()


async def _cancels_everything(
    servidor: asyncio.Server, en_curso: set[asyncio.Task], plazo: float
) -> int:
    # «Apagar es cancelar»: lo que iba a terminar en 0.2 s se pierde también.
    servidor.close()
    pendientes = set(en_curso)
    for tarea in pendientes:
        tarea.cancel()
    await asyncio.wait(pendientes)
    return len(pendientes)


async def _waits_forever(
    servidor: asyncio.Server, en_curso: set[asyncio.Task], plazo: float
) -> int:
    # Espera a todo, sin límite: una petición lenta cuelga el apagado.
    servidor.close()
    await asyncio.wait(en_curso)
    return 0


async def _keeps_accepting(
    servidor: asyncio.Server, en_curso: set[asyncio.Task], plazo: float
) -> int:
    _, pendientes = await asyncio.wait(en_curso, timeout=plazo)
    for tarea in pendientes:
        tarea.cancel()
    await asyncio.wait(pendientes)
    servidor.close()  # demasiado tarde: durante el plazo entraban clientes nuevos
    return len(pendientes)


async def _does_not_wait_for_the_cancelled(
    servidor: asyncio.Server, en_curso: set[asyncio.Task], plazo: float
) -> int:
    servidor.close()
    _, pendientes = await asyncio.wait(en_curso, timeout=plazo)
    for tarea in pendientes:
        tarea.cancel()  # y se va sin esperar a que terminen de cancelarse
    return len(pendientes)


async def _gather_falls_with_a_reset(
    servidor: asyncio.Server, en_curso: set[asyncio.Task], plazo: float
) -> int:
    servidor.close()
    tareas = list(en_curso)
    try:
        async with asyncio.timeout(plazo):
            await asyncio.gather(*tareas)  # el error de un cliente sale por aquí
    except TimeoutError:
        pass
    return sum(t.cancelled() for t in tareas)


async def _sleeps_the_deadline(
    servidor: asyncio.Server, en_curso: set[asyncio.Task], plazo: float
) -> int:
    servidor.close()
    time.sleep(plazo)  # noqa: ASYNC251 (a propósito: «le doy su plazo»... con el bucle parado)
    pendientes = {t for t in en_curso if not t.done()}
    for tarea in pendientes:
        tarea.cancel()
    await asyncio.wait(pendientes)
    return len(pendientes)


async def _guesses_the_count(
    servidor: asyncio.Server, en_curso: set[asyncio.Task], plazo: float
) -> int:
    servidor.close()
    habia = len(en_curso)  # las que había al empezar, no las que se cancelan
    _, pendientes = await asyncio.wait(en_curso, timeout=plazo)
    for tarea in pendientes:
        tarea.cancel()
    await asyncio.wait(pendientes)
    return habia


async def _doubles_the_deadline(
    servidor: asyncio.Server, en_curso: set[asyncio.Task], plazo: float
) -> int:
    servidor.close()
    _, pendientes = await asyncio.wait(en_curso, timeout=plazo * 2)  # «por si acaso»
    for tarea in pendientes:
        tarea.cancel()
    if pendientes:
        await asyncio.wait(pendientes)
    return len(pendientes)


async def _stops_at_the_first_error(
    servidor: asyncio.Server, en_curso: set[asyncio.Task], plazo: float
) -> int:
    servidor.close()
    # El cliente que corta termina el plazo de todos.
    _, pendientes = await asyncio.wait(en_curso, timeout=plazo, return_when=asyncio.FIRST_EXCEPTION)
    for tarea in pendientes:
        tarea.cancel()
    if pendientes:
        await asyncio.wait(pendientes)
    return len(pendientes)


async def _always_waits_the_deadline(
    servidor: asyncio.Server, en_curso: set[asyncio.Task], plazo: float
) -> int:
    servidor.close()
    await asyncio.sleep(plazo)  # aunque todo haya terminado mucho antes
    pendientes = {t for t in en_curso if not t.done()}
    for tarea in pendientes:
        tarea.cancel()
    if pendientes:
        await asyncio.wait(pendientes)
    return len(pendientes)


async def _waits_closed_first(
    servidor: asyncio.Server, en_curso: set[asyncio.Task], plazo: float
) -> int:
    servidor.close()
    await servidor.wait_closed()  # en 3.12+ espera a todas las conexiones: se cuelga
    pendientes: set[asyncio.Task] = set()
    if en_curso:
        _, pendientes = await asyncio.wait(en_curso, timeout=plazo)
    for tarea in pendientes:
        tarea.cancel()
    if pendientes:
        await asyncio.wait(pendientes)
    return len(pendientes)


register(
    Exercise(
        key="09.1",
        title="Un servidor que se apaga en orden",
        function_name="apagar_en_orden",
        checker=_check_apagar_en_orden,
        solution=apagar_en_orden,
        wrong=(
            Wrong(_guesses_the_count, Mistake.NO_WORK, "devuelve cuántas cancelaste tú"),
            Wrong(_does_not_wait_for_the_cancelled, Mistake.LEFT_OPEN, "sin terminar"),
            Wrong(_sleeps_the_deadline, Mistake.BLOCKING, "congeló el bucle"),
            Wrong(_cancels_everything, Mistake.PROTOCOL, "abandonaste"),
            Wrong(_waits_forever, Mistake.PROTOCOL, "pasado el plazo"),
            Wrong(_keeps_accepting, Mistake.PROTOCOL, "seguía aceptando"),
            Wrong(_gather_falls_with_a_reset, Mistake.SERVER_FALLS, "cortó la conexión"),
            Wrong(_doubles_the_deadline, Mistake.PROTOCOL, "la cancelación les llegó"),
            Wrong(_stops_at_the_first_error, Mistake.PROTOCOL, "FIRST_EXCEPTION"),
            Wrong(_always_waits_the_deadline, Mistake.PROTOCOL, "no una espera fija"),
            Wrong(_waits_closed_first, Mistake.PROTOCOL, "wait_closed() con peticiones"),
        ),
        applies=frozenset(
            {
                Mistake.NO_WORK,
                Mistake.LEFT_OPEN,
                Mistake.BLOCKING,
                Mistake.PROTOCOL,
                Mistake.SERVER_FALLS,
            }
        ),
    )
)


# -- 09.2: una llamada bloqueante con un plazo de verdad -----------------------------------

SLOW_2 = 5.0  # lo que tarda la petición que no debe esperarse
PLAZO_2 = 0.5  # lo bastante para que el doble (1 s) se distinga de plazo + MARGIN
CANCEL_AFTER = 0.2
GONE_WITHIN = 0.5  # lo que puede tardar el hilo en irse tras el plazo o la cancelación
CANCEL_PLAZO = 1.5  # el plazo de la llamada que cancelamos: más que CANCEL_AFTER + GONE_WITHIN


async def pedir_con_plazo(direccion: tuple[str, int], segundos: float, plazo: float) -> str:
    """Devuelve la respuesta de `slow_request` en un hilo; TimeoutError si pasa `plazo` s.

    Tanto si vence el plazo como si nos cancelan, el hilo se entera y termina enseguida.
    """
    parar = threading.Event()
    try:
        async with asyncio.timeout(plazo):
            return await asyncio.to_thread(slow_request, direccion, segundos, stop=parar)
    finally:
        parar.set()  # el hilo lo mira cada 0.05 s; tras una respuesta no hace nada


async def _thread_gone(server: SlowServer, what: str) -> None:
    """Lanza `Failure` si la conexión del hilo sigue abierta `GONE_WITHIN` s después."""
    if not await wait_until(lambda: not server.stats.active, within=GONE_WITHIN):
        raise Failure(
            f"{what}, pero {GONE_WITHIN} s después el hilo seguía vivo, esperando la "
            "respuesta con su socket abierto: un hilo no se cancela. Pásale a slow_request un "
            "threading.Event (stop=...) y ponlo (set()) cuando la espera termine, pase lo "
            "que pase: en un finally"
        )


async def _check_pedir_con_plazo(candidate: Any) -> None:
    server = SlowServer()
    with BackgroundServer(server) as background, spy_writers(background.address) as writers:
        address = background.address
        # 1. una petición corta, con plazo de sobra: la respuesta del servidor
        seconds = round(random.uniform(0.1, 0.25), 2)
        first = await _call_bounded(candidate, (address, seconds, 3.0), 4.0)
        if first.cut:
            raise Failure(
                f"con plazo=3 s y una petición de {seconds:g} s, tu función seguía esperando a "
                f"los {format_duration(first.elapsed)}, cuando la cortamos: devuelve la "
                "respuesta en cuanto llegue"
            )
        got = _raise_for_outcome(first.task)
        # El hilo del servidor cuenta la respuesta tras enviarla: el cliente puede ir antes.
        await wait_until(lambda: server.finished >= 1, within=1.0)
        if writers.opened:
            raise Failure(
                f"abriste {plural(writers.opened, 'conexión')} con asyncio.open_connection: "
                "funciona, pero el ejercicio es llevar una llamada bloqueante a un hilo: usa "
                "slow_request en asyncio.to_thread"
            )
        if got == f"hecho {seconds:g}" and server.finished != 1:
            raise Failure(
                f"devolviste {got!r}, pero el servidor no contestó ninguna petición: la "
                "respuesta no vino del servidor. Pídela con slow_request y devuelve lo que "
                "devuelva"
            )
        if got != f"hecho {seconds:g}":
            raise Failure(
                f"para una petición de {seconds:g} s se esperaba la respuesta del servidor, "
                f"'hecho {seconds:g}', y llegó {got!r}: devuelve lo que devuelve slow_request"
            )
        await _thread_gone(server, "devolvió la respuesta")
        # 2. una petición que tarda más que el plazo
        call = await _call_bounded(candidate, (address, SLOW_2, PLAZO_2), PLAZO_2 + 1.5)
        task, elapsed = call.task, call.elapsed
        if call.cut or not task.done() or (not task.cancelled() and task.exception() is None):
            if call.cut or not task.done():
                outcome = f"seguía esperando a los {format_duration(elapsed)}, cuando la cortamos"
            else:
                outcome = f"devolvió {task.result()!r} a los {format_duration(elapsed)}"
            raise Failure(
                f"con plazo={PLAZO_2} s y una petición de {SLOW_2:g} s, tu función {outcome}: "
                "no cumple el plazo. Rodea la espera con async with asyncio.timeout(plazo)"
            )
        if task.cancelled() or not isinstance(task.exception(), TimeoutError):
            _raise_for_outcome(task, hint=": al vencer el plazo se esperaba TimeoutError")
        if elapsed > PLAZO_2 + MARGIN:
            raise Failure(
                f"con plazo={PLAZO_2} s, tu función lanzó TimeoutError a los "
                f"{format_duration(elapsed)}, pasado el plazo: usa el plazo que recibes, "
                "async with asyncio.timeout(plazo), sin añadirle nada"
            )
        await _thread_gone(server, f"lanzó TimeoutError a los {format_duration(elapsed)}")
        # 3. nos cancelan mientras espera
        call = asyncio.ensure_future(call_coroutine(candidate, address, SLOW_2, CANCEL_PLAZO))
        await asyncio.sleep(CANCEL_AFTER)
        if call.done():
            _raise_for_outcome(call)
            raise Failure(f"con una petición de {SLOW_2:g} s, tu función volvió antes de tiempo")
        call.cancel()
        done, _ = await asyncio.wait({call}, timeout=GONE_WITHIN + 1.0)
        if not done:
            raise Failure(
                "la cancelamos mientras esperaba y no terminó: deja que la CancelledError "
                "siga su camino"
            )
        if not call.cancelled():
            outcome = call.exception() or call.result()
            raise Failure(
                f"la cancelamos mientras esperaba y terminó con {outcome!r} en lugar de "
                "CancelledError: tragaste la cancelación. Quien cancela debe enterarse: no "
                "atrapes CancelledError (ni BaseException), o vuelve a lanzarla"
            )
        await _thread_gone(server, "la cancelamos y terminó cancelada")


async def _only_asyncio_timeout(direccion: tuple[str, int], segundos: float, plazo: float) -> str:
    # Cumple el plazo... y deja el hilo esperando: nadie le dice que pare.
    async with asyncio.timeout(plazo):
        return await asyncio.to_thread(slow_request, direccion, segundos)


async def _socket_timeout_only(direccion: tuple[str, int], segundos: float, plazo: float) -> str:
    # El plazo va en el socket: vale para el plazo, pero una cancelación no lo acorta.
    return await asyncio.to_thread(slow_request, direccion, segundos, timeout=plazo)


async def _swallows_cancellation(direccion: tuple[str, int], segundos: float, plazo: float) -> str:
    parar = threading.Event()
    try:
        async with asyncio.timeout(plazo):
            return await asyncio.to_thread(slow_request, direccion, segundos, stop=parar)
    except asyncio.CancelledError:
        return "cancelada"  # «que no salga ningún error»
    finally:
        parar.set()


async def _calls_it_directly(direccion: tuple[str, int], segundos: float, plazo: float) -> str:
    # Con plazo en el socket y todo: pero espera en el hilo del bucle.
    return slow_request(direccion, segundos, timeout=plazo)


async def _with_streams(direccion: tuple[str, int], segundos: float, plazo: float) -> str:
    async with asyncio.timeout(plazo):
        reader, writer = await asyncio.open_connection(*direccion)
        try:
            writer.write(f"{segundos:g}\n".encode())
            await writer.drain()
            return (await reader.readline()).decode().strip()
        finally:
            writer.close()
            await writer.wait_closed()


async def _writes_the_answer(direccion: tuple[str, int], segundos: float, plazo: float) -> str:
    async with asyncio.timeout(plazo):
        await asyncio.sleep(segundos)
    return f"hecho {segundos:g}"


async def _stretches_the_deadline(direccion: tuple[str, int], segundos: float, plazo: float) -> str:
    parar = threading.Event()
    try:
        async with asyncio.timeout(plazo * 2):  # «un poco de margen»
            return await asyncio.to_thread(slow_request, direccion, segundos, stop=parar)
    finally:
        parar.set()


register(
    Exercise(
        key="09.2",
        title="Una llamada bloqueante con un plazo de verdad",
        function_name="pedir_con_plazo",
        checker=_check_pedir_con_plazo,
        solution=pedir_con_plazo,
        wrong=(
            Wrong(_writes_the_answer, Mistake.NO_WORK, "no vino del servidor"),
            Wrong(_only_asyncio_timeout, Mistake.LEFT_OPEN, "el hilo seguía vivo"),
            Wrong(_socket_timeout_only, Mistake.LEFT_OPEN, "la cancelamos y terminó cancelada"),
            Wrong(_with_streams, Mistake.WRONG_TOOL, "llevar una llamada bloqueante a un hilo"),
            Wrong(_calls_it_directly, Mistake.BLOCKING, "congeló el bucle"),
            Wrong(_swallows_cancellation, Mistake.PROTOCOL, "tragaste la cancelación"),
            Wrong(_stretches_the_deadline, Mistake.PROTOCOL, "usa el plazo que recibes"),
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


# -- 09.3: apagar un componente con un pool de procesos y uno de conexiones --------------

PLAZO_3 = 0.6
PROCESS_JOB = 1.3  # un trabajo en un proceso que sigue en marcha al vencer el plazo
DB_SLOW = 30  # segundos de pg_sleep: solo termina si alguien espera de más


async def cerrar_componente(
    trabajos: set[asyncio.Task], procesos: ProcessPoolExecutor, bd: Any, plazo: float
) -> None:
    """Espera como mucho `plazo` s a los trabajos, cancela el resto y cierra los dos pools.

    Primero los trabajos (usan los pools), luego los pools, sin congelar el bucle.
    """
    pendientes: set[asyncio.Task] = set()
    if trabajos:
        _, pendientes = await asyncio.wait(trabajos, timeout=plazo)
    for tarea in pendientes:
        tarea.cancel()  # asyncpg cancela también la consulta en el servidor
    if pendientes:
        await asyncio.wait(pendientes)
    await bd.close()  # ya nadie usa sus conexiones: se cierran de verdad
    # Un trabajo en marcha en un proceso no se cancela: se espera en un hilo, y lo que
    # quedaba en cola se descarta.
    await asyncio.to_thread(procesos.shutdown, wait=True, cancel_futures=True)


async def _fast_job(bd: Any, procesos: ProcessPoolExecutor, base: int) -> int:
    """Un trabajo corto del componente: base de datos, un proceso y base de datos otra vez."""
    loop = asyncio.get_running_loop()
    value = await bd.fetchval("SELECT $1::bigint FROM pg_sleep(0.15)", base)
    squared = await loop.run_in_executor(procesos, pow, value, 2)
    return await bd.fetchval("SELECT $1::bigint + 1", squared)


async def _slow_db_job(bd: Any, procesos: ProcessPoolExecutor, cancelled_at: list[float]) -> None:
    """Una consulta de `DB_SLOW` s; anota en `cancelled_at` cuándo le llega la cancelación.

    La consulta va en su propia tarea: así el instante es el de la cancelación, no el de
    después de que asyncpg la cancele en el servidor. Al cancelarse, recoge lo suyo con el
    pool de procesos (como un trabajo de verdad que guarda su estado): quien cierra los
    pools sin esperar a que los trabajos cancelados terminen se lo encuentra cerrado.
    """
    query = asyncio.ensure_future(bd.execute(f"SELECT pg_sleep({DB_SLOW})"))
    try:
        await asyncio.wait({query})
    except asyncio.CancelledError:
        loop = asyncio.get_running_loop()
        cancelled_at.append(loop.time())
        query.cancel()
        await asyncio.wait({query})
        await asyncio.sleep(CLEANUP)
        await loop.run_in_executor(procesos, pow, 2, 2)
        raise
    query.result()


class _BadData(ValueError):
    """El error del trabajo que falla: el apagado no debe caerse por él."""


async def _failing_job() -> None:
    await asyncio.sleep(0.1)
    raise _BadData("un trabajo con datos malos")


async def _slow_process_job(procesos: ProcessPoolExecutor) -> None:
    await asyncio.get_running_loop().run_in_executor(procesos, time.sleep, PROCESS_JOB)


@contextlib.asynccontextmanager
async def _component(dsn: str, app: str) -> AsyncIterator[tuple[Any, ProcessPoolExecutor]]:
    """Crea los dos pools (calentados) y, al final, los cierra si el alumno no lo hizo."""
    asyncpg = lesson07.asyncpg
    bd = await asyncpg.create_pool(
        dsn, min_size=2, max_size=4, server_settings={"application_name": app}
    )
    procesos = ProcessPoolExecutor(max_workers=2)
    loop = asyncio.get_running_loop()
    try:
        await asyncio.gather(*(loop.run_in_executor(procesos, pow, 2, 2) for _ in range(2)))
        yield bd, procesos
    finally:
        bd.terminate()
        workers = list((getattr(procesos, "_processes", None) or {}).values())
        procesos.shutdown(wait=False, cancel_futures=True)
        for worker in workers:
            if worker.is_alive():
                worker.kill()
        await asyncio.to_thread(procesos.shutdown, wait=True)


async def _check_cerrar_componente(candidate: Any) -> None:
    lesson07._import_libraries()
    app = f"curso093_{random.randrange(16**8):08x}"
    async with lesson07._postgres() as dsn, _component(dsn, app) as (bd, procesos):
        workers = list((getattr(procesos, "_processes", None) or {}).values())
        bases = [random.randint(10, 10_000) for _ in range(random.randint(1, 2))]
        fast = [asyncio.ensure_future(_fast_job(bd, procesos, b)) for b in bases]
        cancelled_at: list[float] = []
        slow = [
            asyncio.ensure_future(_slow_db_job(bd, procesos, cancelled_at)),
            asyncio.ensure_future(_slow_process_job(procesos)),
        ]
        failing = asyncio.ensure_future(_failing_job())
        jobs = set(fast) | set(slow) | {failing}
        try:
            await asyncio.sleep(0.05)  # que todo esté en marcha
            # Al volver, no un rato después: el trabajo del proceso termina solo al cabo de poco.
            call = await _call_bounded(
                candidate,
                (jobs, procesos, bd, PLAZO_3),
                PLAZO_3 + 1.6,
                on_return=lambda: (
                    [j for j in jobs if not j.done()],
                    sum(w.is_alive() for w in workers),
                ),
            )
            task = call.task
            still, alive = call.at_return or ([j for j in jobs if not j.done()], 0)
            if call.cut:
                raise Failure(
                    f"con plazo={PLAZO_3} s, tu función seguía esperando a los "
                    f"{format_duration(call.elapsed)}, pasado el plazo: un trabajo espera una "
                    f"consulta de {DB_SLOW} s. Espera a los trabajos con un límite "
                    "(asyncio.wait(trabajos, timeout=plazo)), cancela los que queden y solo "
                    "entonces cierra los pools (bd.close() espera a que se devuelvan todas sus "
                    "conexiones)"
                )
            if not task.cancelled() and isinstance(task.exception(), _BadData):
                raise Failure(
                    f"tu función se cayó con ValueError ({task.exception()}): uno de los "
                    "trabajos falló, y su error salió por tu función (¿gather sin "
                    "return_exceptions?). El fallo de un trabajo no debe tumbar el apagado: "
                    "asyncio.wait no lanza los errores de las tareas"
                )
            _raise_for_outcome(task)
            for job, base in zip(fast, bases, strict=True):
                if job.cancelled():
                    raise Failure(
                        "cancelaste un trabajo que habría terminado dentro del plazo (duraba "
                        "unos 0.2 s): no canceles nada antes de que venza el plazo"
                    )
                if job.done() and job.exception() is not None:
                    error = job.exception()
                    raise Failure(
                        f"un trabajo que estaba a medias falló con {type(error).__name__} "
                        f"({error}): cerraste un pool mientras el trabajo aún lo usaba. "
                        "Primero los trabajos (esperar, cancelar lo que quede), luego los pools"
                    )
                if job.done() and job.result() != base**2 + 1:
                    raise Failure(f"un trabajo devolvió {job.result()!r}: ¿tocaste sus datos?")
            if still and not any(j.cancelling() for j in still):
                left = plural(len(still), "trabajo seguía", "trabajos seguían")
                raise Failure(
                    f"al volver tu función, {left} en curso y nadie lo"
                    f"{'' if len(still) == 1 else 's'} había cancelado: lo que no termina "
                    "dentro del plazo se cancela (tarea.cancel()) y se espera a que termine "
                    "(await asyncio.wait(pendientes)); luego, los pools"
                )
            if still:
                left = plural(len(still), "trabajo seguía", "trabajos seguían")
                raise Failure(
                    f"al volver tu función, {left} sin terminar: tras cancel(), espera a que "
                    "terminen de cancelarse (await asyncio.wait(pendientes)) antes de "
                    "cerrar los pools"
                )
            if cancelled_at and cancelled_at[0] > call.began + PLAZO_3 + MARGIN:
                raise Failure(
                    f"con plazo={PLAZO_3} s, la cancelación le llegó al trabajo de la consulta "
                    f"lenta a los {format_duration(cancelled_at[0] - call.began)}, pasado el "
                    "plazo: usa el plazo que recibes (asyncio.wait(trabajos, timeout=plazo)) y "
                    "cancela lo que quede en cuanto venza, antes de cerrar los pools (cerrar el "
                    "de procesos espera a su trabajo en marcha)"
                )
            cleanup = slow[0]
            if cleanup.done() and not cleanup.cancelled() and cleanup.exception() is not None:
                error = cleanup.exception()
                raise Failure(
                    f"un trabajo cancelado falló con {type(error).__name__} ({error}) mientras "
                    "recogía lo suyo: cerraste un pool sin esperar a que los trabajos "
                    "cancelados terminaran. Tras cancel(), espera a que terminen (await "
                    "asyncio.wait(pendientes)) y solo entonces cierra los pools"
                )
            if alive and not getattr(procesos, "_shutdown_thread", True):
                raise Failure(
                    f"al volver tu función, {plural(alive, 'proceso', 'procesos')} del pool "
                    f"seguía{'' if alive == 1 else 'n'} vivo{'' if alive == 1 else 's'}: no "
                    "cerraste el pool de procesos. Ciérralo esperando a su trabajo en marcha sin "
                    "congelar el bucle: "
                    "await asyncio.to_thread(procesos.shutdown, wait=True, cancel_futures=True)"
                )
            if alive:
                raise Failure(
                    f"al volver tu función, {plural(alive, 'proceso', 'procesos')} del pool "
                    f"seguía{'' if alive == 1 else 'n'} vivo{'' if alive == 1 else 's'}: "
                    "shutdown(wait=False) no espera a los trabajos en marcha (un trabajo de un "
                    "proceso no se cancela); y si luego vuelves a llamar a shutdown(), esa "
                    "segunda llamada ya no espera a nada (el pool soltó sus procesos en la "
                    "primera). Espera a que terminen sin congelar el bucle, con una sola llamada: "
                    "await asyncio.to_thread(procesos.shutdown, wait=True, cancel_futures=True)"
                )
            await _expect_database_closed(dsn, app)
        finally:
            for job in jobs:
                job.cancel()
            await asyncio.wait(jobs, timeout=2.0)
            for job in jobs:  # vistos: que no salga «Task exception was never retrieved»
                if job.done() and not job.cancelled():
                    job.exception()


async def _expect_database_closed(dsn: str, app: str) -> None:
    """Lanza `Failure` si al volver quedan consultas o conexiones del componente abiertas."""
    conn = await lesson07.asyncpg.connect(dsn)
    try:

        async def seen() -> tuple[int, int]:
            rows = await conn.fetch(
                "SELECT state, query FROM pg_stat_activity WHERE application_name = $1", app
            )
            active = sum(r["state"] == "active" and "pg_sleep" in r["query"] for r in rows)
            return active, len(rows)

        deadline = time.perf_counter() + 1.0
        active, connections = await seen()
        while connections and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
            active, connections = await seen()
    finally:
        await conn.close()
    if active:
        raise Failure(
            "al volver tu función, la consulta lenta seguía activa en PostgreSQL "
            "(pg_stat_activity): cancela la tarea que la espera, y asyncpg la cancela en el "
            "servidor"
        )
    if connections:
        raise Failure(
            f"al volver tu función, PostgreSQL tenía "
            f"{plural(connections, 'conexión abierta', 'conexiones abiertas')} del pool de "
            "asyncpg: ciérralo con await bd.close() cuando los trabajos hayan terminado"
        )


async def _everything_at_once(
    trabajos: set[asyncio.Task], procesos: ProcessPoolExecutor, bd: Any, plazo: float
) -> None:
    for tarea in trabajos:
        tarea.cancel()  # sin plazo para nadie
    await asyncio.wait(trabajos)
    await bd.close()
    await asyncio.to_thread(procesos.shutdown, wait=True, cancel_futures=True)


async def _pools_first(
    trabajos: set[asyncio.Task], procesos: ProcessPoolExecutor, bd: Any, plazo: float
) -> None:
    # Orden al revés: el pool de procesos se cierra con trabajos que aún lo necesitan.
    await asyncio.to_thread(procesos.shutdown, wait=True, cancel_futures=True)
    _, pendientes = await asyncio.wait(trabajos, timeout=plazo)
    for tarea in pendientes:
        tarea.cancel()
    if pendientes:
        await asyncio.wait(pendientes)
    await bd.close()


async def _no_deadline(
    trabajos: set[asyncio.Task], procesos: ProcessPoolExecutor, bd: Any, plazo: float
) -> None:
    await asyncio.wait(trabajos)  # espera a la consulta de 30 s
    await bd.close()
    await asyncio.to_thread(procesos.shutdown, wait=True, cancel_futures=True)


async def _blocking_shutdown(
    trabajos: set[asyncio.Task], procesos: ProcessPoolExecutor, bd: Any, plazo: float
) -> None:
    _, pendientes = await asyncio.wait(trabajos, timeout=plazo)
    for tarea in pendientes:
        tarea.cancel()
    if pendientes:
        await asyncio.wait(pendientes)
    await bd.close()
    procesos.shutdown(wait=True, cancel_futures=True)  # espera al proceso en el bucle


async def _does_not_wait_for_workers(
    trabajos: set[asyncio.Task], procesos: ProcessPoolExecutor, bd: Any, plazo: float
) -> None:
    _, pendientes = await asyncio.wait(trabajos, timeout=plazo)
    for tarea in pendientes:
        tarea.cancel()
    if pendientes:
        await asyncio.wait(pendientes)
    await bd.close()
    procesos.shutdown(wait=False, cancel_futures=True)  # el proceso sigue con lo suyo


async def _database_left_open(
    trabajos: set[asyncio.Task], procesos: ProcessPoolExecutor, bd: Any, plazo: float
) -> None:
    _, pendientes = await asyncio.wait(trabajos, timeout=plazo)
    for tarea in pendientes:
        tarea.cancel()
    if pendientes:
        await asyncio.wait(pendientes)
    await asyncio.to_thread(procesos.shutdown, wait=True, cancel_futures=True)  # y bd, abierto


async def _fixed_grace(
    trabajos: set[asyncio.Task], procesos: ProcessPoolExecutor, bd: Any, plazo: float
) -> None:
    _, pendientes = await asyncio.wait(trabajos, timeout=1.5)  # un plazo fijo, no el recibido
    for tarea in pendientes:
        tarea.cancel()
    if pendientes:
        await asyncio.wait(pendientes)
    await bd.close()
    await asyncio.to_thread(procesos.shutdown, wait=True, cancel_futures=True)


async def _pools_before_cancelling(
    trabajos: set[asyncio.Task], procesos: ProcessPoolExecutor, bd: Any, plazo: float
) -> None:
    _, pendientes = await asyncio.wait(trabajos, timeout=plazo)
    # Espera al trabajo del proceso mientras la consulta lenta sigue sin cancelar.
    await asyncio.to_thread(procesos.shutdown, wait=True, cancel_futures=True)
    for tarea in pendientes:
        tarea.cancel()
    if pendientes:
        await asyncio.wait(pendientes)
    await bd.close()


async def _falls_with_a_job(
    trabajos: set[asyncio.Task], procesos: ProcessPoolExecutor, bd: Any, plazo: float
) -> None:
    try:
        async with asyncio.timeout(plazo):
            await asyncio.gather(*trabajos)  # el error de un trabajo sale por aquí
    except TimeoutError:
        pass
    await bd.close()
    await asyncio.to_thread(procesos.shutdown, wait=True, cancel_futures=True)


async def _cancels_without_waiting(
    trabajos: set[asyncio.Task], procesos: ProcessPoolExecutor, bd: Any, plazo: float
) -> None:
    _, pendientes = await asyncio.wait(trabajos, timeout=plazo)
    for tarea in pendientes:
        tarea.cancel()  # y a cerrar, sin esperar a que terminen de cancelarse
    await asyncio.to_thread(procesos.shutdown, wait=True, cancel_futures=True)
    await bd.close()


register(
    Exercise(
        key="09.3",
        title="Apagar un componente con un pool de procesos y uno de conexiones",
        function_name="cerrar_componente",
        checker=_check_cerrar_componente,
        solution=cerrar_componente,
        wrong=(
            Wrong(_does_not_wait_for_workers, Mistake.LEFT_OPEN, "shutdown(wait=False) no espera"),
            Wrong(_database_left_open, Mistake.LEFT_OPEN, "del pool de asyncpg"),
            Wrong(_blocking_shutdown, Mistake.BLOCKING, "congeló el bucle"),
            Wrong(_everything_at_once, Mistake.PROTOCOL, "habría terminado dentro del plazo"),
            Wrong(_pools_first, Mistake.PROTOCOL, "cerraste un pool mientras"),
            Wrong(_fixed_grace, Mistake.PROTOCOL, "la cancelación le llegó"),
            Wrong(_pools_before_cancelling, Mistake.PROTOCOL, "la cancelación le llegó"),
            Wrong(_falls_with_a_job, Mistake.PROTOCOL, "return_exceptions"),
            Wrong(_cancels_without_waiting, Mistake.PROTOCOL, "mientras recogía lo suyo"),
            Wrong(_no_deadline, Mistake.PROTOCOL, "pasado el plazo"),
        ),
        applies=frozenset({Mistake.LEFT_OPEN, Mistake.BLOCKING, Mistake.PROTOCOL}),
        timeout=30.0,  # si no hay un PostgreSQL en marcha, arrancarlo en una máquina lenta
    )
)
