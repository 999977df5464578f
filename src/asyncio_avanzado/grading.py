"""La orden `python -m asyncio_avanzado corregir`: los ejercicios de una clase, en una tabla.

Cada cuaderno se copia a una carpeta temporal y se ejecuta entero en un kernel nuevo
(nbclient), con la variable `GRADING_ENV` puesta: así cada `check()` deja su resultado en
una salida `GRADING_MIME` del cuaderno ejecutado, con la clave del ejercicio (no importa en
qué celda esté). El original no se toca. Al final del cuaderno, una celda más anota lo que
quedó en marcha (hilos, puertos que escuchan, procesos hijos).

Quién es cada alumno: un cuaderno suelto es un alumno (el nombre del archivo); en una carpeta,
cada cuaderno de primer nivel es un alumno y cada subcarpeta es un alumno con todos sus
cuadernos dentro.
"""

import argparse
import asyncio
import contextlib
import copy
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from .exercises.core import GRADING_ENV, GRADING_MIME
from .text import plural

__all__ = [
    "LEFTOVERS_MIME",
    "Learner",
    "NotebookOutcome",
    "add_parser",
    "collect",
    "grade",
    "run",
]

LEFTOVERS_MIME = "application/vnd.asyncio-avanzado.leftovers+json"
"""Tipo MIME de la salida con lo que el cuaderno dejó en marcha al terminar."""

DEFAULT_DEADLINE = 600.0
"""Segundos por cuaderno, por defecto: la lección más larga tarda unos pocos minutos."""

WARNING = (
    "Aviso: corregir ejecuta el código de los cuadernos con tus permisos y en esta máquina (cada "
    "uno en un kernel nuevo, sobre una copia en una carpeta temporal; los originales no se "
    "tocan). Si no confías en las entregas, corrígelas dentro de un contenedor o en un "
    "JupyterHub, con un usuario sin privilegios."
)

DESCRIPTION = f"""\
Ejecuta el cuaderno de cada alumno en un kernel nuevo, recoge el resultado de cada
comprobación (await check(...)) y escribe una tabla alumno × ejercicio con los totales.

Cada argumento es un cuaderno (.ipynb) o una carpeta. Un cuaderno suelto es un alumno, con
el nombre del archivo; en una carpeta, cada cuaderno de primer nivel es un alumno y cada
subcarpeta es un alumno con todos sus cuadernos (por ejemplo entregas/ana/00-bienvenida.ipynb
y entregas/ana/02-streams-nativos.ipynb son de «ana»).

{WARNING}
"""

EPILOG = f"""\
Ejemplos:
  python -m asyncio_avanzado corregir entregas/
  python -m asyncio_avanzado corregir entregas/ --csv notas.csv --paralelo 2
  python -m asyncio_avanzado corregir ana.ipynb luis.ipynb --plazo 300

Códigos de salida: 0 si se pudo corregir cada cuaderno entero; 1 si alguno no (no es un
cuaderno, no terminó en el plazo, su kernel murió o algún ejercicio quedó sin comprobar:
la tabla dice cuál y por qué); 2 si no hay nada que corregir. Plazo por defecto:
{DEFAULT_DEADLINE:g} s por cuaderno.
"""

_CHECK_CALL = re.compile(r"""\bcheck\(\s*["'](\d\d\.\d+)["']""")
_LESSON_FILE = re.compile(r"^(\d\d)-")

# La primera celda que se añade a la copia: los hilos que ya tiene el kernel (los suyos).
_BASELINE_CELL = """\
import threading as _corrector_threading

import psutil as _corrector_psutil

_corrector_base = {t.ident for t in _corrector_threading.enumerate()}
_corrector_me = _corrector_psutil.Process()
_corrector_ports = {
    (c.laddr.ip, c.laddr.port)
    # net_connections desde psutil 6; antes, connections.
    for c in (getattr(_corrector_me, "net_connections", None) or _corrector_me.connections)("inet")
    if c.status == _corrector_psutil.CONN_LISTEN
}
"""

