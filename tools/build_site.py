"""Construye el curso como sitio web estático (Sphinx, myst-nb y sphinx-book-theme).

Uso: python tools/build_site.py [--salida CARPETA]     (por omisión, _site/)

Necesita `pip install -r requirements-site.txt` (además de requirements.txt). Una página por
lección, en orden (cada `notebooks/NN-*.ipynb`, también las nuevas), con las salidas guardadas
(no ejecuta nada); la portada sale del temario del README y el glosario, de los glosarios de
las lecciones. Todo se construye sin red y el sitio no carga nada de fuera. Cualquier aviso de
Sphinx (un enlace roto entre lecciones, una imagen que falta) hace fallar la construcción.

La fuente generada va a una carpeta temporal, que se borra salvo si algo falla.
"""

import argparse
import html
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

# nbformat importa jsonschema, y jsonschema importa rfc3987_syntax si está instalado (lo trae
# jupyter-events), que compila sus gramáticas al importarse: de 2 a 6 s, la mitad de la
# construcción. Valida los formatos «iri», que ningún cuaderno usa; sin él, jsonschema los omite.
sys.modules.setdefault("rfc3987_syntax", None)

import nbformat  # noqa: E402
from navigation import BRANCH, REPOSITORY, TAG, binder_url, title  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
OUTPUT = ROOT / "_site"
LESSON_PATTERN = "[0-9][0-9]-*.ipynb"
# Las secciones del README que forman la portada, además de su título y su entrada.
HOME_SECTIONS = ("Temario", "Empezar")
GLOSSARY_PAGE = "glosario"


class SiteError(Exception):
    """Algo en la fuente del curso que impide construir el sitio."""


# --- La portada, del README -------------------------------------------------------------------

BADGE = re.compile(r"\[!\[([^\]]*)\]\(https?://[^)\s]+\)\]\((https?://[^)\s]+)\)")
LINK = re.compile(r"(?<!!)\[([^\]]*)\]\(([^)\s]+)\)")


def sections(markdown: str) -> tuple[str, list[str], dict[str, list[str]]]:
    """Devuelve el título `# ...`, las líneas antes del primer `## ` y cada sección `## `."""
    heading, intro, parts = None, [], {}
    current = intro
    for line in markdown.splitlines():
        if line.startswith("# ") and heading is None:
            heading = line[2:].strip()
        elif line.startswith("## "):
            current = parts.setdefault(line[3:].strip(), [])
        else:
            current.append(line)
    if heading is None:
        raise SiteError("el README no tiene título «# ...»")
    return heading, intro, parts


def site_links(markdown: str, lessons: list[str]) -> str:
    """Devuelve `markdown` con los enlaces del repositorio convertidos en los del sitio.

    Las insignias de Binder (una imagen de mybinder.org) se vuelven un enlace de texto: el
    sitio no carga nada de fuera. Una lección (`notebooks/NN-....ipynb`) enlaza con su página,
    y cualquier otro archivo del repositorio, con GitHub.
    """
    markdown = BADGE.sub(r"[\1](\2)", markdown)

    def link(match: re.Match) -> str:
        text, target = match[1], match[2]
        if re.match(r"[a-z]+:|#", target):
            return match[0]
        path, _, anchor = target.partition("#")
        if path.startswith("notebooks/") and path.removeprefix("notebooks/") in lessons:
            return f"[{text}]({target.removeprefix('notebooks/')})"
        if path.startswith("notebooks/") and path.endswith(".ipynb"):
            raise SiteError(f"el README enlaza con una lección que no existe: {target}")
        return f"[{text}](https://github.com/{REPOSITORY}/blob/{BRANCH}/{target})"

    return LINK.sub(link, markdown)


def home_page(readme: str, lessons: list[str]) -> str:
    """Devuelve la portada en MyST: el título, la entrada y el temario del README."""
    heading, intro, parts = sections(readme)
    missing = [name for name in HOME_SECTIONS if name not in parts]
    if missing:
        raise SiteError(f"el README no tiene la sección «## {missing[0]}» de la portada")
    body = [f"# {heading}", *intro]
    for name in HOME_SECTIONS:
        body += [f"## {name}", *parts[name]]
    stems = [Path(name).stem for name in lessons]
    toctrees = [
        "```{toctree}",
        ":hidden:",
        ":caption: Lecciones",
        "",
        *stems,
        "```",
        "",
        "```{toctree}",
        ":hidden:",
        ":caption: Referencia",
        "",
        GLOSSARY_PAGE,
        "```",
    ]
    return site_links("\n".join(body), lessons).strip() + "\n\n" + "\n".join(toctrees) + "\n"


