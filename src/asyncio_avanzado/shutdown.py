"""Apagado ordenado: un servidor de peticiones lentas y un cliente bloqueante que se deja parar.

El protocolo es una línea por petición: el cliente envía los segundos que debe durar
(``b"0.3\\n"``) y el servidor, pasado ese tiempo, contesta ``b"hecho 0.3\\n"``. Con él se ve
qué le pasa a una petición a medias cuando el programa se apaga::

    servidor = await SlowServer().start()
    ...                                    # clientes con peticiones en curso
    informe = await servidor.shutdown(grace=0.5)
    print(informe)    # terminadas 2 · abortadas 1 · inactivas cerradas 0 · en 0.5 s

`slow_request` es el cliente bloqueante, para llevarlo a un hilo: espera la respuesta en
trozos cortos y, entre uno y otro, mira un `threading.Event` («para ya») y su plazo total.
"""

import asyncio
import socket
import threading
import time
from dataclasses import dataclass
from typing import Self

from .lag import format_duration
from .streamserver import StreamServer, log
from .text import plural
from .timeline import Timeline

__all__ = ["ShutdownReport", "SlowServer", "Stopped", "slow_request"]

# Lo máximo que una petición puede pedir: un error de tecleo no cuelga al servidor una hora.
MAX_SECONDS = 60.0


@dataclass(frozen=True)
class ShutdownReport:
    """Lo que pasó en un apagado ordenado: qué terminó, qué se abortó y cuánto tardó."""

    finished: int
    """Peticiones en curso al empezar el apagado que terminaron dentro del plazo."""
    aborted: int
    """Peticiones en curso que seguían sin terminar al vencer el plazo y se cancelaron."""
    idle_closed: int
    """Conexiones sin ninguna petición en curso, cerradas en cuanto empezó el apagado."""
    elapsed: float
    """Segundos desde que se dejó de aceptar hasta que todo quedó cerrado."""

    def __str__(self) -> str:
        return (
            f"terminadas {self.finished} · abortadas {self.aborted} · "
            f"inactivas cerradas {self.idle_closed} · en {format_duration(self.elapsed)}"
        )


class SlowServer(StreamServer):
    """Servidor de peticiones lentas (una línea con los segundos) que sabe apagarse en orden.

    `stop()` (de `StreamServer`) corta en seco; `shutdown(grace)` deja de aceptar, cierra
    las conexiones que no tienen nada en curso, espera como mucho `grace` segundos a las
    peticiones empezadas y cancela las que queden. Con `timeline`, cada petición se anota
    como un tramo en la fila «petición <segundos>».
    """

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, *, timeline: Timeline | None = None
    ) -> None:
        super().__init__(host, port)
        self.timeline = timeline
        self.started = 0
        """Peticiones que empezaron a atenderse."""
        self.finished = 0
        """Peticiones contestadas."""
        self.aborted = 0
        """Peticiones canceladas a medias por el apagado."""
        self.abandoned = 0
        """Peticiones que el cliente dejó a medias (cerró o cortó antes de la respuesta)."""
        self._busy: set[asyncio.Task[None]] = set()
        self._stopping = False

    def _kind(self) -> str:
        return "servidor lento"

    async def start(self) -> Self:
        """Abre el puerto y empieza a aceptar; devuelve el propio servidor."""
        self._stopping = False
        await super().start()
        return self

    @property
    def in_flight(self) -> int:
        """Devuelve cuántas peticiones se están atendiendo ahora."""
        return len(self._busy)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> int:
        """Atiende peticiones una tras otra hasta que el cliente cierre o empiece el apagado."""
        task = asyncio.current_task()
        assert task is not None
        sent = 0
        # Mientras se atiende una petición, se sigue leyendo: así se ve enseguida un cliente
        # que se va a medias (EOF o RST), y una petición que llega antes de tiempo se guarda.
        waiting: asyncio.Future[bytes] | None = None
        try:
            while not self._stopping:
                line = await (waiting if waiting is not None else reader.readline())
                waiting = None
                if not line:
                    break
                seconds = _parse_seconds(line)
                if seconds is None:
                    reply = b"error: se esperaban los segundos de la peticion, como 0.3\n"
                else:
                    waiting = asyncio.ensure_future(reader.readline())
                    waiting.add_done_callback(_mark_seen)
                    if not await self._attend(task, seconds, waiting):
                        self.abandoned += 1
                        break
                    reply = f"hecho {line.decode().strip()}\n".encode()
                writer.write(reply)
                await writer.drain()
                sent += len(reply)
                if seconds is not None:
                    self.finished += 1
        finally:
            if waiting is not None:
                waiting.cancel()
        return sent

    async def _attend(
        self, task: asyncio.Task[None], seconds: float, waiting: asyncio.Future[bytes]
    ) -> bool:
        """Hace la petición; devuelve False si el cliente se fue antes de que terminara."""
        self._busy.add(task)
        self.started += 1
        work = asyncio.ensure_future(self._work(seconds))
        try:
            await asyncio.wait({work, waiting}, return_when=asyncio.FIRST_COMPLETED)
            if not work.done():
                if waiting.exception() is not None or not waiting.result():
                    work.cancel()  # nadie espera ya la respuesta
                    await asyncio.wait({work})
                    return False
                await work  # llegó la siguiente petición antes de tiempo: queda guardada
            return True
        except asyncio.CancelledError:
            work.cancel()
            self.aborted += 1
            raise
        finally:
            self._busy.discard(task)

    async def _work(self, seconds: float) -> None:
        if self.timeline is None:
            await asyncio.sleep(seconds)
            return
        async with self.timeline.span(f"petición {seconds:g} s"):
            await asyncio.sleep(seconds)

    async def shutdown(self, grace: float) -> ShutdownReport:
        """Apaga en orden: deja de aceptar, espera hasta `grace` s lo empezado y aborta el resto.

        Devuelve un `ShutdownReport`. Llamarlo con el servidor parado lanza `RuntimeError`.
        """
        if grace < 0:
            raise ValueError(f"grace son segundos (>= 0), no {grace!r}")
        server, self._server = self._server, None
        if server is None:
            raise RuntimeError(f"{self!r} no está en marcha: no hay nada que apagar")
        loop = asyncio.get_running_loop()
        began = loop.time()
        self._stopping = True
        server.close()  # 1. deja de aceptar: el puerto se cierra ya
        log.info("%s: apagado ordenado, plazo %s", self._kind(), format_duration(grace))
        # 2. las conexiones sin nada en curso esperan en readline(): se cierran ya.
        idle = [task for task in self._handlers if task not in self._busy]
        for task in idle:
            task.cancel()
        # 3. lo empezado tiene `grace` segundos para terminar...
        busy = set(self._busy)
        finished_before = self.finished
        pending: set[asyncio.Task[None]] = set()
        if busy:
            _, pending = await asyncio.wait(busy, timeout=grace)
        # 4. ...y lo que quede se cancela, y se espera a que acabe de cancelarse.
        for task in pending:
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        # En 3.11 no espera a las conexiones; desde 3.12 sí, y ya no queda ninguna.
        await server.wait_closed()
        report = ShutdownReport(
            finished=self.finished - finished_before,
            aborted=len(pending),
            idle_closed=len(idle),
            elapsed=loop.time() - began,
        )
        log.info("%s apagado: %s", self._kind(), report)
        return report


