"""El servicio heredado de precios: un protocolo de líneas, lento, que a veces se cuelga o corta.

Es el proveedor de precios del proyecto final (lección 10), como los que hay en cualquier
empresa: nadie lo toca desde hace años, y el equipo que lo mantenía dejó una biblioteca cliente
bloqueante (`legacy_client.py`). El protocolo, una línea por petición y por respuesta:

    → PRECIO <código>\\n
    ← OK <código> <céntimos>\\n         (el precio, en céntimos)
    ← ERROR <motivo>\\n                 (una petición mal formada; la conexión sigue abierta)

Cada respuesta tarda `delay` segundos y se envía en dos trozos (un solo `read` puede quedarse
con la mitad). Algunos códigos **cuelgan** (el servicio lee la petición y calla hasta cortar a
los `hold` segundos) y otros **cortan** la conexión (un *reset*). Qué código hace qué, y su
precio, lo decide la semilla `seed`: con la misma semilla, el mismo servicio.
"""

import asyncio
import random
import re
import threading
from dataclasses import dataclass
from typing import Literal

from ..background import BackgroundServer
from ..streamserver import StreamServer

__all__ = [
    "BackgroundLegacyPriceServer",
    "Fault",
    "LegacyPriceServer",
    "LegacyStats",
    "price_for",
]

Fault = Literal["bien", "cuelga", "corta"]

CODE = re.compile(rb"[A-Za-z0-9-]{1,32}")
MAX_LINE = 256
"""Bytes como mucho de una línea de petición (con su salto de línea)."""


def price_for(seed: int, code: str) -> int:
    """Devuelve el precio en céntimos que el servicio de semilla `seed` da al código `code`."""
    return random.Random(f"{seed}/precio/{code}").randrange(100, 100_000)


@dataclass(frozen=True)
class LegacyStats:
    """Lo que ha visto el servicio heredado hasta un instante."""

    requests: int = 0
    """Peticiones bien formadas que recibió."""
    answered: int = 0
    """Respuestas OK enviadas enteras."""
    in_flight: int = 0
    """Peticiones que esperan respuesta ahora mismo (también las colgadas)."""
    peak_in_flight: int = 0
    """Máximo de peticiones esperando a la vez."""
    open_connections: int = 0
    """Conexiones abiertas ahora mismo."""
    hung: int = 0
    """Peticiones que colgó a propósito."""
    hung_closed_by_client: int = 0
    """Peticiones colgadas cuya conexión cerró el cliente (se rindió a tiempo)."""
    hung_closed_by_server: int = 0
    """Peticiones colgadas que el servicio tuvo que cortar a los `hold` segundos."""
    resets: int = 0
    """Conexiones que cortó a propósito."""


