"""Ortografía del texto del curso: cada celda Markdown de cada lección, el README y CONTRIBUTING.

El texto se pasa por hunspell con el diccionario español (`hunspell-es`, `es_ES`) más la lista
corta de `tests/palabras.txt`, y se comprueba que cada ¿ y cada ¡ tiene su pareja.

Antes de comprobar se quita lo que no es prosa: bloques de código, `código en línea`, URL,
destinos de enlaces, etiquetas HTML, las líneas de navegación (las genera
`tools/navigation.py`), números, símbolos e identificadores (`snake_case`, `CamelCase`,
nombres con puntos como `asyncio.run` o `README.md`) y siglas en mayúsculas (GIL, CPU, TCP).

Palabras en cursiva. El curso escribe en cursiva los préstamos del inglés (*socket*,
*stream*, *callback*, *executor*) y los menús de JupyterLab (*Run → Run All Cells*). Se
comprueban como el resto, pero una palabra en cursiva que el diccionario no conoce se toma
por término extranjero y se acepta, salvo que parezca español mal escrito: si lleva tilde,
diéresis o eñe, o si con una tilde más el diccionario la conoce (*leccion* → *lección*).
Así:

- los préstamos no necesitan entrar uno a uno en la lista (que se queda corta y honesta),
- las tildes que faltan se detectan también dentro de la cursiva,
- y un préstamo escrito **sin** cursiva («el socket») sí se señala: la convención del curso
  pide cursiva, y la corrección es ponerla.

Hay palabras válidas que, sin su tilde, el diccionario no puede señalar («linea» de
«linear», «calculo» de «calcular», «mas»); las que en este curso siempre son la forma con
tilde están en `NEEDS_ACCENT` y se señalan aunque el diccionario las acepte.

Los verbos con pronombres átonos («veámoslo», «actívalo») que el diccionario no trae se
aceptan si llevan la tilde donde toca (ver `enclitic_bases`).

Lo que la regla de la cursiva deja pasar es una errata dentro de un préstamo en cursiva
(*sokcet*), que ningún diccionario español podría ver.
"""

import functools
import re
import shutil
import subprocess
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from system_tools import require

ROOT = Path(__file__).resolve().parent.parent
LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
DOCUMENTS = [ROOT / "README.md", ROOT / "CONTRIBUTING.md"]
WORD_LIST = Path(__file__).with_name("palabras.txt")
DICTIONARY = "es_ES"
NAVIGATION_TAG = "navegacion"  # la etiqueta de las celdas que escribe tools/navigation.py

# --- Qué no es prosa -----------------------------------------------------------------------

_NOT_PROSE = [
    re.compile(r"^[ \t]*(```|~~~).*?^[ \t]*\1[^\n]*$", re.M | re.S),  # bloques de código
    re.compile(r"(`+)(?!`).+?(?<!`)\1(?!`)", re.S),  # `código en línea`, ``con `comillas` ``
    re.compile(r"<!--.*?-->", re.S),  # comentarios HTML
    re.compile(r"</?[A-Za-z][^>\n]*>"),  # etiquetas HTML con sus atributos
    re.compile(r"&#?\w+;"),  # entidades HTML
    # destino de un enlace, ](url "título"), que puede llevar paréntesis: (#¿algo(False)?)
    re.compile(r"\]\((?:[^()\s]|\([^()\s]*\))*(?:\s+\"[^\"]*\")?\)"),
    re.compile(r"^[ \t]*\[[^\]\n]+\]:.*$", re.M),  # definición de enlace: [ref]: url
    re.compile(r"\b(?:https?://|www\.)[^\s)>»]+"),  # URL sueltas
    re.compile(r"\$\$.+?\$\$|\$[^$\n]+\$", re.S),  # fórmulas
    re.compile(r"!(?=\[)"),  # la exclamación de una imagen ![...]
]


def mask(markdown: str) -> str:
    """Devuelve `markdown` con lo que no es prosa cambiado por espacios (mismas posiciones)."""

    def blank(match: re.Match) -> str:
        return re.sub(r"[^\n]", " ", match.group())

    for pattern in _NOT_PROSE:
        markdown = pattern.sub(blank, markdown)
    return markdown


