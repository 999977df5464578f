"""Programas del sistema que algunas pruebas necesitan (PostgreSQL, Chromium, hunspell).

En un portátil, una prueba cuyo programa falta se salta y dice cómo instalarlo; en la
integración continua (`.ci/run` exporta `CURSO_CI=1`) falla, porque allí `.ci/run` debía
haberlo instalado y un paso de instalación olvidado tiene que verse.
"""

import os

import pytest

__all__ = ["IN_CI", "require"]

IN_CI = os.environ.get("CURSO_CI") == "1"


def require(found: bool, what: str, install: str) -> None:
    """Salta la prueba (o la hace fallar en CI) si `found` es falso."""
    if found:
        return
    message = f"falta {what}; instálalo con: {install}"
    if IN_CI:
        pytest.fail(f"{message} (.ci/run debería haberlo instalado)", pytrace=False)
    pytest.skip(message)
