"""Higiene de los cuadernos: salidas de un «Run All» limpio, navegación al día, nada privado."""

import importlib.util
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


# Rutas de esta máquina (también carpetas temporales: /tmp/..., tmpXXXXXXXX de tempfile, las
# de macOS y Windows), tokens y rutas de paquetes instalados.
PRIVATE = re.compile(
    r"/tmp/|/home/|/root/|/work/|/var/folders/|/private/var/|\\Users\\|AppData"
    r"|\btmp[a-z0-9_]{8}\b|token=|site-packages"
)


def output_text(output: nbformat.NotebookNode) -> str:
    """Devuelve todo el texto de una salida: flujos, datos de texto, error y su traceback."""
    parts = [output.get("text", ""), output.get("evalue", ""), *output.get("traceback", [])]
    for mime, value in output.get("data", {}).items():
        if mime.startswith("text/") or mime.endswith("json"):
            parts.append(value if isinstance(value, str) else str(value))
    return "\n".join(parts)


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_outputs_are_small_and_private(path):
    for i, cell in enumerate(code_cells(path)):
        for output in cell.outputs:
            found = PRIVATE.search(output_text(output))
            assert not found, f"{path.name} celda {i}: ruta o secreto en la salida: {found[0]!r}"
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


def _navigation():
    """Importa tools/navigation.py: de ahí salen los enlaces de Binder (REPOSITORY, BRANCH)."""
    spec = importlib.util.spec_from_file_location("navigation", ROOT / "tools" / "navigation.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_readme_links_the_lesson_and_its_binder_badge(path):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"](notebooks/{path.name})" in readme, f"README.md: falta {path.name} en el temario"
    url = _navigation().binder_url(path.name)
    assert f"]({url})" in readme, f"README.md: falta la insignia de Binder de {path.name}: {url}"


def test_readme_links_and_binder_badges_point_to_lessons_that_exist():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\((notebooks/[^)\s#?]+)\)", readme)
    links += re.findall(r"urlpath=lab/tree/(notebooks/[^)\s#&]+)", readme)
    assert links, "README.md no enlaza ninguna lección"
    missing = sorted({link for link in links if not (ROOT / link).exists()})
    assert not missing, f"README.md enlaza lecciones que no existen: {missing}"
    navigation = _navigation()
    prefix = f"https://mybinder.org/v2/gh/{navigation.REPOSITORY}/{navigation.BRANCH}?"
    binder = re.findall(r"https://mybinder\.org/v2/gh/[^)\s]+", readme)
    other = [url for url in binder if not url.startswith(prefix)]
    assert not other, f"enlaces de Binder que no usan {prefix} (tools/navigation.py): {other}"