def _blocks(text: str) -> list[tuple[int, int]]:
    """Devuelve los párrafos, viñetas, títulos y filas de tabla de `text` como (inicio, fin)."""
    blocks, start, position = [], None, 0
    for line in text.splitlines(keepends=True):
        content = re.sub(r"^[ \t]*(>[ \t]?)*", "", line)  # sin las marcas de cita
        new_item = re.match(r"(([-*+]|#+|\d+[.)])\s|\|)", content)
        if start is not None and (not content.strip() or new_item):
            blocks.append((start, position))
            start = None
        if start is None and content.strip():
            start = position
        position += len(line)
    if start is not None:
        blocks.append((start, position))
    return blocks


def italic_spans(text: str) -> list[tuple[int, int]]:
    """Devuelve los tramos en cursiva (`*así*`, `_así_`, también dentro de `**negrita**`)."""
    spans = []
    for start, end in _blocks(text):
        # Las series de asteriscos se emparejan como en CommonMark, simplificado: una serie
        # abre si la sigue un carácter visible y cierra si la precede uno.
        openers: list[list[int]] = []  # [inicio de la serie, asteriscos que le quedan]
        for run in re.finditer(r"\*+", text[start:end]):
            a, b = start + run.start(), start + run.end()
            can_open = b < end and not text[b].isspace()
            can_close = a > start and not text[a - 1].isspace()
            left = b - a
            while can_close and left and openers:
                opener = openers[-1]
                used = 2 if left >= 2 and opener[1] >= 2 else 1
                if used == 1:  # cursiva entre el asterisco que abre y el que cierra
                    spans.append((opener[0] + opener[1], b - left))
                opener[1] -= used
                left -= used
                if not opener[1]:
                    openers.pop()
            if left and can_open:
                openers.append([b - left, left])
        for run in re.finditer(r"(?<![\w_])_(?![_\s])(.+?)(?<![_\s])_(?![\w_])", text[start:end]):
            spans.append((start + run.start(1), start + run.end(1)))
    return spans


@dataclass(frozen=True)
class Word:
    text: str
    position: int
    italic: bool


# Letras, con apóstrofos o guiones dentro; los puntos y los dígitos entran para poder
# reconocer (y saltar) nombres con puntos y números.
_CHUNK = re.compile(r"\w+(?:[.'’-]\w+)*")
_CAMEL = re.compile(r"[a-záéíóúñü][A-Z]|[A-Z]{2,}[a-z]")


def words(markdown: str) -> list[Word]:
    """Devuelve las palabras de prosa de `markdown`, con su posición y si van en cursiva."""
    text = mask(markdown)
    spans = italic_spans(text)
    found = []
    for chunk in _CHUNK.finditer(text):
        token = chunk.group().strip("_")  # _cursiva_
        offset = chunk.start() + len(chunk.group()) - len(chunk.group().lstrip("_"))
        # Números, snake_case y nombres con puntos (asyncio.run, README.md) no son prosa.
        if not token or re.search(r"[\d_.]", token):
            continue
        for part in re.finditer(r"[^'’-]+", token):
            word = part.group()
            if len(word) < 2 or word.isupper() or _CAMEL.search(word):
                continue  # letras sueltas, siglas (GIL, CPU) e identificadores CamelCase
            position = offset + part.start()
            italic = any(a <= position < b for a, b in spans)
            found.append(Word(word, position, italic))
    return found


# --- hunspell y la lista del proyecto ------------------------------------------------------


def hunspell_available() -> bool:
    if not shutil.which("hunspell"):
        return False
    result = subprocess.run(
        ["hunspell", "-d", DICTIONARY, "-l"], input="casa\n", capture_output=True, text=True
    )
    return result.returncode == 0


@pytest.fixture(scope="module")
def hunspell():
    require(
        hunspell_available(),
        f"hunspell con el diccionario {DICTIONARY}",
        "sudo apt-get install hunspell hunspell-es",
    )


