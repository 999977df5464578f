"""Ejercicios de la lección 03 (*sockets* estándar con `loop.sock_*`)."""

import asyncio
import socket
import threading
import time
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from ..background import BackgroundEchoServer
from .core import Exercise, Failure, call_coroutine, expect_equal, register
from .servers import wait_all_closed

__all__: list[str] = []

T = TypeVar("T")

# Un mensaje que no cabe en una lectura: el eco de fondo devuelve trozos de 64 KiB.
BIG = bytes(range(256)) * 800


async def _read_exactly(sock: socket.socket, n: int) -> bytes:
    """Devuelve exactamente `n` bytes leídos con `sock_recv` (lanza si la conexión acaba antes)."""
    loop = asyncio.get_running_loop()
    data = bytearray()
    while len(data) < n:
        chunk = await loop.sock_recv(sock, n - len(data))
        if not chunk:
            raise asyncio.IncompleteReadError(bytes(data), n)
        data += chunk
    return bytes(data)


async def _run_together(coros: list[Coroutine[Any, Any, T]]) -> list[T]:
    """Ejecuta las corrutinas a la vez; devuelve sus resultados o lanza el primer error.

    Un `TaskGroup` agrupa los errores en un `ExceptionGroup`; el alumno entiende mejor el
    suyo tal cual (por ejemplo, el `NotImplementedError` del esqueleto).
    """
    try:
        async with asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(coro) for coro in coros]
    except ExceptionGroup as group:
        error: BaseException = group
        while isinstance(error, BaseExceptionGroup):
            error = error.exceptions[0]
        raise error from None
    return [task.result() for task in tasks]


# -- 03.1: el eco completo con loop.sock_* ------------------------------------------------------


async def pedir_eco_sock(direccion: tuple[str, int], mensaje: bytes) -> bytes:
    """Devuelve el eco completo de `mensaje`, usando solo `loop.sock_*`."""
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setblocking(False)  # antes de cualquier loop.sock_*
        await loop.sock_connect(sock, direccion)
        await loop.sock_sendall(sock, mensaje)
        # Un sock_recv devuelve lo que haya llegado: leemos hasta tener todo el eco.
        respuesta = bytearray()
        while len(respuesta) < len(mensaje):
            trozo = await loop.sock_recv(sock, len(mensaje) - len(respuesta))
            if not trozo:
                raise ConnectionError("el servidor cerró antes de devolver todo el eco")
            respuesta += trozo
        return bytes(respuesta)


async def _one_recv(direccion: tuple[str, int], mensaje: bytes) -> bytes:
    # El ejemplo del esquema original: una sola lectura de 1024 bytes.
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setblocking(False)
        await loop.sock_connect(sock, direccion)
        await loop.sock_sendall(sock, mensaje)
        return await loop.sock_recv(sock, 1024)


async def _left_blocking(direccion: tuple[str, int], mensaje: bytes) -> bytes:
    # Sin setblocking(False): cada sock_recv espera al servidor con el bucle congelado.
    loop = asyncio.get_running_loop()
    with socket.create_connection(direccion) as sock:
        await loop.sock_sendall(sock, mensaje)
        return await _read_exactly(sock, len(mensaje))


async def _check_pedir_eco_sock(candidate: Any) -> None:
    messages = [b"hola", "¡Año nuevo, ñandú!".encode(), BIG]
    with BackgroundEchoServer(delay=0.3) as server:
        results = await _run_together(
            [call_coroutine(candidate, server.address, m) for m in messages]
        )
        for message, result in zip(messages, results, strict=True):
            expect_equal(message, result, f"eco de un mensaje de {len(message)} bytes")
        await wait_all_closed(server)
        peak = server.stats.peak_active
    if peak < len(messages):
        raise Failure(
            f"lanzamos {len(messages)} peticiones a la vez, pero el máximo de conexiones "
            f"abiertas al mismo tiempo fue {peak}: no avanzaron en paralelo"
        )


register(
    Exercise(
        key="03.1",
        title="El eco completo con loop.sock_*",
        function_name="pedir_eco_sock",
        checker=_check_pedir_eco_sock,
        solution=pedir_eco_sock,
        wrong=(_one_recv, _left_blocking),
    )
)


# -- 03.2: un servidor con sock_accept ------------------------------------------------------------


