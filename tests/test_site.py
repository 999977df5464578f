"""El curso como sitio web, visto en un navegador real.

- `site` construye el sitio con `python tools/build_site.py` (una vez por sesión, en una
  carpeta temporal) y lo sirve en 127.0.0.1 con un puerto libre.
- Chromium sin ventana (el del sistema y con los mismos argumentos que tests/test_binder.py:
  nada sale de 127.0.0.1) abre cada página y comprueba lo que ve quien lee: el título de la
  lección, cada figura cargada (`naturalWidth > 0`), las celdas de código y sus salidas, el
  botón de Binder que abre ese cuaderno, la descarga del `.ipynb`, ningún error de JavaScript
  en la consola y ninguna petición fuera del servidor local. La búsqueda encuentra «bucle de
  eventos». Las capturas quedan en artifacts/sitio/ (no se suben).
- Una construcción con un enlace roto entre lecciones y una imagen que falta termina con error.
"""

import importlib.util
import re
import select
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
import test_binder
from playwright.sync_api import Browser, BrowserContext, Page
from system_tools import require

ROOT = Path(__file__).resolve().parent.parent
LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
ARTIFACTS = ROOT / "artifacts" / "sitio"
BUILD_TIMEOUT = 180

# El Chromium de tests/test_binder.py (el del sistema, sin red): su accesorio, sin copiarlo.
browser = test_binder.browser


def _navigation():
    """Importa tools/navigation.py: el enlace de Binder y el título de cada lección."""
    spec = importlib.util.spec_from_file_location("navigation", ROOT / "tools" / "navigation.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


navigation = _navigation()


def plain(markdown: str) -> str:
    """Devuelve el texto de un título en Markdown como lo muestra el navegador."""
    parts = re.split(r"(`[^`]*`)", markdown)
    return "".join(p[1:-1] if p.startswith("`") else re.sub(r"[*_]", "", p) for p in parts)


def build(out: Path, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "tools" / "build_site.py"), "--salida", str(out), *options],
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
    )


@dataclass
class Site:
    folder: Path
    url: str  # con / al final
    seconds: float  # lo que tardó la construcción


@pytest.fixture(scope="session")
def sphinx():
    """Salta (o falla en la CI) si falta lo que construye el sitio."""
    found = all(importlib.util.find_spec(m) for m in ("sphinx", "myst_nb", "sphinx_book_theme"))
    require(found, "Sphinx con myst-nb y sphinx-book-theme", "pip install -r requirements-site.txt")


