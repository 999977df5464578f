"""Ejercicios de la lección 03 (*sockets* estándar con `loop.sock_*`).

Las comprobaciones miran desde el otro lado: el servidor cuenta lo que recibió y envió, un
espía en el bucle cuenta las llamadas a `loop.sock_*` (y ve los *sockets* que pasan por
ellas) y otro espía cuenta los *streams* que se abren. Los búferes se achican a propósito
(`SO_SNDBUF` en los *sockets* del alumno, un cliente que tarda en leer) para que un `send`
a medias o un `sendall` en un *socket* no bloqueante fallen de verdad en cualquier máquina.
"""

import asyncio
import random
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ..background import BackgroundEchoServer, BackgroundServer
from ..lag import format_duration
from ..streamserver import StreamServer
from ..text import plural
from .calls import run_calls, sizes
from .core import (
    Exercise,
    Failure,
    Mistake,
    Wrong,
    call_coroutine,
    register,
    unpredictable,
    unpredictable_text,
)
from .lesson00 import pedir_eco
from .servers import HasStats, spy_writers, wait_until

__all__: list[str] = []


# -- utilidades de las comprobaciones de las lecciones 03 y 04 ------------------------------------


class Stall:
    """Dice si un contador dejó de moverse: `stuck(valor, tras)` es cierto si lleva `tras` s igual.

    Sirve para ver desde el servidor que una conversación ya no avanza (un envío a medias, un
    cliente que espera un cierre que no pedirá), sin esperar al plazo de la comprobación.
    """

    def __init__(self) -> None:
        self._value: Any = object()
        self._since = time.perf_counter()

    def stuck(self, value: Any, after: float) -> bool:
        """Devuelve True si `value` no ha cambiado en los últimos `after` segundos."""
        now = time.perf_counter()
        if value != self._value:
            self._value, self._since = value, now
            return False
        return now - self._since >= after


SOCK_READ_HINT = (
    "Un sock_recv(sock, n) devuelve lo que haya llegado ya, no el mensaje entero: sigue "
    "leyendo hasta tener todos los bytes que esperas"
)


def expect_echo(expected: bytes, got: Any, what: str, hint: str = SOCK_READ_HINT) -> None:
    """Lanza `Failure` si `got` no es `expected`; si es solo un trozo, dice que faltó leer.

    `hint` explica cómo leer el mensaje entero con la herramienta del ejercicio.
    """
    if got == expected:
        return
    if isinstance(got, bytes | bytearray) and got and expected.startswith(got):
        raise Failure(f"{what}: llegó solo una parte ({len(got)} de {len(expected)} bytes). {hint}")
    if isinstance(got, bytes | bytearray):
        raise Failure(
            f"{what}: llegaron {len(got)} bytes que no son el eco de los {len(expected)} "
            "enviados: devuelve la respuesta del servidor, entera y sin cambiar nada"
        )
    shown = repr(got) if len(repr(got)) < 60 else repr(got)[:55] + "…"
    raise Failure(f"{what}: se esperaban los {len(expected)} bytes del eco, llegó {shown}")


def close_quietly(sock: socket.socket) -> None:
    """Cierra `sock` si sigue abierto, a través de su transporte si un *stream* lo adoptó."""
    if sock.fileno() == -1:
        return
    # Cerrar el descriptor por debajo de un transporte vivo dejaría al selector del bucle
    # con un descriptor que ya no existe; abort() lo saca del selector y luego lo cierra.
    try:
        transports = getattr(asyncio.get_running_loop(), "_transports", {})
    except RuntimeError:
        transports = {}
    transport = transports.get(sock.fileno())
    if transport is not None:
        transport.abort()
    else:
        sock.close()


@dataclass
class SockSpy:
    """Las llamadas a `loop.sock_*` del bucle, y los *sockets* que pasaron por ellas."""

    calls: Counter[str] = field(default_factory=Counter)
    sockets: list[socket.socket] = field(default_factory=list)
    """Los *sockets* que el alumno conectó con `sock_connect` o recibió de `sock_accept`."""

    @property
    def reads(self) -> int:
        """Devuelve cuántas lecturas hubo, con `sock_recv` o `sock_recv_into`."""
        return self.calls["sock_recv"] + self.calls["sock_recv_into"]

    def still_open(self) -> list[socket.socket]:
        """Devuelve los *sockets* vistos que siguen abiertos."""
        return [s for s in self.sockets if s.fileno() != -1]

    def close_leftovers(self) -> None:
        """Cierra los *sockets* vistos que sigan abiertos; no devuelve nada."""
        for sock in self.still_open():
            close_quietly(sock)


_SOCK_METHODS = ("sock_connect", "sock_sendall", "sock_recv", "sock_recv_into", "sock_accept")


