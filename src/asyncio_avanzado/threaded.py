"""Servidor de eco clásico: *sockets* bloqueantes y un hilo por conexión."""

import contextlib
import logging
import socket
import threading
from typing import Any, Self

from .background import register, unregister
from .options import EchoOptions
from .stats import StatsCounter
from .streamserver import BACKLOG, CLIENT_GONE, ListeningServer, format_address

__all__ = ["ThreadedEchoServer"]

log = logging.getLogger("asyncio_avanzado.eco")


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
        # Conexiones abiertas: stop() las despierta con shutdown() (un hilo no se puede
        # cancelar desde fuera; se le corta la conexión y él solo se da cuenta).
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        self._stopping = threading.Event()

    def start(self) -> Self:
        """Abre el puerto y lanza el hilo que acepta clientes; devuelve el propio servidor."""
        if self._listener is not None:
            raise RuntimeError(f"{self!r} ya está en marcha: llama a stop() antes de reiniciarlo")
        self._stopping.clear()
        self._listener = socket.create_server((self.host, self.port), backlog=BACKLOG)
        self._acceptor = threading.Thread(
            target=self._accept_loop, name="eco-hilos-aceptador", daemon=True
        )
        self._acceptor.start()
        register(self)
        log.info("servidor de eco (hilos) escuchando en %s", format_address(self.address))
        return self

    def stop(self) -> None:
        """Deja de aceptar, corta las conexiones y espera a que cada hilo termine. Idempotente."""
        listener, self._listener = self._listener, None
        if listener is None:
            return
        self._stopping.set()
        try:
            # accept() sigue bloqueado: una conexión a nosotros mismos lo despierta (y, en
            # Linux, también shutdown() del socket que escucha, por si esa no pudiera entrar).
            with contextlib.suppress(OSError):
                socket.create_connection(listener.getsockname()[:2], timeout=5).close()
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            if self._acceptor is not None:
                self._acceptor.join()
            with self._open_lock:
                for conn in self._open:
                    with contextlib.suppress(OSError):
                        conn.shutdown(socket.SHUT_RDWR)  # despierta su recv() o su send()
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
        while True:
            try:
                conn, peer = listener.accept()
            except OSError:
                if self._stopping.is_set():
                    return
                raise
            if self._stopping.is_set():
                conn.close()  # la conexión de stop() (o una que llegó tarde)
                return
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
            with self._open_lock:
                self._open.add(conn)
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
        try:
            # Cada recv() o sendall() espera como mucho idle_timeout: el propio socket vigila
            # la inactividad, sin despertar al hilo mientras tanto.
            conn.settimeout(self.options.idle_timeout)
            # Que el sistema no guarde más que max_buffer por nosotros en el envío.
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.options.max_buffer)
            while data := conn.recv(self.options.chunk_size):
                self._counter.add("bytes_received", len(data))
                if self.options.delay and self._stopping.wait(self.options.delay):
                    break  # el servidor se detiene durante la espera
                conn.sendall(data)
                self._counter.add("bytes_sent", len(data))
                total += len(data)
            if not self._stopping.is_set():
                log.info("%s terminó: %d bytes devueltos", who, total)
        except TimeoutError:
            self._counter.add("idle_closed")
            log.info("conexión cerrada tras %.0f s sin actividad", self.options.idle_timeout)
        except CLIENT_GONE as exc:
            if not self._stopping.is_set():  # si paramos nosotros, no es culpa del cliente
                self._counter.add("resets")
                log.info("%s cortó la conexión a medias (%s)", who, type(exc).__name__)
        finally:
            with self._open_lock:
                self._open.discard(conn)
            conn.close()
            self._counter.add("active", -1)
