"""Servidor de líneas que responde por trozos: hace visible el problema del enmarcado.

TCP entrega un flujo de bytes, no mensajes: una respuesta puede llegar en varios
pedazos, y un solo `read(100)` devuelve solo el primero. Este servidor lee cada línea
que recibe y envía su respuesta partida en `pieces` trozos, con `pause` segundos
entre uno y otro, para que el corte se vea siempre, no solo en una red lenta::

    with BackgroundChunkyServer(pieces=3, pause=0.2) as servidor:
        ...  # «hola\\n» -> «HO», pausa, «LA», pausa, «\\n»
"""

import asyncio
from collections.abc import Callable
from typing import Self

from .background import BackgroundServer
from .echo import format_address
from .stats import EchoStats, StatsCounter

__all__ = ["BackgroundChunkyServer", "ChunkyServer", "shout", "split_pieces"]

Reply = Callable[[bytes], bytes]

# Errores con los que el sistema operativo anuncia que el cliente se fue sin despedirse.
_CLIENT_GONE = (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)


def shout(line: bytes) -> bytes:
    """Devuelve la línea en mayúsculas, terminada en `\\n` (la respuesta por defecto)."""
    text = line.decode("utf-8", errors="replace").rstrip("\r\n")
    return text.upper().encode() + b"\n"


def split_pieces(data: bytes, pieces: int) -> list[bytes]:
    """Parte `data` en `pieces` trozos de tamaño parecido; devuelve los que no quedan vacíos."""
    cuts = [round(i * len(data) / pieces) for i in range(pieces + 1)]
    return [data[a:b] for a, b in zip(cuts, cuts[1:], strict=False) if b > a]


class ChunkyServer:
    """Servidor TCP de líneas que envía cada respuesta en varios trozos, con pausas.

    Por cada línea recibida espera `delay` segundos, calcula la respuesta con
    `reply(línea)` (por defecto, la línea en mayúsculas) y la envía en `pieces`
    trozos separados por `pause` segundos. Cuando el cliente cierra su mitad de
    escritura, cierra la conexión. Corre en el bucle de quien lo llama
    (`async with ChunkyServer() as servidor:`); para clientes bloqueantes, usa
    `BackgroundChunkyServer`.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        pieces: int = 3,
        pause: float = 0.2,
        delay: float = 0.0,
        reply: Reply = shout,
    ) -> None:
        if pieces < 1:
            raise ValueError(f"pieces debe ser >= 1, no {pieces!r}")
        if pause < 0 or delay < 0:
            raise ValueError(f"pause y delay deben ser >= 0 segundos, no {pause!r} y {delay!r}")
        self.host = host
        self.port = port
        self.pieces = pieces
        self.pause = pause
        self.delay = delay
        self.reply = reply
        self._counter = StatsCounter()
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    async def start(self) -> Self:
        """Abre el puerto y empieza a aceptar clientes; devuelve el propio servidor."""
        if self._server is not None:
            raise RuntimeError(f"{self!r} ya está en marcha: llama a stop() antes de reiniciarlo")
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        return self

    async def stop(self) -> None:
        """Deja de aceptar, corta las conexiones abiertas y espera a que terminen. Idempotente."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        tasks = list(self._handlers)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

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

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._counter.add("connections")
        self._counter.add("active")
        try:
            while line := await reader.readline():
                self._counter.add("bytes_received", len(line))
                if self.delay:
                    await asyncio.sleep(self.delay)
                for n, piece in enumerate(split_pieces(self.reply(line), self.pieces)):
                    if n:
                        await asyncio.sleep(self.pause)
                    writer.write(piece)
                    await writer.drain()
                    self._counter.add("bytes_sent", len(piece))
            # El cliente cerró su mitad de escritura y ya tiene todas sus respuestas.
            writer.close()
            await writer.wait_closed()
        except _CLIENT_GONE:
            self._counter.add("resets")
        except asyncio.CancelledError:
            # Nos cancela stop(). Terminamos sin propagarlo: en Python 3.11 los streams
            # imprimen una traza si la tarea del cliente acaba cancelada.
            pass
        finally:
            self._handlers.discard(task)
            self._counter.add("active", -1)
            # abort() no espera a un cliente que no lee y no hace nada si ya se cerró.
            writer.transport.abort()


class BackgroundChunkyServer(BackgroundServer):
    """Un `ChunkyServer` en su propio hilo: admite clientes bloqueantes desde el cuaderno."""

    server: ChunkyServer

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        pieces: int = 3,
        pause: float = 0.2,
        delay: float = 0.0,
        reply: Reply = shout,
    ) -> None:
        super().__init__(
            ChunkyServer(host, port, pieces=pieces, pause=pause, delay=delay, reply=reply)
        )

    @property
    def stats(self) -> EchoStats:
        """Devuelve los contadores de conexiones y bytes hasta este momento."""
        return self.server.stats

    def __repr__(self) -> str:
        return repr(self.server).replace("ChunkyServer", type(self).__name__, 1)
