"""Pruebas de `python -m asyncio_avanzado corregir` con cuadernos de alumnos hechos aquí.

Los cuadernos salen de las lecciones 00 y 02 (las de comprobaciones más rápidas): su celda
de preparación y su sección «## Ejercicios», con cada esqueleto sustituido por la solución de
referencia (del catálogo de ejercicios, como la imprime `show_solution`), por un error típico
del catálogo o sin tocar. Otros se rompen a propósito: uno que falla antes de los ejercicios,
uno que deja un hilo y un puerto abiertos, uno que nunca termina, uno cuyo kernel muere, uno
que no es JSON y uno que es JSON pero no un cuaderno. La orden se ejecuta como la ejecutaría
quien da la clase, en otro proceso, varios cuadernos a la vez y también de uno en uno.
"""

import csv
import hashlib
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import psutil
import pytest

from asyncio_avanzado import grading
from asyncio_avanzado.exercises import EXERCISES
from asyncio_avanzado.exercises import core as exercise_core

ROOT = Path(__file__).resolve().parent.parent
LESSONS = {
    "00": ROOT / "notebooks" / "00-bienvenida.ipynb",
    "02": ROOT / "notebooks" / "02-streams-nativos.ipynb",
}
KEYS = {lesson: sorted(k for k in EXERCISES if k.startswith(f"{lesson}.")) for lesson in LESSONS}

# Un error típico de cada ejercicio (del catálogo): el corrector debe dar ✘ con su informe.
WRONG = {
    "00.1": "_reads_once",
    "02.1": "_uppercases_locally",
    "02.2": "_sequential_ecos",
    "02.3": "_returns_message_or_none",
    "02.4": "_does_not_think",
}


def solution_source(key: str) -> str:
    return inspect.getsource(EXERCISES[key].solution)


def wrong_source(key: str) -> tuple[str, str]:
    """Devuelve (código de un error típico de `key`, fragmento que debe decir su informe)."""
    exercise = EXERCISES[key]
    wrong = next(w for w in exercise.wrong if w.function.__name__ == WRONG[key])
    source = inspect.getsource(wrong.function)
    # El alumno lo escribe con el nombre del esqueleto.
    return f"{source}\n{exercise.function_name} = {wrong.function.__name__}\n", wrong.says


def exercises_notebook(lesson: str, fill: dict[str, str] | None = None) -> nbformat.NotebookNode:
    """Devuelve la preparación y los ejercicios de `lesson`, con los esqueletos de `fill`."""
    notebook = nbformat.read(LESSONS[lesson], as_version=4)
    setup = next(c for c in notebook.cells if c.cell_type == "code")
    start = next(
        i
        for i, c in enumerate(notebook.cells)
        if c.cell_type == "markdown" and c.source.startswith("## Ejercicios")
    )
    cells = [setup, *notebook.cells[start:]]
    for cell in cells:
        cell.id = f"l{lesson}-{cell.id}"  # únicos también al juntar dos lecciones
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        if "ejercicio" in cell.metadata.get("tags", []):
            key = next(
                k for k in KEYS[lesson] if f"def {EXERCISES[k].function_name}(" in cell.source
            )
            if fill and key in fill:
                cell.source = fill[key]
    notebook.cells = cells
    return notebook


def with_cell(notebook: nbformat.NotebookNode, source: str, at: int = 1) -> nbformat.NotebookNode:
    notebook.cells.insert(at, nbformat.v4.new_code_cell(source))
    return notebook


def write(notebook: nbformat.NotebookNode, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)
    return path


def fingerprints(folder: Path) -> dict[Path, tuple[str, int]]:
    return {
        p: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in folder.rglob("*")
        if p.is_file()
    }


