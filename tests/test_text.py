"""Plurales de los mensajes."""

import pytest

from asyncio_avanzado.text import plural


@pytest.mark.parametrize(
    ("n", "word", "expected"),
    [
        (1, "conexión", "1 conexión"),
        (2, "conexión", "2 conexiones"),
        (0, "trabajo", "0 trabajos"),
        (3, "núcleo", "3 núcleos"),
        (2, "hilo", "2 hilos"),
        (2, "vez", "2 veces"),
        (2, "petición", "2 peticiones"),
        (2, "error", "2 errores"),
        (5, "mes", "5 meses"),
    ],
)
def test_regular_plurals(n, word, expected):
    assert plural(n, word) == expected


def test_an_explicit_plural_for_phrases():
    assert plural(1, "hilo vivo", "hilos vivos") == "1 hilo vivo"
    assert plural(4, "hilo vivo", "hilos vivos") == "4 hilos vivos"
