"""Base de los servidores del curso sobre *streams*: ciclo de vida, contadores y limpieza."""

import asyncio
import logging
from typing import Any, Self

from .stats import EchoStats, StatsCounter

__all__ = ["ListeningServer", "StreamServer", "format_address"]

log = logging.getLogger("asyncio_avanzado.eco")

# Errores con los que el sistema operativo anuncia que el cliente se fue sin despedirse.
CLIENT_GONE = (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)

# Conexiones que el sistema puede tener en cola antes de que las aceptemos. El valor por
# defecto de asyncio (100) se desborda cuando mil clientes llegan a la vez, y cada uno que
# no cabe espera un segundo entero a que TCP reintente.
BACKLOG = 1024


def format_address(address: Any) -> str:
    """Devuelve `host:puerto` a partir de la tupla que da el socket."""
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(address)


class ListeningServer:
    """Lo que todo servidor del curso enseña a la lección: dirección real, contadores y nombre."""

    _counter: StatsCounter

    def _bound_address(self) -> tuple[str, int] | None:
        """Devuelve la dirección del *socket* que escucha, o None si está detenido."""
        raise NotImplementedError

    @property
    def running(self) -> bool:
        """Devuelve True mientras el servidor acepta conexiones."""
        return self._bound_address() is not None

    @property
    def address(self) -> tuple[str, int]:
        """Devuelve la dirección real `(host, puerto)`, útil cuando se pidió el puerto 0."""
        address = self._bound_address()
        if address is None:
            raise RuntimeError("el servidor no está en marcha: llama antes a start()")
        return address

    @property
    def stats(self) -> EchoStats:
        """Devuelve los contadores de conexiones y bytes hasta este momento."""
        return self._counter.snapshot()

    def __repr__(self) -> str:
        where = format_address(self.address) if self.running else "detenido"
        return f"<{type(self).__name__} {where}>"


class StreamServer(ListeningServer):
    """Servidor TCP sobre `asyncio.start_server` en el bucle que está en marcha.

    Se encarga de lo común: arrancar y parar (`async with` o `start()` / `stop()`),
    la dirección real, los contadores de `stats`, el límite de conexiones y cerrar cada
    conexión pase lo que pase. Las subclases solo escriben `serve()`, la conversación
    con un cliente.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        max_connections: int = 1000,
        limit: int = 64 * 1024,
    ) -> None:
        self.host = host
        self.port = port
        self.max_connections = max_connections
        self.limit = limit
        self._counter = StatsCounter(shared=False)  # solo lo toca el hilo del bucle
        self._server: asyncio.Server | None = None
        # Tarea de cada conexión → última vez que progresó (para vigilar la inactividad).
        self._handlers: dict[asyncio.Task[None], float] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> int:
        """Atiende a un cliente hasta que este cierre; devuelve los bytes que le envió."""
        raise NotImplementedError

    # -- ciclo de vida ---------------------------------------------------------------------

    async def start(self) -> Self:
        """Abre el puerto y empieza a aceptar clientes; devuelve el propio servidor."""
        if self._server is not None:
            raise RuntimeError(f"{self!r} ya está en marcha: llama a stop() antes de reiniciarlo")
        self._loop = asyncio.get_running_loop()
        self._server = await asyncio.start_server(
            self._handle, self.host, self.port, limit=self.limit, backlog=BACKLOG
        )
        log.info("%s escuchando en %s", self._kind(), format_address(self.address))
        return self

    async def stop(self) -> None:
        """Deja de aceptar, cierra las conexiones abiertas y espera a que terminen. Idempotente."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        # Una conexión aceptada justo antes de close() tarda un par de vueltas del bucle en
        # llegar a _handle; se las damos para que vea el servidor parado y se cierre.
        for _ in range(5):
            await asyncio.sleep(0)
        tasks = list(self._handlers)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()
        log.info("%s detenido", self._kind())

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def _bound_address(self) -> tuple[str, int] | None:
        if self._server is None or not self._server.sockets:
            return None
        host, port = self._server.sockets[0].getsockname()[:2]
        return host, port

    def _kind(self) -> str:
        return f"servidor {type(self).__name__}"

    # -- cada conexión -----------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._server is None:
            writer.transport.abort()  # llegó mientras stop() cerraba el servidor
            return
        peer = format_address(writer.get_extra_info("peername"))
        task = asyncio.current_task()
        assert task is not None and self._loop is not None
        if len(self._handlers) >= self.max_connections:
            self._counter.add("rejected")
            log.warning(
                "%s rechazado: ya hay %d conexiones (max_connections)", peer, self.max_connections
            )
            writer.close()  # un cierre limpio: el cliente lee EOF, no un error
            return
        self._handlers[task] = self._loop.time()
        self._counter.add("connections")
        self._counter.add("active")
        log.info("conexión de %s", peer)
        try:
            sent = await self.serve(reader, writer)
            writer.close()
            # Seguimos en _handlers mientras se vacía el búfer: stop() y el vigilante
            # de inactividad pueden cancelarnos si el cliente ya no lee.
            await writer.wait_closed()
            log.info("%s terminó: %d bytes devueltos", peer, sent)
        except CLIENT_GONE as exc:
            self._counter.add("resets")
            log.info("%s cortó la conexión a medias (%s)", peer, type(exc).__name__)
        except asyncio.CancelledError:
            # Nos cancelan stop() o el vigilante de inactividad. Terminamos sin propagarlo:
            # en Python 3.11 los streams imprimen una traza si la tarea acaba cancelada.
            pass
        finally:
            self._handlers.pop(task, None)
            self._counter.add("active", -1)
            # abort() no espera a un cliente que no lee y no hace nada si ya se cerró bien.
            writer.transport.abort()
