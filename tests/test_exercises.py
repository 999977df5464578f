"""Cada ejercicio: la solución aprueba y el esqueleto sin tocar suspende con un mensaje útil.

Los errores típicos, en tests/test_mistakes_*.py (con la máquina ocupada).
"""

import asyncio
import re
import socket
import time
from pathlib import Path

import nbformat
import pytest

from asyncio_avanzado import check
from asyncio_avanzado.exercises import EXERCISES, Exercise
from asyncio_avanzado.exercises.core import Mistake

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
KEYS = sorted(EXERCISES)


def stub_cells() -> dict[str, list[str]]:
    """Devuelve, por nombre de función, el código de las celdas `ejercicio` que la definen."""
    found: dict[str, list[str]] = {}
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]-*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if "ejercicio" in cell.metadata.get("tags", []):
                for name in re.findall(r"^(?:async )?def (\w+)", cell.source, re.M):
                    found.setdefault(name, []).append(cell.source)
    return found


def load_stub(exercise: Exercise):
    sources = stub_cells().get(exercise.function_name, [])
    assert len(sources) == 1, (
        f"se esperaba una celda «ejercicio» que defina {exercise.function_name}, hay {len(sources)}"
    )
    namespace = {"asyncio": asyncio, "socket": socket, "time": time}
    exec(sources[0], namespace)
    return namespace[exercise.function_name]


MACHINES = ["tranquila", "ocupada"]


@pytest.fixture(autouse=True)
def shared_postgres(postgres):
    """Las comprobaciones de 07.1, 09.3 y 10.x usan el PostgreSQL del módulo (tests/conftest.py);
    la que arranca el suyo, sin ninguno en marcha, se prueba en tests/test_postgres.py."""


@pytest.fixture(params=MACHINES)
def machine(request, cores):
    """Las referencias se prueban en la máquina tranquila y con dos procesos al lado."""
    if request.param == "ocupada":
        cores.start()
    else:
        cores.stop()
    return request.param


@pytest.mark.parametrize("key", KEYS)
def test_reference_solution_passes(key, machine):
    result = asyncio.run(check(key, EXERCISES[key].solution))
    assert result.passed, repr(result)
    assert "¡correcto!" in repr(result)


@pytest.mark.parametrize("key", KEYS)
def test_untouched_stub_fails_with_a_helpful_message(key):
    result = asyncio.run(check(key, load_stub(EXERCISES[key])))
    assert not result.passed
    assert result.problems and all(len(p) > 30 for p in result.problems), result.problems


@pytest.mark.parametrize("key", KEYS)
def test_every_class_of_mistake_that_applies_has_a_wrong_solution(key):
    exercise = EXERCISES[key]
    assert exercise.applies, f"{key}: di qué clases de error se aplican (applies=...)"
    covered = {w.mistake for w in exercise.wrong}
    missing = exercise.applies - covered
    assert not missing, f"{key}: sin solución errónea para {sorted(missing)}"
    extra = covered - exercise.applies
    assert not extra, f"{key}: soluciones erróneas de clases que no se aplican: {sorted(extra)}"


def test_blocking_applies_to_every_exercise():
    # Una llamada bloqueante se puede meter en cualquier corrutina.
    for key in KEYS:
        assert Mistake.BLOCKING in EXERCISES[key].applies, key


def test_a_sync_function_where_a_coroutine_is_expected():
    def pedir_eco(direccion, mensaje):
        return mensaje

    result = asyncio.run(check("00.1", pedir_eco))
    assert "debe ser una corrutina (async def)" in repr(result)


def test_unknown_key_lists_the_known_ones():
    with pytest.raises(KeyError, match="los que hay: 00.1"):
        asyncio.run(check("99.9", print))


def test_show_solution_prints_the_reference(capsys):
    from asyncio_avanzado import show_solution

    show_solution("00.1")
    assert "async def pedir_eco" in capsys.readouterr().out