@contextmanager
def spy_sock_calls(
    on_socket: Callable[[socket.socket], None] = lambda sock: None,
) -> Iterator[SockSpy]:
    """Cuenta las llamadas a `loop.sock_*` del bucle en marcha mientras dura el bloque.

    Sustituye esos métodos en el propio objeto del bucle (el que devuelve
    `asyncio.get_running_loop()`), así que ve las llamadas del alumno sin cambiar lo que
    hacen. A cada *socket* que llega a `sock_connect` o sale de `sock_accept` le aplica
    `on_socket` (por ejemplo, para achicar su búfer) y lo guarda, con una referencia fuerte:
    uno que el alumno olvide cerrar sigue abierto, y se ve. Devuelve el `SockSpy`.
    """
    loop = asyncio.get_running_loop()
    spy = SockSpy()

    def seen(sock: socket.socket) -> None:
        if all(sock is not s for s in spy.sockets):
            spy.sockets.append(sock)
            try:
                on_socket(sock)
            except OSError:
                pass  # un socket ya cerrado o de otra familia: nada que ajustar

    def counting(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        if name == "sock_accept":

            async def accept(sock: socket.socket) -> Any:
                spy.calls[name] += 1
                client, address = await original(sock)
                seen(client)
                return client, address

            return accept

        def call(sock: socket.socket, *args: Any, **kwargs: Any) -> Any:
            spy.calls[name] += 1
            if name == "sock_connect":
                seen(sock)
            return original(sock, *args, **kwargs)

        return call

    patched = []
    for name in _SOCK_METHODS:
        try:
            setattr(loop, name, counting(name, getattr(loop, name)))
            patched.append(name)
        except AttributeError:  # un bucle que no deja (uvloop): sin espía
            break
    try:
        yield spy
    finally:
        for name in patched:
            delattr(loop, name)


def small_send_buffer(sock: socket.socket) -> None:
    """Achica el búfer de envío de `sock` (64 KiB): un envío grande ya no cabe de una vez."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)


# -- 03.1: el eco completo con loop.sock_* ------------------------------------------------------


class PausedEchoServer(StreamServer):
    """Eco que tarda `pause` segundos en empezar a leer cada conexión, y después lee sin parar.

    La pausa llena los búferes de quien envía mucho: un `sock.send` se queda a medias y un
    `sock.sendall` en un *socket* no bloqueante lanza `BlockingIOError`. Después lee todo y
    devuelve cada trozo sin esperar a `drain()` (el eco se acumula en memoria), para que un
    cliente que envía todo antes de leer no se quede esperando para siempre.
    """

    def __init__(self, pause: float) -> None:
        super().__init__()
        self.pause = pause

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> int:
        await asyncio.sleep(self.pause)
        total = 0
        while data := await reader.read(65536):
            self._counter.add("bytes_received", len(data))
            writer.write(data)
            self._counter.add("bytes_sent", len(data))
            total += len(data)
        await writer.drain()
        return total


PAUSE = 0.3
"""Lo que el eco de 03.1 tarda en empezar a leer: cualquier espera bloqueante cuesta esto."""
ECHO_DEADLINE = 5.0
STALL_AFTER = 0.6
"""Segundos sin que un contador del servidor se mueva para dar una conversación por atascada."""


async def pedir_eco_sock(direccion: tuple[str, int], mensaje: bytes) -> bytes:
    """Devuelve el eco completo de `mensaje`, usando solo `loop.sock_*`."""
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setblocking(False)  # antes de cualquier loop.sock_*
        await loop.sock_connect(sock, direccion)
        await loop.sock_sendall(sock, mensaje)  # espera, sin bloquear, si el búfer se llena
        # Un sock_recv devuelve lo que haya llegado: leemos hasta tener todo el eco.
        respuesta = bytearray()
        while len(respuesta) < len(mensaje):
            trozo = await loop.sock_recv(sock, min(len(mensaje) - len(respuesta), 65536))
            if not trozo:
                raise ConnectionError("el servidor cerró antes de devolver todo el eco")
            respuesta += trozo
        return bytes(respuesta)


async def _check_pedir_eco_sock(candidate: Any) -> None:
    # Al azar en cada comprobación: uno corto con tildes, uno mediano y uno de más de 1 MB, que
    # no cabe en los búferes mientras el servidor no lee, ni llega en un solo sock_recv.
    short, medium, big = sizes((10, 60), (900, 4000), (1_000_000, 1_300_000))
    messages = [unpredictable_text(short).encode(), unpredictable(medium), unpredictable(big)]
    total = sum(map(len, messages))
    server = PausedEchoServer(pause=PAUSE)
    with (
        BackgroundServer(server) as background,
        spy_writers(background.address) as writers,
        spy_sock_calls(on_socket=small_send_buffer) as spy,
    ):
        try:

            def on_timeout() -> str:
                received = server.stats.bytes_received
                if received < total:
                    return (
                        f"el servidor solo recibió {received} de los {total} bytes de tus "
                        "mensajes, y tu función sigue esperando un eco que no puede llegar. "
                        "sock.send() envía solo lo que cabe en el búfer y devuelve cuántos "
                        "bytes envió: usa await loop.sock_sendall(sock, mensaje)"
                    )
                return "¿lees más bytes de los que devuelve el eco? El eco mide lo que enviaste"

            stall, start = Stall(), time.perf_counter()

            def stalled() -> str:
                # Pasada la pausa del servidor, lo que falte por llegar ya no llegará si su
                # contador no se mueve: un sock.send() que envió solo una parte.
                received = server.stats.bytes_received
                waiting = time.perf_counter() - start > PAUSE + STALL_AFTER
                if waiting and received < total and stall.stuck(received, STALL_AFTER):
                    return f"tu función no terminó: {on_timeout()}"
                return ""

            got = await run_calls(
                candidate,
                [(background.address, message) for message in messages],
                ECHO_DEADLINE,
                on_timeout,
                stalled,
            )
            for message, echo in zip(messages, got, strict=True):
                expect_echo(message, echo, f"eco de un mensaje de {len(message)} bytes")
            received = server.stats.bytes_received
            if received != total:
                raise Failure(
                    f"el servidor recibió {plural(received, 'byte')}, y tus tres mensajes "
                    f"suman {total} bytes: la respuesta no vino del servidor. Envía cada "
                    "mensaje y devuelve lo que él conteste"
                )
            _expect_sock_tools(spy, writers.opened, len(messages))
            _expect_sockets_closed(spy)
        finally:
            spy.close_leftovers()
            for sock in _leaked:
                close_quietly(sock)
            _leaked.clear()
            await settle(server, spy.calls["sock_connect"])


async def settle(server: HasStats, connections: int = 0, within: float = 1.0) -> None:
    """Espera a que `server` haya atendido y cerrado `connections` conexiones, o `within` s.

    Si la función del alumno conecta y vuelve enseguida, detener el servidor en ese instante
    dejaría *sockets* recién aceptados sin atender, y sus `ResourceWarning` se le achacarían
    al alumno. No lanza nada.
    """
    await wait_until(
        lambda: server.stats.connections >= connections and not server.stats.active, within
    )


def _expect_sock_tools(spy: SockSpy, streams: int, calls: int) -> None:
    """Lanza `Failure` si el trabajo no se hizo con `loop.sock_*` (otra herramienta)."""
    if streams:
        raise Failure(
            f"abriste {plural(streams, 'conexión')} con asyncio.open_connection: el eco llegó, "
            "pero este ejercicio pide el camino de los sockets, sin streams: socket.socket(), "
            "setblocking(False) y loop.sock_connect, sock_sendall y sock_recv"
        )
    missing = [
        name
        for name, count in (
            ("loop.sock_connect", spy.calls["sock_connect"]),
            ("loop.sock_sendall", spy.calls["sock_sendall"]),
            ("loop.sock_recv", spy.reads),
        )
        if count < calls
    ]
    if missing:
        raise Failure(
            f"para {plural(calls, 'llamada')}, no usaste {' ni '.join(missing)} en cada una "
            f"(conectar: {spy.calls['sock_connect']}, enviar: {spy.calls['sock_sendall']}, "
            f"leer: {spy.reads}). El ejercicio pide loop.sock_*: socket.create_connection "
            "conecta de forma bloqueante, y un hilo o sock.recv no son este camino"
        )


def _expect_sockets_closed(spy: SockSpy) -> None:
    """Lanza `Failure` si algún *socket* del alumno seguía abierto al terminar su función."""
    left = spy.still_open()
    if left:
        raise Failure(
            f"{plural(len(left), 'socket seguía abierto', 'sockets seguían abiertos')} cuando "
            "tu función terminó: ciérralo pase lo que pase, con «with socket.socket() as sock:» "
            "(o sock.close() en un finally)"
        )


# Sockets que los errores típicos dejan abiertos a propósito: la comprobación los cierra.
_leaked: list[socket.socket] = []


async def _returns_the_message(direccion: tuple[str, int], mensaje: bytes) -> bytes:
    return mensaje  # «un eco devuelve lo mismo»: sin hablar con el servidor


async def _connects_without_sending(direccion: tuple[str, int], mensaje: bytes) -> bytes:
    loop = asyncio.get_running_loop()
    with socket.socket() as sock:
        sock.setblocking(False)
        await loop.sock_connect(sock, direccion)
    return mensaje


async def _one_recv(direccion: tuple[str, int], mensaje: bytes) -> bytes:
    # El ejemplo del guion original: una sola lectura, aunque sea «de sobra».
    loop = asyncio.get_running_loop()
    with socket.socket() as sock:
        sock.setblocking(False)
        await loop.sock_connect(sock, direccion)
        await loop.sock_sendall(sock, mensaje)
        return await loop.sock_recv(sock, len(mensaje))


async def _send_ignores_its_result(direccion: tuple[str, int], mensaje: bytes) -> bytes:
    # sock.send() devuelve cuántos bytes envió; aquí nadie lo mira.
    loop = asyncio.get_running_loop()
    with socket.socket() as sock:
        sock.setblocking(False)
        await loop.sock_connect(sock, direccion)
        sock.send(mensaje)
        await loop.sock_sendall(sock, b"")  # «ya está todo enviado»
        datos = b""
        while len(datos) < len(mensaje):
            trozo = await loop.sock_recv(sock, 65536)
            if not trozo:
                break
            datos += trozo
        return datos


async def _sendall_on_a_non_blocking_socket(direccion: tuple[str, int], mensaje: bytes) -> bytes:
    loop = asyncio.get_running_loop()
    with socket.socket() as sock:
        sock.setblocking(False)
        await loop.sock_connect(sock, direccion)
        sock.sendall(mensaje)  # con el búfer lleno: BlockingIOError a medio camino
        await loop.sock_sendall(sock, b"")
        datos = b""
        while len(datos) < len(mensaje):
            datos += await loop.sock_recv(sock, 65536)
        return datos


async def _never_closes(direccion: tuple[str, int], mensaje: bytes) -> bytes:
    loop = asyncio.get_running_loop()
    sock = socket.socket()  # sin with ni close()
    sock.setblocking(False)
    await loop.sock_connect(sock, direccion)
    await loop.sock_sendall(sock, mensaje)
    datos = b""
    while len(datos) < len(mensaje):
        datos += await loop.sock_recv(sock, 65536)
    _leaked.append(sock)
    return datos


async def _with_streams(direccion: tuple[str, int], mensaje: bytes) -> bytes:
    return await pedir_eco(direccion, mensaje)  # la solución de la 00.1, con streams


async def _in_a_thread(direccion: tuple[str, int], mensaje: bytes) -> bytes:
    def blocking() -> bytes:
        with socket.create_connection(direccion, timeout=5) as sock:
            sock.sendall(mensaje)
            datos = b""
            while len(datos) < len(mensaje):
                datos += sock.recv(65536)
            return datos

    return await asyncio.to_thread(blocking)


async def _left_blocking(direccion: tuple[str, int], mensaje: bytes) -> bytes:
    # Sin setblocking(False): cada sock_* espera al servidor con el bucle congelado.
    loop = asyncio.get_running_loop()
    with socket.socket() as sock:
        await loop.sock_connect(sock, direccion)
        await loop.sock_sendall(sock, mensaje)
        datos = b""
        while len(datos) < len(mensaje):
            datos += await loop.sock_recv(sock, 65536)
        return datos


async def _blocking_in_slices(direccion: tuple[str, int], mensaje: bytes) -> bytes:
    # «Cedo el bucle entre intento e intento»: cada llamada bloquea hasta 50 ms igualmente.
    loop = asyncio.get_running_loop()
    with socket.socket() as sock:
        sock.settimeout(0.05)
        await loop.sock_connect(sock, direccion)
        pendiente = memoryview(mensaje)
        while pendiente:
            try:
                pendiente = pendiente[sock.send(pendiente) :]
            except TimeoutError:
                await asyncio.sleep(0)
        datos = b""
        while len(datos) < len(mensaje):
            try:
                datos += await loop.sock_recv(sock, 65536)
            except TimeoutError:
                await asyncio.sleep(0)
        return datos


register(
    Exercise(
        key="03.1",
        title="El eco completo con loop.sock_*",
        function_name="pedir_eco_sock",
        checker=_check_pedir_eco_sock,
        solution=pedir_eco_sock,
        wrong=(
            Wrong(_returns_the_message, Mistake.NO_WORK, "no vino del servidor"),
            Wrong(_connects_without_sending, Mistake.NO_WORK, "no vino del servidor"),
            Wrong(_one_recv, Mistake.PARTIAL_IO, "llegó solo una parte"),
            Wrong(_send_ignores_its_result, Mistake.PARTIAL_IO, "envía solo lo que cabe"),
            Wrong(_sendall_on_a_non_blocking_socket, Mistake.PARTIAL_IO, "búfer de envío"),
            Wrong(_never_closes, Mistake.LEFT_OPEN, "cuando tu función terminó"),
            Wrong(_with_streams, Mistake.WRONG_TOOL, "sin streams"),
            Wrong(_in_a_thread, Mistake.WRONG_TOOL, "el ejercicio pide loop.sock_*"),
            Wrong(_left_blocking, Mistake.BLOCKING, "congeló el bucle"),
            Wrong(_blocking_in_slices, Mistake.BLOCKING, "congeló el bucle"),
        ),
        applies=frozenset(
            {
                Mistake.NO_WORK,
                Mistake.LEFT_OPEN,
                Mistake.PARTIAL_IO,
                Mistake.WRONG_TOOL,
                Mistake.BLOCKING,
            }
        ),
    )
)


# -- 03.2: un servidor con sock_accept ------------------------------------------------------------


async def servir_sock(escucha: socket.socket) -> None:
    """Acepta clientes en `escucha` y responde a cada línea con su longitud en bytes."""
    loop = asyncio.get_running_loop()

    async def atender(cliente: socket.socket) -> None:
        with cliente:  # se cierra al terminar, también si nos cancelan
            try:
                pendiente = b""
                while trozo := await loop.sock_recv(cliente, 65536):
                    pendiente += trozo
                    # Un trozo puede traer media línea, o varias: respondemos a las completas.
                    *lineas, pendiente = pendiente.split(b"\n")
                    for linea in lineas:
                        await loop.sock_sendall(cliente, b"%d\n" % len(linea))
            except Exception:
                # El error de un cliente (un reinicio, un fallo nuestro) se queda en su tarea:
                # un TaskGroup es todo o nada y, si lo dejáramos salir, tumbaría el servidor.
                pass  # un servidor de verdad lo anotaría con logging

    async with asyncio.TaskGroup() as tg:
        while True:
            cliente, _ = await loop.sock_accept(escucha)  # ya viene no bloqueante
            tg.create_task(atender(cliente))


def _lengths(data: bytes) -> list[bytes]:
    return [b"%d\n" % len(line) for line in data.split(b"\n")[:-1]]


async def _one_at_a_time(escucha: socket.socket) -> None:
    # Atiende a cada cliente hasta el final antes de aceptar al siguiente.
    loop = asyncio.get_running_loop()
    while True:
        cliente, _ = await loop.sock_accept(escucha)
        with cliente:
            try:
                pendiente = b""
                while trozo := await loop.sock_recv(cliente, 65536):
                    *lineas, pendiente = (pendiente + trozo).split(b"\n")
                    for linea in lineas:
                        await loop.sock_sendall(cliente, b"%d\n" % len(linea))
            except ConnectionError:
                pass


async def _chunk_is_a_line(escucha: socket.socket) -> None:
    # Trata cada sock_recv como si fuera una línea entera.
    loop = asyncio.get_running_loop()

    async def atender(cliente: socket.socket) -> None:
        with cliente:
            try:
                while trozo := await loop.sock_recv(cliente, 65536):
                    await loop.sock_sendall(cliente, b"%d\n" % len(trozo.rstrip(b"\n")))
            except ConnectionError:
                pass

    async with asyncio.TaskGroup() as tg:
        while True:
            cliente, _ = await loop.sock_accept(escucha)
            tg.create_task(atender(cliente))


async def _fixed_answers(escucha: socket.socket) -> None:
    # Responde b"4\n" a cada línea, como en el ejemplo del enunciado, sin medirla.
    loop = asyncio.get_running_loop()

    async def atender(cliente: socket.socket) -> None:
        with cliente:
            try:
                pendiente = b""
                while trozo := await loop.sock_recv(cliente, 65536):
                    *lineas, pendiente = (pendiente + trozo).split(b"\n")
                    for _ in lineas:
                        await loop.sock_sendall(cliente, b"4\n")
            except ConnectionError:
                pass

    async with asyncio.TaskGroup() as tg:
        while True:
            cliente, _ = await loop.sock_accept(escucha)
            tg.create_task(atender(cliente))


async def _sendall_on_non_blocking_clients(escucha: socket.socket) -> None:
    # «Las respuestas son cortas»: sendall directo. Con el búfer lleno, BlockingIOError.
    loop = asyncio.get_running_loop()

    async def atender(cliente: socket.socket) -> None:
        with cliente:
            try:
                pendiente = b""
                while trozo := await loop.sock_recv(cliente, 65536):
                    *lineas, pendiente = (pendiente + trozo).split(b"\n")
                    for linea in lineas:
                        cliente.sendall(b"%d\n" % len(linea))
            except Exception:
                pass

    async with asyncio.TaskGroup() as tg:
        while True:
            cliente, _ = await loop.sock_accept(escucha)
            tg.create_task(atender(cliente))


async def _keeps_clients_open(escucha: socket.socket) -> None:
    # Sin with: al recibir b"" deja de leer, pero no cierra el socket del cliente.
    loop = asyncio.get_running_loop()

    async def atender(cliente: socket.socket) -> None:
        _leaked.append(cliente)
        try:
            pendiente = b""
            while trozo := await loop.sock_recv(cliente, 65536):
                *lineas, pendiente = (pendiente + trozo).split(b"\n")
                for linea in lineas:
                    await loop.sock_sendall(cliente, b"%d\n" % len(linea))
        except Exception:
            pass

    async with asyncio.TaskGroup() as tg:
        while True:
            cliente, _ = await loop.sock_accept(escucha)
            tg.create_task(atender(cliente))


async def _with_streams_server(escucha: socket.socket) -> None:
    # Funciona, pero con start_server(sock=...): es el camino de los streams.
    async def atender(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while linea := await reader.readline():
                if linea.endswith(b"\n"):
                    writer.write(b"%d\n" % (len(linea) - 1))
                    await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(atender, sock=escucha)
    async with server:
        await server.serve_forever()


async def _blocking_handler(escucha: socket.socket) -> None:
    # «sock.recv lanzaba BlockingIOError», así que el cliente vuelve a ser bloqueante.
    loop = asyncio.get_running_loop()

    async def atender(cliente: socket.socket) -> None:
        with cliente:
            cliente.settimeout(5)
            try:
                pendiente = b""
                while trozo := cliente.recv(65536):
                    *lineas, pendiente = (pendiente + trozo).split(b"\n")
                    for linea in lineas:
                        cliente.sendall(b"%d\n" % len(linea))
            except OSError:
                pass

    async with asyncio.TaskGroup() as tg:
        while True:
            cliente, _ = await loop.sock_accept(escucha)
            tg.create_task(atender(cliente))


async def _taskgroup_without_isolation(escucha: socket.socket) -> None:
    # La versión de la lección antes de aislar a los clientes: un reinicio lo tumba todo.
    loop = asyncio.get_running_loop()

    async def atender(cliente: socket.socket) -> None:
        with cliente:
            pendiente = b""
            while trozo := await loop.sock_recv(cliente, 65536):
                *lineas, pendiente = (pendiente + trozo).split(b"\n")
                for linea in lineas:
                    await loop.sock_sendall(cliente, b"%d\n" % len(linea))

    async with asyncio.TaskGroup() as tg:
        while True:
            cliente, _ = await loop.sock_accept(escucha)
            tg.create_task(atender(cliente))


LINE_CLIENTS = 4
"""Clientes que envían líneas partidas de forma incómoda y esperan a la vez sus respuestas."""
MANY_LINES = 8_000
"""Líneas cortas que el cliente lento envía seguidas: sus respuestas desbordan los búferes."""
CLIENT_TIMEOUT = 3.0
BARRIER_TIMEOUT = 1.0
CLOSE_TIMEOUT = 1.0
PAUSE_MID_LINE = 0.3
SLOW_READER_PAUSE = 0.3
RESET_AFTER = 0.1


def _random_lines() -> list[bytes]:
    """Devuelve líneas al azar: la primera de 5 a 50 bytes, alguna vacía, con tildes."""
    lines = [unpredictable_text(random.randint(5, 50)).encode(), b""]
    lines += [unpredictable_text(random.randint(0, 3000)).encode() for _ in range(3)]
    return lines


def _client_socket(address: tuple[str, int]) -> socket.socket:
    return socket.create_connection(address, timeout=CLIENT_TIMEOUT)


def _expect_close(sock: socket.socket) -> str:
    """Cierra la escritura y espera el cierre del servidor; devuelve "" o qué falló."""
    sock.shutdown(socket.SHUT_WR)
    sock.settimeout(CLOSE_TIMEOUT)
    try:
        rest = sock.recv(1024)
    except TimeoutError:
        return (
            "un cliente cerró su escritura y el servidor no cerró la conexión: cuando "
            'sock_recv devuelva b"", cierra el socket de ese cliente (with cliente:)'
        )
    if rest:
        return f"tras las respuestas llegó {rest[:20]!r}, que sobra"
    return ""


def _line_client(address: tuple[str, int], barrier: threading.Barrier) -> str:
    """Envía líneas partidas y comprueba las respuestas; devuelve "" o qué falló."""
    lines = _random_lines()
    payload = b"".join(line + b"\n" for line in lines)
    expected = b"".join(_lengths(payload))
    try:
        with _client_socket(address) as sock:
            # Media línea, una pausa y el resto de golpe: el servidor recibe media línea, debe
            # esperar al resto, y luego le llegan varias líneas en un solo trozo.
            sock.sendall(payload[:2])
            time.sleep(PAUSE_MID_LINE)
            sock.sendall(payload[2:])
            got = b""
            try:
                while got.count(b"\n") < len(lines) and expected.startswith(got):
                    chunk = sock.recv(1024)
                    if not chunk:
                        break
                    got += chunk
            except TimeoutError:
                if expected.startswith(got):
                    barrier.abort()
                    answers = got.count(b"\n")
                    return (
                        f"un cliente esperó {format_duration(CLIENT_TIMEOUT)} sus respuestas y "
                        f"llegaron {answers} de {len(lines)}: ¿atiendes a un cliente cada vez, "
                        "o esperas más datos de la cuenta?"
                    )
            if got != expected:
                barrier.abort()
                return _wrong_answers(lines, got, half=len(payload[:2]))
            try:
                # Todos los clientes tienen ya su respuesta y siguen conectados.
                barrier.wait(BARRIER_TIMEOUT)
            except threading.BrokenBarrierError:
                return (
                    f"{LINE_CLIENTS} clientes conectados a la vez no recibieron sus respuestas "
                    "al mismo tiempo: ¿atiendes a un cliente cada vez? Lanza una tarea por "
                    "cliente, sin esperar a que termine para aceptar al siguiente"
                )
            return _expect_close(sock)
    except OSError as error:
        barrier.abort()
        return f"un cliente perdió la conexión: {type(error).__name__}: {error}"


def _wrong_answers(lines: list[bytes], got: bytes, half: int) -> str:
    """Explica unas respuestas equivocadas: media línea contada, o números que no son.

    `half` es cuántos bytes de la primera línea llegaron solos, antes de la pausa: una
    respuesta con ese número es la de un servidor que tomó ese trozo por una línea.
    """
    answers = got.split(b"\n")[:-1]
    sent = ", ".join(str(len(line)) for line in lines)
    shown = ", ".join(a.decode(errors="replace") for a in answers[: len(lines) + 1])
    if not answers or answers[0] != str(half).encode():
        return (
            f"un cliente envió líneas de {sent} bytes y recibió las respuestas {shown or '(nada)'}"
            ": cada respuesta es la longitud en bytes de su línea (sin el salto de línea), "
            "calculada con len() sobre los bytes recibidos"
        )
    return (
        f"un cliente envió {plural(len(lines), 'línea')} ({sent} bytes), partidas en varios "
        f"trozos, y recibió las respuestas {shown}: responde solo a líneas completas. Un "
        "sock_recv puede traer media línea, o varias: guarda lo que llega y parte por b'\\n'"
    )


def _slow_reader(address: tuple[str, int]) -> str:
    """Envía muchas líneas cortas de golpe y tarda en leer; devuelve "" o qué falló."""
    lines = [str(random.randint(0, 99_999)).encode() for _ in range(MANY_LINES)]
    payload = b"".join(line + b"\n" for line in lines)
    expected = b"".join(_lengths(payload))
    got = bytearray()
    cut = ""
    try:
        with socket.socket() as sock:
            # Un búfer de recepción pequeño: las respuestas se acumulan enseguida en el servidor.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.settimeout(CLIENT_TIMEOUT)
            sock.connect(address)
            sock.sendall(payload)
            time.sleep(SLOW_READER_PAUSE)
            try:
                while len(got) < len(expected) and expected.startswith(got):
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    got += chunk
            except TimeoutError:
                pass
            if got == expected:
                return _expect_close(sock)
    except OSError as error:
        cut = f", y luego la conexión se cortó ({type(error).__name__})"
    good = 0
    for answer, right in zip(bytes(got).split(b"\n"), expected.split(b"\n"), strict=False):
        if answer != right:
            break
        good += 1
    return (
        f"un cliente que envía {MANY_LINES} líneas seguidas y tarda "
        f"{format_duration(SLOW_READER_PAUSE)} en leer recibió {good} respuestas bien{cut}: con "
        "el búfer de envío lleno, sock.sendall y sock.send en un socket no bloqueante no "
        "esperan (lanzan BlockingIOError o envían solo una parte). Responde con await "
        "loop.sock_sendall(cliente, ...), que espera sin bloquear"
    )


def _resetting_client(address: tuple[str, int]) -> str:
    """Se conecta, envía media línea y corta con un reinicio (RST); siempre devuelve ""."""
    try:
        with socket.create_connection(address, timeout=CLIENT_TIMEOUT) as sock:
            sock.sendall(b"corto a med")
            time.sleep(RESET_AFTER)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    return ""


def _tiny_send_buffer(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)


async def _check_servir_sock(candidate: Any) -> None:
    loop = asyncio.get_running_loop()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    address = listener.getsockname()
    barrier = threading.Barrier(LINE_CLIENTS)
    with spy_sock_calls(on_socket=_tiny_send_buffer) as spy:
        server = asyncio.ensure_future(call_coroutine(candidate, listener))
        try:
            await asyncio.sleep(0)
            if server.done():
                server.result()  # el NotImplementedError del esqueleto, o su error
            clients = [(_line_client, (address, barrier))] * LINE_CLIENTS
            clients += [(_slow_reader, (address,)), (_resetting_client, (address,))]
            with ThreadPoolExecutor(len(clients), thread_name_prefix="cliente-03.2") as pool:
                waiting = asyncio.gather(
                    *(loop.run_in_executor(pool, client, *args) for client, args in clients)
                )
                await asyncio.wait({server, waiting}, return_when=asyncio.FIRST_COMPLETED)
                if server.done():
                    # Sin servidor, que los clientes que esperan en la cola se enteren ya.
                    listener.close()
                    barrier.abort()
                problems = await waiting
            if server.done():
                _explain_server_end(server)
            for problem in problems:
                if problem:
                    raise Failure(problem)
            if spy.calls["sock_accept"] < len(clients):
                raise Failure(
                    f"atendiste a {len(clients)} clientes, pero loop.sock_accept solo se llamó "
                    f"{plural(spy.calls['sock_accept'], 'vez', 'veces')}: el ejercicio pide "
                    "aceptar con await loop.sock_accept(escucha) y hablar con sock_recv y "
                    "sock_sendall, sin streams (asyncio.start_server) ni hilos"
                )
        finally:
            server.cancel()
            stopped, _ = await asyncio.wait({server}, timeout=1.0)
            if stopped and not server.cancelled():
                server.exception()  # ya informamos de ella: que asyncio no la repita
            listener.close()
            left = spy.still_open()
            spy.close_leftovers()
            for sock in _leaked:
                close_quietly(sock)
            _leaked.clear()
        if not stopped:
            raise Failure("servir_sock no se detuvo al cancelarla: ¿capturas CancelledError?")
        if left:
            raise Failure(
                f"al cancelar tu servidor quedaron {plural(len(left), 'socket', 'sockets')} "
                "de clientes abiertos: cierra cada uno pase lo que pase, con «with cliente:»"
            )


def _explain_server_end(server: asyncio.Future[Any]) -> None:
    """Lanza la `Failure` que explica por qué terminó la tarea del servidor."""
    if server.cancelled():
        raise Failure("tu servidor terminó cancelado antes de tiempo")
    error = server.exception()
    if error is None:
        raise Failure(
            "servir_sock terminó antes de que la cancelaran: debe aceptar clientes para siempre"
        )
    if isinstance(error, NotImplementedError | Failure):
        raise error
    inner = error
    while isinstance(inner, BaseExceptionGroup):
        inner = inner.exceptions[0]
    if isinstance(inner, ConnectionError):
        raise Failure(
            f"un cliente cortó la conexión a medias (un reinicio, RST) y tu servidor se cayó "
            f"con {type(inner).__name__}: los demás clientes se quedaron sin respuesta. Un "
            "TaskGroup es todo o nada: que la tarea de cada cliente atrape sus propios errores "
            "(try/except Exception), para que el error de uno no detenga a los demás"
        ) from None
    raise Failure(f"tu servidor se cayó con {type(inner).__name__}: {inner}") from None


register(
    Exercise(
        key="03.2",
        title="Un servidor con sock_accept",
        function_name="servir_sock",
        checker=_check_servir_sock,
        solution=servir_sock,
        wrong=(
            Wrong(_fixed_answers, Mistake.NO_WORK, "la longitud en bytes de su línea"),
            Wrong(_chunk_is_a_line, Mistake.PARTIAL_IO, "responde solo a líneas completas"),
            Wrong(_sendall_on_non_blocking_clients, Mistake.PARTIAL_IO, "búfer de envío lleno"),
            Wrong(_keeps_clients_open, Mistake.LEFT_OPEN, "no cerró la conexión"),
            Wrong(_with_streams_server, Mistake.WRONG_TOOL, "loop.sock_accept"),
            Wrong(_blocking_handler, Mistake.BLOCKING, "congeló el bucle"),
            Wrong(_one_at_a_time, Mistake.PROTOCOL, "al mismo tiempo"),
            Wrong(_taskgroup_without_isolation, Mistake.SERVER_FALLS, "todo o nada"),
        ),
        applies=frozenset(
            {
                Mistake.NO_WORK,
                Mistake.LEFT_OPEN,
                Mistake.PARTIAL_IO,
                Mistake.WRONG_TOOL,
                Mistake.BLOCKING,
                Mistake.PROTOCOL,
                Mistake.SERVER_FALLS,
            }
        ),
    )
)


# -- 03.3: un socket ajeno, con streams -----------------------------------------------------------


async def adoptar_socket(sock: socket.socket, mensaje: bytes) -> bytes:
    """Envía `mensaje` por el socket conectado `sock` con streams; devuelve toda la respuesta."""
    # open_connection pone el socket en modo no bloqueante y su transporte pasa a ser el dueño.
    reader, writer = await asyncio.open_connection(sock=sock)
    try:
        writer.write(mensaje)
        writer.write_eof()  # «no enviaré más»: el eco termina y cierra
        await writer.drain()
        return await reader.read()  # hasta el fin de la conexión
    finally:
        writer.close()  # cierra también `sock`
        await writer.wait_closed()


ADOPT_DELAY = 0.15
ADOPT_DEADLINE = 5.0


async def _check_adoptar_socket(candidate: Any) -> None:
    short, medium, big = sizes((10, 60), (900, 4000), (190_000, 230_000))
    messages = [unpredictable_text(short).encode(), unpredictable(medium), unpredictable(big)]
    total = sum(map(len, messages))
    with (
        BackgroundEchoServer(delay=ADOPT_DELAY) as server,
        spy_writers(server.address) as writers,
        spy_sock_calls() as spy,
    ):
        # Así nos lo daría una biblioteca: conectado y bloqueante. Se crean antes de la
        # ventana del alumno: no son suyos.
        socks = [socket.create_connection(server.address) for _ in messages]
        try:

            def on_timeout() -> str:
                if server.stats.bytes_sent >= total:
                    return (
                        "el servidor ya devolvió todo el eco, y tu función sigue esperando el "
                        "final de la conexión. El servidor cierra cuando sabe que no le "
                        "enviarás nada más: avísale con writer.write_eof() después de enviar"
                    )
                return "¿esperas algo que el servidor no envía?"

            stall = Stall()

            def stalled() -> str:
                sent = server.stats.bytes_sent
                if sent >= total and stall.stuck(sent, STALL_AFTER):
                    return f"tu función no terminó: {on_timeout()}"
                return ""

            got = await run_calls(
                candidate,
                [(sock, message) for sock, message in zip(socks, messages, strict=True)],
                ADOPT_DEADLINE,
                on_timeout,
                stalled,
            )
            for message, reply in zip(messages, got, strict=True):
                expect_echo(
                    message,
                    reply,
                    f"respuesta a un mensaje de {len(message)} bytes",
                    "Un reader.read(n) devuelve lo que haya llegado ya, no toda la respuesta: "
                    "lee hasta el final de la conexión con reader.read(), sin argumento",
                )
            if server.stats.bytes_received != total:
                raise Failure(
                    f"el servidor recibió {plural(server.stats.bytes_received, 'byte')} de los "
                    f"{total} de tus mensajes: la respuesta no vino del servidor. Envía el "
                    "mensaje por el socket que te dan y devuelve lo que él conteste"
                )
            if writers.opened < len(messages) or spy.calls["sock_sendall"] or spy.reads:
                raise Failure(
                    f"para {plural(len(messages), 'socket', 'sockets')} abriste "
                    f"{plural(writers.opened, 'stream', 'streams')}: el ejercicio pide "
                    "dárselo a los streams, con reader, writer = await "
                    "asyncio.open_connection(sock=sock), y usar reader y writer (ni "
                    "loop.sock_*, ni un hilo)"
                )
            writers.raise_if_left_open()
            if any(s.fileno() != -1 for s in socks):
                raise Failure(
                    "el socket seguía abierto cuando tu función terminó: cierra el writer "
                    "(writer.close() y await writer.wait_closed()), que cierra también el socket"
                )
        finally:
            for s in socks:
                close_quietly(s)
            for s in _leaked_writers:
                s.transport.abort()
            _leaked_writers.clear()
            await asyncio.sleep(0)  # que abort() llegue a cerrar lo que quedara


_leaked_writers: list[asyncio.StreamWriter] = []


async def _returns_the_message_3(sock: socket.socket, mensaje: bytes) -> bytes:
    return mensaje  # sin tocar el socket


async def _plain_recv(sock: socket.socket, mensaje: bytes) -> bytes:
    # El socket ajeno, usado tal cual: bloqueante, dentro de la corrutina.
    with sock:
        sock.sendall(mensaje)
        sock.shutdown(socket.SHUT_WR)
        respuesta = b""
        while trozo := sock.recv(65536):
            respuesta += trozo
        return respuesta


async def _sock_star(sock: socket.socket, mensaje: bytes) -> bytes:
    # Funciona, y sin bloquear: pero es el camino de la sección anterior, no el de los streams.
    loop = asyncio.get_running_loop()
    with sock:
        sock.setblocking(False)
        await loop.sock_sendall(sock, mensaje)
        sock.shutdown(socket.SHUT_WR)
        respuesta = b""
        while trozo := await loop.sock_recv(sock, 65536):
            respuesta += trozo
        return respuesta


async def _sock_star_left_blocking(sock: socket.socket, mensaje: bytes) -> bytes:
    # loop.sock_* sobre el socket tal como llega (bloqueante): el bucle se congela.
    loop = asyncio.get_running_loop()
    with sock:
        await loop.sock_sendall(sock, mensaje)
        sock.shutdown(socket.SHUT_WR)
        respuesta = b""
        while trozo := await loop.sock_recv(sock, 65536):
            respuesta += trozo
        return respuesta


async def _reads_once(sock: socket.socket, mensaje: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(sock=sock)
    try:
        writer.write(mensaje)
        writer.write_eof()
        await writer.drain()
        return await reader.read(65536)
    finally:
        writer.close()
        await writer.wait_closed()


async def _forgets_write_eof(sock: socket.socket, mensaje: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(sock=sock)
    try:
        writer.write(mensaje)
        await writer.drain()
        return await reader.read()  # el servidor espera más, y nosotros esperamos su cierre
    finally:
        writer.close()
        await writer.wait_closed()


async def _never_closes_the_writer(sock: socket.socket, mensaje: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(sock=sock)
    writer.write(mensaje)
    writer.write_eof()
    await writer.drain()
    respuesta = await reader.read()
    _leaked_writers.append(writer)
    return respuesta


async def _does_not_wait_closed(sock: socket.socket, mensaje: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(sock=sock)
    try:
        writer.write(mensaje)
        writer.write_eof()
        await writer.drain()
        return await reader.read()
    finally:
        writer.close()  # sin await writer.wait_closed()


register(
    Exercise(
        key="03.3",
        title="Un socket ajeno, con streams",
        function_name="adoptar_socket",
        checker=_check_adoptar_socket,
        solution=adoptar_socket,
        wrong=(
            Wrong(_returns_the_message_3, Mistake.NO_WORK, "no vino del servidor"),
            Wrong(_reads_once, Mistake.PARTIAL_IO, "llegó solo una parte"),
            Wrong(_never_closes_the_writer, Mistake.LEFT_OPEN, "cuando tu función terminó"),
            Wrong(_does_not_wait_closed, Mistake.LEFT_OPEN, "no esperaste"),
            Wrong(_sock_star, Mistake.WRONG_TOOL, "open_connection(sock=sock)"),
            Wrong(_plain_recv, Mistake.BLOCKING, "congeló el bucle"),
            Wrong(_sock_star_left_blocking, Mistake.BLOCKING, "congeló el bucle"),
            Wrong(_forgets_write_eof, Mistake.PROTOCOL, "write_eof()"),
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
