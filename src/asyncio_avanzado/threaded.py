"""Servidor de eco clásico: *sockets* bloqueantes y un hilo por conexión."""

import logging
import socket
import threading
import time
from typing import Any, Self

from .background import register, unregister
from .options import EchoOptions
from .stats import StatsCounter
from .streamserver import BACKLOG, CLIENT_GONE, ListeningServer, format_address

__all__ = ["ThreadedEchoServer"]

log = logging.getLogger("asyncio_avanzado.eco")

# Cada llamada bloqueante despierta como mucho cada POLL segundos para ver si debe parar:
# un hilo no se puede cancelar desde fuera, tiene que darse cuenta él solo.
POLL = 0.1


class _Stopped(Exception):
    """La conexión debe terminar: el servidor se detiene o el cliente está inactivo."""


class ThreadedEchoServer(ListeningServer):
    """Servidor de eco con un hilo por conexión, sin asyncio; para comparar.

    Mismas opciones y contadores que `EchoServer`. Se usa con `with` o con
    `start()` / `stop()`.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, **options: Any) -> None:
        self.host = host
        self.port = port
        self.options = EchoOptions(**options)
        self._counter = StatsCounter()
        self._listener: socket.socket | None = None
        self._acceptor: threading.Thread | None = None
        self._workers: set[threading.Thread] = set()
        self._stopping = threading.Event()

    def start(self) -> Self:
        """Abre el puerto y lanza el hilo que acepta clientes; devuelve el propio servidor."""
        if self._listener is not None:
            raise RuntimeError(f"{self!r} ya está en marcha: llama a stop() antes de reiniciarlo")
        self._stopping.clear()
        self._listener = socket.create_server((self.host, self.port), backlog=BACKLOG)
        self._listener.settimeout(POLL)
        self._acceptor = threading.Thread(
            target=self._accept_loop, name="eco-hilos-aceptador", daemon=True
        )
        self._acceptor.start()
        register(self)
        log.info("servidor de eco (hilos) escuchando en %s", format_address(self.address))
        return self

    def stop(self) -> None:
        """Deja de aceptar, espera a que cada hilo cierre su conexión. Idempotente."""
        listener, self._listener = self._listener, None
        if listener is None:
            return
        self._stopping.set()
        try:
            if self._acceptor is not None:
                self._acceptor.join()
            for worker in list(self._workers):
                worker.join()
        finally:
            listener.close()
            unregister(self)
        log.info("servidor de eco (hilos) detenido")

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _bound_address(self) -> tuple[str, int] | None:
        if self._listener is None:
            return None
        host, port = self._listener.getsockname()[:2]
        return host, port

    # -- hilos -----------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        listener = self._listener
        assert listener is not None
        while not self._stopping.is_set():
            try:
                conn, peer = listener.accept()
            except TimeoutError:
                continue
            self._workers = {w for w in self._workers if w.is_alive()}
            if len(self._workers) >= self.options.max_connections:
                self._counter.add("rejected")
                log.warning(
                    "%s rechazado: ya hay %d conexiones (max_connections)",
                    format_address(peer),
                    self.options.max_connections,
                )
                conn.close()
                continue
            worker = threading.Thread(
                target=self._serve, args=(conn, peer), name="eco-hilos-conexion", daemon=True
            )
            self._workers.add(worker)
            worker.start()

    def _serve(self, conn: socket.socket, peer: Any) -> None:
        who = format_address(peer)
        self._counter.add("connections")
        self._counter.add("active")
        log.info("conexión de %s", who)
        total = 0
        with conn:
            conn.settimeout(POLL)
            # Que el sistema no guarde más que max_buffer por nosotros en el envío.
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.options.max_buffer)
            try:
                while data := self._recv(conn):
                    self._counter.add("bytes_received", len(data))
                    if self.options.delay and self._stopping.wait(self.options.delay):
                        raise _Stopped
                    self._send_all(conn, data)
                    self._counter.add("bytes_sent", len(data))
                    total += len(data)
                log.info("%s terminó: %d bytes devueltos", who, total)
            except CLIENT_GONE as exc:
                self._counter.add("resets")
                log.info("%s cortó la conexión a medias (%s)", who, type(exc).__name__)
            except _Stopped:
                pass
            finally:
                self._counter.add("active", -1)

    def _wait_or_stop(self, since: float) -> None:
        """Lanza `_Stopped` si hay que parar o si la conexión lleva demasiado quieta."""
        if self._stopping.is_set():
            raise _Stopped
        idle = self.options.idle_timeout
        if idle is not None and time.monotonic() - since > idle:
            self._counter.add("idle_closed")
            log.info("conexión cerrada tras %.0f s sin actividad", idle)
            raise _Stopped

    def _recv(self, conn: socket.socket) -> bytes:
        since = time.monotonic()
        while True:
            try:
                return conn.recv(self.options.chunk_size)
            except TimeoutError:
                self._wait_or_stop(since)

    def _send_all(self, conn: socket.socket, data: bytes) -> None:
        # No sendall(): si vence el plazo a medias, no diría cuánto llegó a enviar.
        view = memoryview(data)
        since = time.monotonic()
        while view:
            try:
                sent = conn.send(view)
            except TimeoutError:
                self._wait_or_stop(since)
                continue
            view = view[sent:]
            since = time.monotonic()
