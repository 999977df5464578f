"""Ejercicios que se corrigen solos.

Cada ejercicio tiene tres partes y una sola fuente de verdad para cada una:

- el **esqueleto**, en una celda del cuaderno con la etiqueta `ejercicio`: la función
  que el alumno completa (lanza `NotImplementedError` mientras no la toque);
- la **comprobación**, aquí en `src/`: `await check("01.1", mi_funcion)` la ejecuta
  contra un servidor de ayuda, vigilando el bucle con un `LagMonitor`, y explica en
  español qué se esperaba y qué llegó;
- la **solución de referencia**, también aquí, lejos de la vista del alumno hasta que
  la pida con `show_solution("01.1")`.

Las pruebas comprueban que cada solución aprueba, que cada esqueleto sin tocar suspende
con un mensaje útil y que cada error típico (`Wrong`, clasificado con un `Mistake`)
suspende con un mensaje que nombra ese error.

Lo que `check()` vigila por su cuenta, en todos los ejercicios:

- **El bloqueo del bucle.** Un `LagMonitor` mide, latido a latido, cuánto congeló el
  bucle el código (el retraso menos lo que los hilos del proceso esperaron una CPU: una
  máquina ocupada no cuenta) y lo suma. Solo cuenta lo que cae dentro de las ventanas en
  que se ejecuta código del alumno (`call_coroutine` las marca): montar servidores o
  PostgreSQL no se le achaca. Se suma cada congelación, así que trocear un bloqueo con
  `await asyncio.sleep(0)` no lo esconde. Suspende a partir de `BLOCKING_BUDGET`.
  Las comprobaciones dimensionan el trabajo para que bloquear cueste bastante más en
  cualquier máquina: esperas de reloj en los servidores (0.3 s), o, si el trabajo es CPU,
  un tamaño calibrado con `time.thread_time()` en la propia máquina.
- **Los recursos abiertos.** Se registran los `ResourceWarning` (*socket*, transporte o
  *writer* que nadie cerró) y se fuerza una recolección de basura al final.

Para corregir una clase (`python -m asyncio_avanzado corregir`), cada `check()` deja además
su resultado en el cuaderno ejecutado: una salida con el tipo MIME `GRADING_MIME` y la clave
del ejercicio, solo cuando la variable de entorno `GRADING_ENV` está puesta (véase `_emit`).
"""

import asyncio
import gc
import inspect
import os
import random
import string
import time
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ..lag import LagMonitor, format_duration

__all__ = [
    "BLOCKING_BUDGET",
    "GRADING_ENV",
    "GRADING_MIME",
    "STALL_FLOOR",
    "CheckResult",
    "Exercise",
    "Failure",
    "Mistake",
    "Wrong",
    "call_coroutine",
    "check",
    "expect_equal",
    "judged",
    "register",
    "show_solution",
    "unpredictable",
    "unpredictable_text",
]

BLOCKING_BUDGET = 0.15
"""Segundos de bucle congelado por el código, en total, a partir de los cuales se suspende.

Las comprobaciones están hechas para que cualquier forma de bloquear cueste 0.3 s o más en
cualquier máquina. El código correcto no llega a 0.01 s en una máquina normal, pero en una muy
cargada (5 procesos por núcleo en la integración continua) una solución correcta llegó a
0.113 s: la espera de CPU que ve el núcleo del sistema no lo explica todo (en una máquina
virtual, el procesador físico también se reparte). 0.15 s deja el doble de margen a cada lado.
"""

STALL_FLOOR = 0.01
"""Una congelación de menos de esto no se suma: es el ruido de cualquier máquina.

Cubre de sobra el relevo del GIL entre hilos (`sys.getswitchinterval()`, 5 ms).
"""


GRADING_MIME = "application/vnd.asyncio-avanzado.check+json"
"""Tipo MIME de la salida con que `check()` entrega su resultado al corrector."""

GRADING_ENV = "ASYNCIO_AVANZADO_CORREGIR"
"""Variable de entorno que pone el corrector en el kernel: con ella, `check()` lo emite."""