# --- El glosario, de las lecciones ------------------------------------------------------------


@dataclass
class Term:
    text: str  # como se escribe en el glosario (MyST)
    # Cada definición con las lecciones que la dan (la misma, a veces, en dos lecciones).
    definitions: dict[str, list[str]] = field(default_factory=dict)


def glossary_blocks(nb: nbformat.NotebookNode) -> list[str]:
    """Devuelve el texto de cada glosario de una lección.

    Un glosario es una sección `## Glosario` (hasta el título siguiente) o un párrafo que
    empieza por `**Glosario**` (o `**Glosario.**`) con lo que le sigue hasta un párrafo que
    ya no es de la lista.
    """
    blocks, section = [], None
    for cell in nb.cells:
        if cell.cell_type != "markdown" or TAG in cell.metadata.get("tags", []):
            continue
        lines = cell.source.splitlines()
        i = 0
        while i < len(lines):
            line = lines[i]
            if line.startswith("#"):
                if section is not None:
                    blocks.append("\n".join(section))
                section = [] if re.fullmatch(r"##\s+Glosario\s*", line) else None
                i += 1
                continue
            if section is not None:
                section.append(line)
                i += 1
                continue
            start = re.match(r"\*\*Glosario\.?\*\*\.?\s*", line)
            if not start:
                i += 1
                continue
            block = [line[start.end() :]]
            i += 1
            while i < len(lines) and not lines[i].startswith("#"):
                blank = not lines[i].strip()
                following = lines[i + 1] if i + 1 < len(lines) else ""
                if blank and not re.match(r"\s*[-*] |\s{2,}\S", following):
                    break
                block.append(lines[i])
                i += 1
            blocks.append("\n".join(block))
    if section is not None:
        blocks.append("\n".join(section))
    return [b.strip() for b in blocks if b.strip()]


def glossary_items(block: str) -> list[tuple[str, str, bool]]:
    """Devuelve (término, definición, ¿en prosa?) de cada entrada de un glosario.

    Las entradas son una lista (`- **término** (*inglés*): definición`) o frases seguidas
    (`Término (*inglés*): definición. Otro término: ...`).
    """
    lines = block.splitlines()
    if any(re.match(r"[-*] ", line) for line in lines):
        # Una lista: cada viñeta con sus líneas de continuación; un párrafo suelto antes o
        # después de la lista («Los términos de esta lección:») no es una entrada.
        raw, prose, inside = [], False, False
        for line in lines:
            if re.match(r"[-*] ", line):
                raw.append(line[2:].strip())
                inside = True
            elif not line.strip():
                inside = False
            elif raw and (inside or line.startswith(" ")):
                raw[-1] += " " + line.strip()
                inside = True
    else:
        prose = True
        text = " ".join(block.split())
        raw = re.split(r"(?<=\.)\s+(?=[^\s.:][^.:]{0,80}:\s)", text)
    items = []
    for entry in raw:
        term, sep, definition = entry.partition(": ")
        if not sep or not definition.strip():
            raise SiteError(f"no sé leer esta entrada (falta «término: definición»): {entry!r}")
        items.append((term.strip(), definition.strip(), prose))
    return items


def plain(markdown: str) -> str:
    """Devuelve el texto de un trozo de MyST en línea, sin marcas (el código, tal cual)."""
    parts = re.split(r"(`[^`]*`)", markdown)
    return "".join(p[1:-1] if p.startswith("`") else re.sub(r"[*_]", "", p) for p in parts)


def term_text(term: str, prose: bool) -> tuple[str, str]:
    """Devuelve (clave, texto para el glosario) de un término."""
    bold = re.match(r"\*\*(.+?)\*\*(?!\*)(.*)", term)
    if bold:
        term = bold[1] + bold[2]
    elif prose:
        # «Búfer de escritura» empieza la frase; en el glosario va como las demás entradas,
        # en minúscula (salvo siglas como GIL).
        word = re.match(r"([*`_]*)(\w+)", term)
        if word and not word[2].isupper():
            term = term[: word.start(2)] + word[2][0].lower() + term[word.start(2) + 1 :]
    key = plain(re.sub(r"\s*\(.*\)\s*$", "", bold[1] if bold else term)).strip().lower()
    if " : " in term or "\n" in term:
        raise SiteError(f"término de glosario que Sphinx no puede leer: {term!r}")
    return key, term.strip()