class Run:
    """Una ejecución de la orden: su código de salida, lo que escribió y su CSV."""

    def __init__(self, tmp: Path, name: str, paths: list[Path], *options: str) -> None:
        self.csv_path = tmp / f"{name}.csv"
        environ = dict(os.environ)
        # Carpetas temporales y de Jupyter de esta prueba: así se ve que no queda nada.
        self.scratch = tmp / f"{name}-tmp"
        for variable, folder in {"TMPDIR": "tmp", "JUPYTER_RUNTIME_DIR": "runtime"}.items():
            (self.scratch / folder).mkdir(parents=True)
            environ[variable] = str(self.scratch / folder)
        done = subprocess.run(
            [sys.executable, "-m", "asyncio_avanzado", "corregir", *map(str, paths)]
            + ["--csv", str(self.csv_path), *options],
            capture_output=True,
            text=True,
            env=environ,
            timeout=120,
        )
        self.code, self.stdout, self.stderr = done.returncode, done.stdout, done.stderr
        self.rows = {}
        if self.csv_path.exists():
            with open(self.csv_path, encoding="utf-8", newline="") as source:
                self.rows = {row["alumno"]: row for row in csv.DictReader(source)}

    def row(self, learner: str) -> dict[str, str]:
        assert learner in self.rows, f"sin fila para {learner}:\n{self.stdout}\n{self.stderr}"
        return self.rows[learner]


def assert_nothing_left(run: Run) -> None:
    assert not list((run.scratch / "tmp").iterdir()), "quedaron carpetas temporales"
    left = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if str(run.scratch) in cmdline:
            left.append(cmdline)
    assert not left, f"kernels que siguen vivos: {left}"


@pytest.fixture(scope="module")
def classroom(tmp_path_factory):
    """Las entregas de una clase, corregidas cuatro a la vez."""
    tmp = tmp_path_factory.mktemp("clase")
    hand_in = tmp / "entregas"
    # ana: cada solución de referencia, en sus dos cuadernos (una carpeta por alumno).
    for lesson, path in LESSONS.items():
        fill = {key: solution_source(key) for key in KEYS[lesson]}
        write(exercises_notebook(lesson, fill), hand_in / "ana" / path.name)
    # luis: un error típico en cada ejercicio, todo en un solo cuaderno (las dos lecciones).
    says, fill = {}, {}
    for key in KEYS["00"] + KEYS["02"]:
        fill[key], says[key] = wrong_source(key)
    both = exercises_notebook("00", fill)
    both.cells += exercises_notebook("02", fill).cells
    write(both, hand_in / "luis.ipynb")
    # marta: la celda de preparación falla; los ejercicios ya no pueden comprobarse.
    broken = exercises_notebook("00", {"00.1": solution_source("00.1")})
    broken.cells[0].source = "from asyncio_avanzado_no_existe import check, stop_all\n"
    # Y una celda vacía con un «aprobado» guardado de antes: no cuenta, solo lo que se ejecuta.
    forged = nbformat.v4.new_code_cell("")
    payload = {"key": "00.1", "title": "", "passed": True, "problem": None}
    forged.outputs = [nbformat.v4.new_output("display_data", {exercise_core.GRADING_MIME: payload})]
    broken.cells.append(forged)
    write(broken, hand_in / "marta.ipynb")
    # pepe: bien, pero deja un servidor, un hilo y un proceso hijo en marcha (este lleva en su
    # línea de órdenes la carpeta de la prueba: assert_nothing_left mira que no sobreviva).
    leaves = exercises_notebook("00", {"00.1": solution_source("00.1")})
    with_cell(
        leaves,
        "import socket, subprocess, sys, threading\n"
        "servidor = socket.create_server(('127.0.0.1', 0))\n"
        "parar = threading.Event()\n"
        "threading.Thread(target=parar.wait, name='vigilante', daemon=True).start()\n"
        "hijo = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)', "
        f"{str(tmp / 'clase-tmp')!r}])\n",
    )
    write(leaves, hand_in / "pepe.ipynb")
    # Y tres que no se pueden corregir: su kernel muere, no es JSON, es JSON pero no un cuaderno.
    write(with_cell(exercises_notebook("00"), "import os\nos._exit(3)\n"), hand_in / "muere.ipynb")
    (hand_in / "roto.ipynb").write_text('{"cells": [', encoding="utf-8")
    (hand_in / "lista.ipynb").write_text("[1, 2, 3]", encoding="utf-8")
    before = fingerprints(hand_in)
    run = Run(tmp, "clase", [hand_in, tmp / "falta.ipynb"], "--paralelo", "4", "--plazo", "90")
    yield run, says, before, fingerprints(hand_in)


def test_reference_solutions_all_pass(classroom):
    run, *_ = classroom
    row = run.row("ana")
    for key in KEYS["00"] + KEYS["02"]:
        assert row[key] == "✔", f"{key}: {row[key]}\n{run.stdout}"
    assert (row["aprobados"], row["ejercicios"]) == ("5", "5")
    assert row["observaciones"] == ""


