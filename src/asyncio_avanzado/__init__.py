"""Herramientas del curso «Tópicos avanzados de asyncio».

Los cuadernos importan de aquí los servidores de eco, los instrumentos que hacen
visible el bloqueo y las comprobaciones de los ejercicios.
"""

import logging

from .background import (
    BackgroundEchoServer,
    BackgroundServer,
    LoopThread,
    running_servers,
    stop_all,
)
from .blocking import blocking_echo, recv_exactly
from .chunky import BackgroundChunkyServer, ChunkyServer
from .diagnostics import dev_mode_findings, faulthandler_stack, slow_steps
from .echo import EchoServer
from .lag import DEFAULT_THRESHOLD, LagMonitor, format_duration
from .options import EchoOptions
from .postgres import PostgresError, PostgresNotFound, TemporaryPostgres
from .stats import EchoStats
from .streamserver import StreamServer, format_address
from .threaded import ThreadedEchoServer
from .timeline import COROUTINE, PROCESS, THREAD, Span, Timeline, compare

# Una biblioteca no decide dónde se imprimen sus mensajes: sin este manejador,
# logging mostraría los avisos en la celda que se esté ejecutando en ese momento.
logging.getLogger(__name__).addHandler(logging.NullHandler())


def __getattr__(name: str) -> object:
    """Carga las comprobaciones de los ejercicios la primera vez que se piden.

    Importan los once módulos de ejercicios (unos 0.1 s): un proceso hijo que importa el
    paquete para arrancar un servidor o un servicio no las necesita.
    """
    if name in ("check", "show_solution"):
        from . import exercises

        return getattr(exercises, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BackgroundChunkyServer",
    "ChunkyServer",
    "COROUTINE",
    "DEFAULT_THRESHOLD",
    "PROCESS",
    "THREAD",
    "BackgroundEchoServer",
    "BackgroundServer",
    "EchoOptions",
    "EchoServer",
    "EchoStats",
    "LagMonitor",
    "LoopThread",
    "PostgresError",
    "PostgresNotFound",
    "Span",
    "StreamServer",
    "TemporaryPostgres",
    "ThreadedEchoServer",
    "Timeline",
    "blocking_echo",
    "check",
    "compare",
    "dev_mode_findings",
    "faulthandler_stack",
    "format_address",
    "format_duration",
    "recv_exactly",
    "running_servers",
    "show_solution",
    "slow_steps",
    "stop_all",
]
