"""Lo que comparten las comprobaciones de cálculo (lecciones 05 y 06): dónde se hizo el trabajo.

Un resultado correcto no dice dónde se calculó. Estas piezas lo miran desde fuera, sin fiarse
del código del alumno:

- ``SpyPool`` envuelve el *pool* de procesos de la comprobación: cuenta los trabajos que
  recibe, cuántos tuvo a la vez y, por cada uno, qué proceso lo calculó y cuánta CPU gastó
  (el trabajo viaja envuelto en ``cpu._traced``). No deja que el alumno lo cierre.
- ``watch_work`` mide, mientras corre el código del alumno, la CPU de este proceso (todos sus
  hilos), la de los procesos hijos que terminaron, los hijos nuevos que siguen vivos y los
  hilos de ``ThreadPoolExecutor`` que se quedaron sin cerrar.
- ``warm_pool`` arranca los procesos de un *pool* antes de la ventana que se juzga.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import pickle
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from .. import cpu
from ..text import plural
from .core import Failure

__all__ = ["SpyPool", "WorkSeen", "calibrate", "close_pool", "warm_pool", "watch_work"]

# Por qué se anotan los pools nuevos en vez de mirar procesos e hilos vivos: CPython cierra un
# pool olvidado en cuanto se recoge (un weakref despierta a su hilo gestor), y sus procesos
# pueden terminar antes de que la comprobación mire. Con la anotación, el veredicto no depende
# de esa carrera.


@dataclass(frozen=True)
class Job:
    """Un trabajo que recibió el *pool*: la función, sus argumentos y quién lo calculó."""

    function: Callable[..., Any]
    args: tuple[Any, ...]
    pid: int | None = None
    cpu: float = 0.0


class SpyPool(Executor):
    """Un *pool* de la comprobación, visto por el alumno: cuenta y anota cada trabajo."""

    def __init__(self, inner: Executor) -> None:
        self._inner = inner
        self._lock = threading.Lock()
        self._in_flight = 0
        self.submitted = 0
        self.peak = 0
        """Cuántos trabajos llegó a tener a la vez (enviados y sin terminar)."""
        self.jobs: list[Job] = []
        """Los trabajos terminados, con el proceso que los calculó y su CPU."""
        self.shutdowns = 0
        """Cuántas veces intentó el alumno cerrarlo (el *pool* es de la comprobación)."""

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        outer: Future[Any] = Future()
        try:
            # Una lambda o una función local no viajan a un proceso. Un pool real lo descubre en
            # su hilo alimentador, y en 3.11 queda roto al cerrarlo. Aquí se descubre antes de
            # enviarla, con el mismo error: el pool de la comprobación sigue sano. Los
            # argumentos no se prueban: pueden ser grandes y esto corre en el hilo del bucle.
            pickle.dumps(fn)
        except Exception as error:  # noqa: BLE001 — el mismo error que daría el pool real
            outer.set_exception(error)
            return outer
        inner = self._inner.submit(cpu._traced, fn, args, kwargs)
        with self._lock:
            self.submitted += 1
            self._in_flight += 1
            self.peak = max(self.peak, self._in_flight)

        def finished(done: Future[Any]) -> None:
            with self._lock:
                self._in_flight -= 1
            if done.cancelled():
                outer.cancel()
                return
            error = done.exception()
            if error is not None:
                if not outer.done():
                    outer.set_exception(error)
                return
            result, spent, pid = done.result()
            with self._lock:
                self.jobs.append(Job(fn, args, pid, spent))
            if not outer.done():  # el alumno pudo cancelarlo mientras calculaba
                outer.set_result(result)

        def cancelled(done: Future[Any]) -> None:
            if done.cancelled():
                inner.cancel()  # solo funciona si aún no había empezado: como en un pool real

        inner.add_done_callback(finished)
        outer.add_done_callback(cancelled)
        return outer

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.shutdowns += 1  # el pool es de la comprobación: ella lo cierra, no el alumno

    def cpu_in_workers(self, function: Callable[..., Any] | None = None) -> float:
        """Devuelve la CPU que gastaron los procesos del *pool* (en `function`, si se da)."""
        with self._lock:
            return sum(j.cpu for j in self.jobs if function is None or j.function is function)


@dataclass
class WorkSeen:
    """Lo que pasó en la máquina mientras corría el código del alumno."""

    own_cpu: float = 0.0
    """Segundos de CPU de este proceso, contando todos sus hilos (el del bucle también)."""
    reaped_children_cpu: float = 0.0
    """Segundos de CPU de procesos hijos que nacieron y terminaron (un *pool* propio cerrado)."""
    process_pools: list[ProcessPoolExecutor] = field(default_factory=list)
    """Los ``ProcessPoolExecutor`` que creó el alumno (la comprobación los mantiene vivos)."""
    thread_pools: list[ThreadPoolExecutor] = field(default_factory=list)
    """Los ``ThreadPoolExecutor`` que creó el alumno (no el ejecutor por defecto del bucle)."""

    @property
    def process_pools_left(self) -> list[ProcessPoolExecutor]:
        """Devuelve los *pools* de procesos del alumno que nadie cerró con ``shutdown()``."""
        return [p for p in self.process_pools if not getattr(p, "_shutdown_thread", True)]

    @property
    def thread_pools_left(self) -> list[ThreadPoolExecutor]:
        """Devuelve los ``ThreadPoolExecutor`` del alumno que nadie cerró con ``shutdown()``."""
        return [p for p in self.thread_pools if not getattr(p, "_shutdown", True)]

    async def close_leftovers(self) -> None:
        """Cierra (sin bloquear el bucle) lo que el alumno dejó abierto, para no dejar basura."""
        for pool in [*self.process_pools_left, *self.thread_pools_left]:
            await asyncio.to_thread(pool.shutdown, True, cancel_futures=True)

    async def raise_if_pools_left(self) -> None:
        """Lanza `Failure` si el alumno dejó abierto un *pool* propio (antes lo cierra)."""
        processes, threads = self.process_pools_left, self.thread_pools_left
        await self.close_leftovers()
        if processes:
            raise Failure(
                f"{_left_open(len(processes), 'pool de procesos', 'pools de procesos')} cuando "
                "tu función terminó (con sus procesos vivos): usa el pool "
                "que recibes; si alguna vez creas uno, ciérralo con "
                "await asyncio.to_thread(pool.shutdown), que espera a sus procesos sin congelar "
                "el bucle (si lo olvidas, Python solo lo cierra cuando lo recoge la basura)"
            )
        if threads:
            raise Failure(
                f"{_left_open(len(threads), 'ThreadPoolExecutor', 'ThreadPoolExecutor')} cuando "
                "tu función terminó (nadie llamó a shutdown()): usa asyncio.to_thread (el ejecutor "
                "del bucle), o crea el pool con with, o ciérralo con shutdown() al terminar"
            )


def _left_open(n: int, singular: str, plural_: str) -> str:
    """«un pool … que creaste seguía abierto» o «2 pools … que creaste seguían abiertos»."""
    if n == 1:
        return f"un {singular} que creaste seguía abierto"
    return f"{plural(n, singular, plural_)} que creaste seguían abiertos"


def _children_cpu() -> float:
    times = os.times()
    return times.children_user + times.children_system


@contextmanager
def watch_work(keep: tuple[multiprocessing.process.BaseProcess, ...] = ()) -> Iterator[WorkSeen]:
    """Mide la CPU y los *pools* nuevos mientras dura el bloque; devuelve `WorkSeen`.

    `keep` son los procesos de la comprobación (su *pool*), que no cuentan como nuevos. Los
    *pools* que se creen dentro se anotan, y la anotación los mantiene vivos: uno que el alumno
    olvida sin cerrar no lo cierra la basura antes de que lo veamos. Al salir, espera un momento
    a los hijos que estén terminando, para contar su CPU.
    """
    seen = WorkSeen()
    children_before = set(multiprocessing.active_children()) | set(keep)
    own_before, reaped_before = time.process_time(), _children_cpu()
    originals = {cls: cls.__init__ for cls in (ProcessPoolExecutor, ThreadPoolExecutor)}

    def recording(cls: type, record: list[Any]) -> Callable[..., None]:
        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            originals[cls](self, *args, **kwargs)
            if getattr(self, "_thread_name_prefix", "") != "asyncio":  # el del bucle, no
                record.append(self)

        return __init__

    ProcessPoolExecutor.__init__ = recording(ProcessPoolExecutor, seen.process_pools)  # type: ignore[method-assign]
    ThreadPoolExecutor.__init__ = recording(ThreadPoolExecutor, seen.thread_pools)  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        for cls, init in originals.items():
            cls.__init__ = init  # type: ignore[method-assign]
        seen.own_cpu = time.process_time() - own_before
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:  # active_children() recoge (waitpid) a los que acaban
            if not [p for p in multiprocessing.active_children() if p not in children_before]:
                break
            time.sleep(0.02)
        seen.reaped_children_cpu = _children_cpu() - reaped_before


def calibrate(work: Callable[[int], Any], size: int, target: float, exponent: float) -> int:
    """Devuelve el tamaño con el que `work(tamaño)` gastaría unos `target` segundos de CPU aquí.

    Mide `work(size)` con ``time.thread_time()`` (la CPU de este hilo: esperar una CPU libre no
    cuenta), se queda con la mejor de tres medidas (una interrupción solo puede alargar una) y
    escala con el `exponent` del coste (1 si es lineal).
    """
    spent = []
    for _ in range(3):
        start = time.thread_time()
        work(size)
        spent.append(time.thread_time() - start)
    return max(size, int(size * (target / max(min(spent), 1e-4)) ** (1 / exponent)))


async def warm_pool(
    pool: ProcessPoolExecutor, workers: int
) -> tuple[multiprocessing.process.BaseProcess, ...]:
    """Arranca los `workers` procesos de `pool` con trabajos a la vez; devuelve sus procesos."""
    before = set(multiprocessing.active_children())
    loop = asyncio.get_running_loop()
    await asyncio.gather(*(loop.run_in_executor(pool, cpu.warm_up, 0.1) for _ in range(workers)))
    return tuple(p for p in multiprocessing.active_children() if p not in before)


async def close_pool(pool: ProcessPoolExecutor) -> None:
    """Cierra el *pool* de la comprobación sin bloquear el bucle (espera a lo que quede)."""
    await asyncio.to_thread(pool.shutdown, True, cancel_futures=True)
