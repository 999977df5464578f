"""Servidor de eco sobre los *streams* de asyncio, en el bucle de quien lo llama."""

import asyncio
import logging
from typing import Any, Self

from .options import EchoOptions
from .stats import EchoStats, StatsCounter

__all__ = ["EchoServer", "format_address"]

log = logging.getLogger("asyncio_avanzado.eco")

# Errores con los que el sistema operativo anuncia que el cliente se fue sin despedirse.
_CLIENT_GONE = (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)


def format_address(address: Any) -> str:
    """Devuelve `host:puerto` a partir de la tupla que da el socket."""
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(address)


class EchoServer:
    """Servidor de eco que corre en el bucle de eventos que está en marcha.

    Devuelve cada byte tal como llega. Úsalo con `async with EchoServer() as servidor:`
    o con `await servidor.start()` / `await servidor.stop()`. Para hablar con él desde
    código bloqueante, ejecútalo en otro hilo con `BackgroundEchoServer`.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, **options: Any) -> None:
        self.host = host
        self.port = port
        self.options = EchoOptions(**options)
        self._counter = StatsCounter()
        self._server: asyncio.Server | None = None
        self._handlers: dict[asyncio.Task[None], float] = {}
        self._watchdog: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- ciclo de vida ---------------------------------------------------------------------

    async def start(self) -> Self:
        """Abre el puerto y empieza a aceptar clientes; devuelve el propio servidor."""
        if self._server is not None:
            raise RuntimeError(f"{self!r} ya está en marcha: llama a stop() antes de reiniciarlo")
        self._loop = asyncio.get_running_loop()
        self._server = await asyncio.start_server(
            self._handle, self.host, self.port, limit=self.options.max_buffer
        )
        if self.options.idle_timeout is not None:
            self._watchdog = asyncio.create_task(self._close_idle(self.options.idle_timeout))
        log.info("servidor de eco escuchando en %s", format_address(self.address))
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
        tasks = [*self._handlers, *([self._watchdog] if self._watchdog else [])]
        self._watchdog = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()
        log.info("servidor de eco detenido")

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- lo que ve la lección --------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Devuelve True mientras el servidor acepta conexiones."""
        return self._server is not None

    @property
    def address(self) -> tuple[str, int]:
        """Devuelve la dirección real `(host, puerto)`, útil cuando se pidió el puerto 0."""
        if self._server is None or not self._server.sockets:
            raise RuntimeError("el servidor no está en marcha: llama antes a start()")
        host, port = self._server.sockets[0].getsockname()[:2]
        return host, port

    @property
    def stats(self) -> EchoStats:
        """Devuelve los contadores de conexiones y bytes hasta este momento."""
        return self._counter.snapshot()

    def __repr__(self) -> str:
        where = format_address(self.address) if self.running else "detenido"
        return f"<{type(self).__name__} {where}>"

    # -- cada conexión -----------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = format_address(writer.get_extra_info("peername"))
        if self._server is None:
            writer.transport.abort()  # llegó mientras stop() cerraba el servidor
            return
        task = asyncio.current_task()
        assert task is not None and self._loop is not None
        if len(self._handlers) >= self.options.max_connections:
            self._counter.add("rejected")
            log.warning(
                "%s rechazado: ya hay %d conexiones (max_connections)",
                peer,
                self.options.max_connections,
            )
            writer.close()
            return
        # Un búfer de escritura acotado hace que drain() espere a un cliente que no lee,
        # en vez de acumular sus bytes en la memoria del servidor.
        writer.transport.set_write_buffer_limits(high=self.options.max_buffer)
        self._handlers[task] = self._loop.time()
        self._counter.add("connections")
        self._counter.add("active")
        log.info("conexión de %s", peer)
        try:
            received = await self._echo(reader, writer, task)
            writer.close()
            # Seguimos en _handlers mientras se vacía el búfer: stop() y el vigilante
            # de inactividad pueden cancelarnos si el cliente ya no lee.
            await writer.wait_closed()
            log.info("%s terminó: %d bytes devueltos", peer, received)
        except _CLIENT_GONE as exc:
            self._counter.add("resets")
            log.info("%s cortó la conexión a medias (%s)", peer, type(exc).__name__)
        except asyncio.CancelledError:
            # Nos cancelan stop() o el vigilante de inactividad. Terminamos sin propagarlo:
            # en Python 3.11 los streams imprimen una traza si la tarea acaba cancelada.
            pass
        finally:
            # También al cancelarnos stop() o el vigilante: abort() no espera a un cliente
            # que no lee, y no hace nada si la conexión ya se cerró bien.
            self._handlers.pop(task, None)
            self._counter.add("active", -1)
            writer.transport.abort()

    async def _echo(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, task: asyncio.Task[None]
    ) -> int:
        """Devuelve cada fragmento hasta el fin de la entrada; devuelve los bytes ecoados."""
        options, counter, loop, handlers = self.options, self._counter, self._loop, self._handlers
        assert loop is not None
        total = 0
        while data := await reader.read(options.chunk_size):
            handlers[task] = loop.time()
            counter.add("bytes_received", len(data))
            if options.delay:
                await asyncio.sleep(options.delay)
            writer.write(data)
            await writer.drain()
            handlers[task] = loop.time()
            counter.add("bytes_sent", len(data))
            total += len(data)
        # El cliente cerró su mitad de escritura y ya tiene todo su eco: cerramos la nuestra.
        return total

    async def _close_idle(self, idle_timeout: float) -> None:
        """Cancela las conexiones que llevan más de `idle_timeout` segundos sin progreso."""
        assert self._loop is not None
        # Un solo vigilante por servidor cuesta menos que un temporizador en cada lectura.
        period = min(idle_timeout / 4, 1.0)
        while True:
            await asyncio.sleep(period)
            deadline = self._loop.time() - idle_timeout
            for task, last in list(self._handlers.items()):
                if last < deadline:
                    self._counter.add("idle_closed")
                    log.info("conexión cerrada tras %.0f s sin actividad", idle_timeout)
                    task.cancel()
                    # Que la próxima vuelta no la cuente otra vez mientras se cierra.
                    self._handlers[task] = float("inf")