async def servir_sock(escucha: socket.socket) -> None:
    """Acepta clientes en `escucha` y responde a cada línea con su longitud en bytes."""
    loop = asyncio.get_running_loop()

    async def atender(cliente: socket.socket) -> None:
        with cliente:  # se cierra al terminar, también si nos cancelan
            pendiente = b""
            while trozo := await loop.sock_recv(cliente, 65536):
                pendiente += trozo
                # Un trozo puede traer media línea, o varias: respondemos solo a las completas.
                *lineas, pendiente = pendiente.split(b"\n")
                for linea in lineas:
                    await loop.sock_sendall(cliente, b"%d\n" % len(linea))

    async with asyncio.TaskGroup() as tg:
        while True:
            cliente, _ = await loop.sock_accept(escucha)  # ya viene no bloqueante
            tg.create_task(atender(cliente))


async def _one_at_a_time(escucha: socket.socket) -> None:
    # Atiende a cada cliente hasta el final antes de aceptar al siguiente.
    loop = asyncio.get_running_loop()
    while True:
        cliente, _ = await loop.sock_accept(escucha)
        with cliente:
            pendiente = b""
            while trozo := await loop.sock_recv(cliente, 65536):
                *lineas, pendiente = (pendiente + trozo).split(b"\n")
                for linea in lineas:
                    await loop.sock_sendall(cliente, b"%d\n" % len(linea))


async def _chunk_is_a_line(escucha: socket.socket) -> None:
    # Trata cada sock_recv como si fuera una línea entera.
    loop = asyncio.get_running_loop()

    async def atender(cliente: socket.socket) -> None:
        with cliente:
            while trozo := await loop.sock_recv(cliente, 65536):
                await loop.sock_sendall(cliente, b"%d\n" % len(trozo.rstrip(b"\n")))

    async with asyncio.TaskGroup() as tg:
        while True:
            cliente, _ = await loop.sock_accept(escucha)
            tg.create_task(atender(cliente))


async def _blocking_handler(escucha: socket.socket) -> None:
    # «sock.recv lanzaba BlockingIOError», así que el cliente vuelve a ser bloqueante.
    loop = asyncio.get_running_loop()

    async def atender(cliente: socket.socket) -> None:
        with cliente:
            cliente.settimeout(5)
            pendiente = b""
            while trozo := cliente.recv(65536):
                *lineas, pendiente = (pendiente + trozo).split(b"\n")
                for linea in lineas:
                    cliente.sendall(b"%d\n" % len(linea))

    async with asyncio.TaskGroup() as tg:
        while True:
            cliente, _ = await loop.sock_accept(escucha)
            tg.create_task(atender(cliente))


CLIENTS = 5
# Cada cliente es un hilo con sockets bloqueantes y plazos: aunque el servidor congele el
# bucle, los clientes siguen su curso y acaban cerrando, así que la comprobación termina.
CLIENT_TIMEOUT = 3.0
BARRIER_TIMEOUT = 2.0
SLOW_CLIENT_PAUSE = 0.3


def _lines_for(i: int) -> list[bytes]:
    return [b"hola", "adiós, ñandú".encode(), b"", b"x" * (1000 * (i + 1))]


def _recv_exactly_blocking(sock: socket.socket, n: int) -> bytes:
    data = bytearray()
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return bytes(data)


def _line_client(address: tuple[str, int], i: int, barrier: threading.Barrier) -> str:
    """Habla con el servidor del alumno; devuelve "" si todo fue bien, o qué falló."""
    try:
        problem = _talk(address, i, barrier)
    except OSError as error:
        problem = f"un cliente perdió la conexión: {type(error).__name__}: {error}"
    if problem:
        barrier.abort()  # que los demás clientes no esperen en vano
    return problem


def _talk(address: tuple[str, int], i: int, barrier: threading.Barrier) -> str:
    lines = _lines_for(i)
    payload = b"".join(line + b"\n" for line in lines)
    expected = b"".join(b"%d\n" % len(line) for line in lines)
    with socket.create_connection(address, timeout=CLIENT_TIMEOUT) as sock:
        # Partimos la primera línea y hacemos una pausa: el servidor recibe media
        # línea y debe esperar al resto antes de responder.
        sock.sendall(payload[:2])
        time.sleep(SLOW_CLIENT_PAUSE)
        sock.sendall(payload[2:])
        got = b""
        try:
            while got.count(b"\n") < len(lines):
                chunk = sock.recv(1024)
                if not chunk:
                    break
                got += chunk
        except TimeoutError:
            if expected.startswith(got):
                return (
                    f"un cliente esperó {CLIENT_TIMEOUT:.0f} s sus respuestas y no llegaron "
                    "todas: ¿atiendes a un cliente cada vez, o esperas más datos de la cuenta?"
                )
        if got != expected:
            return (
                f"un cliente envió las líneas {lines[:3]!r}… y recibió {got[:16]!r}…; "
                f"se esperaba {expected[:16]!r}…: responde solo a líneas completas "
                "(un sock_recv puede traer media línea, o varias)"
            )
        try:
            # Todos los clientes tienen ya su respuesta y siguen conectados.
            barrier.wait(BARRIER_TIMEOUT)
        except threading.BrokenBarrierError:
            return (
                f"{CLIENTS} clientes conectados a la vez no recibieron su respuesta al mismo "
                "tiempo: ¿atiendes a un cliente cada vez? Lanza una tarea por cliente"
            )
        sock.shutdown(socket.SHUT_WR)
        try:
            rest = sock.recv(1024)
        except TimeoutError:
            return (
                "el cliente cerró su escritura y el servidor no cerró la conexión: "
                'cuando sock_recv devuelva b"", cierra el socket de ese cliente'
            )
        if rest:
            return f"tras las respuestas llegó {rest[:20]!r}, que sobra"
        return ""


