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
con un mensaje útil y que las versiones erróneas conocidas (por ejemplo, una que bloquea
el bucle) también suspenden.
"""

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ..lag import LagMonitor, format_duration

__all__ = [
    "BLOCKING_THRESHOLD",
    "CheckResult",
    "Exercise",
    "Failure",
    "call_coroutine",
    "check",
    "expect_equal",
    "register",
    "show_solution",
]

BLOCKING_THRESHOLD = 0.15
"""Segundos de bucle congelado a partir de los cuales una comprobación suspende.

Las comprobaciones usan servidores con retardos de 0.3 s o más, así que una llamada
bloqueante congela el bucle bastante más que esto; el código correcto, nunca tanto.
"""


class Failure(Exception):
    """La solución del alumno no hace lo que pide el enunciado; el mensaje dice por qué."""


Checker = Callable[[Callable[..., Any]], Awaitable[None]]


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
    wrong: tuple[Callable[..., Any], ...] = ()
    """Errores típicos que la comprobación debe rechazar (las pruebas lo verifican)."""
    timeout: float = 15.0


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


async def call_coroutine(candidate: Callable[..., Any], *args: Any) -> Any:
    """Llama a la corrutina del alumno con `args` y devuelve lo que devuelva."""
    outcome = candidate(*args)
    if not inspect.isawaitable(outcome):
        raise Failure(
            f"{getattr(candidate, '__name__', 'la función')} debe ser una corrutina "
            f"(async def) y devolvió {_short(outcome)} sin esperar nada"
        )
    return await outcome


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
        return result
    monitor = LagMonitor()
    async with monitor:
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
    if monitor.count and monitor.max_lag > BLOCKING_THRESHOLD:
        result.problems.append(
            f"la corrutina congeló el bucle de eventos {format_duration(monitor.max_lag)}: "
            "¿una llamada bloqueante dentro de una corrutina?"
        )
    return result


def show_solution(key: str) -> None:
    """Imprime el código de la solución de referencia del ejercicio `key`."""
    print(inspect.getsource(_get(key).solution))