def _hunspell(mode: str, lines: list[str]) -> str:
    result = subprocess.run(
        ["hunspell", "-d", DICTIONARY, mode, "-i", "utf-8"],
        input="".join(f"{line}\n" for line in lines),
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=True,
    )
    return result.stdout


def unknown_to_hunspell(candidates: set[str]) -> set[str]:
    """Devuelve las palabras de `candidates` que el diccionario no conoce (un solo proceso)."""
    return set(_hunspell("-l", sorted(candidates)).split()) & candidates if candidates else set()


def suggestions(unknown: list[str]) -> dict[str, list[str]]:
    """Devuelve las sugerencias de hunspell para cada palabra (solo para los mensajes).

    Modo tubería (`-a`): una palabra por línea precedida de «^» (así ninguna se toma por una
    orden), y por cada línea un bloque de respuesta terminado en una línea vacía.
    """
    ordered = sorted(set(unknown))
    answers: list[list[str]] = [[]]
    for line in _hunspell("-a", [f"^{w}" for w in ordered]).splitlines()[1:]:  # 1.ª: versión
        if line:
            answers[-1].append(line)
        else:
            answers.append([])
    found = {}
    for word, answer in zip(ordered, answers, strict=False):
        wrong = [line for line in answer if line.startswith("& ")]
        found[word] = wrong[0].split(": ", 1)[1].split(", ") if wrong else []
    return found