# La última celda: lo que quedó en marcha. No cuentan los hilos de un pool que esperan trabajo
# sin hacer nada (los del ejecutor por defecto del bucle, que usa getaddrinfo), los del propio
# kernel que arrancan más tarde (el recolector de pyzmq, tras enviar una figura grande) ni los
# procesos de servicio de multiprocessing (resource_tracker, forkserver), que viven lo que su
# padre.
_LEFTOVERS_CELL = f"""\
def _corrector_leftovers():
    import linecache, os, sys, threading
    import psutil
    from IPython.display import display

    frames = sys._current_frames()
    pool = os.path.join("concurrent", "futures", "thread.py")
    threads = []
    for thread in threading.enumerate():
        if thread.ident in _corrector_base or thread is threading.current_thread():
            continue
        frame, idle = frames.get(thread.ident), False
        while frame is not None:
            code = frame.f_code
            if code.co_name == "_worker" and code.co_filename.endswith(pool):
                idle = "work_queue.get(" in linecache.getline(code.co_filename, frame.f_lineno)
            frame = frame.f_back
        own = type(thread).__module__.startswith(("zmq.", "ipykernel.", "IPython.", "jupyter_"))
        if thread.is_alive() and not idle and not own:
            threads.append(thread.name)
    me = psutil.Process()
    ports = sorted(
        f"{{c.laddr.ip}}:{{c.laddr.port}}"
        for c in (getattr(me, "net_connections", None) or me.connections)("inet")
        if c.status == psutil.CONN_LISTEN and (c.laddr.ip, c.laddr.port) not in _corrector_ports
    )
    children = []
    for child in me.children(recursive=True):
        try:
            service = any(
                f"from multiprocessing.{{name}} import main" in " ".join(child.cmdline())
                for name in ("resource_tracker", "forkserver")
            )
            if child.status() != psutil.STATUS_ZOMBIE and not service:
                children.append(f"{{child.name()}} (pid {{child.pid}})")
        except psutil.Error:
            pass
    payload = {{"threads": threads, "ports": ports, "children": children}}
    display({{{LEFTOVERS_MIME!r}: payload}}, raw=True)


_corrector_leftovers()
"""


