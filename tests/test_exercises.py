"""Cada ejercicio: la solución aprueba; el esqueleto sin tocar y los errores típicos suspenden."""

import asyncio
import re
import socket
import time
from pathlib import Path

import nbformat
import pytest

from asyncio_avanzado import check
from asyncio_avanzado.exercises import EXERCISES, Exercise, lesson00

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


@pytest.mark.parametrize("key", KEYS)
def test_reference_solution_passes(key):
    result = asyncio.run(check(key, EXERCISES[key].solution))
    assert result.passed, repr(result)
    assert "¡correcto!" in repr(result)


@pytest.mark.parametrize("key", KEYS)
def test_untouched_stub_fails_with_a_helpful_message(key):
    result = asyncio.run(check(key, load_stub(EXERCISES[key])))
    assert not result.passed
    assert result.problems and all(len(p) > 30 for p in result.problems), result.problems


@pytest.mark.parametrize(
    ("key", "index"), [(k, i) for k in KEYS for i in range(len(EXERCISES[k].wrong))]
)
def test_typical_mistakes_fail(key, index):
    async def check_and_clean():
        try:
            return await check(key, EXERCISES[key].wrong[index])
        finally:
            # El error «no cierra la conexión» deja sockets abiertos a propósito.
            while lesson00._never_closes.leaked:
                lesson00._never_closes.leaked.pop().transport.abort()
            await asyncio.sleep(0)

    result = asyncio.run(check_and_clean())
    assert not result.passed, f"{EXERCISES[key].wrong[index].__name__} aprobó"


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
