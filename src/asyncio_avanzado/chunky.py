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

from .background import BackgroundServer
from .streamserver import StreamServer

__all__ = ["BackgroundChunkyServer", "ChunkyServer", "shout", "split_pieces"]

Reply = Callable[[bytes], bytes]


def shout(line: bytes) -> bytes:
    """Devuelve la línea en mayúsculas, terminada en `\\n` (la respuesta por defecto)."""
    text = line.decode("utf-8", errors="replace").rstrip("\r\n")
    return text.upper().encode() + b"\n"


def split_pieces(data: bytes, pieces: int) -> list[bytes]:
    """Parte `data` en `pieces` trozos de tamaño parecido; devuelve los que no quedan vacíos."""
    cuts = [round(i * len(data) / pieces) for i in range(pieces + 1)]
    return [data[a:b] for a, b in zip(cuts, cuts[1:], strict=False) if b > a]


class ChunkyServer(StreamServer):
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
        super().__init__(host, port)
        self.pieces = pieces
        self.pause = pause
        self.delay = delay
        self.reply = reply
        self.early_lines = 0
        """Líneas que ya esperaban cuando el servidor acabó de enviar la respuesta anterior.

        En una conversación de pregunta y respuesta (*ping-pong*) es 0: el cliente envía la
        pregunta siguiente después de recibir la respuesta entera. Si el cliente envía varias
        preguntas sin esperar (en cadena, *pipelining*), las siguientes ya han llegado.
        """

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> int:
        """Responde a cada línea por trozos hasta que el cliente cierre; devuelve los bytes."""
        total = 0
        while line := await reader.readline():
            self._counter.add("bytes_received", len(line))
            if self.delay:
                await asyncio.sleep(self.delay)
            pieces = split_pieces(self.reply(line), self.pieces)
            for n, piece in enumerate(pieces, 1):
                if n > 1:
                    await asyncio.sleep(self.pause)
                writer.write(piece)
                if n == len(pieces) and _buffered(reader):
                    # El cliente aún no ha podido recibir el final de esta respuesta, y ya hay
                    # datos suyos esperando: los envió sin esperarla.
                    self.early_lines += 1
                await writer.drain()
                self._counter.add("bytes_sent", len(piece))
                total += len(piece)
        return total


def _buffered(reader: asyncio.StreamReader) -> int:
    """Devuelve cuántos bytes recibidos esperan en `reader` sin que nadie los haya leído."""
    # StreamReader no ofrece mirar sin consumir; su búfer interno (el mismo desde 3.4) sí.
    return len(getattr(reader, "_buffer", b""))


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
    def early_lines(self) -> int:
        """Devuelve las líneas que llegaron antes de acabar la respuesta anterior (en cadena)."""
        return self.server.early_lines
