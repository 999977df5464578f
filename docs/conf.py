"""Configuración de Sphinx para el sitio web del curso.

No se usa directamente: `python tools/build_site.py` prepara la fuente (las lecciones, la
portada sacada del README y el glosario) en una carpeta temporal y construye con esta
configuración (`sphinx-build -c docs`).
"""

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path[:0] = [str(DOCS), str(DOCS.parent / "tools")]

from navigation import BRANCH, REPOSITORY  # noqa: E402

project = "Tópicos avanzados de asyncio"
author = "Curso de asyncio"
copyright = "el curso «Tópicos avanzados de asyncio»"
language = "es"

# githubpages: el archivo .nojekyll, para que GitHub Pages publique _static/ y _images/ tal cual.
extensions = ["myst_nb", "sphinx.ext.githubpages"]
root_doc = "index"
exclude_patterns = [".ipynb_checkpoints"]
# Toda referencia que no se resuelva es un aviso (y la construcción los trata como errores).
nitpicky = True

# myst-nb: las salidas guardadas, sin ejecutar nada (el sitio muestra lo que comparó la CI).
nb_execution_mode = "off"
# Las lecciones, sin sus celdas de navegación y con el título primero (docs/course_site.py).
nb_custom_formats = {".ipynb": "course_site.read_lesson"}
# Sin los scripts de ipywidgets, que vendrían de una CDN: el sitio no sale a internet.
nb_ipywidgets_js = {}
nb_merge_streams = True

# Anclajes de los títulos como los de JupyterLab: los enlaces de un cuaderno a una sección de
# otro (`03-....ipynb#Un-cliente-con-loop.sock_*`) valen en los dos sitios.
myst_heading_anchors = 3
myst_heading_slug_func = "course_site.jupyterlab_slug"

html_theme = "sphinx_book_theme"
html_title = project
html_static_path = [str(DOCS / "_static")]
html_css_files = ["curso.css"]
html_favicon = str(DOCS / "_static" / "favicon.svg")
html_last_updated_fmt = None
html_show_sphinx = False

html_theme_options = {
    # El botón de Binder de cada lección: el mismo enlace que tools/navigation.py.
    "repository_url": f"https://github.com/{REPOSITORY}",
    "repository_branch": BRANCH,
    "path_to_docs": "notebooks",
    "launch_buttons": {
        "binderhub_url": "https://mybinder.org",
        "notebook_interface": "jupyterlab",
    },
    "use_download_button": True,
    "use_repository_button": True,
    "use_source_button": False,
    "use_edit_page_button": False,
    "use_issues_button": False,
    "home_page_in_toc": True,
    "show_navbar_depth": 1,
    "show_toc_level": 2,
    # La búsqueda ya está en la barra lateral: sin repetirla en una barra superior.
    "navbar_persistent": [],
}
# Claro por omisión (las figuras de matplotlib tienen fondo blanco); el botón de la cabecera
# cambia a oscuro. Sin valor, el tema escribe un error en la consola del navegador.
html_context = {"default_mode": "light"}
