"""El curso como lo usa quien aprende: el entorno de Binder y JupyterLab en un navegador real.

- `binder_env` construye el entorno como Binder, sin Docker: un entorno virtual nuevo con el
  Python de `binder/runtime.txt`, su `bin` primero en el PATH y `binder/postBuild` ejecutado
  desde la raíz del repositorio. (Si `CURSO_BINDER_VENV` nombra un entorno ya construido así,
  por ejemplo el de la integración continua, se usa ese en lugar de construir otro.)
- `lab` arranca `jupyter lab` de ese entorno (lo que ejecuta Binder) en 127.0.0.1, con un
  puerto libre, un token al azar y nada que salga a internet, sobre una copia temporal de
  `notebooks/`: JupyterLab guarda solo y los cuadernos del repositorio no deben cambiar.
- Cada lección se abre en Chromium (el del sistema: nada se descarga), se ejecuta con la orden
  de JupyterLab «Restart Kernel and Run All Cells» y después, en el mismo núcleo, con «Run All»
  (como quien vuelve a ejecutarlo todo). Las dos veces: cada celda termina, no aparece ningún
  error inesperado, la salida es la guardada (con tests/sanitize.cfg, como nbval) y una salida
  conocida de la lección se ve en pantalla. Las capturas quedan en artifacts/jupyterlab/
  (`NN-....png` tras la primera vez, `NN-...-2.png` tras la segunda; no se suben).
"""

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import psutil
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from playwright.sync_api import Browser, Page, expect, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from system_tools import require

ROOT = Path(__file__).resolve().parent.parent
BINDER = ROOT / "binder"
LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
ARTIFACTS = ROOT / "artifacts" / "jupyterlab"

RUN_ALL_TIMEOUT = 180  # segundos para un «Run All» completo de una lección
NOT_COMPARED = {"nbval-ignore-output", "nbval-skip"}
NOT_COMPARED_MIME = {"image/png", "image/jpeg", "application/vnd.jupyter.widget-view+json"}

# Chromium del sistema, sin ventana y sin tráfico propio: sin sincronización, sin
# actualizaciones de componentes y sin resolver más nombre que el del servidor local (las
# imágenes externas de un cuaderno, como la insignia de Binder, fallan en silencio).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
]


# --- El entorno de Binder -------------------------------------------------------------------


def binder_python() -> tuple[int, int]:
    """Devuelve la versión (mayor, menor) de Python que pide `binder/runtime.txt`."""
    text = (BINDER / "runtime.txt").read_text(encoding="utf-8").strip()
    match = re.fullmatch(r"python-(\d+)\.(\d+)", text)
    assert match, f"binder/runtime.txt debe decir «python-X.Y», dice {text!r}"
    return int(match[1]), int(match[2])


