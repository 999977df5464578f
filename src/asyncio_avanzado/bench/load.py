"""El generador de carga: conexiones que hacen ping-pong con los servidores y los miden.

Corre en su propio proceso (lo arranca `worker.py`), con uvloop si está disponible, para
que sea el servidor, y no el cliente, el que ponga el límite. Guarda un **grupo** de
conexiones por servidor: el coordinador abre todas las conexiones al principio y luego mide
los servidores por turnos, sin volver a conectar. En cada medida, las `active` primeras
conexiones del grupo envían un mensaje de `size` bytes, esperan su eco completo, lo comparan
byte a byte con lo enviado y envían el siguiente. Las demás se quedan abiertas y calladas,
como los clientes inactivos de un servidor real.

El coordinador lo dirige con órdenes (diccionarios con una clave `cmd`): `connect` (abre más
conexiones en un grupo), `go` (empieza el tráfico), `mark` (empieza la ventana de medida:
los contadores vuelven a cero), `stop` (termina la ventana y devuelve el informe), `close`
(cierra un grupo) y `exit`.
"""

import asyncio
import time
from array import array
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, cast

__all__ = ["ClientReport", "Group", "Meter", "Pinger", "payloads_for", "run_client"]

MAX_SAMPLES = 200_000
"""Latencias que se guardan como mucho; a partir de ahí se guarda una de cada dos, etc."""
QUANTILES = 1000
"""Puntos de la distribución de latencias que el informe devuelve al coordinador."""
CONNECT_CONCURRENCY = 64
"""Conexiones que se abren a la vez: más desbordaría la cola de espera del servidor."""


@dataclass(frozen=True)
class ClientReport:
    """Lo que un proceso cliente midió de un grupo entre `mark` y `stop`."""

    requests: int
    """Ecos completos y correctos dentro de la ventana de medida."""
    elapsed: float
    """Segundos de la ventana de medida, con el reloj del cliente."""
    cpu: float
    """Segundos de CPU (usuario + sistema) que gastó el cliente en la ventana."""
    latencies: list[float]
    """Cuantiles de la latencia (segundos), de 0 a 1 en `QUANTILES` pasos; vacía si no hubo
    ningún eco."""
    latency_total: float
    """Suma de las latencias de todos los ecos de la ventana (para la media)."""
    errors: int
    """Ecos que no coincidían con lo enviado (desde el informe anterior del grupo)."""
    dropped: int
    """Conexiones que el servidor cerró antes de tiempo (desde el informe anterior)."""
    verified_bytes: int
    """Bytes de eco comprobados byte a byte (desde el informe anterior)."""


class Meter:
    """Cuenta ecos y guarda (una muestra de) sus latencias; compartido por las conexiones
    de un grupo."""

    def __init__(self) -> None:
        self.running = False
        self.closing = False
        self.requests = 0
        self.latency_total = 0.0
        self.errors = 0
        self.dropped = 0
        self.verified_bytes = 0
        self.samples = array("d")
        self.stride = 1
        self._skip = 0
        self._reported = (0, 0, 0)

    def reset(self) -> None:
        """Pone a cero lo que se mide en la ventana (no los errores)."""
        self.requests = 0
        self.latency_total = 0.0
        self.samples = array("d")
        self.stride = 1
        self._skip = 0

    def record(self, latency: float, size: int) -> None:
        """Apunta un eco correcto de `size` bytes que tardó `latency` segundos."""
        self.requests += 1
        self.latency_total += latency
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

    def since_last_report(self) -> tuple[int, int, int]:
        """Devuelve (errores, cortadas, bytes comprobados) desde la última llamada."""
        now = (self.errors, self.dropped, self.verified_bytes)
        delta = tuple(a - b for a, b in zip(now, self._reported, strict=True))
        self._reported = now
        return cast(tuple[int, int, int], delta)


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

    @property
    def idle(self) -> bool:
        """Devuelve True si no espera ningún eco (puede enviar el siguiente mensaje)."""
        return self.expected is None

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


@dataclass
class Group:
    """Las conexiones de este proceso a un servidor, con su contador."""

    meter: Meter = field(default_factory=Meter)
    pingers: list[Pinger] = field(default_factory=list)
    mark_time: float = 0.0
    mark_cpu: float = 0.0

    def close(self) -> None:
        """Cierra todas las conexiones del grupo (sin contarlas como cortadas)."""
        self.meter.running = False
        self.meter.closing = True
        for pinger in self.pingers:
            if pinger.transport is not None:
                pinger.transport.close()


async def _connect(group: Group, command: dict[str, Any]) -> None:
    """Abre `count` conexiones más en `group`, hacia `host:port`."""
    loop = asyncio.get_running_loop()
    limit = asyncio.Semaphore(CONNECT_CONCURRENCY)
    first = command["first"] + len(group.pingers)

    async def connect(index: int) -> Pinger:
        payloads = payloads_for(first + index, command["size"])
        async with limit:
            _, protocol = await loop.create_connection(
                lambda: Pinger(group.meter, payloads), command["host"], command["port"]
            )
        return protocol

    results = await asyncio.gather(
        *(connect(i) for i in range(command["count"])), return_exceptions=True
    )
    group.pingers.extend(p for p in results if isinstance(p, Pinger))
    failures = [r for r in results if isinstance(r, BaseException)]
    if failures:
        raise failures[0]


async def run_client(
    commands: asyncio.Queue[dict[str, Any]], emit: Callable[[dict[str, Any]], None]
) -> None:
    """Ejecuta un proceso cliente: obedece las órdenes de `commands` hasta `exit` y contesta
    con `emit`. No devuelve nada."""
    groups: dict[str, Group] = {}
    try:
        while (command := await commands.get())["cmd"] != "exit":
            name = command.get("group", "")
            group = groups.setdefault(name, Group())
            cmd = command["cmd"]
            if cmd == "connect":
                try:
                    await _connect(group, command)
                except OSError as exc:  # sin descriptores, conexión rechazada...
                    failure = f"{type(exc).__name__}: {exc}"
                    emit({"conectadas": len(group.pingers), "fallo": failure})
                else:
                    emit({"conectadas": len(group.pingers)})
            elif cmd == "go":
                group.meter.running = True
                for pinger in group.pingers[: command["active"]]:
                    if pinger.idle:  # uno que aún espera su eco (un servidor atascado) no
                        pinger.send()
            elif cmd == "mark":
                group.meter.reset()
                group.mark_time, group.mark_cpu = time.perf_counter(), time.process_time()
            elif cmd == "stop":
                elapsed = time.perf_counter() - group.mark_time
                cpu = time.process_time() - group.mark_cpu
                group.meter.running = False
                errors, dropped, verified = group.meter.since_last_report()
                report = ClientReport(
                    requests=group.meter.requests,
                    elapsed=elapsed,
                    cpu=cpu,
                    latencies=group.meter.quantiles(),
                    latency_total=group.meter.latency_total,
                    errors=errors,
                    dropped=dropped,
                    verified_bytes=verified,
                )
                emit(asdict(report))
            elif cmd == "close":
                groups.pop(name).close()
                await asyncio.sleep(0)
                emit({"cerrado": name})
    finally:
        for group in groups.values():
            group.close()
        # Una vuelta del bucle para que los transportes terminen de cerrarse.
        await asyncio.sleep(0)