async def _check_servir_sock(candidate: Any) -> None:
    loop = asyncio.get_running_loop()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    server = asyncio.ensure_future(call_coroutine(candidate, listener))
    barrier = threading.Barrier(CLIENTS)
    try:
        with ThreadPoolExecutor(CLIENTS, thread_name_prefix="cliente-03.2") as pool:
            address = listener.getsockname()
            clients = asyncio.gather(
                *(
                    loop.run_in_executor(pool, _line_client, address, i, barrier)
                    for i in range(CLIENTS)
                )
            )
            await asyncio.wait({server, clients}, return_when=asyncio.FIRST_COMPLETED)
            if server.done():
                # Sin servidor, que los clientes que esperan en la cola se enteren ya.
                listener.close()
                barrier.abort()
            problems = await clients
        if server.done():
            server.result()  # su excepción, si la hubo, es el informe más útil
            raise Failure(
                "servir_sock terminó sola: debe seguir aceptando clientes hasta que la cancelen"
            )
        for problem in problems:
            if problem:
                raise Failure(problem)
    finally:
        server.cancel()
        stopped, _ = await asyncio.wait({server}, timeout=1.0)
        if stopped and not server.cancelled():
            server.exception()  # ya informamos de ella: que asyncio no la repita en el registro
        listener.close()
    if not stopped:
        raise Failure("servir_sock no se detuvo al cancelarla: ¿capturas CancelledError?")


register(
    Exercise(
        key="03.2",
        title="Un servidor con sock_accept",
        function_name="servir_sock",
        checker=_check_servir_sock,
        solution=servir_sock,
        wrong=(_one_at_a_time, _chunk_is_a_line, _blocking_handler),
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


async def _plain_recv(sock: socket.socket, mensaje: bytes) -> bytes:
    # El socket ajeno, usado tal cual: bloqueante, dentro de la corrutina.
    with sock:
        sock.sendall(mensaje)
        sock.shutdown(socket.SHUT_WR)
        respuesta = b""
        while trozo := sock.recv(65536):
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


def _release(sock: socket.socket) -> None:
    """Cierra `sock` si sigue abierto, a través de su transporte si un *stream* lo adoptó."""
    if sock.fileno() == -1:
        return
    # Cerrar el descriptor por debajo de un transporte vivo dejaría al selector del bucle
    # con un descriptor que ya no existe; abort() lo saca del selector y luego lo cierra.
    transports = getattr(asyncio.get_running_loop(), "_transports", {})
    transport = transports.get(sock.fileno())
    if transport is not None:
        transport.abort()
    else:
        sock.close()


async def _check_adoptar_socket(candidate: Any) -> None:
    messages = [b"hola", "¡Año nuevo, ñandú!".encode(), BIG]
    with BackgroundEchoServer(delay=0.3) as server:
        # Así nos lo daría una biblioteca: conectado y bloqueante.
        socks = [socket.create_connection(server.address) for _ in messages]
        try:
            results = await _run_together(
                [call_coroutine(candidate, s, m) for s, m in zip(socks, messages, strict=True)]
            )
            for message, result in zip(messages, results, strict=True):
                expect_equal(message, result, f"respuesta a un mensaje de {len(message)} bytes")
            if any(s.fileno() != -1 for s in socks):
                raise Failure(
                    "el socket sigue abierto al terminar: cierra el writer "
                    "(writer.close() y await writer.wait_closed()), que cierra también el socket"
                )
        finally:
            for s in socks:
                _release(s)
            await asyncio.sleep(0)  # que abort() llegue a cerrar lo que quedara


register(
    Exercise(
        key="03.3",
        title="Un socket ajeno, con streams",
        function_name="adoptar_socket",
        checker=_check_adoptar_socket,
        solution=adoptar_socket,
        wrong=(_plain_recv, _sock_star_left_blocking, _reads_once),
    )
)
