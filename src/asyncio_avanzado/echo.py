"""Servidor de eco sobre los *streams* de asyncio, en el bucle de quien lo llama."""

import asyncio
from typing import Any

from .options import EchoOptions
from .streamserver import StreamServer, log

__all__ = ["EchoServer"]


class EchoServer(StreamServer):
    """Servidor de eco que corre en el bucle de eventos que está en marcha.

    Devuelve cada byte tal como llega. Úsalo con `async with EchoServer() as servidor:`
    o con `await servidor.start()` / `await servidor.stop()`. Para hablar con él desde
    código bloqueante, ejecútalo en otro hilo con `BackgroundEchoServer`.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, **options: Any) -> None:
        self.options = EchoOptions(**options)
        super().__init__(
            host,
            port,
            max_connections=self.options.max_connections,
            limit=self.options.max_buffer,
        )
        self._watchdog: asyncio.Task[None] | None = None

    def _kind(self) -> str:
        return "servidor de eco"

    async def start(self) -> "EchoServer":
        """Abre el puerto y empieza a aceptar clientes; devuelve el propio servidor."""
        await super().start()
        if self.options.idle_timeout is not None:
            self._watchdog = asyncio.create_task(self._close_idle(self.options.idle_timeout))
        return self

    async def stop(self) -> None:
        """Deja de aceptar, cierra las conexiones abiertas y espera a que terminen. Idempotente."""
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is not None:
            watchdog.cancel()
            await asyncio.gather(watchdog, return_exceptions=True)
        await super().stop()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> int:
        """Devuelve cada fragmento hasta el fin de la entrada; devuelve los bytes ecoados."""
        # Un búfer de escritura acotado hace que drain() espere a un cliente que no lee,
        # en vez de acumular sus bytes en la memoria del servidor.
        writer.transport.set_write_buffer_limits(high=self.options.max_buffer)
        # Nombres locales: este bucle corre una vez por mensaje y es la sobrecarga que el
        # banco de pruebas (lección 08) compara con un eco desnudo.
        options, add, loop, handlers = self.options, self._counter.add, self._loop, self._handlers
        task = asyncio.current_task()
        assert loop is not None and task is not None
        total = 0
        while data := await reader.read(options.chunk_size):
            handlers[task] = loop.time()  # progreso: el vigilante de inactividad lo mira
            add("bytes_received", len(data))
            if options.delay:
                await asyncio.sleep(options.delay)
            writer.write(data)
            await writer.drain()
            add("bytes_sent", len(data))
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