def _parse_seconds(line: bytes) -> float | None:
    try:
        seconds = float(line.decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        return None
    return seconds if 0 <= seconds <= MAX_SECONDS else None


def _mark_seen(future: "asyncio.Future[bytes]") -> None:
    # Un RST del cliente termina la lectura con un error que no siempre se llega a leer:
    # se da por visto, para que asyncio no avise de «exception was never retrieved».
    if not future.cancelled():
        future.exception()


class Stopped(Exception):
    """Alguien pidió parar (con el `threading.Event` de la llamada) mientras esperaba."""


def slow_request(
    address: tuple[str, int],
    seconds: float,
    *,
    stop: threading.Event | None = None,
    timeout: float = 5.0,
    poll: float = 0.05,
) -> str:
    """Pide a un `SlowServer` una petición de `seconds` con un *socket* bloqueante.

    Devuelve la respuesta (``"hecho 0.3"``). Espera en trozos de `poll` segundos (el
    *timeout* del *socket*): entre trozo y trozo mira `stop` y, si está puesto, cierra y
    lanza `Stopped`; si pasan `timeout` segundos sin respuesta, cierra y lanza
    `TimeoutError`. Así un hilo que la ejecute termina poco después de que se lo pidan.
    """
    if poll <= 0 or timeout <= 0:
        raise ValueError(f"poll y timeout son segundos positivos, no {poll!r} y {timeout!r}")
    deadline = time.monotonic() + timeout
    with socket.create_connection(address, timeout=timeout) as sock:
        sock.settimeout(min(poll, timeout))
        sock.sendall(f"{seconds:g}\n".encode())
        received = b""
        while not received.endswith(b"\n"):
            if stop is not None and stop.is_set():
                raise Stopped(f"se pidió parar con la petición de {seconds:g} s a medias")
            if time.monotonic() >= deadline:
                raise TimeoutError(f"sin respuesta en {format_duration(timeout)}")
            try:
                chunk = sock.recv(4096)
            except TimeoutError:  # un trozo de `poll` sin datos: volvemos a mirar
                continue
            if not chunk:
                raise ConnectionError(
                    f"el servidor cerró la conexión tras {plural(len(received), 'byte')} "
                    "sin terminar la respuesta"
                )
            received += chunk
    return received.decode().strip()
