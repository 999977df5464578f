"""El generador de carga: conexiones que hacen ping-pong con el servidor y lo miden.

Corre en su propio proceso (lo arranca `worker.py`), con uvloop si está disponible, para
que sea el servidor, y no el cliente, el que ponga el límite. Abre `connections`
conexiones; `active` de ellas envían un mensaje de `size` bytes, esperan su eco completo,
lo comparan byte a byte con lo enviado y envían el siguiente. Las demás se quedan abiertas
y calladas, como los clientes inactivos de un servidor real.

El proceso coordinador lo dirige con órdenes de una línea: `go` (empieza el tráfico),
`mark` (empieza la medida: los contadores vuelven a cero) y `stop` (termina la medida,
devuelve el informe y cierra las conexiones).
"""

import asyncio
import json
import time
from array import array
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import cast

__all__ = ["ClientConfig", "ClientReport", "Meter", "Pinger", "run_client"]

MAX_SAMPLES = 200_000
"""Latencias que se guardan como mucho; a partir de ahí se guarda una de cada dos, etc."""
QUANTILES = 1000
"""Puntos de la distribución de latencias que el informe devuelve al coordinador."""
CONNECT_CONCURRENCY = 64
"""Conexiones que se abren a la vez: más desbordaría la cola de espera del servidor."""


@dataclass(frozen=True)
class ClientConfig:
    """Lo que un proceso cliente tiene que hacer."""

    host: str
    port: int
    connections: int
    active: int
    size: int
    first: int = 0
    """Número de la primera conexión de este proceso (para que los mensajes sean únicos)."""


@dataclass(frozen=True)
class ClientReport:
    """Lo que un proceso cliente midió entre `mark` y `stop`."""

    requests: int
    """Ecos completos y correctos dentro de la ventana de medida."""
    elapsed: float
    """Segundos de la ventana de medida, con el reloj del cliente."""
    cpu: float
    """Segundos de CPU (usuario + sistema) que gastó el cliente en la ventana."""
    latencies: list[float]
    """Cuantiles de la latencia (segundos), de 0 a 1 en `QUANTILES` pasos; vacía si no hubo
    ningún eco."""
    errors: int
    """Ecos que no coincidían con lo enviado (en toda la prueba)."""
    dropped: int
    """Conexiones que el servidor cerró antes de tiempo (en toda la prueba)."""
    verified_bytes: int
    """Bytes de eco comprobados byte a byte (en toda la prueba)."""


class Meter:
    """Cuenta ecos y guarda (una muestra de) sus latencias; compartido por las conexiones
    de un proceso."""

    def __init__(self) -> None:
        self.running = False
        self.closing = False
        self.requests = 0
        self.errors = 0
        self.dropped = 0
        self.verified_bytes = 0
        self.samples = array("d")
        self.stride = 1
        self._skip = 0

    def reset(self) -> None:
        """Pone a cero lo que se mide en la ventana (no los errores)."""
        self.requests = 0
        self.samples = array("d")
        self.stride = 1
        self._skip = 0

    def record(self, latency: float, size: int) -> None:
        """Apunta un eco correcto de `size` bytes que tardó `latency` segundos."""
        self.requests += 1
        self.verified_bytes += size
        # Guardar una de cada `stride` latencias mantiene la muestra acotada y repartida
        # por toda la ventana (no solo el principio).
        self._skip += 1
        if self._skip >= self.stride:
            self._skip = 0
            self.samples.append(latency)
            if len(self.samples) >= MAX_SAMPLES:
                self.samples = self.samples[::2]
                self.stride *= 2

    def quantiles(self) -> list[float]:
        """Devuelve `QUANTILES + 1` cuantiles de la muestra de latencias, o [] si está vacía."""
        ordered = sorted(self.samples)
        if not ordered:
            return []
        last = len(ordered) - 1
        return [ordered[round(i * last / QUANTILES)] for i in range(QUANTILES + 1)]


