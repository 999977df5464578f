"""Mantiene la línea de navegación al principio y al final de cada lección.

Uso: python tools/navigation.py           (reescribe los cuadernos)
     python tools/navigation.py --check   (falla si alguno está desactualizado)
"""

import argparse
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
TAG = "navegacion"

# El repositorio público del curso: de aquí salen los enlaces de Binder.
REPOSITORY = "curso-asyncio/topicos-avanzados-asyncio"
BRANCH = "main"


def binder_url(notebook: str) -> str:
    """Devuelve el enlace que abre `notebook` en JupyterLab sobre Binder."""
    return f"https://mybinder.org/v2/gh/{REPOSITORY}/{BRANCH}?urlpath=lab/tree/notebooks/{notebook}"


def lessons() -> list[Path]:
    """Devuelve las lecciones en orden."""
    return sorted(NOTEBOOKS.glob("[0-9][0-9]-*.ipynb"))


def title(nb: nbformat.NotebookNode) -> str:
    """Devuelve el título (la primera línea `# ...`) de un cuaderno."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    raise ValueError("el cuaderno no tiene ningún título «# ...» en Markdown")


def nav_line(paths: list[Path], titles: list[str], i: int) -> str:
    """Devuelve la línea de navegación de la lección `i`."""

    def link(j: int, arrow_left: bool) -> str:
        text = f"{paths[j].name[:2]} · {titles[j]}"
        return f"[← {text}]({paths[j].name})" if arrow_left else f"[{text} →]({paths[j].name})"

    parts = [link(i - 1, True) if i > 0 else "← (inicio)"]
    parts.append(f"[Índice]({paths[0].name}#Índice-de-lecciones)")
    parts.append(link(i + 1, False) if i + 1 < len(paths) else "(fin) →")
    badge = (
        f"[![Abrir en Binder](https://mybinder.org/badge_logo.svg)]({binder_url(paths[i].name)})"
    )
    return " | ".join(parts) + " · " + badge


def update(check: bool) -> list[str]:
    """Pone al día la navegación; devuelve los cuadernos que estaban desactualizados."""
    paths = lessons()
    books = [nbformat.read(p, as_version=4) for p in paths]
    titles = [title(nb) for nb in books]
    stale = []
    for i, (path, nb) in enumerate(zip(paths, books, strict=True)):
        line = nav_line(paths, titles, i)
        cells = [c for c in nb.cells if TAG not in c.metadata.get("tags", [])]
        new = [_nav_cell(line, "navegacion-arriba"), *cells, _nav_cell(line, "navegacion-abajo")]
        if [(c.id, c.source) for c in new] != [(c.get("id"), c.source) for c in nb.cells]:
            stale.append(path.name)
            if not check:
                nb.cells = new
                nbformat.write(nb, path)
    return stale


def _nav_cell(line: str, cell_id: str) -> nbformat.NotebookNode:
    # Un id fijo: volver a generar la navegación no cambia nada más en el diff.
    return nbformat.v4.new_markdown_cell(line, id=cell_id, metadata={"tags": [TAG]})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="solo comprobar, sin escribir")
    args = parser.parse_args()
    stale = update(args.check)
    if args.check and stale:
        print("navegación desactualizada en: " + ", ".join(stale), file=sys.stderr)
        print("ejecuta: python tools/navigation.py", file=sys.stderr)
        return 1
    for name in stale:
        print(f"{name}: navegación actualizada")
    return 0


if __name__ == "__main__":
    sys.exit(main())
