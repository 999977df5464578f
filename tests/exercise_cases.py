"""Los errores típicos de los ejercicios como casos de prueba (tests/test_mistakes_*.py)."""

import asyncio
import socket

from asyncio_avanzado import check
from asyncio_avanzado.exercises import EXERCISES, lesson00

__all__ = ["assert_mistake_is_rejected", "case_id", "cases"]


def cases(first: str, last: str) -> list[tuple[str, int]]:
    """Devuelve (ejercicio, índice) de cada error típico de los ejercicios de `first` a `last`."""
    keys = [k for k in sorted(EXERCISES) if first <= k <= last]
    return [(k, i) for k in keys for i in range(len(EXERCISES[k].wrong))]


def case_id(case: tuple[str, int]) -> str:
    key, index = case
    return f"{key}-{EXERCISES[key].wrong[index].__name__}"


def _close_orphan_accepts(loop: asyncio.AbstractEventLoop, context: dict) -> None:
    """Cierra el socket que asyncio aceptó para un sock_accept ya cancelado (3.11).

    Si la conexión llega justo cuando se cancela el `sock_accept` de un error típico, el bucle
    la acepta, no puede entregarla («InvalidStateError») y la deja en la traza del error, que
    el registro de pytest guarda: el socket quedaría abierto hasta el final de la prueba.
    """
    error = context.get("exception")
    if isinstance(error, asyncio.InvalidStateError):
        tb = error.__traceback__
        while tb is not None:
            conn = tb.tb_frame.f_locals.get("conn")
            if isinstance(conn, socket.socket):
                conn.close()
            tb = tb.tb_next
    loop.default_exception_handler(context)


def assert_mistake_is_rejected(key: str, index: int) -> None:
    """Falla si el error típico aprueba, no está clasificado o el informe no lo nombra."""
    wrong = EXERCISES[key].wrong[index]

    async def check_and_clean():
        asyncio.get_running_loop().set_exception_handler(_close_orphan_accepts)
        try:
            return await check(key, wrong.function)
        finally:
            # Los errores «no cierra la conexión» dejan sockets abiertos a propósito.
            while lesson00._never_closes.leaked:
                lesson00._never_closes.leaked.pop().transport.abort()
            await asyncio.sleep(0)

    result = asyncio.run(check_and_clean())
    assert not result.passed, f"{wrong.__name__} aprobó"
    assert wrong.mistake is not None and wrong.says, (
        f"{wrong.__name__}: clasifícalo con Wrong(función, Mistake.X, 'lo que dice el informe')"
    )
    report = "\n".join(result.problems).lower()
    assert wrong.says.lower() in report, (
        f"{wrong.__name__} ({wrong.mistake}) suspendió, pero el informe no nombra ese error "
        f"(se esperaba «{wrong.says}»): {result.problems}"
    )
