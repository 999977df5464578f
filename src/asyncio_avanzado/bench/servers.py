"""Los servidores de eco que compara el banco de pruebas: uno por enfoque del curso.

Cada servidor se ejecuta solo, en su propio proceso (`worker.py` lo arranca). Recibe dos
cosas: `announce(direccion)`, que avisa al proceso coordinador de que ya escucha, y una
señal de parada (un `asyncio.Event` en los servidores asyncio, un `threading.Event` en los
de hilos). Todos devuelven cada byte tal como llega, sin delimitar mensajes: el cliente
sabe cuántos bytes espera.

Los servidores asyncio son corrutinas: el mismo código corre sobre el bucle de asyncio o
sobre el de uvloop, según el bucle que cree el proceso. Los de hilos son funciones
bloqueantes.
"""

import asyncio
import os
import socket
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import cast

from ..echo import EchoServer
from ..threaded import ThreadedEchoServer

__all__ = [
    "ASYNC_SERVERS",
    "BACKLOG",
    "CHUNK",
    "HOST",
    "THREAD_SERVERS",
    "Announce",
    "AsyncServerSpec",
    "ThreadServerSpec",
    "default_pool_size",
]

HOST = "127.0.0.1"
CHUNK = 64 * 1024
"""Bytes que cada servidor pide en cada lectura."""
BACKLOG = 1024
"""Cola de conexiones pendientes de aceptar: miles de clientes llegan casi a la vez."""
NO_LIMIT = 1_000_000
"""`max_connections` de los servidores del curso: aquí no queremos rechazar a nadie."""

Announce = Callable[[tuple[str, int]], None]


def default_pool_size() -> int:
    """Devuelve cuántos hilos tiene el *executor* por defecto de asyncio en este proceso.

    Es la fórmula de `ThreadPoolExecutor` sin `max_workers`: núcleos + 4, como mucho 32
    (desde Python 3.13 cuenta solo los núcleos que el proceso puede usar).
    """
    count = getattr(os, "process_cpu_count", os.cpu_count)()
    return min(32, (count or 1) + 4)


def _nodelay(sock: socket.socket) -> None:
    # Los transportes de asyncio y uvloop desactivan el algoritmo de Nagle; en los
    # sockets que abrimos a mano hacemos lo mismo para comparar en igualdad.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _listener(blocking: bool) -> socket.socket:
    listener = socket.create_server((HOST, 0), backlog=BACKLOG)
    listener.setblocking(blocking)
    return listener


def _address(sock: socket.socket) -> tuple[str, int]:
    host, port = sock.getsockname()[:2]
    return host, port


# -- asyncio (y uvloop) ---------------------------------------------------------------------