def test_wrong_solutions_fail_with_their_report(classroom):
    run, says, *_ = classroom
    row = run.row("luis")
    for key, fragment in says.items():
        assert row[key].startswith("✘ "), f"{key}: {row[key]}"
        assert fragment.lower() in row[key].lower(), f"{key}: falta «{fragment}» en {row[key]}"
    assert row["aprobados"] == "0" and row["ejercicios"] == "5"


def test_a_notebook_that_raises_before_its_exercises_is_reported(classroom):
    run, *_ = classroom
    row = run.row("marta")
    assert row["00.1"] == "sin comprobar"
    notes = row["observaciones"]
    assert "la celda de código 1 («from asyncio_avanzado_no_existe" in notes, notes
    assert "lanzó ModuleNotFoundError" in notes
    assert "1 ejercicio sin comprobar (00.1)" in notes
    # Los demás alumnos se corrigieron igual, pero el código de salida lo dice.
    assert run.code == 1
    assert re.search(r"sin corregir del todo: .*\bmarta\b", run.stdout)
    assert not re.search(r"sin corregir del todo: .*\b(ana|luis|pepe)\b", run.stdout)


def test_threads_and_ports_left_running_are_reported(classroom):
    run, *_ = classroom
    row = run.row("pepe")
    assert row["00.1"] == "✔"
    assert "quedó 1 hilo en marcha (vigilante)" in row["observaciones"]
    assert re.search(r"seguía escuchando en 127\.0\.0\.1:\d+", row["observaciones"])
    assert re.search(
        r"quedó 1 proceso hijo en marcha \(python[\d.]* \(pid \d+\)\)", row["observaciones"]
    )


def test_table_progress_and_warning(classroom):
    run, *_ = classroom
    header = run.stdout.splitlines()[0].split()
    assert header == ["alumno", *KEYS["00"], *KEYS["02"], "total"]
    lines = {line.split()[0]: line.split() for line in run.stdout.splitlines() if line.strip()}
    assert lines["ana"][1:] == ["✔"] * 5 + ["5/5"]
    assert lines["luis"][1:] == ["✘"] * 5 + ["0/5"]
    assert lines["marta"][1:] == ["·", "0/1"]
    assert "Detalles:" in run.stdout
    assert "contenedor" in run.stderr and "JupyterHub" in run.stderr
    assert "4 a la vez" in run.stderr
    assert len(re.findall(r"^\[\d/8\] ", run.stderr, re.M)) == 8, run.stderr


def test_originals_untouched_and_nothing_left(classroom):
    run, _, before, after = classroom
    assert after == before
    assert_nothing_left(run)


def test_unreadable_and_dying_notebooks_are_reported(classroom):
    run, *_ = classroom
    assert (
        "su kernel murió en la celda de código 2 («import os»)" in run.row("muere")["observaciones"]
    )
    assert "no es JSON válido (línea 1" in run.row("roto")["observaciones"]
    assert "es JSON, pero no un cuaderno" in run.row("lista")["observaciones"]
    assert "falta.ipynb no existe" in run.row("falta")["observaciones"]


def test_one_at_a_time_and_a_notebook_that_never_ends(tmp_path):
    good = exercises_notebook("00", {"00.1": solution_source("00.1")})
    hangs = with_cell(exercises_notebook("00"), "import time\ntime.sleep(3600)\n")
    paths = [write(good, tmp_path / "bien.ipynb"), write(hangs, tmp_path / "cuelga.ipynb")]
    run = Run(tmp_path, "serie", paths, "--plazo", "10")
    assert "1 a la vez" in run.stderr
    assert run.code == 1
    assert run.row("bien")["00.1"] == "✔"
    hang = run.row("cuelga")
    assert hang["00.1"] == "sin comprobar"
    assert "no terminó en el plazo de 10 s y se detuvo su kernel" in hang["observaciones"]
    assert "(seguía en la celda de código 2 («import time»))" in hang["observaciones"]
    assert_nothing_left(run)


def test_nothing_to_grade(tmp_path):
    (tmp_path / "vacía").mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "asyncio_avanzado", "corregir", str(tmp_path / "vacía")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "no hay ningún cuaderno (.ipynb) en" in done.stderr