def glossary_page(books: list[tuple[str, nbformat.NotebookNode]]) -> str:
    """Devuelve la página del glosario: los términos de todas las lecciones, por orden."""
    terms: dict[str, Term] = {}
    for name, nb in books:
        for block in glossary_blocks(nb):
            try:
                items = glossary_items(block)
            except SiteError as error:
                raise SiteError(f"{name}, glosario: {error}") from None
            for term, definition, prose in items:
                key, text = term_text(term, prose)
                entry = terms.setdefault(key, Term(text))
                definition = definition.rstrip(".")
                entry.definitions.setdefault(definition, []).append(name)
    if not terms:
        raise SiteError("ninguna lección tiene glosario («## Glosario» o «**Glosario**»)")
    lines = [
        "# Glosario",
        "",
        "Los términos del curso, recogidos de los glosarios de las lecciones; cada definición",
        "enlaza con la lección de donde sale. Entre paréntesis, el término en inglés.",
        "",
        "```{glossary}",
        ":sorted:",
        "",
    ]
    for term in terms.values():
        lines.append(term.text)
        for definition, names in term.definitions.items():
            if definition[:1].isalpha():  # «ocupar el hilo...» → «Ocupar el hilo...»
                definition = definition[0].upper() + definition[1:]
            links = [f"[{name[:2]}]({name})" for name in names]
            if len(links) == 1:
                where = f"lección {links[0]}"
            else:
                where = f"lecciones {', '.join(links[:-1])} y {links[-1]}"
            lines += [f"   {definition} ({where}).", ""]
    lines.append("```")
    return "\n".join(lines) + "\n"


# --- La construcción --------------------------------------------------------------------------


def prepare(source: Path, notebooks: Path, readme: Path) -> list[str]:
    """Escribe en `source` la fuente del sitio; devuelve los nombres de las lecciones."""
    paths = sorted(notebooks.glob(LESSON_PATTERN))
    if not paths:
        raise SiteError(f"no hay lecciones {LESSON_PATTERN} en {notebooks}")
    books = []
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        try:
            title(nb)
        except ValueError as error:
            raise SiteError(f"{path.name}: {error}") from None
        for cell in nb.cells:
            tags = cell.metadata.get("tags", [])
            if cell.cell_type == "markdown" and TAG not in tags and "mybinder.org/" in cell.source:
                if re.search(r"!\[[^\]]*\]\(https?://mybinder\.org/", cell.source):
                    raise SiteError(
                        f"{path.name}, celda {cell.get('id')}: una insignia de Binder (imagen de "
                        f"mybinder.org) fuera de las celdas «{TAG}», y el sitio no carga nada de "
                        "fuera. Si es una línea de navegación escrita a mano, bórrala: la pone "
                        "python tools/navigation.py"
                    )
        books.append((path.name, nb))
        # El archivo tal cual: es el que se descarga desde la página de la lección.
        shutil.copy2(path, source / path.name)
    names = [path.name for path in paths]
    readme_text = readme.read_text(encoding="utf-8")
    (source / "index.md").write_text(home_page(readme_text, names), encoding="utf-8")
    (source / f"{GLOSSARY_PAGE}.md").write_text(glossary_page(books), encoding="utf-8")
    return names


def sphinx(source: Path, work: Path) -> tuple[int, Path]:
    """Construye el HTML; devuelve el código de salida de Sphinx y la carpeta del HTML."""
    from sphinx.cmd.build import build_main

    html_dir = work / "html"  # myst-nb escribe jupyter_execute/ al lado: queda en `work`
    args = ["-b", "html", "-W", "--keep-going", "-n", "-E", "-q", "-c", str(DOCS)]
    args += ["-d", str(work / "doctrees"), str(source), str(html_dir)]
    return build_main(args), html_dir


# Lo que un navegador cargaría solo al abrir una página (un enlace <a> no cuenta): el sitio
# no debe cargar nada de fuera de su carpeta.
_REMOTE = r"[\"']?(?:https?:)?//"
EXTERNAL = {
    "src": re.compile(r"<(?:script|img|iframe|source|video|embed)\b[^>]*\ssrc=" + _REMOTE, re.I),
    "<link>": re.compile(r"<link\b[^>]*\bhref=" + _REMOTE, re.I),
    "srcset": re.compile(r"\bsrcset=[\"'][^\"']*(?:https?:)?//", re.I),
    "url()": re.compile(r"url\(\s*" + _REMOTE, re.I),
    "@import": re.compile(r"@import\s+(?:url\()?" + _REMOTE, re.I),
}


