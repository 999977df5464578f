"""El paquete: lo que exporta, y lo que carga al importarse."""

import subprocess
import sys

import pytest

import asyncio_avanzado


def test_every_exported_name_exists():
    for name in asyncio_avanzado.__all__:
        assert getattr(asyncio_avanzado, name) is not None, name


def test_the_checks_load_only_when_asked_for():
    # Un proceso hijo que importa el paquete para arrancar un servicio no carga los ejercicios.
    code = (
        "import sys, asyncio_avanzado\n"
        "print('asyncio_avanzado.exercises' in sys.modules)\n"
        "from asyncio_avanzado import check\n"
        "print('asyncio_avanzado.exercises' in sys.modules, check.__module__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[:2] == ["False", "True asyncio_avanzado.exercises.core"]


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no_existe"):
        asyncio_avanzado.no_existe  # noqa: B018