@functools.cache
def word_list() -> tuple[frozenset[str], frozenset[str]]:
    """Devuelve las palabras de tests/palabras.txt: (sin mayúsculas, con mayúsculas).

    Una entrada en minúsculas vale con cualquier mayúscula (Corrutina, CORRUTINA); una con
    mayúsculas, como un nombre propio (JupyterLab), solo tal cual.
    """
    entries = [
        line.strip()
        for line in WORD_LIST.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    return (
        frozenset(e for e in entries if e.islower()),
        frozenset(e for e in entries if not e.islower()),
    )


def in_word_list(word: str) -> bool:
    lower, exact = word_list()
    return word in exact or word.lower() in lower


def _plain(word: str) -> str:
    decomposed = unicodedata.normalize("NFD", word.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


_PRONOUNS = ["lo", "la", "los", "las", "le", "les", "me", "te", "se", "nos", "os"]
_ENCLITICS = _PRONOUNS + [a + b for a in ("me", "te", "se", "nos", "os") for b in _PRONOUNS[:6]]


def enclitic_bases(word: str) -> list[str]:
    """Devuelve las formas verbales que `word` puede ser sin sus pronombres átonos.

    El diccionario conoce «hacerlo» o «dándoselo», pero no muchas formas como «veámoslo»,
    «actívalo» o «cancélala». Al añadir el pronombre, la forma llana se vuelve esdrújula y
    la tilde va en la sílaba que ya llevaba el acento: «veamos» + «lo» = «veámoslo». Solo
    se devuelve una base si la tilde está en esa sílaba (la penúltima de la base), y se le
    quita: «veamoslo» (sin tilde) o «veamóslo» (tilde fuera de sitio) no dan ninguna.
    """
    lower, bases = word.lower(), []
    for pronouns in _ENCLITICS:
        if not lower.endswith(pronouns) or len(lower) <= len(pronouns):
            continue
        base = lower[: -len(pronouns)]
        vowels = re.findall(r"[aeiouáéíóúü]+", base)
        accented = [i for i, group in enumerate(vowels) if re.search("[áéíóú]", group)]
        if accented == [len(vowels) - 2] and len(re.findall("[áéíóú]", base)) == 1:
            bases.append(_plain(base))
    return bases


# Sin tilde son palabras válidas (casi siempre formas verbales: «linea» de «linear»,
# «calculo» de «calcular»), así que el diccionario no las ve; en el texto del curso son
# siempre la palabra con tilde que falta. Solo entran las que nunca pueden ser la buena aquí.
NEEDS_ACCENT = {
    plain: accented
    for accented in (
        "más además será línea líneas cálculo cálculos módulo módulos límite límites máquina"
        " máquinas número números último última últimos últimas índice índices intérprete"
        " intérpretes página páginas título títulos gráfica gráficas gráfico gráficos término"
        " términos óptimo simultáneo simultánea simultáneos simultáneas fíjate inténtalo"
    ).split()
    for plain in [accented.translate(str.maketrans("áéíóú", "aeiou"))]
}


def needs_accent(word: str) -> str | None:
    """Devuelve la forma con tilde si `word` es una de NEEDS_ACCENT, con su mayúscula."""
    accented = NEEDS_ACCENT.get(word.lower())
    if accented and word[:1].isupper():
        accented = accented[:1].upper() + accented[1:]
    return accented


_ACCENTS = {"a": "á", "e": "é", "i": "í", "o": "ó", "u": "úü", "n": "ñ"}


def accent_variants(word: str) -> set[str]:
    """Devuelve `word` con una o dos tildes, diéresis o eñes más: «leccion» → «lección»…"""
    places = [(i, new) for i, c in enumerate(word) for new in _ACCENTS.get(c.lower(), "")]
    variants = set()
    for k, (i, new) in enumerate(places):
        one = word[:i] + (new.upper() if word[i].isupper() else new) + word[i + 1 :]
        variants.add(one)
        for j, other in places[k + 1 :]:
            if j != i:
                variants.add(
                    one[:j] + (other.upper() if one[j].isupper() else other) + one[j + 1 :]
                )
    return variants


def looks_spanish(word: str, unknown: set[str]) -> bool:
    """¿Es `word` español mal escrito? Lleva tilde o eñe, o con tilde el diccionario la conoce.

    `unknown` son las palabras desconocidas entre las que se comprobaron, que deben incluir
    las de `accent_variants(word)`.
    """
    return _plain(word) != word.lower() or bool(accent_variants(word) - unknown)


# --- El corrector --------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    where: str  # «celda 12» o «línea 40»
    problem: str
    context: str

    def __str__(self) -> str:
        return f"  {self.where}: {self.problem} en «{self.context}»"


def _context(text: str, start: int, end: int, width: int = 30) -> str:
    a, b = max(0, start - width), min(len(text), end + width)
    snippet = " ".join(text[a:b].split())
    return ("…" if a else "") + snippet + ("…" if b < len(text) else "")


def unpaired_marks(markdown: str) -> list[tuple[int, str]]:
    """Devuelve (posición, explicación) de cada ¿ ? ¡ ! sin pareja en su párrafo."""
    text = mask(markdown)
    problems = []
    for start, end in _blocks(text):
        for opening, closing in (("¿", "?"), ("¡", "!")):
            pending = []
            for match in re.finditer(f"[{opening}{closing}]", text[start:end]):
                if match.group() == opening:
                    pending.append(start + match.start())
                elif pending:
                    pending.pop()
                else:
                    problems.append((start + match.start(), f"«{closing}» sin «{opening}»"))
            problems += [(p, f"«{opening}» sin «{closing}»") for p in pending]
    return sorted(problems)


def unknown_words(markdown: str, unknown: set[str]) -> list[Word]:
    """Devuelve las palabras de `markdown` que no pasan: ver la regla de la cursiva arriba.

    `unknown` son las desconocidas para hunspell entre las palabras, sus bases sin
    pronombres y, para las que van en cursiva, sus variantes con tilde (`candidates`).
    """
    wrong = []
    for word in words(markdown):
        if needs_accent(word.text):
            wrong.append(word)
            continue
        if word.text not in unknown or in_word_list(word.text):
            continue
        if any(base not in unknown for base in enclitic_bases(word.text)):
            continue  # «veámoslo»: «veamos» + «lo»
        if word.italic and not looks_spanish(word.text, unknown):
            continue  # préstamo o menú en inglés, en cursiva como pide el curso
        wrong.append(word)
    return wrong


def candidates(found: list[Word]) -> set[str]:
    """Devuelve lo que hay que preguntar a hunspell para decidir sobre las palabras `found`."""
    asked = {w.text for w in found}
    asked |= {base for w in asked for base in enclitic_bases(w)}
    asked |= {v for w in found if w.italic for v in accent_variants(w.text)}
    return asked


def check_texts(texts: list[tuple[str, str]]) -> list[Finding]:
    """Comprueba cada (dónde, markdown) con un solo proceso de hunspell para todos.

    Si «dónde» está vacío (un archivo .md entero), cada hallazgo dice su línea. Solo si hay
    palabras mal escritas se pregunta a hunspell, otra vez, qué propone para ellas.
    """
    unknown = unknown_to_hunspell(candidates([w for _, md in texts for w in words(md)]))
    wrong = [(where, md, unknown_words(md, unknown)) for where, md in texts]
    asked = [w.text for _, _, ws in wrong for w in ws if not needs_accent(w.text)]
    proposals = suggestions(asked) if asked else {}
    findings = []
    for where, markdown, bad in wrong:
        found = []
        for word in bad:
            if accented := needs_accent(word.text):
                problem = f"falta la tilde: «{word.text}» (¿{accented}?)"
            else:
                hint = " / ".join(proposals.get(word.text, [])[:3])
                problem = f"palabra desconocida «{word.text}»" + (f" (¿{hint}?)" if hint else "")
            found.append((word.position, len(word.text), problem))
        found += [(position, 1, problem) for position, problem in unpaired_marks(markdown)]
        for position, length, problem in sorted(found):
            line = f"línea {markdown.count(chr(10), 0, position) + 1}"
            context = _context(markdown, position, position + length)
            findings.append(Finding(where or line, problem, context))
    return findings


def texts_of(path: Path) -> list[tuple[str, str]]:
    """Devuelve los textos de prosa de un cuaderno (uno por celda) o de un .md (uno)."""
    if path.suffix != ".ipynb":
        return [("", path.read_text(encoding="utf-8"))]
    cells = nbformat.read(path, as_version=4).cells
    return [
        (f"celda {i}", cell.source)
        for i, cell in enumerate(cells)
        if cell.cell_type == "markdown" and NAVIGATION_TAG not in cell.metadata.get("tags", [])
    ]


@functools.cache
def check_file(path: Path) -> tuple[Finding, ...]:
    return tuple(check_texts(texts_of(path)))


def report(path: Path, findings: tuple[Finding, ...]) -> str:
    lines = "\n".join(map(str, findings))
    return (
        f"{path.relative_to(ROOT)}: {len(findings)} problemas de ortografía:\n{lines}\n"
        "Corrige la palabra (o la puntuación). Si es un término técnico o un nombre que el "
        "diccionario no conoce, añádelo a tests/palabras.txt; si es un préstamo del inglés, "
        "escríbelo en *cursiva*."
    )


# --- Pruebas del propio texto --------------------------------------------------------------


@pytest.mark.parametrize("path", LESSONS + DOCUMENTS, ids=lambda p: p.name)
def test_spelling(hunspell, path):
    findings = check_file(path)
    if findings:
        pytest.fail(report(path, findings), pytrace=False)


def test_word_list_is_short_and_honest(hunspell):
    lower, exact = word_list()
    entries = sorted(lower | exact)
    variants = {e: accent_variants(e) for e in entries}
    unknown = unknown_to_hunspell(set(entries).union(*variants.values()))
    known = [e for e in entries if e not in unknown]
    assert not known, f"tests/palabras.txt: el diccionario ya conoce {known}; quítalas"
    accentless = [e for e in entries if variants[e] - unknown]
    assert not accentless, f"tests/palabras.txt: ¿faltan tildes? {accentless}"
    used = {w.text for p in LESSONS + DOCUMENTS for _, md in texts_of(p) for w in words(md)}
    used |= {w.lower() for w in used}
    unused = [e for e in entries if e not in used]
    assert not unused, f"tests/palabras.txt: {unused} no aparecen en el curso; quítalas"


# --- Pruebas del corrector -----------------------------------------------------------------


def problems(markdown: str) -> list[str]:
    return [f.problem for f in check_texts([("aquí", markdown)])]


def test_missing_accent_is_flagged(hunspell):
    assert problems("En esta leccion veremos hilos.") == [
        "palabra desconocida «leccion» (¿lección?)"
    ]
    assert problems("En esta lección veremos hilos.") == []


def test_valid_words_that_here_always_miss_their_accent(hunspell):
    assert problems("La linea del calculo, mas rápido.") == [
        "falta la tilde: «linea» (¿línea?)",
        "falta la tilde: «calculo» (¿cálculo?)",
        "falta la tilde: «mas» (¿más?)",
    ]
    assert problems("Más líneas, un cálculo.") == []


def test_code_urls_links_and_html_are_not_prose(hunspell):
    markdown = (
        "Usamos `leccion_mal` y ``otra `leccion` ``; ver https://ejemplo.org/leccion?x=1 y\n"
        "[la lección](01-leccion.ipynb#Indice) con <span class='leccion'>texto</span>.\n\n"
        "```python\nleccion = await algo()  # ¿sin cerrar\n```\n"
    )
    assert problems(markdown) == []


def test_identifiers_numbers_and_acronyms_are_skipped(hunspell):
    assert problems("Con pedir_eco, TaskGroup, asyncio.run, README.md, 3.11 y el GIL.") == []


def test_loanwords_need_italics(hunspell):
    assert problems("Cada *socket* y cada *callback*; *Run → Run All Cells*.") == []
    assert problems("***executor*** (ejecutor) y **los *streams***.") == []
    (problem,) = problems("Cerramos el socket.")
    assert problem.startswith("palabra desconocida «socket»")


def test_missing_accent_is_flagged_in_italics_too(hunspell):
    assert problems("Es el *porqué*, con _énfasis_.") == []
    assert problems("Es la *leccion*.") == ["palabra desconocida «leccion» (¿lección?)"]
    assert problems("Es la _leccion_.") == ["palabra desconocida «leccion» (¿lección?)"]
    assert problems("* Es una viñeta, no una leccion*.") == [
        "palabra desconocida «leccion» (¿lección?)"
    ]


def test_verbs_with_pronouns_need_their_accent(hunspell):
    assert problems("Veámoslo. Actívalo, cancélala y sigue manteniéndolas.") == []
    assert [p.split(" (")[0] for p in problems("Veamoslo y veamóslo.")] == [
        "palabra desconocida «Veamoslo»",
        "palabra desconocida «veamóslo»",
    ]


def test_word_list_is_case_insensitive_for_lowercase_entries(hunspell):
    assert problems("Una corrutina. Corrutinas en JupyterLab.") == []


def test_unpaired_question_and_exclamation_marks():
    assert [p for _, p in unpaired_marks("Que pasa?")] == ["«?» sin «¿»"]
    assert [p for _, p in unpaired_marks("¿Qué pasa")] == ["«¿» sin «?»"]
    assert [p for _, p in unpaired_marks("Cuidado!")] == ["«!» sin «¡»"]
    assert unpaired_marks("¿Qué pasa? ¡Cuidado! Y si falla, ¿qué hacemos?") == []
    assert unpaired_marks("¿Lo\narrancaste?") == []  # una pregunta puede partir la línea


def test_marks_in_code_urls_and_images_are_ignored():
    assert unpaired_marks("`x?` y https://mybinder.org/v2?urlpath=lab ![logo](a.svg)") == []


def test_marks_pair_within_a_paragraph_only():
    assert len(unpaired_marks("¿Primera\n\nsegunda?")) == 2
    assert len(unpaired_marks("- ¿uno\n- dos?")) == 2
    assert len(unpaired_marks("| ¿uno | dos |\n| tres? | cuatro |")) == 2
    assert unpaired_marks("> ¿Una cita\n> en dos líneas?") == []
    assert unpaired_marks("- ¿Una viñeta\n  en dos líneas?") == []


def test_markdown_files_report_the_line(hunspell, tmp_path):
    path = tmp_path / "prueba.md"
    path.write_text("# Título\n\nTexto bien.\nOtra leccion, ¿no?\n", encoding="utf-8")
    (finding,) = check_texts(texts_of(path))
    assert str(finding) == (
        "  línea 4: palabra desconocida «leccion» (¿lección?) en «# Título Texto bien. Otra "
        "leccion, ¿no?»"
    )
