"""Utilidades que comparten las comprobaciones de los ejercicios: mirar desde el otro lado."""

import asyncio
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..stats import EchoStats
from ..text import plural
from .core import Failure


class HasStats(Protocol):
    """Cualquier servidor del curso: todos cuentan sus conexiones en `stats`."""

    @property
    def stats(self) -> EchoStats: ...


__all__ = ["HasStats", "WriterSpy", "spy_writers", "wait_all_closed", "wait_until"]


async def wait_until(predicate: Callable[[], object], within: float) -> bool:
    """Espera, cediendo el bucle, a que `predicate()` se cumpla; devuelve si se cumplió.

    Sondea cada 20 ms: lo que mira (contadores de un servidor, `pg_stat_activity`) lo cambia
    otro hilo u otro proceso, y no hay un evento del bucle que esperar.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate() and loop.time() < deadline:  # noqa: ASYNC110 (ver arriba)
        await asyncio.sleep(0.02)
    return bool(predicate())


async def wait_all_closed(server: HasStats, within: float = 2.0) -> None:
    """Lanza `Failure` si alguna conexión con `server` sigue abierta pasados `within` s."""
    if not await wait_until(lambda: not server.stats.active, within):
        raise Failure(
            f"quedaron {plural(server.stats.active, 'conexión abierta', 'conexiones abiertas')} "
            "con el servidor: ciérralas con writer.close() y await writer.wait_closed()"
        )


@dataclass
class _Record:
    closed: bool = False
    waited: bool = False


@dataclass
class WriterSpy:
    """Los `StreamWriter` que se conectaron a una dirección mientras el espía miraba."""

    address: tuple[str, int]
    _records: list[_Record] = field(default_factory=list)

    @property
    def opened(self) -> int:
        """Devuelve cuántas conexiones de *streams* se abrieron hacia `address`."""
        return len(self._records)

    @property
    def unclosed(self) -> int:
        """Devuelve cuántos *writers* nadie cerró con `close()` (la basura no cuenta)."""
        return sum(not r.closed for r in self._records)

    @property
    def not_waited(self) -> int:
        """Devuelve cuántos se cerraron sin esperar después a `wait_closed()`."""
        return sum(r.closed and not r.waited for r in self._records)

    def raise_if_left_open(self) -> None:
        """Lanza `Failure` si algún *writer* quedó sin cerrar o sin `wait_closed()`."""
        if self.unclosed:
            raise Failure(
                f"{plural(self.unclosed, 'conexión seguía abierta', 'conexiones seguían abiertas')}"
                " cuando tu función terminó (si Python la cerró, fue al recoger la basura): "
                "ciérrala con writer.close() y await writer.wait_closed(), en un finally"
            )
        if self.not_waited:
            raise Failure(
                f"cerraste {plural(self.not_waited, 'writer', 'writers')} con writer.close() "
                "pero no esperaste a que se cerrara de verdad: añade await writer.wait_closed()"
            )


@contextmanager
def spy_writers(address: tuple[str, int]) -> Iterator[WriterSpy]:
    """Vigila los `StreamWriter` que se conecten a `address` dentro del bloque.

    Envuelve `StreamWriter.__init__`, `close`, `wait_closed` y `__del__` mientras dura el
    bloque: así se sabe si el alumno cerró cada *writer* y esperó el cierre, aunque luego lo
    recoja la basura (CPython cierra un *writer* olvidado al destruirlo). Solo cuentan los
    que tienen `address` como extremo remoto: los del propio servidor de la comprobación, no.
    Devuelve el `WriterSpy`.
    """
    spy = WriterSpy(tuple(address[:2]))  # type: ignore[arg-type]
    cls = asyncio.StreamWriter
    records: weakref.WeakKeyDictionary[Any, _Record] = weakref.WeakKeyDictionary()
    dying: set[int] = set()
    originals = {name: cls.__dict__[name] for name in ("__init__", "close", "wait_closed")}
    original_del = cls.__dict__.get("__del__")

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        originals["__init__"](self, *args, **kwargs)
        peer = self.get_extra_info("peername")
        if peer is not None and tuple(peer[:2]) == spy.address:
            records[self] = record = _Record()
            spy._records.append(record)

    def close(self: Any) -> Any:
        record = records.get(self)
        if record is not None and id(self) not in dying:
            record.closed = True
        return originals["close"](self)

    async def wait_closed(self: Any) -> Any:
        record = records.get(self)
        if record is not None:
            record.waited = True
        return await originals["wait_closed"](self)

    def __del__(self: Any) -> None:
        # StreamWriter.__del__ llama a close(): ese cierre es de la basura, no del alumno.
        dying.add(id(self))
        try:
            if original_del is not None:
                original_del(self)
        finally:
            dying.discard(id(self))

    patches = {"__init__": __init__, "close": close, "wait_closed": wait_closed, "__del__": __del__}
    for name, function in patches.items():
        setattr(cls, name, function)
    try:
        yield spy
    finally:
        for name, function in originals.items():
            setattr(cls, name, function)
        if original_del is not None:
            cls.__del__ = original_del  # type: ignore[method-assign]
        else:
            del cls.__del__