class Pinger(asyncio.Protocol):
    """Una conexión del cliente: envía un mensaje, espera su eco entero, lo comprueba.

    Alterna dos mensajes distintos, únicos de cada conexión: un servidor que mezclara
    conexiones o repitiera un eco viejo no pasaría la comprobación.
    """

    def __init__(self, meter: Meter, payloads: tuple[bytes, bytes]) -> None:
        self.meter = meter
        self.payloads = payloads
        self.size = len(payloads[0])
        self.transport: asyncio.Transport | None = None
        self.expected: bytes | None = None
        self.partial: bytearray | None = None
        self.flip = 0
        self.sent_at = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop tiene sus propios transportes, que no heredan de asyncio.Transport.
        self.transport = cast(asyncio.Transport, transport)

    def send(self) -> None:
        """Envía el siguiente mensaje."""
        assert self.transport is not None
        self.expected = self.payloads[self.flip]
        self.flip ^= 1
        self.partial = None
        self.sent_at = time.perf_counter()
        self.transport.write(self.expected)

    def data_received(self, data: bytes) -> None:
        expected = self.expected
        if expected is None:  # una conexión callada no debería recibir nada
            self._fail()
            return
        if self.partial is None and len(data) == self.size:
            ok = data == expected  # lo normal: el eco llega de una vez
        else:
            if self.partial is None:
                self.partial = bytearray()
            self.partial += data
            if len(self.partial) < self.size:
                return
            ok = self.partial == expected
        if not ok:
            self._fail()
            return
        self.meter.record(time.perf_counter() - self.sent_at, self.size)
        if self.meter.running:
            self.send()
        else:
            self.expected = None

    def _fail(self) -> None:
        self.meter.errors += 1
        self.expected = None
        assert self.transport is not None
        self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.meter.closing:
            self.meter.dropped += 1


def payloads_for(index: int, size: int) -> tuple[bytes, bytes]:
    """Devuelve los dos mensajes de `size` bytes de la conexión número `index`."""
    messages = []
    for variant in (0, 1):
        stamp = f"[conexion {index} mensaje {variant}]".encode()
        body = bytes((index * 7 + variant * 13 + i) % 251 for i in range(min(size, 251)))
        pattern = stamp + body
        messages.append((pattern * (size // len(pattern) + 1))[:size])
    return messages[0], messages[1]


async def run_client(
    config: ClientConfig, commands: asyncio.Queue[str], emit: Callable[[str], None]
) -> None:
    """Ejecuta un proceso cliente: conecta, obedece `go` / `mark` / `stop` y emite el
    informe con `emit` (una línea JSON). No devuelve nada."""
    loop = asyncio.get_running_loop()
    meter = Meter()
    limit = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def connect(index: int) -> Pinger:
        payloads = payloads_for(config.first + index, config.size)
        async with limit:
            _, protocol = await loop.create_connection(
                lambda: Pinger(meter, payloads), config.host, config.port
            )
        return protocol

    pingers = await asyncio.gather(*(connect(i) for i in range(config.connections)))
    emit("listo")
    mark_time = mark_cpu = 0.0
    try:
        while (command := await commands.get()) != "stop":
            if command == "go":
                meter.running = True
                for pinger in pingers[: config.active]:
                    pinger.send()
            elif command == "mark":
                meter.reset()
                mark_time, mark_cpu = time.perf_counter(), time.process_time()
            elif command == "eof":
                return
        elapsed = time.perf_counter() - mark_time
        cpu = time.process_time() - mark_cpu
        requests = meter.requests
        report = ClientReport(
            requests=requests,
            elapsed=elapsed,
            cpu=cpu,
            latencies=meter.quantiles(),
            errors=meter.errors,
            dropped=meter.dropped,
            verified_bytes=meter.verified_bytes,
        )
        emit(json.dumps(asdict(report)))
    finally:
        meter.running = False
        meter.closing = True
        for pinger in pingers:
            if pinger.transport is not None:
                pinger.transport.close()
        # Una vuelta del bucle para que los transportes terminen de cerrarse.
        await asyncio.sleep(0)