class LegacyPriceServer(StreamServer):
    """El servicio heredado de precios, sobre *streams*, en `127.0.0.1` y un puerto libre.

    `delay`: segundos que tarda cada respuesta. `hold`: segundos que calla una petición
    colgada antes de cortar. `hang_rate` y `reset_rate`: fracción de códigos que cuelgan o
    cortan (según `seed`); `hang` y `reset`: códigos concretos que lo hacen siempre.
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        delay: float = 0.05,
        hold: float = 3.0,
        hang_rate: float = 0.0,
        reset_rate: float = 0.0,
        hang: frozenset[str] | set[str] = frozenset(),
        reset: frozenset[str] | set[str] = frozenset(),
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host, port)
        if not 0 <= hang_rate + reset_rate <= 1:
            raise ValueError(
                f"hang_rate + reset_rate debe estar entre 0 y 1, no {hang_rate + reset_rate!r}"
            )
        self.seed = seed
        self.delay = delay
        self.hold = hold
        self.hang_rate = hang_rate
        self.reset_rate = reset_rate
        self.hang = frozenset(hang)
        self.reset = frozenset(reset)
        self._lock = threading.Lock()  # las lecciones leen los contadores desde otro hilo
        self._values = dict.fromkeys(LegacyStats.__dataclass_fields__, 0)

    # -- lo que decide la semilla -----------------------------------------------------------

    def price(self, code: str) -> int:
        """Devuelve el precio en céntimos del código `code` (si no cuelga ni corta)."""
        return price_for(self.seed, code)

    def fault(self, code: str) -> Fault:
        """Devuelve qué hace el servicio con `code`: «bien», «cuelga» o «corta»."""
        if code in self.hang:
            return "cuelga"
        if code in self.reset:
            return "corta"
        draw = random.Random(f"{self.seed}/fallo/{code}").random()
        if draw < self.hang_rate:
            return "cuelga"
        if draw < self.hang_rate + self.reset_rate:
            return "corta"
        return "bien"

    # -- contadores -------------------------------------------------------------------------

    @property
    def legacy_stats(self) -> LegacyStats:
        """Devuelve una copia de los contadores de peticiones hasta este momento."""
        with self._lock:
            return LegacyStats(**self._values)

    def _add(self, field: str, amount: int = 1) -> None:
        with self._lock:
            values = self._values
            values[field] += amount
            values["peak_in_flight"] = max(values["peak_in_flight"], values["in_flight"])

    # -- la conversación ----------------------------------------------------------------------

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> int:
        self._add("open_connections")
        sent = 0
        try:
            while line := await reader.readline():
                if not line.endswith(b"\n") or len(line) > MAX_LINE:
                    writer.write(b"ERROR linea demasiado larga o sin final\n")
                    await writer.drain()
                    return sent
                verb, _, code = line.strip().partition(b" ")
                if verb != b"PRECIO" or not CODE.fullmatch(code):
                    writer.write(b"ERROR se esperaba PRECIO <codigo>\n")
                    await writer.drain()
                    continue
                answered = await self._answer(code.decode(), reader, writer)
                if answered is None:
                    return sent
                sent += answered
        finally:
            self._add("open_connections", -1)
        return sent

    async def _answer(
        self, code: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> int | None:
        """Responde a una petición; devuelve los bytes enviados, o None si cortó o colgó."""
        self._add("requests")
        self._add("in_flight")
        try:
            fault = self.fault(code)
            if fault == "corta":
                await asyncio.sleep(self.delay / 2)
                self._add("resets")
                writer.transport.abort()
                return None
            if fault == "cuelga":
                self._add("hung")
                await self._hang(reader)
                return None
            await asyncio.sleep(self.delay)
            reply = f"OK {code} {self.price(code)}\n".encode()
            half = len(reply) // 2
            writer.write(reply[:half])  # en dos trozos, como llega a veces por la red
            await writer.drain()
            await asyncio.sleep(0.005)
            writer.write(reply[half:])
            await writer.drain()
            self._add("answered")
            return len(reply)
        finally:
            self._add("in_flight", -1)

    async def _hang(self, reader: asyncio.StreamReader) -> None:
        """Calla hasta que el cliente cierre o pasen `hold` segundos; anota quién cortó."""
        try:
            async with asyncio.timeout(self.hold):
                while await reader.read(4096):
                    pass  # leemos y callamos
        except TimeoutError:
            self._add("hung_closed_by_server")
            return
        except ConnectionError:
            pass
        self._add("hung_closed_by_client")


class BackgroundLegacyPriceServer(BackgroundServer):
    """Un `LegacyPriceServer` en su propio hilo: admite el cliente bloqueante desde el cuaderno."""

    server: LegacyPriceServer

    def __init__(self, **options: object) -> None:
        super().__init__(LegacyPriceServer(**options))  # type: ignore[arg-type]

    def price(self, code: str) -> int:
        """Devuelve el precio en céntimos de `code`."""
        return self.server.price(code)

    def fault(self, code: str) -> Fault:
        """Devuelve qué hace el servicio con `code`: «bien», «cuelga» o «corta»."""
        return self.server.fault(code)

    @property
    def legacy_stats(self) -> LegacyStats:
        """Devuelve los contadores de peticiones hasta este momento."""
        return self.server.legacy_stats
