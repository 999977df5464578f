"""Utilidades que comparten las comprobaciones de los ejercicios."""

import asyncio
from typing import Protocol

from ..stats import EchoStats
from .core import Failure


class HasStats(Protocol):
    """Cualquier servidor del curso: todos cuentan sus conexiones en `stats`."""

    @property
    def stats(self) -> EchoStats: ...


__all__ = ["wait_all_closed"]


async def wait_all_closed(server: HasStats, timeout: float = 2.0) -> None:
    """Lanza `Failure` si alguna conexión con `server` sigue abierta pasado `timeout`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while server.stats.active and loop.time() < deadline:
        await asyncio.sleep(0.02)
    if server.stats.active:
        raise Failure(
            f"quedaron {server.stats.active} conexiones abiertas: ciérralas con "
            "writer.close() y await writer.wait_closed()"
        )