def test_learners_are_files_or_folders(tmp_path):
    for name in ["b.ipynb", "ana/00.ipynb", "ana/sub/02.ipynb", "ana/.ipynb_checkpoints/x.ipynb"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("{}", encoding="utf-8")
    (tmp_path / "notas.txt").write_text("", encoding="utf-8")
    learners = grading.collect([tmp_path, tmp_path / "b.ipynb"])
    assert [(x.name, [p.relative_to(tmp_path) for p in x.notebooks]) for x in learners] == [
        ("ana", [Path("ana/00.ipynb"), Path("ana/sub/02.ipynb")]),
        ("b", [Path("b.ipynb")]),
    ]


def test_check_emits_its_result_only_for_the_grader(monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.get_ipython", lambda: object())
    monkeypatch.setattr("IPython.display.display", lambda obj, raw: shown.append((obj, raw)))
    result = exercise_core.CheckResult(EXERCISES["00.1"], ["no vino del servidor", "otro"])
    monkeypatch.delenv(exercise_core.GRADING_ENV, raising=False)
    exercise_core._emit(result)
    assert shown == [], "fuera del corrector, check() no añade ninguna salida"
    monkeypatch.setenv(exercise_core.GRADING_ENV, "1")
    exercise_core._emit(result)
    payload = {"key": "00.1", "title": EXERCISES["00.1"].title}
    payload |= {"passed": False, "problem": "no vino del servidor"}
    assert shown == [({exercise_core.GRADING_MIME: payload}, True)]


def test_reading_notebooks(tmp_path):
    notebook = exercises_notebook("00")
    with_bom = tmp_path / "bom.ipynb"
    with_bom.write_text("\ufeff" + nbformat.writes(notebook), encoding="utf-8")
    assert len(grading._read(with_bom).cells) == len(notebook.cells)
    binary = tmp_path / "foto.ipynb"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(ValueError, match="foto.ipynb no es un cuaderno de Jupyter: no es texto"):
        grading._read(binary)
    invalid = tmp_path / "raro.ipynb"
    invalid.write_text('{"nbformat": 4, "nbformat_minor": 5, "cells": [{"x": 1}]}', "utf-8")
    with pytest.raises(ValueError, match="raro.ipynb no es un cuaderno de Jupyter válido"):
        grading._read(invalid)
    # Las claves: las de sus check(...) y todas las de su lección (por el nombre del archivo).
    assert grading._expected_keys(notebook, Path("cualquiera.ipynb")) == set(KEYS["00"])
    notebook.cells = [nbformat.v4.new_code_cell("x = 1")]
    assert grading._expected_keys(notebook, Path("02-mio.ipynb")) == set(KEYS["02"])


def test_results_are_read_by_key_and_malformed_ones_ignored():
    def shown(payload):
        return nbformat.v4.new_output("display_data", {exercise_core.GRADING_MIME: payload})

    cells = [nbformat.v4.new_code_cell(s) for s in ["", "a", "b", "c", ""]]
    cells[1].outputs = [shown({"key": "02.1", "passed": False, "problem": "uno"})]
    cells[2].outputs = [shown({"key": "02.1", "passed": True, "problem": None})]
    cells[3].outputs = [shown({"key": 3, "passed": True}), shown("aprobado")]
    outcome = grading.NotebookOutcome("x", Path("x.ipynb"))
    grading._read_outputs(nbformat.v4.new_notebook(cells=cells), outcome)
    assert outcome.results == {"02.1": {"key": "02.1", "passed": True, "problem": None}}


def test_a_busy_fixed_port_gets_a_hint():
    cells = [nbformat.v4.new_code_cell("import asyncio"), nbformat.v4.new_code_cell("x")]
    message = (  # lo que dice asyncio.start_server, en minúsculas
        "[Errno 98] error while attempting to bind on address ('127.0.0.1', 8888): "
        "address already in use"
    )
    cells[1].outputs = [
        nbformat.v4.new_output("error", ename="OSError", evalue=message, traceback=[])
    ]
    executed = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(""), *cells])
    executed.cells.append(nbformat.v4.new_code_cell(""))
    outcome = grading.NotebookOutcome("x", Path("x.ipynb"))
    grading._read_outputs(executed, outcome)
    assert outcome.notes == [
        f"la celda de código 2 («x») lanzó OSError: {message} (¿un puerto fijo? Otro cuaderno que "
        "se corregía a la vez puede tenerlo: usa el puerto 0, o corrige con --paralelo 1)"
    ]
