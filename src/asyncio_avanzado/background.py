"""Servidores asyncio en un bucle propio, en un hilo de fondo.

Un cliente *bloqueante* en una celda congela el bucle del cuaderno; si el servidor
viviera en ese mismo bucle, nunca respondería. Aquí cada servidor tiene su propio
bucle en su propio hilo, así que cualquier cliente puede hablar con él.
"""

import asyncio
import atexit
import threading
from collections.abc import Coroutine
from typing import Any, Protocol, Self, TypeVar

from .echo import EchoServer
from .stats import EchoStats

__all__ = ["BackgroundServer", "BackgroundEchoServer", "LoopThread", "running_servers", "stop_all"]

T = TypeVar("T")

# Arrancar o detener un servidor tarda milisegundos; más que esto es un fallo.
_TIMEOUT = 30.0


class AsyncServer(Protocol):
    """Lo que un servidor necesita para poder ejecutarse en segundo plano."""

    async def start(self) -> Any: ...
    async def stop(self) -> None: ...
    @property
    def address(self) -> tuple[str, int]: ...
    @property
    def stats(self) -> EchoStats: ...


class Stoppable(Protocol):
    def stop(self) -> None: ...


# Lo que está en marcha, para poder pararlo todo al volver a ejecutar un cuaderno.
_running: set[Stoppable] = set()
_running_lock = threading.Lock()


def register(server: Stoppable) -> None:
    """Apunta un servidor en marcha para que `stop_all()` lo encuentre."""
    with _running_lock:
        _running.add(server)


def unregister(server: Stoppable) -> None:
    """Borra un servidor detenido de la lista de `stop_all()`."""
    with _running_lock:
        _running.discard(server)


def stop_all() -> None:
    """Detiene todos los servidores de fondo que sigan en marcha."""
    with _running_lock:
        servers = list(_running)
    for server in servers:
        server.stop()


def running_servers() -> list[Stoppable]:
    """Devuelve los servidores de fondo que siguen en marcha."""
    with _running_lock:
        return list(_running)


atexit.register(stop_all)


class LoopThread:
    """Un bucle de eventos nuevo que gira en un hilo propio hasta `stop()`."""

    def __init__(self, name: str = "bucle-de-fondo") -> None:
        self.name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        """Crea el bucle y el hilo; devuelve el propio objeto."""
        if self._thread is not None:
            raise RuntimeError(f"el hilo {self.name!r} ya está en marcha")
        self._loop = asyncio.new_event_loop()
        # daemon: un servidor olvidado no debe impedir que el núcleo de Jupyter se cierre.
        self._thread = threading.Thread(
            target=self._run, args=(self._loop,), name=self.name, daemon=True
        )
        self._thread.start()
        return self

    @staticmethod
    def _run(loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = _TIMEOUT) -> T:
        """Ejecuta `coro` en el bucle del hilo, espera su resultado y lo devuelve."""
        if self._loop is None:
            coro.close()
            raise RuntimeError(f"el hilo {self.name!r} no está en marcha: llama antes a start()")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def stop(self) -> None:
        """Detiene el bucle y espera al hilo. Idempotente."""
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(_TIMEOUT)


class BackgroundServer:
    """Ejecuta un servidor asyncio en su propio bucle, en un hilo de fondo.

    Se usa con `with` o con `start()` / `stop()`, sin `await`: sirve tanto desde una
    celda como desde código bloqueante.
    """

    def __init__(self, server: AsyncServer) -> None:
        self.server = server
        self._thread: LoopThread | None = None

    def start(self) -> Self:
        """Arranca el servidor en un hilo nuevo; devuelve el propio objeto."""
        if self._thread is not None:
            raise RuntimeError(f"{self!r} ya está en marcha: llama a stop() antes de reiniciarlo")
        thread = LoopThread(name=f"servidor-{type(self.server).__name__}").start()
        try:
            thread.run(self.server.start())
        except BaseException:
            thread.stop()
            raise
        self._thread = thread
        register(self)
        return self

    def stop(self) -> None:
        """Detiene el servidor y su hilo, sin dejar nada abierto. Idempotente."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        try:
            thread.run(self.server.stop())
        finally:
            thread.stop()
            unregister(self)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """Devuelve True mientras el servidor está en marcha."""
        return self._thread is not None

    @property
    def address(self) -> tuple[str, int]:
        """Devuelve la dirección real `(host, puerto)` del servidor."""
        return self.server.address

    @property
    def stats(self) -> EchoStats:
        """Devuelve los contadores de conexiones y bytes del servidor hasta este momento."""
        return self.server.stats

    def __repr__(self) -> str:
        # <BackgroundEchoServer 127.0.0.1:PUERTO>: el nombre de fuera, la dirección de dentro.
        return repr(self.server).replace(type(self.server).__name__, type(self).__name__, 1)


class BackgroundEchoServer(BackgroundServer):
    """Un `EchoServer` en su propio hilo: admite clientes bloqueantes desde el cuaderno."""

    server: EchoServer

    def __init__(self, host: str = "127.0.0.1", port: int = 0, **options: Any) -> None:
        super().__init__(EchoServer(host, port, **options))