async def serve_base(announce: Announce, stop: asyncio.Event) -> None:
    """La referencia: el bucle de eco más simple sobre `asyncio.start_server`."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(CHUNK):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            # Al parar se cancelan las conexiones que queden; en Python 3.11 los streams
            # imprimirían una traza si la tarea terminara cancelada.
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, HOST, 0, backlog=BACKLOG)
    async with server:
        announce(_address(server.sockets[0]))
        await stop.wait()


async def serve_streams(announce: Announce, stop: asyncio.Event) -> None:
    """`EchoServer`, el servidor de *streams* del curso, con sus contadores y límites."""
    async with EchoServer(HOST, 0, max_connections=NO_LIMIT) as server:
        announce(server.address)
        await stop.wait()


class EchoProtocol(asyncio.Protocol):
    """Eco con `asyncio.Protocol`: el bucle llama a `data_received` con cada fragmento."""

    transport: asyncio.Transport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop tiene sus propios transportes, que no heredan de asyncio.Transport.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)

    # Contrapresión: si el cliente no lee y el búfer de envío crece, dejamos de leer.
    def pause_writing(self) -> None:
        self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.transport.resume_reading()


class EchoBufferedProtocol(asyncio.BufferedProtocol):
    """Eco con `asyncio.BufferedProtocol`: el bucle lee directamente en nuestro búfer.

    Un solo búfer para todas las conexiones del servidor: el bucle lo llena y llama a
    `buffer_updated` antes de leer de otra conexión, y `write` recibe una copia (un
    transporte puede guardarse el objeto que le damos hasta poder enviarlo).
    """

    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    transport: asyncio.Transport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop tiene sus propios transportes, que no heredan de asyncio.Transport.
        self.transport = cast(asyncio.Transport, transport)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.view

    def buffer_updated(self, nbytes: int) -> None:
        self.transport.write(self.buffer[:nbytes])  # el corte de un bytearray es una copia

    def pause_writing(self) -> None:
        self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.transport.resume_reading()


async def _serve_protocol(
    factory: Callable[[], asyncio.BaseProtocol], announce: Announce, stop: asyncio.Event
) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(factory, HOST, 0, backlog=BACKLOG)
    async with server:
        announce(_address(server.sockets[0]))
        await stop.wait()


async def serve_protocol(announce: Announce, stop: asyncio.Event) -> None:
    """Eco con `loop.create_server` y un `asyncio.Protocol`."""
    await _serve_protocol(EchoProtocol, announce, stop)


async def serve_buffered(announce: Announce, stop: asyncio.Event) -> None:
    """Eco con `loop.create_server` y un `asyncio.BufferedProtocol`."""
    await _serve_protocol(EchoBufferedProtocol, announce, stop)


async def _accept_forever(
    listener: socket.socket,
    handle: Callable[[socket.socket], Awaitable[None]],
    connections: set[socket.socket],
    stop: asyncio.Event,
) -> None:
    """Acepta con `loop.sock_accept` y lanza `handle(conexion)` en una tarea por conexión
    hasta que llegue `stop`; después cancela las tareas y cierra lo que quede abierto."""
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[None]] = set()

    async def accept_loop() -> None:
        while True:
            conn, _ = await loop.sock_accept(listener)
            _nodelay(conn)
            connections.add(conn)
            task = asyncio.create_task(handle(conn))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    acceptor = asyncio.create_task(accept_loop())
    try:
        await stop.wait()
    finally:
        acceptor.cancel()
        for conn in list(connections):
            # shutdown() despierta a un hilo bloqueado en recv() sobre esta conexión.
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(acceptor, *tasks, return_exceptions=True)
        listener.close()


async def serve_sock(announce: Announce, stop: asyncio.Event) -> None:
    """Eco con *sockets* no bloqueantes y `loop.sock_accept` / `sock_recv` / `sock_sendall`."""
    loop = asyncio.get_running_loop()
    listener = _listener(blocking=False)
    connections: set[socket.socket] = set()

    async def handle(conn: socket.socket) -> None:
        conn.setblocking(False)  # loop.sock_* exige sockets no bloqueantes
        try:
            while data := await loop.sock_recv(conn, CHUNK):
                await loop.sock_sendall(conn, data)
        except OSError:
            pass
        finally:
            connections.discard(conn)
            conn.close()

    announce(_address(listener))
    await _accept_forever(listener, handle, connections, stop)


async def serve_executor(announce: Announce, stop: asyncio.Event) -> None:
    """Eco con *sockets* bloqueantes: cada `recv` y cada `sendall` van a un hilo del
    *executor* por defecto con `loop.run_in_executor(None, ...)`.

    Una conexión que espera datos ocupa un hilo del *pool* mientras espera: cuando hay
    tantas conexiones calladas como hilos, las demás ya no consiguen ninguno. (Un servidor
    real daría a cada *socket* un `timeout`, como en la lección 04: eso solo acota cuánto
    dura el atasco.)
    """
    loop = asyncio.get_running_loop()
    listener = _listener(blocking=False)
    connections: set[socket.socket] = set()

    async def handle(conn: socket.socket) -> None:
        conn.setblocking(True)  # en un hilo, el socket se queda bloqueante
        try:
            while data := await loop.run_in_executor(None, conn.recv, CHUNK):
                await loop.run_in_executor(None, conn.sendall, data)
        except OSError:
            pass
        finally:
            connections.discard(conn)
            conn.close()

    announce(_address(listener))
    await _accept_forever(listener, handle, connections, stop)


# -- hilos ----------------------------------------------------------------------------------


def serve_threads(announce: Announce, stop: threading.Event) -> None:
    """Un hilo por conexión, con `recv` y `sendall` bloqueantes: el servidor de los libros."""
    listener = _listener(blocking=True)
    connections: set[socket.socket] = set()
    workers: list[threading.Thread] = []

    def handle(conn: socket.socket) -> None:
        try:
            while data := conn.recv(CHUNK):
                conn.sendall(data)
        except OSError:
            pass
        finally:
            conn.close()

    def accept_loop() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:  # el listener se cerró: hemos terminado
                return
            _nodelay(conn)
            connections.add(conn)
            worker = threading.Thread(target=handle, args=(conn,), daemon=True)
            workers.append(worker)
            worker.start()

    acceptor = threading.Thread(target=accept_loop, daemon=True)
    acceptor.start()
    announce(_address(listener))
    stop.wait()
    # En Linux, cerrar un socket no despierta al hilo bloqueado en accept() o recv();
    # shutdown() sí.
    for sock in [listener, *connections]:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    listener.close()
    for thread in [acceptor, *workers]:
        thread.join(1.0)


def serve_threaded_course(announce: Announce, stop: threading.Event) -> None:
    """`ThreadedEchoServer`, el de hilos del curso, con sus contadores, su límite de
    conexiones y su plazo de inactividad (que vigila el propio *socket*)."""
    with ThreadedEchoServer(HOST, 0, max_connections=NO_LIMIT) as server:
        announce(server.address)
        stop.wait()


# -- catálogo -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AsyncServerSpec:
    """Un servidor asyncio: corre igual sobre el bucle de asyncio o sobre el de uvloop."""

    description: str
    serve: Callable[[Announce, asyncio.Event], Awaitable[None]]


@dataclass(frozen=True)
class ThreadServerSpec:
    """Un servidor de hilos, sin bucle de eventos."""

    description: str
    serve: Callable[[Announce, threading.Event], None]


ASYNC_SERVERS: dict[str, AsyncServerSpec] = {
    "base": AsyncServerSpec("asyncio.start_server desnudo (referencia)", serve_base),
    "streams": AsyncServerSpec("streams: EchoServer del curso", serve_streams),
    "protocol": AsyncServerSpec("asyncio.Protocol", serve_protocol),
    "buffered": AsyncServerSpec("asyncio.BufferedProtocol", serve_buffered),
    "sock": AsyncServerSpec("loop.sock_* con sockets no bloqueantes", serve_sock),
    "executor": AsyncServerSpec(
        "run_in_executor(None, ...) con sockets bloqueantes", serve_executor
    ),
}
"""Los servidores asyncio; cada uno tiene además su variante «-uvloop»."""

THREAD_SERVERS: dict[str, ThreadServerSpec] = {
    "hilos": ThreadServerSpec("un hilo por conexión, sockets bloqueantes", serve_threads),
    "hilos-curso": ThreadServerSpec("ThreadedEchoServer del curso", serve_threaded_course),
}
"""Los servidores de un hilo por conexión."""
