"""Higiene de los cuadernos: salidas de un «Run All» limpio, navegación al día, nada privado."""

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))


def code_cells(path: Path) -> list[nbformat.NotebookNode]:
    return [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


def test_there_are_lessons():
    assert LESSONS, "no hay ningún cuaderno en notebooks/"
    assert LESSONS[0].name == "00-bienvenida.ipynb"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_outputs_come_from_one_clean_run_all(path):
    # Un cuaderno «limpiado» (sin execution_count) convierte nbval estricto en «solo se ejecuta».
    counts = [c.execution_count for c in code_cells(path)]
    assert counts == list(range(1, len(counts) + 1)), (
        f"{path.name}: ejecuta «python tools/run_notebooks.py {path.relative_to(ROOT)}»"
    )


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_kernel_and_name(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert re.fullmatch(r"\d\d-[a-z0-9-]+\.ipynb", path.name), "nombre NN-tema-sin-acentos"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_outputs_are_small_and_private(path):
    private = re.compile(r"/tmp/|/home/|/root/|/work/|\\Users\\|token=|site-packages")
    for i, cell in enumerate(code_cells(path)):
        for output in cell.outputs:
            text = str(output.get("text", "")) + str(output.get("data", {}).get("text/plain", ""))
            assert not private.search(text), f"{path.name} celda {i}: ruta o secreto en la salida"
            assert len(str(output)) < 300_000, f"{path.name} celda {i}: salida enorme"
            if output.output_type == "error":
                assert "raises-exception" in cell.metadata.get("tags", []), (
                    f"{path.name} celda {i}: error guardado sin la etiqueta raises-exception"
                )


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_lesson_sections(path):
    text = "\n".join(
        c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown"
    )
    for heading in ("**Objetivos**", "**Requisitos**", "## Errores frecuentes", "## Ejercicios"):
        assert heading in text, f"{path.name}: falta {heading}"
    assert "## Resumen" in text or "## Glosario" in text


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_links_to_lessons_exist(path):
    text = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells)
    for target in re.findall(r"\]\((\d\d-[^)#\s/]+\.ipynb)", text):
        assert (path.parent / target).exists(), f"{path.name}: enlace roto a {target}"


def test_navigation_is_up_to_date():
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "navigation.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