@pytest.fixture(scope="session")
def site(sphinx, tmp_path_factory):
    """El sitio construido por tools/build_site.py y servido en 127.0.0.1 (puerto libre)."""
    folder = tmp_path_factory.mktemp("sitio") / "html"
    start = time.perf_counter()
    built = build(folder, "--trabajo", str(tmp_path_factory.mktemp("sitio-fuente")))
    seconds = time.perf_counter() - start
    if built.returncode != 0:
        pytest.fail(f"tools/build_site.py falló:\n{built.stdout}\n{built.stderr}", pytrace=False)
    print(f"\nsitio construido en {seconds:.1f} s")
    # El servidor en otro proceso: sus hilos (uno por conexión) no son de esta prueba.
    server = subprocess.Popen(
        [sys.executable, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1"],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        ready, _, _ = select.select([server.stdout], [], [], 30)
        line = server.stdout.readline() if ready else ""
        match = re.search(r"port (\d+)", line)
        assert match, f"http.server no dijo su puerto: {line!r}"
        yield Site(folder, f"http://127.0.0.1:{match[1]}/", seconds)
    finally:
        server.terminate()
        server.wait(timeout=10)
        server.stdout.close()


@dataclass
class Visit:
    page: Page
    errors: list[str]  # errores de la consola y excepciones de JavaScript
    outside: list[str]  # peticiones que no van al servidor local


@pytest.fixture(scope="module")
def context(browser: Browser):
    """Un contexto de Chromium (una ventana de 1280 × 900) para todas las páginas."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    yield context
    context.close()


def open_page(context: BrowserContext, site: Site, path: str) -> tuple[Page, Visit]:
    page = context.new_page()
    visit = Visit(page, [], [])
    page.on("console", lambda m: visit.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: visit.errors.append(f"excepción: {e}"))
    page.on(
        "request", lambda r: visit.outside.append(r.url) if not r.url.startswith(site.url) else None
    )
    page.goto(site.url + path, wait_until="load")
    return page, visit


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    # Los bytes, escritos aquí (como en test_binder.py: con path= lo escriben hilos de Playwright).
    (ARTIFACTS / name).write_bytes(page.screenshot())


# Lo que la página muestra de la lección, contado en el navegador.
JS_LESSON = """() => {
    const article = document.querySelector('article.bd-article');
    const h1 = article.querySelector('h1').cloneNode(true);
    h1.querySelectorAll('.headerlink').forEach(a => a.remove());
    const cells = [...article.querySelectorAll('div.cell')];
    const images = [...article.querySelectorAll('div.cell_output img')];
    return {
        title: h1.textContent.trim(),
        cells: cells.length,
        inputs: cells.filter(c => c.querySelector('.cell_input pre')).length,
        outputs: cells.filter(c => c.querySelector('.cell_output')).length,
        figures: images.length,
        broken: [...document.images].filter(i => !i.complete || i.naturalWidth === 0)
                                    .map(i => i.getAttribute('src')),
        binder: [...document.querySelectorAll('.dropdown-launch-buttons a')].map(a => a.href),
        download: [...document.querySelectorAll('a.btn-download-source-button')]
                      .map(a => a.href),
        previous: [...document.querySelectorAll('.prev-next-area a.left-prev')]
                      .map(a => a.getAttribute('href')),
        next: [...document.querySelectorAll('.prev-next-area a.right-next')]
                  .map(a => a.getAttribute('href')),
        // Lo que dejaría la celda de navegación del cuaderno: su enlace «Índice» o la insignia.
        notebook_nav: [...article.querySelectorAll('a')].filter(a =>
            a.textContent.trim() === 'Índice' || a.querySelector('img[src*="mybinder.org"]')
        ).length,
    };
}"""
JS_IMAGES_DONE = "() => [...document.images].every(i => i.complete)"


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.name)
def test_lesson_page(context: BrowserContext, site: Site, lesson: Path):
    nb = nbformat.read(lesson, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    with_output = [c for c in code if c.outputs]
    figures = sum("image/png" in o.get("data", {}) for c in code for o in c.outputs)
    assert with_output, f"{lesson.name}: ninguna salida guardada que mostrar"
    page, visit = open_page(context, site, f"{lesson.stem}.html")
    try:
        page.wait_for_function(JS_IMAGES_DONE, timeout=30_000)
        shown = page.evaluate(JS_LESSON)
        if figures:  # la captura, con la primera figura a la vista
            page.locator("div.cell_output img").first.scroll_into_view_if_needed()
        screenshot(page, f"{lesson.stem}.png")
        want = plain(navigation.title(nb))
        assert shown["title"] == want
        assert page.title().startswith(want)
        assert shown["cells"] == shown["inputs"] == len(code), "celdas de código"
        assert shown["outputs"] == len(with_output), "celdas con salida"
        assert shown["figures"] == figures, "figuras"
        assert not shown["broken"], f"imágenes que no cargaron: {shown['broken']}"
        assert shown["binder"] == [navigation.binder_url(lesson.name)]
        # La navegación del cuaderno, sustituida por la del sitio (anterior y siguiente).
        assert shown["notebook_nav"] == 0, "la celda de navegación del cuaderno sigue ahí"
        i = LESSONS.index(lesson)
        pages = ["index.html", *(f"{p.stem}.html" for p in LESSONS), "glosario.html"]
        assert shown["previous"] == [pages[i]] and shown["next"] == [pages[i + 2]]
        assert shown["download"] == [f"{site.url}_sources/{lesson.name}"]
        downloaded = page.request.get(shown["download"][0])
        assert downloaded.ok and downloaded.body() == lesson.read_bytes(), "el .ipynb descargado"
        assert not visit.errors, f"errores en la consola: {visit.errors}"
        assert not visit.outside, f"peticiones fuera del sitio: {visit.outside}"
    finally:
        page.close()


def test_home_lists_every_lesson_in_order(context: BrowserContext, site: Site):
    page, visit = open_page(context, site, "index.html")
    try:
        screenshot(page, "index.png")
        sidebar = page.locator("nav.bd-docs-nav a.reference").evaluate_all(
            "links => links.map(a => a.getAttribute('href'))"
        )
        lessons = [f"{p.stem}.html" for p in LESSONS]
        assert [h for h in sidebar if re.match(r"\d\d-", h)] == lessons
        assert "glosario.html" in sidebar
        # El temario del README, con las lecciones enlazadas a sus páginas.
        table = page.locator("article table").first
        for lesson in LESSONS:
            if f"notebooks/{lesson.name}" in (ROOT / "README.md").read_text(encoding="utf-8"):
                assert table.locator(f'a[href="{lesson.stem}.html"]').count() == 1, lesson.name
        assert not visit.errors, f"errores en la consola: {visit.errors}"
        assert not visit.outside, f"peticiones fuera del sitio: {visit.outside}"
    finally:
        page.close()


def test_glossary_collects_the_lessons(context: BrowserContext, site: Site):
    page, visit = open_page(context, site, "glosario.html")
    try:
        screenshot(page, "glosario.png")
        terms = page.locator("article dl.glossary dt").all_inner_texts()
        assert any(t.strip().startswith("bucle de eventos") for t in terms), terms
        links = page.locator("article dl.glossary dd a.reference").evaluate_all(
            "links => links.map(a => a.getAttribute('href'))"
        )
        sources = {href.partition("#")[0] for href in links}
        assert len(sources) >= 2 and sources <= {f"{p.stem}.html" for p in LESSONS}, sources
        assert not visit.errors, f"errores en la consola: {visit.errors}"
    finally:
        page.close()


def test_search_finds_the_event_loop(context: BrowserContext, site: Site):
    page, visit = open_page(context, site, f"{LESSONS[0].stem}.html")
    try:
        # Como quien lee: el botón de búsqueda de la cabecera, escribir y Enter.
        page.locator("button.search-button__button:visible").first.click()
        box = page.locator("form.bd-search input[name='q']:visible").first
        box.fill("bucle de eventos")
        box.press("Enter")
        page.wait_for_url(re.compile(r"search\.html\?q=bucle"))
        results = page.locator("#search-results ul.search li")
        results.first.wait_for(timeout=30_000)
        # Y el fragmento de cada página (lo trae aparte), con la frase buscada.
        page.wait_for_function(
            """() => [...document.querySelectorAll('#search-results ul.search li')]
                       .some(li => li.textContent.toLowerCase().includes('bucle de eventos'))""",
            timeout=30_000,
        )
        screenshot(page, "busqueda.png")
        hrefs = results.locator("a").evaluate_all("links => links.map(a => a.href)")
        assert any(re.search(r"/\d\d-[^/]+\.html", h) for h in hrefs), hrefs
        assert not visit.errors, f"errores en la consola: {visit.errors}"
        assert not visit.outside, f"peticiones fuera del sitio: {visit.outside}"
    finally:
        page.close()


def test_build_fails_on_a_broken_link_and_a_missing_image(sphinx, tmp_path):
    lessons = tmp_path / "notebooks"
    lessons.mkdir()
    first = nbformat.v4.new_notebook()
    first.cells = [
        nbformat.v4.new_markdown_cell("# Primera\n\nSigue en la [segunda](01-segunda.ipynb)."),
        nbformat.v4.new_markdown_cell("**Glosario**\n\n- **bucle**: lo que da vueltas."),
    ]
    second = nbformat.v4.new_notebook()
    second.cells = [
        nbformat.v4.new_markdown_cell(
            "# Segunda\n\nVuelve a la [tercera](02-tercera.ipynb), que no existe.\n\n"
            "![una figura](figura-que-falta.png)"
        ),
    ]
    nbformat.write(first, lessons / "00-primera.ipynb")
    nbformat.write(second, lessons / "01-segunda.ipynb")
    readme = tmp_path / "README.md"
    readme.write_text(
        "# Curso\n\nEntrada.\n\n## Temario\n\n- [Primera](notebooks/00-primera.ipynb)\n\n"
        "## Empezar\n\nAsí.\n",
        encoding="utf-8",
    )
    options = ["--cuadernos", str(lessons), "--readme", str(readme)]
    built = build(tmp_path / "html", *options, "--trabajo", str(tmp_path / "fuente"))
    output = built.stdout + built.stderr
    assert built.returncode == 1, output
    assert "02-tercera.ipynb" in output, output
    assert "figura-que-falta.png" in output, output
    assert not (tmp_path / "html").exists(), "con avisos no debe quedar un sitio a medias"


def test_site_builds_fast_enough(site: Site):
    # El límite de la issue 17: 60 s en esta máquina (tarda unos 12 s sin carga).
    assert site.seconds < 60, f"la construcción tardó {site.seconds:.0f} s"