def check_site(html_dir: Path, source: Path, names: list[str]) -> list[str]:
    """Devuelve lo que falta o sobra en el sitio construido (vacío si está bien)."""
    problems = []
    home = (html_dir / "index.html").read_text(encoding="utf-8")
    sidebar = home.partition("bd-docs-nav")[2].partition("</nav>")[0]
    found = re.findall(r'href="([0-9][0-9]-[^"#]+)\.html"', sidebar)
    expected = [Path(name).stem for name in names]
    if found != expected:
        problems.append(f"la barra lateral lista {found}, y las lecciones son {expected}")
    for name in names:
        page = html_dir / f"{Path(name).stem}.html"
        if not page.exists():
            problems.append(f"{name}: sin página")
            continue
        text = page.read_text(encoding="utf-8")
        if f'href="{html.escape(binder_url(name))}"' not in text:
            problems.append(f"{name}: sin el botón de Binder {binder_url(name)}")
        download = html_dir / "_sources" / name
        # La copia que se construyó, byte a byte, es la del repositorio (shutil.copy2).
        if not download.exists() or download.read_bytes() != (source / name).read_bytes():
            problems.append(f"{name}: el .ipynb que se descarga no es el del repositorio")
    for path in sorted(html_dir.rglob("*")):
        if path.suffix not in {".html", ".css"}:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for what, pattern in EXTERNAL.items():
            match = pattern.search(text)
            if match:
                where = path.relative_to(html_dir)
                problems.append(f"{where}: carga algo de fuera ({what}): {match[0][:120]}")
    return problems


def build(
    output: Path,
    notebooks: Path = ROOT / "notebooks",
    readme: Path = ROOT / "README.md",
    work: Path | None = None,
) -> float:
    """Construye el sitio en `output`; devuelve los segundos. Lanza SiteError si falla.

    `work` es la carpeta de la fuente generada y de los archivos intermedios de Sphinx; sin
    ella, una temporal que se borra al terminar bien.
    """
    start = time.perf_counter()
    keep = work is not None
    if work is None:
        work = Path(tempfile.mkdtemp(prefix="curso-sitio-"))
    elif work.exists():
        shutil.rmtree(work)
    keep_on_failure = True
    try:
        source = work / "fuente"
        source.mkdir(parents=True)
        names = prepare(source, notebooks, readme)
        status, html_dir = sphinx(source, work)
        if status != 0:
            raise SiteError(
                f"Sphinx terminó con avisos o errores (arriba). La fuente generada (copias de "
                f"notebooks/, la portada y el glosario) queda en {source}"
            )
        problems = check_site(html_dir, source, names)
        if problems:
            raise SiteError("el sitio construido no está bien:\n  " + "\n  ".join(problems))
        if output.exists():
            shutil.rmtree(output)
        output.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(html_dir, output)
        keep_on_failure = False
    finally:
        if not keep and not keep_on_failure:
            shutil.rmtree(work, ignore_errors=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--salida", type=Path, default=OUTPUT, help="carpeta del sitio (_site/)")
    # Para las pruebas: otras lecciones y otro README.
    hidden = argparse.SUPPRESS
    parser.add_argument("--cuadernos", type=Path, default=ROOT / "notebooks", help=hidden)
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md", help=hidden)
    parser.add_argument("--trabajo", type=Path, help="carpeta para la fuente generada (se queda)")
    args = parser.parse_args()
    work = args.trabajo.resolve() if args.trabajo else None
    try:
        notebooks, readme = args.cuadernos.resolve(), args.readme.resolve()
        seconds = build(args.salida.resolve(), notebooks, readme, work)
    except SiteError as error:
        print(f"build_site: {error}", file=sys.stderr)
        return 1
    print(f"sitio construido en {args.salida} en {seconds:.1f} s; para verlo:")
    print(f"  python -m http.server --bind 127.0.0.1 --directory {args.salida}")
    print("  y abre http://127.0.0.1:8000")
    return 0


if __name__ == "__main__":
    sys.exit(main())