class Mistake(StrEnum):
    """Las clases de errores típicos que una comprobación debe rechazar."""

    NO_WORK = "la respuesta sin el trabajo"
    """Un resultado escrito a mano o calculado en local; conectar y cerrar sin intercambio."""
    LEFT_OPEN = "recursos abiertos"
    """Un *writer*, *socket*, sesión o *pool* sin cerrar, o cerrado sin `wait_closed()`."""
    PARTIAL_IO = "lecturas o escrituras parciales"
    """Un solo `read(100)`/`recv(1024)`, `send` sin mirar lo enviado, `sendall` no bloqueante."""
    WRONG_TOOL = "otra herramienta"
    """No el enfoque que pide el enunciado (*streams* o `sock_*`, procesos o hilos, un *pool*…)."""
    BLOCKING = "bloquea el bucle"
    """Una llamada bloqueante en la corrutina, entera o a trozos."""
    PROTOCOL = "no sigue el protocolo"
    """En fila donde se pide a la vez, varios mensajes en vuelo donde se pide ping-pong…"""
    SERVER_FALLS = "el servidor se cae"
    """Un cliente que corta a medias tumba el servidor, o deja sin servicio a los demás."""


class Failure(Exception):
    """La solución del alumno no hace lo que pide el enunciado; el mensaje dice por qué."""


Checker = Callable[[Callable[..., Any]], Awaitable[None]]


@dataclass(frozen=True)
class Wrong:
    """Un error típico: una solución equivocada, su clase y lo que debe decir el informe."""

    function: Callable[..., Any]
    mistake: Mistake | None
    says: str
    """Un fragmento (sin distinguir mayúsculas) que el informe debe contener: nombra el error."""

    @property
    def __name__(self) -> str:  # para los informes de las pruebas
        return getattr(self.function, "__name__", repr(self.function))


@dataclass(frozen=True)
class Exercise:
    """Un ejercicio: qué función se espera, cómo se comprueba y su solución."""

    key: str
    """Identificador «lección.número», por ejemplo `"01.2"`."""
    title: str
    function_name: str
    """Nombre de la función que define el esqueleto del cuaderno."""
    checker: Checker
    """Corrutina que recibe la función del alumno y lanza `Failure` si no cumple."""
    solution: Callable[..., Any]
    wrong: tuple[Wrong, ...] = ()
    """Errores típicos que la comprobación debe rechazar (las pruebas lo verifican)."""
    applies: frozenset[Mistake] = frozenset()
    """Las clases de error que tienen sentido en este ejercicio: cada una, con su `Wrong`."""
    timeout: float = 15.0

    def __post_init__(self) -> None:
        # Una función suelta en `wrong` es un error sin clasificar: las pruebas lo señalan.
        wrong = tuple(w if isinstance(w, Wrong) else Wrong(w, None, "") for w in self.wrong)
        object.__setattr__(self, "wrong", wrong)


EXERCISES: dict[str, Exercise] = {}


def register(exercise: Exercise) -> Exercise:
    """Añade `exercise` al catálogo; devuelve el mismo ejercicio."""
    if exercise.key in EXERCISES:
        raise ValueError(f"ya existe un ejercicio con la clave {exercise.key!r}")
    EXERCISES[exercise.key] = exercise
    return exercise


def _get(key: str) -> Exercise:
    try:
        return EXERCISES[key]
    except KeyError:
        known = ", ".join(sorted(EXERCISES))
        raise KeyError(f"no hay ningún ejercicio {key!r}; los que hay: {known}") from None


