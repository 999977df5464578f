"""Trabajos de CPU para la lección 05: funciones de módulo, que un *pool* de procesos puede usar.

Un ``ProcessPoolExecutor`` envía al proceso hijo la función **por referencia** (módulo y
nombre, con ``pickle``) y el hijo la importa. Por eso viven aquí, en un módulo importable,
y no en una celda del cuaderno: con los métodos de arranque *spawn* y *forkserver* el hijo
no ha ejecutado el cuaderno y no encontraría una función definida en él.

- ``count_primes``: Python puro; mantiene el GIL todo el tiempo.
- ``hash_buffer`` y ``sha256_hex``: ``hashlib`` con búferes grandes; sueltan el GIL mientras
  calculan, así que varios hilos sí avanzan a la vez.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

R = TypeVar("R")

__all__ = [
    "PRIME_LIMIT",
    "count_primes",
    "cpu_time",
    "hash_buffer",
    "payload_size",
    "redirect_stderr",
    "sha256_hex",
    "warm_up",
]

#: Límite con el que ``count_primes`` tarda unas décimas de segundo en un portátil normal.
PRIME_LIMIT = 200_000


def count_primes(limit: int) -> int:
    """Cuenta los primos menores que ``limit`` por división de prueba, en Python puro.

    Devuelve cuántos hay (por ejemplo, 25 para ``limit=100``). Es lento a propósito: todo
    el trabajo es código de Python, que solo avanza con el GIL.
    """
    if limit < 0:
        raise ValueError(f"limit debe ser >= 0; se recibió {limit!r}")
    count = 0
    for n in range(2, limit):
        d = 2
        while d * d <= n:
            if n % d == 0:
                break
            d += 1
        else:
            count += 1
    return count


def cpu_time(fn: Callable[..., R], /, *args: Any) -> tuple[R, float]:
    """Llama a ``fn(*args)`` y mide el tiempo de CPU que gastó el hilo que la ejecutó.

    Devuelve ``(resultado, segundos de CPU)``. Funciona igual en la corrutina, en un hilo o en
    un proceso del *pool* (``fn`` viaja por referencia, como cualquier función de módulo). Un
    hilo que espera el GIL no gasta CPU, así que la suma de varios trabajos dividida entre lo
    que tardaron juntos dice cuántos núcleos estuvieron ocupados de media.
    """
    start = time.thread_time()
    result = fn(*args)
    return result, time.thread_time() - start


def hash_buffer(size: int, rounds: int) -> str:
    """Calcula ``rounds`` veces el SHA-256 de un búfer de ``size`` bytes (crea el búfer aquí).

    Devuelve el resumen hexadecimal de la última vuelta. ``hashlib`` suelta el GIL con
    búferes de más de 2 KiB, así que varios hilos calculan a la vez de verdad.
    """
    data = bytes(size)  # se crea en quien ejecuta: no hay que enviarlo a otro proceso
    digest = ""
    for _ in range(rounds):
        digest = hashlib.sha256(data).hexdigest()
    return digest


def payload_size(data: bytes) -> int:
    """Devuelve ``len(data)``: un trabajo casi nulo, para medir el coste de enviar ``data``."""
    return len(data)


# Registro de las llamadas a sha256_hex *en este proceso*: las comprobaciones de la lección 05
# lo usan para saber si el cálculo corrió en hilos (aquí) o en procesos hijos (no aparece).
_calls: list[tuple[int, float, float]] = []
_calls_lock = threading.Lock()


def sha256_hex(data: bytes, rounds: int = 1) -> str:
    """Devuelve en hexadecimal el SHA-256 de ``data`` repetido ``rounds`` veces.

    Suelta el GIL mientras calcula. Es lo mismo que ``sha256(data * rounds)``, sin copiar.
    """
    start = time.perf_counter()
    hasher = hashlib.sha256()
    for _ in range(rounds):
        hasher.update(data)
    digest = hasher.hexdigest()
    with _calls_lock:
        _calls.append((threading.get_ident(), start, time.perf_counter()))
    return digest


def _take_calls() -> list[tuple[int, float, float]]:
    """Vacía el registro de llamadas de este proceso; devuelve (hilo, inicio, fin) de cada una."""
    with _calls_lock:
        calls = list(_calls)
        _calls.clear()
    return calls


def warm_up(seconds: float = 0.0) -> int:
    """Duerme ``seconds`` segundos y devuelve el pid de quien la ejecuta.

    Sirve para calentar un *pool* de procesos: con *spawn* y *forkserver* el *pool* crea
    cada proceso al llegarle un trabajo y el proceso, al nacer, importa este módulo. Con
    ``max_workers`` llamadas a la vez (y una espera corta, para que ningún proceso atienda
    dos), arrancan todos antes de medir nada; los pids dicen cuántos respondieron.
    """
    if seconds > 0:
        time.sleep(seconds)
    return os.getpid()


def _traced(
    fn: Callable[..., R], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[R, float, int]:
    """Llama a ``fn(*args, **kwargs)``; devuelve (resultado, segundos de CPU del hilo, pid).

    Las comprobaciones de los ejercicios envuelven así cada trabajo que reciben sus *pools*:
    saben qué proceso lo calculó y cuánta CPU gastó en él.
    """
    start = time.thread_time()
    result = fn(*args, **kwargs)
    return result, time.thread_time() - start, os.getpid()


def _pid() -> int:
    """Devuelve el pid de quien la ejecuta (para ver que un trabajo corrió en otro proceso)."""
    return os.getpid()


def redirect_stderr(path: str) -> None:
    """Envía la salida de errores de este proceso al fichero ``path``; no devuelve nada.

    Sirve de ``initializer`` de un *pool* de procesos: así la traza de un hijo que muere no
    se mezcla con la salida del cuaderno y podemos leerla después.
    """
    import sys

    sys.stderr = open(path, "w", encoding="utf-8")  # noqa: SIM115 (vive lo que el proceso)
