"""Piezas del sitio web que Sphinx importa desde docs/conf.py.

- `read_lesson`: lee una lección para el sitio (myst-nb lo usa como lector de `.ipynb`).
- `jupyterlab_slug`: los anclajes de los títulos, iguales que los de JupyterLab.
"""

import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))

from navigation import TAG  # noqa: E402 (tools/ no es un paquete)

__all__ = ["jupyterlab_slug", "read_lesson"]


def read_lesson(text: str) -> nbformat.NotebookNode:
    """Devuelve la lección `text` tal como la muestra el sitio.

    Sin las celdas de navegación (la barra lateral y los botones del sitio hacen ese papel) y
    con el título `# ...` delante de la celda de preparación, que en el cuaderno va antes: una
    página empieza por su título. El archivo no cambia: el `.ipynb` que se descarga del sitio
    es el del repositorio.
    """
    nb = nbformat.reads(text, as_version=4)
    cells = [c for c in nb.cells if TAG not in c.metadata.get("tags", [])]
    for i, cell in enumerate(cells):
        if cell.cell_type != "markdown":
            continue
        lines = cell.source.splitlines()
        heading = next((j for j, line in enumerate(lines) if line.startswith("# ")), None)
        if heading is None:
            continue
        title = nbformat.v4.new_markdown_cell("\n".join(lines[: heading + 1]), id=cell.get("id"))
        rest = "\n".join(lines[heading + 1 :]).strip()
        after = [nbformat.v4.new_markdown_cell(rest, id=f"{cell.get('id')}-resto")] if rest else []
        nb.cells = [title, *cells[:i], *after, *cells[i + 1 :]]
        return nb
    raise ValueError("la lección no tiene ningún título «# ...» en Markdown")


def jupyterlab_slug(title: str) -> str:
    """Devuelve el anclaje de un título como lo pone JupyterLab: los espacios, guiones.

    Así un enlace entre lecciones como `03-....ipynb#¿Y-si-olvidamos-setblocking(False)?`
    lleva al mismo sitio en JupyterLab y en la web, y uno roto hace fallar la construcción.
    """
    return title.strip().replace(" ", "-")