def pinned_requirements() -> dict[str, str]:
    """Devuelve {paquete: versión} de cada línea de requirements.txt que aplica aquí."""
    pins = {}
    for raw in (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-"):  # «-e .»: el paquete del curso
            continue
        if line.startswith("./"):  # ./binder/jupyterlab: los ajustes de JupyterLab del curso
            continue
        requirement = Requirement(line)
        if requirement.marker and not requirement.marker.evaluate():
            continue
        specifiers = list(requirement.specifier)
        assert len(specifiers) == 1 and specifiers[0].operator == "==", (
            f"requirements.txt: «{line}» sin versión fija (==): las salidas dependen de ella"
        )
        pins[canonicalize_name(requirement.name)] = specifiers[0].version
    return pins


@dataclass
class BinderEnv:
    prefix: Path
    environ: dict[str, str]
    seconds: float

    @property
    def python(self) -> Path:
        return self.prefix / "bin" / "python"

    def run(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(
            args, env=self.environ, capture_output=True, text=True, timeout=120, **kwargs
        )


def _tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


@pytest.fixture(scope="module")
def binder_env():
    """Construye el entorno como Binder: entorno virtual nuevo y `binder/postBuild`."""
    if os.name != "posix":
        pytest.skip("Binder es Linux y binder/postBuild, un guion de bash")
    wanted = binder_python()
    if wanted != sys.version_info[:2]:
        pytest.fail(
            f"binder/runtime.txt pide Python {wanted[0]}.{wanted[1]} y las pruebas corren con "
            f"{sys.version.split()[0]}: la integración continua y Binder deben usar el mismo "
            "Python (los mensajes de error y los repr cambian entre versiones).",
            pytrace=False,
        )
    tmp = Path(tempfile.mkdtemp(prefix="curso-binder-"))
    try:
        start = time.perf_counter()
        if os.environ.get("CURSO_BINDER_VENV"):
            # Quien ejecuta las pruebas ya creó este entorno como Binder (entorno virtual nuevo
            # y binder/postBuild): no se construye otro igual. Las comprobaciones, las mismas.
            prefix = Path(os.environ["CURSO_BINDER_VENV"])
            environ = _binder_environ(prefix)
        else:
            prefix = tmp / "venv"
            subprocess.run([sys.executable, "-m", "venv", str(prefix)], check=True, timeout=120)
            environ = _binder_environ(prefix)
            _post_build(environ, tmp / "postBuild.log")
        env = BinderEnv(prefix, environ, time.perf_counter() - start)
        check = env.run(str(env.python), "-m", "pip", "check")
        if check.returncode != 0:
            pytest.fail(f"pip check en el entorno de Binder:\n{check.stdout}", pytrace=False)
        print(f"\nentorno de Binder ({prefix}) listo en {env.seconds:.1f} s")
        yield env
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _binder_environ(prefix: Path) -> dict[str, str]:
    """Devuelve las variables de entorno con el entorno `prefix` activado, como en Binder."""
    environ = {
        k: v
        for k, v in os.environ.items()
        if k not in {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP"}
    }
    # Su bin primero, y fuera el del entorno que ejecuta las pruebas (si es uno virtual).
    path = environ.get("PATH", "").split(os.pathsep)
    if sys.prefix != sys.base_prefix:
        path = [p for p in path if Path(p) != Path(sys.prefix) / "bin"]
    environ["PATH"] = os.pathsep.join([str(prefix / "bin"), *path])
    environ["VIRTUAL_ENV"] = str(prefix)
    return environ


def _post_build(environ: dict[str, str], log: Path) -> None:
    """Ejecuta binder/postBuild como Binder: como programa (debe ser ejecutable), desde la raíz."""
    with open(log, "w", encoding="utf-8") as out:
        built = subprocess.run(
            [str(BINDER / "postBuild")],
            cwd=ROOT,
            env=environ,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=600,
        )
    if built.returncode != 0:
        pytest.fail(f"binder/postBuild falló:\n{_tail(log)}", pytrace=False)


def test_binder_uses_the_python_of_the_tests():
    wanted = binder_python()
    assert wanted == sys.version_info[:2], (
        f"binder/runtime.txt pide Python {wanted[0]}.{wanted[1]}; CI y Binder deben usar uno solo"
    )


def test_binder_apt_packages_are_installed_here():
    packages = [
        line.split("#", 1)[0].strip()
        for line in (BINDER / "apt.txt").read_text(encoding="utf-8").splitlines()
    ]
    packages = [p for p in packages if p]
    assert packages, "binder/apt.txt está vacío"
    dpkg = shutil.which("dpkg-query")
    require(dpkg is not None, "dpkg-query (Debian/Ubuntu, como Binder)", "un sistema Debian")
    for package in packages:
        status = subprocess.run(
            [dpkg, "-W", "-f=${Status}", package], capture_output=True, text=True
        ).stdout
        require(
            status == "install ok installed",
            f"el paquete {package} de binder/apt.txt",
            f"sudo apt-get install {package}",
        )


def test_binder_environment_has_the_pinned_requirements(binder_env):
    listed = binder_env.run(str(binder_env.python), "-m", "pip", "list", "--format=json")
    installed = {canonicalize_name(p["name"]): p["version"] for p in json.loads(listed.stdout)}
    pins = pinned_requirements()
    # La imagen de Binder trae un ipykernel más viejo: solo una versión fija lo reemplaza.
    assert "ipykernel" in pins and "jupyterlab" in pins
    wrong = {name: (installed.get(name), v) for name, v in pins.items() if installed.get(name) != v}
    assert not wrong, f"instalado ≠ requirements.txt: {wrong}"


def test_binder_environment_imports_the_course_from_any_folder(binder_env, tmp_path):
    probe = "import asyncio_avanzado, sys; print(sys.prefix); print(asyncio_avanzado.__file__)"
    result = binder_env.run(str(binder_env.python), "-c", probe, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    prefix, module = result.stdout.splitlines()
    assert Path(prefix).resolve() == binder_env.prefix.resolve()
    assert Path(module).is_relative_to(ROOT / "src"), "el paquete debe ser el del repositorio"


# --- JupyterLab de ese entorno ---------------------------------------------------------------


@dataclass
class Lab:
    url: str
    token: str
    process: subprocess.Popen
    bin: Path  # la carpeta bin del entorno de Binder: los núcleos deben usar su Python
    log: Path

    def api(self, method: str, path: str) -> Any:
        request = urllib.request.Request(
            f"{self.url}{path}", method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self) -> None:
        """Cierra cada sesión (y su núcleo) y espera a que no quede ningún núcleo."""
        for session in self.api("GET", "api/sessions"):
            self.api("DELETE", f"api/sessions/{session['id']}")
        deadline = time.monotonic() + 15
        while self.api("GET", "api/kernels") and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not self.api("GET", "api/kernels"), "JupyterLab no cerró el núcleo"


def _server_config(root: Path, token: str) -> dict:
    return {
        "ServerApp": {
            "ip": "127.0.0.1",
            "port": 0,  # el sistema elige uno libre; se lee del archivo jpserver-*.json
            "port_retries": 0,
            "open_browser": False,
            "root_dir": str(root),
            "allow_root": os.geteuid() == 0,
        },
        "IdentityProvider": {"token": token},
        "LabApp": {
            # Nada que salga a internet: ni noticias, ni avisos de versión, ni el gestor
            # de extensiones de PyPI.
            "news_url": None,
            "check_for_updates_class": "jupyterlab.handlers.announcements.NeverCheckForUpdate",
            "extension_manager": "readonly",
            # La prueba usa window.jupyterapp para lanzar las órdenes de JupyterLab.
            "expose_app_in_browser": True,
        },
    }


@pytest.fixture(scope="module")
def lab(binder_env):
    """`jupyter lab` del entorno de Binder, sobre una copia temporal de notebooks/."""
    tmp = Path(tempfile.mkdtemp(prefix="curso-lab-"))
    process = None
    try:
        root = tmp / "curso"
        ignore = shutil.ignore_patterns(".ipynb_checkpoints")
        shutil.copytree(ROOT / "notebooks", root / "notebooks", ignore=ignore)
        token = secrets.token_hex(24)
        environ = dict(binder_env.environ)
        # Configuración y datos de Jupyter solo de esta prueba, como en una máquina nueva de
        # Binder: ni núcleos ni ajustes del usuario que ejecuta las pruebas.
        for name, folder in {
            "JUPYTER_CONFIG_DIR": "config",
            "JUPYTER_DATA_DIR": "data",
            "JUPYTER_RUNTIME_DIR": "runtime",
            "JUPYTERLAB_SETTINGS_DIR": "settings",
            "JUPYTERLAB_WORKSPACES_DIR": "workspaces",
            "IPYTHONDIR": "ipython",
        }.items():
            (tmp / folder).mkdir()
            environ[name] = str(tmp / folder)
        environ["JUPYTER_PLATFORM_DIRS"] = "1"
        # Sin la pregunta «¿noticias de Jupyter?», que taparía parte de la captura.
        notification = tmp / "settings" / "@jupyterlab" / "apputils-extension"
        notification.mkdir(parents=True)
        (notification / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false"}), encoding="utf-8"
        )
        config = json.dumps(_server_config(root, token))
        (tmp / "config" / "jupyter_server_config.json").write_text(config, encoding="utf-8")
        # Sin la comprobación de «build» que cada página pide al abrirse (lanza node y yarn,
        # un segundo de CPU que robaría a las lecciones que miden tiempos).
        (tmp / "config" / "labconfig").mkdir()
        (tmp / "config" / "labconfig" / "page_config.json").write_text(
            json.dumps({"buildCheck": False, "buildAvailable": False}), encoding="utf-8"
        )
        log = tmp / "jupyter.log"
        with open(log, "w", encoding="utf-8") as out:
            process = subprocess.Popen(
                [str(binder_env.prefix / "bin" / "jupyter"), "lab"],
                cwd=root,
                env=environ,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        url = _wait_for_server(process, tmp / "runtime", token, log)
        yield Lab(url, token, process, binder_env.python.parent, log)
    finally:
        if process is not None:
            _stop_server(process)
        shutil.rmtree(tmp, ignore_errors=True)


def _wait_for_server(process: subprocess.Popen, runtime: Path, token: str, log: Path) -> str:
    """Espera a que el servidor responda; devuelve su URL base (con / al final)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"jupyter lab terminó al arrancar:\n{_tail(log)}", pytrace=False)
        for info in runtime.glob("jpserver-*.json"):
            try:
                url = json.loads(info.read_text(encoding="utf-8"))["url"]
                status = urllib.request.Request(
                    f"{url}api/status", headers={"Authorization": f"token {token}"}
                )
                with urllib.request.urlopen(status, timeout=5) as response:
                    if response.status == 200:
                        return url
            except (OSError, ValueError, KeyError):
                pass  # el archivo a medio escribir o el servidor aún sin escuchar
        time.sleep(0.2)
    pytest.fail(f"jupyter lab no respondió en 60 s:\n{_tail(log)}", pytrace=False)


def _stop_server(process: subprocess.Popen) -> None:
    """Para Jupyter como Ctrl-C (SIGTERM: cierra sus núcleos) y comprueba que no queda nada."""
    try:
        children = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        pytest.fail("jupyter lab no terminó en 30 s con SIGTERM")
    _, alive = psutil.wait_procs(children, timeout=10)
    left = [p for p in alive if _is_alive(p)]
    for p in left:
        p.kill()
    assert not left, f"procesos de Jupyter que siguen vivos: {left}"


def _is_alive(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


# --- Chromium ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    require(chromium is not None, "Chromium", "sudo apt-get install chromium")
    # launch() usa un perfil nuevo y temporal, y lo borra al cerrar.
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


# Funciones de JavaScript que se ejecutan en la página: buscan el panel del cuaderno abierto.
_PANEL = """
    const app = window.jupyterapp;
    const panel = app && app.shell &&
        [...app.shell.widgets('main')].find(w => w.context && w.context.path === path);
    const kernel = panel && panel.sessionContext.session && panel.sessionContext.session.kernel;
"""
JS_READY = f"""(path) => {{ {_PANEL}
    return !!(panel && panel.context.isReady && kernel &&
              kernel.status === 'idle' && kernel.connectionStatus === 'connected');
}}"""
JS_COMMAND = f"""([path, command]) => {{ {_PANEL}
    app.shell.activateById(panel.id);
    app.commands.execute(command);  // sin esperar: «restart» abre un diálogo
}}"""
# Termina cuando la última celda de código tiene el contador esperado y el núcleo está
# libre, o antes si una celda sin «raises-exception» dio error (Run All se detiene ahí).
JS_FINISHED = f"""([path, last]) => {{ {_PANEL}
    const cells = panel.content.model.cells;
    let count = null, error = false;
    for (let i = 0; i < cells.length; i++) {{
        const cell = cells.get(i);
        if (cell.type !== 'code') continue;
        count = cell.executionCount;
        const tags = cell.getMetadata('tags') || [];
        for (let j = 0; j < cell.outputs.length; j++) {{
            if (cell.outputs.get(j).type === 'error' && !tags.includes('raises-exception')) {{
                error = true;
            }}
        }}
    }}
    return !!kernel && kernel.status === 'idle' && (error || count === last);
}}"""
JS_SCROLL = f"""async ([path, index]) => {{ {_PANEL}
    panel.content.activeCellIndex = index;
    await panel.content.scrollToItem(index, 'start');
}}"""
JS_CELLS = f"""(path) => {{ {_PANEL}
    const cells = [];
    for (let i = 0; i < panel.content.model.cells.length; i++) {{
        cells.push(panel.content.model.cells.get(i).toJSON());
    }}
    return cells;
}}"""


# --- Lo que se espera de cada lección ----------------------------------------------------------


def sanitizers() -> list[tuple[re.Pattern, str]]:
    """Devuelve las sustituciones de tests/sanitize.cfg (las mismas que usa nbval)."""
    rules, pattern = [], None
    for line in (ROOT / "tests" / "sanitize.cfg").read_text(encoding="utf-8").splitlines():
        if line.startswith("regex:"):
            pattern = re.compile(line.removeprefix("regex:").strip())
        elif line.startswith("replace:") and pattern is not None:
            rules.append((pattern, line.removeprefix("replace:").strip()))
            pattern = None
    return rules


SANITIZERS = sanitizers()


def sanitize(text: str) -> str:
    for pattern, replacement in SANITIZERS:
        text = pattern.sub(replacement, text)
    return text


def _text(value: str | list[str]) -> str:
    return "".join(value) if isinstance(value, list) else value


def shown(cell: dict) -> list[tuple[str, str]]:
    """Devuelve lo que nbval compara de una celda: (flujo o tipo MIME, texto) de cada salida."""
    result: list[tuple[str, str]] = []
    for output in cell.get("outputs", []):
        kind = output["output_type"]
        if kind == "stream":
            key, text = f"stream:{output['name']}", _text(output["text"])
            if result and result[-1][0] == key:  # varios trozos seguidos son una salida
                text = result.pop()[1] + text
            result.append((key, text))
        elif kind == "error":
            result.append(("error", f"{output['ename']}: {output['evalue']}"))
        else:  # como nbval: cada tipo MIME salvo las imágenes de mapa de bits
            for mime, value in sorted(output.get("data", {}).items()):
                if mime not in NOT_COMPARED_MIME:
                    text = _text(value) if isinstance(value, str | list) else json.dumps(value)
                    result.append((mime, text))
    return result


def tags(cell: dict) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", []))


@dataclass
class Expected:
    cells: list[dict]  # celdas de código guardadas
    known_line: str  # una línea de salida que debe verse en pantalla
    known_cell: int  # la celda (contando las de Markdown) que la muestra

    @classmethod
    def of(cls, lesson: Path) -> "Expected":
        nb = nbformat.read(lesson, as_version=4)
        cells = [c for c in nb.cells if c.cell_type == "code"]
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code" or tags(cell) & (NOT_COMPARED | {"raises-exception"}):
                continue
            for key, text in shown(cell):
                for line in text.splitlines():
                    line = line.strip()
                    # Una línea con letras, larga y que la normalización no toca.
                    if key == "stream:stdout" and len(line) >= 12 and sanitize(line) == line:
                        return cls(cells, line, index)
        pytest.fail(f"{lesson.name}: ninguna salida de texto fija que buscar en pantalla")


class CellProblem(AssertionError):
    """Una celda que no hizo lo esperado; `index` es su posición en el cuaderno."""

    def __init__(self, message: str, index: int) -> None:
        super().__init__(message)
        self.index = index


def check_run(cells: list[dict], expected: Expected, first_count: int, which: str) -> None:
    """Comprueba una ejecución completa vista en JupyterLab; lanza CellProblem si algo falla."""
    positions = [i for i, c in enumerate(cells) if c["cell_type"] == "code"]
    assert len(positions) == len(expected.cells), "JupyterLab ve otro número de celdas de código"
    for i, (position, want) in enumerate(zip(positions, expected.cells, strict=True)):
        got = cells[position]
        where = f"{which} ejecución, celda de código {i} ({want.source.splitlines()[0][:60]!r})"
        errors = [o for o in got["outputs"] if o["output_type"] == "error"]
        if errors and "raises-exception" not in tags(got):
            printed = "".join(_text(o["text"]) for o in got["outputs"] if "text" in o)
            message = f"{errors[0]['ename']}: {errors[0]['evalue']}\n{printed[-2000:]}"
            raise CellProblem(f"{where}: {message}", position)
        if got["execution_count"] != first_count + i:
            raise CellProblem(f"{where}: no terminó", position)
        if tags(want) & NOT_COMPARED:
            stderr = [o for o in got["outputs"] if o.get("name") == "stderr"]
            if stderr and not any(o.get("name") == "stderr" for o in want.outputs):
                message = f"salida de error inesperada: {_text(stderr[0]['text'])}"
                raise CellProblem(f"{where}: {message}", position)
            continue
        got_text, want_text = ([(k, sanitize(t)) for k, t in shown(c)] for c in (got, want))
        if got_text != want_text:
            message = f"la salida no es la guardada\n  guardada: {want_text}\n  ahora: {got_text}"
            raise CellProblem(f"{where}: {message}", position)


# --- Cada lección, dos veces --------------------------------------------------------------------


def run_all(page: Page, path: str, command: str, last: int) -> tuple[list[dict], float]:
    """Lanza una orden de ejecución de JupyterLab y espera; devuelve las celdas y los segundos."""
    start = time.perf_counter()
    page.evaluate(JS_COMMAND, [path, command])
    if command == "notebook:restart-run-all":
        # El mismo diálogo que ve quien aprende: «Restart Kernel?» → Restart.
        page.locator(".jp-Dialog .jp-mod-accept").click(timeout=15_000)
    try:
        page.wait_for_function(
            JS_FINISHED, arg=[path, last], timeout=RUN_ALL_TIMEOUT * 1000, polling=500
        )
    except PlaywrightTimeoutError:
        code = [c for c in page.evaluate(JS_CELLS, path) if c["cell_type"] == "code"]
        waiting = [i for i, c in enumerate(code) if c["execution_count"] is None]
        pytest.fail(
            f"{command}: sin terminar en {RUN_ALL_TIMEOUT} s; celdas de código sin ejecutar: "
            f"{waiting[:5]}{'…' if len(waiting) > 5 else ''}",
            pytrace=False,
        )
    return page.evaluate(JS_CELLS, path), time.perf_counter() - start


def show_and_capture(page: Page, path: str, expected: "Expected", picture: Path) -> None:
    """Lleva a pantalla la celda de la salida conocida, comprueba que se ve y la captura."""
    page.evaluate(JS_SCROLL, [path, expected.known_cell])
    output = page.locator(".jp-OutputArea-output", has_text=expected.known_line).first
    expect(output).to_be_in_viewport()
    picture.parent.mkdir(parents=True, exist_ok=True)
    # Los bytes, y el archivo lo escribimos aquí: con path=, Playwright lo escribe desde hilos
    # de su bucle que seguirían vivos (y la comprobación de fugas de conftest.py los ve).
    picture.write_bytes(page.screenshot())


def kernel_folders(lab: Lab) -> list[Path]:
    """Devuelve la carpeta del ejecutable de Python de cada núcleo que lanzó JupyterLab."""
    folders = []
    for child in psutil.Process(lab.process.pid).children(recursive=True):
        try:
            cmdline = child.cmdline()
        except psutil.Error:  # terminó mientras mirábamos
            continue
        if "ipykernel_launcher" in cmdline:
            folders.append(Path(cmdline[0]).parent)
    return folders


JS_STARTED = """() => !!(window.jupyterapp && window.jupyterapp.shell &&
    document.querySelectorAll('#jp-MainMenu .lm-MenuBar-itemLabel').length)"""
JS_OPEN = """(path) => { window.jupyterapp.commands.execute('docmanager:open', {path}); }"""
# Cierra el cuaderno sin preguntar por los cambios (las salidas nuevas no se guardan).
JS_CLOSE = f"""(path) => {{ {_PANEL}
    if (panel) {{ panel.context.model.dirty = false; panel.dispose(); }}
}}"""


class LabPage:
    """Una sola página de JupyterLab para todas las lecciones: cargar la aplicación cuesta
    varios segundos, y abrir un cuaderno en ella, como hace quien aprende, casi nada. Tras un
    fallo, la página se descarta y la siguiente lección empieza en una nueva."""

    def __init__(self, browser: Browser, lab: Lab) -> None:
        self.browser, self.lab = browser, lab
        self.context: Any = None
        self.page: Page | None = None

    def open(self, path: str) -> Page:
        if self.page is None:
            self.context = self.browser.new_context(viewport={"width": 1280, "height": 900})
            self.page = self.context.new_page()
            self.page.goto(f"{self.lab.url}lab?reset&token={self.lab.token}")
            self.page.wait_for_function(JS_STARTED, timeout=60_000, polling=250)
        self.page.evaluate(JS_OPEN, path)
        self.page.wait_for_function(JS_READY, arg=path, timeout=60_000, polling=250)
        return self.page

    def close(self, path: str) -> None:
        if self.page is not None:
            self.page.evaluate(JS_CLOSE, path)

    def discard(self) -> None:
        if self.context is not None:
            self.context.close()
        self.context = self.page = None


@pytest.fixture(scope="module")
def lab_page(browser: Browser, lab: Lab):
    desk = LabPage(browser, lab)
    try:
        yield desk
    finally:
        desk.discard()


@pytest.mark.timeout(600)  # la primera incluye construir el entorno de Binder
@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.name)
def test_lesson_runs_all_twice_in_jupyterlab(lab_page: LabPage, lab: Lab, lesson: Path):
    expected = Expected.of(lesson)
    path = f"notebooks/{lesson.name}"
    n = len(expected.cells)
    outside: list[str] = []

    def note_outside(request: Any) -> None:
        if not request.url.startswith(lab.url):
            outside.append(request.url)

    page = None
    try:
        start = time.perf_counter()
        page = lab_page.open(path)
        page.on("request", note_outside)
        opened = time.perf_counter() - start
        assert kernel_folders(lab) == [lab.bin], "el núcleo no es el Python de Binder"

        # Sin las salidas guardadas, todo lo que se vea lo ha producido esta ejecución.
        page.evaluate(JS_COMMAND, [path, "notebook:clear-all-cell-outputs"])
        cells, first = run_all(page, path, "notebook:restart-run-all", last=n)
        check_run(cells, expected, 1, "primera")
        show_and_capture(page, path, expected, ARTIFACTS / f"{lesson.stem}.png")

        # Otra vez, en el mismo núcleo y sin reiniciar: los contadores siguen en n + 1.
        cells, second = run_all(page, path, "notebook:run-all-cells", last=2 * n)
        check_run(cells, expected, n + 1, "segunda")
        show_and_capture(page, path, expected, ARTIFACTS / f"{lesson.stem}-2.png")
        print(
            f"\n{lesson.name}: abrir {opened:.1f} s, Run All {first:.1f} s, "
            f"otra vez {second:.1f} s; fuera de 127.0.0.1 (bloqueado): {sorted(set(outside))}"
        )
        page.remove_listener("request", note_outside)
        lab_page.close(path)
    except BaseException as failure:  # también pytest.fail: la pantalla cuando falló
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(Exception):
            if isinstance(failure, CellProblem):  # con la celda que falló a la vista
                page.evaluate(JS_SCROLL, [path, failure.index])
            (ARTIFACTS / f"{lesson.stem}-fallo.png").write_bytes(page.screenshot())
        lab_page.discard()
        if isinstance(failure, CellProblem):
            pytest.fail(str(failure), pytrace=False)
        raise
    finally:
        lab.shutdown_kernels()


# --- JupyterLab en español y sin avisos ---------------------------------------------------------

JS_OPENED = f"""(path) => {{ {_PANEL}
    return !!(panel && panel.context.isReady &&
              document.querySelectorAll('#jp-MainMenu .lm-MenuBar-itemLabel').length);
}}"""
JS_MENUS = """() => [...document.querySelectorAll('#jp-MainMenu .lm-MenuBar-itemLabel')]
    .map(e => e.textContent)"""
# Lo que hay en el centro del cuaderno: si algo lo tapa (un diálogo, un aviso), no es el cuaderno.
JS_COVERED = """(path) => {
    const panel = [...window.jupyterapp.shell.widgets('main')]
        .find(w => w.context && w.context.path === path);
    const box = panel.content.node.getBoundingClientRect();
    const points = [[0.5, 0.5], [0.9, 0.1], [0.9, 0.9], [0.1, 0.9]];
    return points.map(([x, y]) => document.elementFromPoint(
        box.left + x * box.width, box.top + y * box.height))
        .filter(e => !panel.content.node.contains(e))
        .map(e => e ? e.className.toString() : 'nada');
}"""


def _put_settings(lab: Lab, plugin: str, raw: str) -> None:
    request = urllib.request.Request(
        f"{lab.url}lab/api/settings/{plugin}",
        method="PUT",
        data=json.dumps({"raw": raw}).encode(),
        headers={"Authorization": f"token {lab.token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10):
        pass


def test_jupyterlab_opens_in_spanish_without_popups(browser: Browser, lab: Lab):
    # Los ajustes del curso (binder/jupyterlab) son los valores por defecto de este entorno.
    translation = lab.api("GET", "lab/api/settings/@jupyterlab/translation-extension:plugin")
    assert translation["schema"]["properties"]["locale"]["default"] == "es_ES"
    news = lab.api("GET", "lab/api/settings/@jupyterlab/apputils-extension:notification")
    assert news["schema"]["properties"]["fetchNews"]["default"] == "false"
    assert news["schema"]["properties"]["checkForUpdates"]["default"] is False
    # Sin el ajuste de usuario que pone la prueba (`lab`): lo que cuenta es el del curso.
    _put_settings(lab, "@jupyterlab/apputils-extension:notification", "{}")
    packs = lab.api("GET", "lab/api/translations")["data"]
    assert "es_ES" in packs, f"sin el paquete de idioma español: {sorted(packs)}"

    path = "notebooks/00-bienvenida.ipynb"
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    try:
        page = context.new_page()
        page.goto(f"{lab.url}lab/tree/{path}?reset&token={lab.token}")
        # El cuaderno abierto y el menú dibujado (sin esperar al kernel: no hace falta aquí).
        page.wait_for_function(JS_OPENED, arg=path, timeout=60_000, polling=250)
        menus = page.evaluate(JS_MENUS)
        # Un navegador en inglés, y aun así el menú del curso en español.
        assert menus[:2] == ["Archivo", "Editar"], menus
        assert "File" not in menus and all(m.strip() and "!!" not in m for m in menus), menus
        # La pregunta de las noticias sale al poco de abrir: se le da tiempo.
        page.wait_for_timeout(3000)
        toasts = page.locator(".Toastify__toast")
        assert toasts.count() == 0, f"avisos en pantalla: {toasts.all_inner_texts()}"
        assert page.locator(".jp-Dialog").count() == 0, "un diálogo tapa el cuaderno"
        assert page.evaluate(JS_COVERED, path) == [], "algo tapa el cuaderno"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "jupyterlab-es.png").write_bytes(page.screenshot())
    finally:
        context.close()
        lab.shutdown_kernels()
