"""Cómo llaman las comprobaciones al código del alumno: a la vez, con plazo, con datos al azar."""

import asyncio
import random
from collections.abc import Callable, Sequence
from typing import Any

from ..lag import format_duration
from .core import Failure, call_coroutine

__all__ = ["run_calls", "sizes"]


def sizes(*ranges: tuple[int, int]) -> list[int]:
    """Devuelve un tamaño al azar dentro de cada rango (inclusive), en el mismo orden."""
    return [random.randint(low, high) for low, high in ranges]


async def run_calls(
    candidate: Any,
    calls: Sequence[tuple[Any, ...]],
    deadline: float,
    on_timeout: str | Callable[[], str],
    stalled: Callable[[], str] = lambda: "",
) -> list[Any]:
    """Llama a la vez a `candidate(*args)` por cada `args` de `calls`; devuelve los resultados.

    Si no terminan en `deadline` segundos, lanza `Failure` con `on_timeout` (o con el texto
    que devuelva, si es una función): qué se observó y qué puede faltar. Mientras esperan,
    pregunta cada décima de segundo a `stalled()`: si devuelve un texto (la conversación ya no puede
    avanzar), lanza `Failure` con él sin esperar al plazo. Si una llamada lanza una
    excepción, la vuelve a lanzar (`NotImplementedError`, `Failure`) o la explica.
    """
    loop = asyncio.get_running_loop()
    tasks = [asyncio.ensure_future(call_coroutine(candidate, *args)) for args in calls]
    end = loop.time() + deadline
    try:
        while not all(task.done() for task in tasks):
            await asyncio.wait(tasks, timeout=0.1)
            if all(task.done() for task in tasks):
                break
            if problem := stalled():
                raise Failure(problem)
            if loop.time() > end:
                raise Failure(
                    f"tu función no terminó en {format_duration(deadline)}: "
                    + (on_timeout if isinstance(on_timeout, str) else on_timeout())
                )
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    if any(task.cancelled() for task in tasks):
        raise Failure(
            "tu función terminó con CancelledError sin que nadie la cancelara: ¿lanzas "
            "CancelledError tú mismo, o cancelas tu propia tarea?"
        )
    outcomes = [task.exception() or task.result() for task in tasks]
    for outcome in outcomes:
        if isinstance(outcome, NotImplementedError | Failure):
            raise outcome
        if isinstance(outcome, BlockingIOError):
            raise Failure(
                "tu función lanzó BlockingIOError: una llamada directa al socket no bloqueante "
                "(sock.sendall, sock.send o sock.recv) no pudo completarse en el acto. Cuando "
                "el búfer de envío está lleno, sock.sendall no espera: usa await "
                "loop.sock_sendall(...) y await loop.sock_recv(...), que esperan sin bloquear"
            ) from outcome
        if isinstance(outcome, BaseException):
            # El TimeoutError del alumno no debe confundirse con el límite de la comprobación.
            raise Failure(f"tu función lanzó {type(outcome).__name__}: {outcome}") from outcome
    return outcomes