@dataclass
class CheckResult:
    """Resultado de una comprobación; en un cuaderno se muestra como un informe breve."""

    exercise: Exercise
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Devuelve True si la solución cumple todo lo que pide el enunciado."""
        return not self.problems

    def __repr__(self) -> str:
        head = f"Ejercicio {self.exercise.key} · {self.exercise.title}"
        if self.passed:
            return f"✔ {head}: ¡correcto!"
        lines = [f"✘ {head}: todavía no."]
        lines += [f"  - {problem}" for problem in self.problems]
        return "\n".join(lines)


def expect_equal(expected: Any, got: Any, what: str = "") -> None:
    """Lanza `Failure` con «se esperaba X, llegó Y» si los dos valores difieren."""
    if expected != got:
        prefix = f"{what}: " if what else ""
        raise Failure(f"{prefix}se esperaba {_short(expected)}, llegó {_short(got)}")


class _Judge:
    """Las ventanas de tiempo en que se ejecuta código del alumno durante una comprobación."""

    def __init__(self) -> None:
        self.windows: list[tuple[float, float]] = []
        self._open: dict[int, float] = {}
        self._next = 0

    def enter(self) -> int:
        self._next += 1
        self._open[self._next] = time.perf_counter()
        return self._next

    def leave(self, token: int) -> None:
        self.windows.append((self._open.pop(token), time.perf_counter()))

    def closed_windows(self) -> list[tuple[float, float]]:
        """Devuelve las ventanas, cerrando ahora las que sigan abiertas."""
        now = time.perf_counter()
        return self.windows + [(start, now) for start in self._open.values()]


_judge: ContextVar[_Judge | None] = ContextVar("asyncio_avanzado_judge", default=None)


@asynccontextmanager
async def judged() -> AsyncIterator[None]:
    """Marca el bloque como código del alumno: su bloqueo del bucle cuenta en el veredicto.

    `call_coroutine` ya lo hace; úsalo solo para código del alumno que se ejecute de otro
    modo. Fuera de `check()` no hace nada.
    """
    judge = _judge.get()
    if judge is None:
        yield
        return
    token = judge.enter()
    try:
        yield
    finally:
        judge.leave(token)


async def call_coroutine(candidate: Callable[..., Any], *args: Any) -> Any:
    """Llama a la corrutina del alumno con `args` y devuelve lo que devuelva.

    Mientras corre, el bloqueo del bucle cuenta en el veredicto de `check()`.
    """
    async with judged():
        outcome = candidate(*args)
        if not inspect.isawaitable(outcome):
            raise Failure(
                f"{getattr(candidate, '__name__', 'la función')} debe ser una corrutina "
                f"(async def) y devolvió {_short(outcome)} sin esperar nada"
            )
        return await outcome


_random = random.SystemRandom()


def unpredictable(n: int) -> bytes:
    """Devuelve `n` bytes al azar, distintos en cada comprobación: no se pueden escribir a mano."""
    return _random.randbytes(n)


def unpredictable_text(n: int) -> str:
    """Devuelve un texto de `n` caracteres al azar (letras, cifras, tildes y espacios)."""
    alphabet = string.ascii_letters + string.digits + "áéíóúñü¿¡ "
    return "".join(_random.choice(alphabet) for _ in range(n))


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    if len(text) <= limit:
        return text
    size = f" ({len(value)} bytes)" if isinstance(value, bytes | bytearray) else ""
    return text[: limit - 5] + "…" + text[-4:] + size


async def check(key: str, candidate: Any) -> CheckResult:
    """Comprueba la solución `candidate` del ejercicio `key`; devuelve un `CheckResult`."""
    exercise = _get(key)
    result = CheckResult(exercise)
    if not callable(candidate):
        result.problems.append(
            f"se esperaba la función {exercise.function_name}, llegó {type(candidate).__name__}"
        )
        _emit(result)
        return result
    judge = _Judge()
    monitor = LagMonitor()
    # Basura de antes (de otras celdas) no se achaca al alumno: se recoge antes de empezar.
    gc.collect()
    # Lo que sobrevivió está vivo desde antes: congelado, la pasada final solo recorre lo creado
    # durante la comprobación (la basura del alumno), y no los ~100 000 objetos de un núcleo
    # con matplotlib, que costaban 0.1 s por comprobación.
    gc.freeze()
    gc_was_enabled = gc.isenabled()
    # Sin recolecciones automáticas durante la comprobación: una pasada completa en un núcleo
    # de Jupyter con muchos objetos congela el bucle decenas de milisegundos sin culpa del
    # alumno. La de la basura del alumno se hace al final, a propósito.
    gc.disable()
    token = _judge.set(judge)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ResourceWarning)
            async with monitor:
                await _run_checker(exercise, candidate, result)
            gc.collect()
    finally:
        _judge.reset(token)
        gc.unfreeze()
        if gc_was_enabled:
            gc.enable()
    _report_warnings(caught, result)
    _judge_blocking(monitor, judge.closed_windows(), result)
    _emit(result)
    return result


def _emit(result: CheckResult) -> None:
    """Entrega `result` al corrector como una salida `GRADING_MIME`, si hay corrector.

    Solo con `GRADING_ENV` puesta y dentro de un kernel de IPython: fuera del corrector, el
    cuaderno no cambia en nada (ni las salidas guardadas de las lecciones, que nbval compara
    tipo MIME a tipo MIME, ni lo que ve quien aprende). La salida va por su clave, no por la
    posición de la celda.
    """
    if not os.environ.get(GRADING_ENV):
        return
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        return
    if get_ipython() is None:
        return
    payload = {
        "key": result.exercise.key,
        "title": result.exercise.title,
        "passed": result.passed,
        "problem": result.problems[0] if result.problems else None,
    }
    display({GRADING_MIME: payload}, raw=True)


async def _run_checker(exercise: Exercise, candidate: Any, result: CheckResult) -> None:
    try:
        async with asyncio.timeout(exercise.timeout):
            await exercise.checker(candidate)
    except NotImplementedError:
        result.problems.append(
            f"{exercise.function_name} aún lanza NotImplementedError: "
            "sustituye esa línea por tu solución"
        )
    except Failure as failure:
        result.problems.append(str(failure))
    except TimeoutError:
        result.problems.append(
            f"no terminó en {exercise.timeout:.0f} s: ¿esperas algo que nunca llega, "
            "como leer hasta el final sin que el otro lado cierre?"
        )
    except Exception as error:  # el error del alumno es información, no un fallo nuestro
        result.problems.append(f"tu función lanzó {type(error).__name__}: {error}")


def _report_warnings(caught: list[warnings.WarningMessage], result: CheckResult) -> None:
    leaks = []
    for warning in caught:
        if issubclass(warning.category, ResourceWarning):
            leaks.append(str(warning.message))
        else:  # no son asunto nuestro: que se vean como se habrían visto
            warnings.showwarning(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    if leaks:
        what = leaks[0].split(" fd=")[0].split(" laddr=")[0]
        result.problems.append(
            f"dejaste abierto algo que Python tuvo que cerrar al recoger la basura ({what}"
            + (f", y {len(leaks) - 1} más" if len(leaks) > 1 else "")
            + "): cierra cada socket con with o close(), y cada writer con writer.close() "
            "y await writer.wait_closed(), también si algo falla (try/finally)"
        )


def _judge_blocking(
    monitor: LagMonitor, windows: list[tuple[float, float]], result: CheckResult
) -> None:
    if not monitor.count:
        return
    frozen = monitor.frozen_total(floor=STALL_FLOOR, windows=windows)
    if frozen < BLOCKING_BUDGET:
        return
    worst = max((s.frozen for s in monitor.detailed_samples), default=0.0)
    machine = ""
    if monitor.can_tell_contention:
        # Siempre, aunque sea 0: el mismo informe en una máquina tranquila y en una ocupada.
        machine = (
            f" (aparte, el proceso esperó una CPU libre {format_duration(monitor.cpu_wait_total())}"
            ": eso es cosa de la máquina y no cuenta en tu contra)"
        )
    result.problems.append(
        f"la corrutina congeló el bucle de eventos {format_duration(frozen)} en total "
        f"(el tramo más largo, {format_duration(worst)}){machine}: ¿una llamada bloqueante "
        "dentro de una corrutina? Trocearla con await asyncio.sleep(0) no la arregla: "
        "espera con await algo que no bloquee, o llévala a un hilo o a un proceso"
    )


def show_solution(key: str) -> None:
    """Imprime el código de la solución de referencia del ejercicio `key`."""
    print(inspect.getsource(_get(key).solution))