@dataclass
class NotebookOutcome:
    """Lo que dio un cuaderno: resultados por clave de ejercicio y problemas en español."""

    learner: str
    path: Path
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Clave del ejercicio → {"passed", "problem", "title"} de su último `check()`."""
    expected: set[str] = field(default_factory=set)
    """Claves de los ejercicios que el cuaderno debía comprobar."""
    problems: list[str] = field(default_factory=list)
    """Lo que impidió corregirlo entero (no es un cuaderno, plazo, kernel muerto…)."""
    notes: list[str] = field(default_factory=list)
    """Avisos que no impiden corregirlo (una celda con error, hilos o puertos que quedaron)."""
    seconds: float = 0.0

    @property
    def graded(self) -> bool:
        """Devuelve True si el cuaderno se ejecutó entero y cada ejercicio tiene resultado."""
        return not self.problems and self.expected <= self.results.keys()


@dataclass
class Learner:
    """Un alumno: el nombre de su fila y sus cuadernos."""

    name: str
    notebooks: list[Path]
    problems: list[str] = field(default_factory=list)
    """Lo que impide siquiera buscar sus cuadernos (la ruta no existe, no hay ninguno)."""


# --- Quién entrega qué ----------------------------------------------------------------------


def _notebooks_in(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.rglob("*.ipynb")
        if p.is_file() and ".ipynb_checkpoints" not in p.relative_to(folder).parts
    )


def collect(paths: list[Path]) -> list[Learner]:
    """Devuelve los alumnos de `paths` (cuadernos o carpetas), en el orden de sus nombres."""
    learners: dict[str, Learner] = {}

    def add(name: str, notebooks: list[Path], problem: str | None = None) -> None:
        learner = learners.setdefault(name, Learner(name, []))
        learner.notebooks += [n for n in notebooks if n not in learner.notebooks]
        if problem:
            learner.problems.append(problem)

    for path in paths:
        if path.is_file():
            add(path.stem, [path])
        elif path.is_dir():
            found = False
            for child in sorted(path.iterdir()):
                if child.is_file() and child.suffix == ".ipynb":
                    add(child.stem, [child])
                    found = True
                elif child.is_dir() and child.name != ".ipynb_checkpoints":
                    notebooks = _notebooks_in(child)
                    if notebooks:
                        add(child.name, notebooks)
                        found = True
            if not found:
                add(path.name or str(path), [], f"no hay ningún cuaderno (.ipynb) en {path}")
        else:
            add(path.stem or str(path), [], f"{path} no existe")
    return [learners[name] for name in sorted(learners, key=str.casefold)]


# --- Un cuaderno ------------------------------------------------------------------------------


def _read(path: Path) -> Any:
    """Devuelve el cuaderno de `path`; lanza ValueError con un mensaje en español si no lo es."""
    import nbformat

    try:
        text = path.read_text(encoding="utf-8-sig")  # con o sin la marca BOM al principio
    except UnicodeDecodeError:
        raise ValueError(f"{path.name} no es un cuaderno de Jupyter: no es texto UTF-8") from None
    except OSError as error:
        raise ValueError(f"no se pudo leer {path.name}: {error.strerror or error}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(
            f"{path.name} no es un cuaderno de Jupyter: no es JSON válido (línea {error.lineno}, "
            f"columna {error.colno}: {error.msg}). ¿Se guardó a medias o es otro archivo?"
        ) from None
    # «worksheets»: el formato 3, que nbformat convierte.
    if (
        not isinstance(data, dict)
        or "nbformat" not in data
        or not data.keys() & {"cells", "worksheets"}
    ):
        raise ValueError(
            f"{path.name} es JSON, pero no un cuaderno de Jupyter (le faltan «cells» o «nbformat»)"
        )
    try:
        # Sin los avisos de lo que nbformat arregla solo (identificadores de celda repetidos…).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            notebook = nbformat.reads(text, as_version=4)
            nbformat.validate(notebook)
    except Exception as error:  # nbformat lanza varias clases: todas dicen lo mismo aquí
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(f"{path.name} no es un cuaderno de Jupyter válido: {first}") from None
    return notebook


def _expected_keys(notebook: Any, path: Path) -> set[str]:
    """Devuelve las claves de ejercicio que el cuaderno debe comprobar.

    Las de sus llamadas a `check("NN.M", ...)`, y todas las de cada lección a la que
    pertenezca (por esas llamadas o por el nombre del archivo, «NN-...»): un alumno que
    borró una celda de comprobación no se libra de ese ejercicio.
    """
    from .exercises import EXERCISES

    keys = set()
    for cell in notebook.cells:
        if cell.cell_type == "code":
            keys.update(_CHECK_CALL.findall(cell.source))
    lessons = {key.split(".")[0] for key in keys}
    if match := _LESSON_FILE.match(path.name):
        lessons.add(match[1])
    keys.update(key for key in EXERCISES if key.split(".")[0] in lessons)
    return keys


def _first_line(source: str) -> str:
    line = next((ln.strip() for ln in source.splitlines() if ln.strip()), "")
    return line if len(line) <= 50 else line[:47] + "…"


def _read_outputs(executed: Any, outcome: NotebookOutcome) -> None:
    """Anota en `outcome` los resultados de las comprobaciones, los errores y lo que quedó."""
    errors = []
    for index, cell in enumerate(executed.cells):
        if cell.cell_type != "code":
            continue
        tags = cell.get("metadata", {}).get("tags", [])
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            payload = data.get(GRADING_MIME)
            if (
                isinstance(payload, dict)
                and isinstance(payload.get("key"), str)
                and isinstance(payload.get("passed"), bool)
            ):
                # Dos comprobaciones del mismo ejercicio: cuenta la última.
                outcome.results[payload["key"]] = payload
            if LEFTOVERS_MIME in data:
                _leftovers(data[LEFTOVERS_MIME], outcome)
            if output.get("output_type") == "error" and "raises-exception" not in tags:
                errors.append((index, output))
    if errors:
        index, output = errors[0]
        message = f"{_cell_name(executed, index)} lanzó {output.get('ename')}"
        if output.get("evalue"):
            message += f": {output['evalue']}"
        if "address already in use" in output.get("evalue", "").lower():
            message += (
                " (¿un puerto fijo? Otro cuaderno que se corregía a la vez puede tenerlo: usa el "
                "puerto 0, o corrige con --paralelo 1)"
            )
        if len(errors) > 1:
            message += f"; y {plural(len(errors) - 1, 'celda')} más con error"
        outcome.notes.append(message)


def _leftovers(payload: dict[str, list[str]], outcome: NotebookOutcome) -> None:
    threads, ports, children = payload["threads"], payload["ports"], payload["children"]
    if threads:
        outcome.notes.append(
            f"al terminar {'quedó' if len(threads) == 1 else 'quedaron'} "
            f"{plural(len(threads), 'hilo')} en marcha "
            f"({', '.join(threads[:3])}{'…' if len(threads) > 3 else ''}): para cada servidor "
            "o hilo que arranque el cuaderno, su with o su stop()"
        )
    if ports:
        outcome.notes.append(
            f"al terminar seguía escuchando en {', '.join(ports[:3])}"
            f"{'…' if len(ports) > 3 else ''}: un servidor sin cerrar (y, con un puerto fijo, "
            "choca con otro cuaderno que use el mismo)"
        )
    if children:
        outcome.notes.append(
            f"al terminar {'quedó' if len(children) == 1 else 'quedaron'} "
            f"{plural(len(children), 'proceso hijo', 'procesos hijos')} "
            f"en marcha ({', '.join(children[:3])}): cierra cada pool de procesos o subproceso"
        )


def _kernel_spec_manager() -> Any:
    """Devuelve un gestor de kernels cuyo único kernel es el Python que ejecuta esta orden.

    Así un kernel «python3» del usuario, de otro entorno, no se cuela (como hace nbval con
    --nbval-current-env).
    """
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager

    class CurrentPython(KernelSpecManager):
        def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
            return KernelSpec(
                argv=[
                    sys.executable,
                    "-m",
                    "ipykernel_launcher",
                    "-f",
                    "{connection_file}",
                    # Sin historial: varios kernels a la vez se pelearían por su base de datos.
                    "--HistoryManager.enabled=False",
                ],
                display_name="Python (corregir)",
                language="python",
            )

    return CurrentPython()


async def grade_notebook(learner: str, path: Path, deadline: float) -> NotebookOutcome:
    """Ejecuta una copia de `path` en un kernel nuevo; devuelve lo que dio."""
    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    outcome = NotebookOutcome(learner, path)
    start = time.perf_counter()
    try:
        notebook = _read(path)
    except ValueError as error:
        outcome.problems.append(str(error))
        return outcome
    outcome.expected = _expected_keys(notebook, path)

    import nbformat

    work = copy.deepcopy(notebook)
    # Sin las salidas guardadas: nbclient no ejecuta una celda vacía, y una salida guardada en
    # ella (o una comprobación de otra sesión) no debe contar.
    for cell in work.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    work.cells.insert(0, nbformat.v4.new_code_cell(_BASELINE_CELL))
    work.cells.append(nbformat.v4.new_code_cell(_LEFTOVERS_CELL))
    folder = Path(tempfile.mkdtemp(prefix="corregir-"))
    environ = {**os.environ, GRADING_ENV: "1"}
    km = AsyncKernelManager(kernel_spec_manager=_kernel_spec_manager(), kernel_name="corregir")
    client = NotebookClient(
        work,
        km=km,
        timeout=None,  # el plazo es del cuaderno entero (abajo), no de cada celda
        allow_errors=True,  # una celda con error no impide comprobar los ejercicios siguientes
        shutdown_kernel="immediate",
        resources={"metadata": {"path": str(folder)}},
    )
    started: list[int] = []  # índice en `work` de cada celda que empieza a ejecutarse
    client.on_cell_start = lambda cell, cell_index: started.append(cell_index)
    deadline_cm = asyncio.timeout(deadline)
    try:
        shutil.copy(path, folder / path.name)
        async with deadline_cm:
            # La salida del proceso del kernel no es del alumno (sus print van al cuaderno).
            await client.async_execute(
                env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
    except (TimeoutError, DeadKernelError) as error:
        where = _cell_name(work, started[-1]) if started and started[-1] > 0 else ""
        if deadline_cm.expired():  # al cancelar, nbclient puede decir que el kernel murió
            outcome.problems.append(
                f"no terminó en el plazo de {deadline:g} s y se detuvo su kernel"
                + (f" (seguía en {where})" if where else "")
                + ": ¿un bucle sin fin o una espera sin plazo?"
            )
        elif isinstance(error, DeadKernelError):
            outcome.problems.append(
                "su kernel murió"
                + (f" en {where}" if where else "")
                + " (¿os._exit, un fallo de memoria, una señal?)"
            )
        else:  # un plazo de nbclient o de jupyter_client (el kernel no arrancó…)
            outcome.problems.append(f"no se pudo ejecutar: {type(error).__name__}: {error}")
    except Exception as error:  # nbclient y jupyter_client: cualquier otro fallo al ejecutar
        outcome.problems.append(f"no se pudo ejecutar: {type(error).__name__}: {error}")
    finally:
        with contextlib.suppress(Exception):
            if km.has_kernel:
                await km.shutdown_kernel(now=True)
        shutil.rmtree(folder, ignore_errors=True)
    _read_outputs(work, outcome)
    missing = sorted(outcome.expected - outcome.results.keys(), key=_key_order)
    if missing and not outcome.problems:
        outcome.problems.append(
            f"{plural(len(missing), 'ejercicio')} sin comprobar ({', '.join(missing)}): el "
            "cuaderno no llegó a ejecutar su await check(...)"
        )
    outcome.seconds = time.perf_counter() - start
    return outcome


def _cell_name(work: Any, index: int) -> str:
    """Devuelve «la celda de código N («primera línea»)» de `work.cells[index]`.

    N cuenta las celdas de código del cuaderno del alumno (sin las que añade el corrector).
    """
    if index == 0:
        return "la celda inicial que añade el corrector"
    if index == len(work.cells) - 1:
        return "la celda final que añade el corrector"
    number = sum(1 for cell in work.cells[1 : index + 1] if cell.cell_type == "code")
    return f"la celda de código {number} («{_first_line(work.cells[index].source)}»)"


# --- Toda la clase ----------------------------------------------------------------------------


def _key_order(key: str) -> tuple[int, ...]:
    return tuple(int(part) for part in key.split(".") if part.isdigit())


class Progress:
    """La línea de progreso: en una terminal se reescribe; si no, una línea por cuaderno."""

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total, self.done, self.stream = total, 0, stream
        self.running: list[str] = []
        self.tty = stream.isatty()
        self.start = time.perf_counter()

    def _line(self) -> str:
        elapsed = time.perf_counter() - self.start
        running = f" · en marcha: {', '.join(self.running)}" if self.running else ""
        return f"[{self.done}/{self.total}] cuadernos corregidos en {elapsed:.0f} s{running}"

    def refresh(self) -> None:
        """En una terminal, reescribe la línea (con el tiempo al día)."""
        if self.tty and self.done < self.total:
            self.stream.write("\r\033[K" + self._line()[:200])
            self.stream.flush()

    def started(self, name: str) -> None:
        self.running.append(name)
        self.refresh()

    def finished(self, name: str, outcome: NotebookOutcome) -> None:
        self.running.remove(name)
        self.done += 1
        state = "corregido" if outcome.graded else "con problemas"
        if self.tty:
            self.stream.write("\r\033[K" + self._line()[:200])
            if self.done == self.total:
                self.stream.write("\n")
        else:
            self.stream.write(
                f"[{self.done}/{self.total}] {name}: {state} en {outcome.seconds:.1f} s\n"
            )
        self.stream.flush()


async def grade(
    learners: list[Learner], deadline: float, parallel: int, progress: Progress | None = None
) -> dict[str, list[NotebookOutcome]]:
    """Corrige los cuadernos de `learners`, `parallel` a la vez; devuelve los de cada alumno."""
    slots = asyncio.Semaphore(parallel)
    outcomes: dict[str, list[NotebookOutcome]] = {learner.name: [] for learner in learners}

    async def one(learner: Learner, path: Path) -> None:
        async with slots:
            label = learner.name if len(learner.notebooks) == 1 else f"{learner.name}/{path.name}"
            if progress:
                progress.started(label)
            outcome = await grade_notebook(learner.name, path, deadline)
            outcomes[learner.name].append(outcome)
            if progress:
                progress.finished(label, outcome)

    async def tick() -> None:
        while progress:
            await asyncio.sleep(1)
            progress.refresh()

    ticker = asyncio.create_task(tick())
    try:
        async with asyncio.TaskGroup() as group:
            for learner in learners:
                for path in learner.notebooks:
                    group.create_task(one(learner, path))
    finally:
        ticker.cancel()
    for name in outcomes:
        outcomes[name].sort(key=lambda o: o.path)
    return outcomes


# --- La tabla ---------------------------------------------------------------------------------


@dataclass
class Row:
    """Una fila de la tabla: un alumno."""

    name: str
    cells: dict[str, dict[str, Any] | None]
    """Clave → resultado (None: debía comprobarlo y no hay resultado)."""
    notes: list[str]
    graded: bool

    @property
    def passed(self) -> int:
        return sum(1 for r in self.cells.values() if r and r["passed"])


def build_rows(learners: list[Learner], outcomes: dict[str, list[NotebookOutcome]]) -> list[Row]:
    """Devuelve una fila por alumno con sus resultados y lo que hay que saber de sus cuadernos."""
    rows = []
    for learner in learners:
        cells: dict[str, dict[str, Any] | None] = {}
        notes = list(learner.problems)
        graded = not learner.problems
        several = len(learner.notebooks) > 1
        for outcome in outcomes.get(learner.name, []):
            for key in outcome.expected:
                cells.setdefault(key, None)
            for key, result in outcome.results.items():
                # El mismo ejercicio en dos cuadernos: cuenta el aprobado.
                if cells.get(key) is None or (result["passed"] and not cells[key]["passed"]):
                    cells[key] = result
            prefix = f"{outcome.path.name}: " if several else ""
            notes += [prefix + text for text in outcome.problems + outcome.notes]
            graded = graded and outcome.graded
        rows.append(Row(learner.name, cells, notes, graded))
    return rows


def _mark(result: dict[str, Any] | None, present: bool) -> str:
    if not present:
        return ""
    if result is None:
        return "·"
    return "✔" if result["passed"] else "✘"


def render_table(rows: list[Row]) -> str:
    """Devuelve la tabla alumno × ejercicio, sus totales y los detalles, para la terminal."""
    keys = sorted({key for row in rows for key in row.cells}, key=_key_order)
    header = ["alumno", *keys, "total"]
    body = []
    for row in rows:
        marks = [_mark(row.cells.get(key), key in row.cells) for key in keys]
        body.append([row.name, *marks, f"{row.passed}/{len(row.cells)}"])
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]

    def line(values: list[str]) -> str:
        first = values[0].ljust(widths[0])
        rest = [v.center(w) for v, w in zip(values[1:-1], widths[1:-1], strict=True)]
        return "  ".join([first, *rest, values[-1].rjust(widths[-1])]).rstrip()

    out = [line(header), line(["-" * w for w in widths]), *map(line, body)]
    out.append("")
    out.append("✔ aprobado · ✘ suspenso · «·» sin comprobar · vacío: no lo entregó")
    details = []
    for row in rows:
        problems = [
            f"  {key} ✘ {result['problem']}"
            for key in sorted(row.cells, key=_key_order)
            if (result := row.cells[key]) is not None and not result["passed"]
        ]
        problems += [f"  {note}" for note in row.notes]
        if problems:
            details += [f"{row.name}:", *problems]
    if details:
        out += ["", "Detalles:", *details]
    return "\n".join(out)


def write_csv(rows: list[Row], path: Path) -> None:
    """Escribe la tabla en `path` (CSV, UTF-8): una fila por alumno, el problema en cada ✘."""
    keys = sorted({key for row in rows for key in row.cells}, key=_key_order)
    with open(path, "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["alumno", *keys, "aprobados", "ejercicios", "observaciones"])
        for row in rows:
            cells = []
            for key in keys:
                result = row.cells.get(key)
                if key not in row.cells:
                    cells.append("")
                elif result is None:
                    cells.append("sin comprobar")
                elif result["passed"]:
                    cells.append("✔")
                else:
                    cells.append(f"✘ {result['problem']}")
            writer.writerow([row.name, *cells, row.passed, len(row.cells), " | ".join(row.notes)])


# --- La orden ---------------------------------------------------------------------------------


def _positive(kind: type) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"se esperaba un número, llegó {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"debe ser mayor que 0, llegó {text}")
        return value

    return parse


def add_parser(commands: Any) -> argparse.ArgumentParser:
    """Añade la orden `corregir` a los subanalizadores `commands`; la devuelve."""
    from .bench.cli import SpanishHelpFormatter

    parser = commands.add_parser(
        "corregir",
        help="ejecuta los cuadernos de una clase y tabula sus ejercicios (ejecuta su código)",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=SpanishHelpFormatter,
    )
    parser.add_argument(
        "rutas", nargs="+", type=Path, metavar="CUADERNO_O_CARPETA", help="qué corregir"
    )
    parser.add_argument(
        "--csv", type=Path, metavar="ARCHIVO", help="escribe además la tabla en CSV"
    )
    parser.add_argument(
        "--plazo",
        type=_positive(float),
        default=DEFAULT_DEADLINE,
        metavar="S",
        help=f"segundos como mucho por cuaderno (por defecto: {DEFAULT_DEADLINE:g})",
    )
    parser.add_argument(
        "--paralelo",
        type=_positive(int),
        default=1,
        metavar="N",
        help="cuadernos a la vez (por defecto: 1; con más, cada uno compite por la CPU)",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    """Ejecuta la orden `corregir`; devuelve el código de salida."""
    print(WARNING, file=sys.stderr)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        print(
            "Aviso: lo estás ejecutando como administrador (root), y el código de los alumnos "
            "también se ejecutará así.",
            file=sys.stderr,
        )
    learners = collect(args.rutas)
    total = sum(len(learner.notebooks) for learner in learners)
    if total == 0:
        for learner in learners:
            for problem in learner.problems:
                print(f"error: {problem}", file=sys.stderr)
        print("error: no hay ningún cuaderno que corregir", file=sys.stderr)
        return 2
    print(
        f"Corrigiendo {plural(total, 'cuaderno')} de {plural(len(learners), 'alumno')}, "
        f"{args.paralelo} a la vez, con un plazo de {args.plazo:g} s cada uno.",
        file=sys.stderr,
    )
    # nbformat tarda unos segundos en importarse (valida con jsonschema): antes del progreso.
    import nbclient  # noqa: F401
    import nbformat  # noqa: F401

    progress = Progress(total, sys.stderr)
    try:
        outcomes = asyncio.run(grade(learners, args.plazo, args.paralelo, progress))
    except KeyboardInterrupt:  # los kernels ya se detuvieron al cancelar cada corrección
        print("\nCorrección interrumpida: no hay tabla.", file=sys.stderr)
        return 130
    rows = build_rows(learners, outcomes)
    print(render_table(rows))
    if args.csv:
        try:
            write_csv(rows, args.csv)
        except OSError as error:
            print(
                f"error: no se pudo escribir {args.csv}: {error.strerror or error}", file=sys.stderr
            )
            return 1
        print(f"\nTabla guardada en {args.csv}.")
    incomplete = [row.name for row in rows if not row.graded]
    if incomplete:
        print(
            f"\n{plural(len(incomplete), 'alumno')} sin corregir del todo: {', '.join(incomplete)}"
            " (véanse los detalles).",
        )
        return 1
    return 0
