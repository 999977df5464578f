"""Un PostgreSQL de usar y tirar: `with TemporaryPostgres() as pg:` y `pg.dsn`.

La lección 07 compara controladores de PostgreSQL contra un servidor de verdad, en el
propio equipo. `TemporaryPostgres` crea uno nuevo con los programas de PostgreSQL
instalados (`initdb` en una carpeta temporal, un puerto libre, solo `127.0.0.1`), espera
a que acepte conexiones y, al terminar, lo detiene y borra la carpeta::

    with TemporaryPostgres() as pg:
        conexion = await asyncpg.connect(pg.dsn)

Es para aprender y para las pruebas, no para guardar nada: no sincroniza con el disco
(`fsync=off`) y cualquier programa del equipo puede conectarse por `127.0.0.1` sin
contraseña mientras está en marcha (autenticación `trust`).

Quien lo detiene y borra todo es un pequeño proceso vigilante (`_pg_sentinel.py`) que
espera a que se cierre una tubería con este proceso: se cierra con `stop()` y también si
este proceso muere de golpe (un `kill -9`, reiniciar el núcleo de Jupyter). Así no quedan
servidores huérfanos ni carpetas olvidadas.

Como root, `initdb` se niega a trabajar; entonces el servidor se ejecuta con la cuenta sin
privilegios `postgres` que crea el paquete de Debian/Ubuntu. Hace falta PostgreSQL 10 o
posterior, en Linux o macOS (en Windows, WSL).
"""

from __future__ import annotations

import asyncio
import glob
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self

from .background import register, unregister

__all__ = [
    "PostgresError",
    "PostgresNotFound",
    "TemporaryPostgres",
    "find_postgres",
]

SUPERUSER = "postgres"
"""Usuario de la base de datos con el que se conecta `dsn` (superusuario del clúster)."""
DATABASE = "postgres"
"""Base de datos a la que apunta `dsn`: la que crea `initdb`."""
SYSTEM_USER = "postgres"
"""Cuenta del sistema con la que se ejecuta el servidor si somos root (la de Debian)."""

_SENTINEL = Path(__file__).with_name("_pg_sentinel.py")
_PROGRAMS = ("initdb", "postgres")

# Pensado para una base de datos que se tira al terminar: nada de esperar al disco, nada
# de tareas de mantenimiento de fondo y poca memoria.
DEFAULT_SETTINGS: dict[str, str] = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "autovacuum": "off",
    "shared_buffers": "32MB",
    "huge_pages": "off",
    "max_connections": "100",
}

INSTALL_HELP = """\
Instálalo con una de estas órdenes y vuelve a ejecutar la celda:

  Debian/Ubuntu:     sudo apt-get install postgresql
  macOS (Homebrew):  brew install postgresql@16
  conda:             conda install -c conda-forge postgresql

O abre el curso en Binder (el botón «Abrir en Binder» de cada lección), que ya lo trae.
No hace falta ningún servicio en marcha: el curso crea y borra su propio servidor."""


class PostgresError(RuntimeError):
    """El PostgreSQL temporal no pudo arrancar; el mensaje dice por qué y qué hacer."""


class PostgresNotFound(PostgresError):
    """No hay programas de PostgreSQL (`initdb`, `postgres`) en este equipo."""


# -- dónde están los programas ----------------------------------------------------------------


def _version_key(path: Path) -> tuple[int, ...]:
    """Devuelve la versión que aparece en la ruta (`.../postgresql@16/bin` → (16,))."""
    numbers = re.findall(r"\d+(?:\.\d+)*", str(path.parent))
    return tuple(int(n) for n in numbers[-1].split(".")) if numbers else ()


def _has_programs(folder: Path) -> bool:
    return all(os.access(folder / name, os.X_OK) for name in _PROGRAMS)


def _newest(pattern: str) -> list[Path]:
    """Devuelve las carpetas que encajan con `pattern`, de la versión más nueva a la más vieja."""
    found = [Path(p) for p in glob.glob(pattern) if Path(p).is_dir()]
    return sorted(found, key=_version_key, reverse=True)


def candidate_folders() -> list[Path]:
    """Devuelve, en orden de preferencia, las carpetas donde buscar los programas."""
    folders: list[Path] = []
    initdb = shutil.which("initdb")
    if initdb:
        # Un enlace en el PATH (como /usr/local/bin/initdb): los demás están junto al real.
        folders += [Path(initdb).resolve().parent, Path(initdb).parent]
    folders += _newest("/usr/lib/postgresql/*/bin")  # Debian, Ubuntu (y Binder)
    folders += _newest("/opt/homebrew/opt/postgresql@*/bin")  # Homebrew, Mac con Apple Silicon
    folders += _newest("/usr/local/opt/postgresql@*/bin")  # Homebrew, Mac con Intel
    folders += [Path("/opt/homebrew/opt/postgresql/bin"), Path("/usr/local/opt/postgresql/bin")]
    folders += [Path("/Applications/Postgres.app/Contents/Versions/latest/bin")]
    folders += [Path("/usr/local/pgsql/bin")]  # compilado a mano
    for prefix in (os.environ.get("CONDA_PREFIX"), sys.prefix):  # conda (también sin activar)
        if prefix:
            folders.append(Path(prefix) / "bin")
    return list(dict.fromkeys(folders))


def find_postgres(bin_dir: str | Path | None = None) -> Path:
    """Busca la carpeta con `initdb` y `postgres`; devuelve su ruta.

    Mira `bin_dir` si se da; si no, el PATH y los sitios donde los dejan apt, Homebrew,
    Postgres.app y conda, y se queda con la versión más nueva. Lanza `PostgresNotFound`,
    con cómo instalarlo, si no hay ninguna.
    """
    folders = [Path(bin_dir)] if bin_dir is not None else candidate_folders()
    for folder in folders:
        if _has_programs(folder):
            return folder
    where = (
        "en " + str(bin_dir) if bin_dir is not None else "en el PATH ni en los sitios habituales"
    )
    raise PostgresNotFound(
        f"No se encontró PostgreSQL (los programas initdb y postgres) {where}.\n{INSTALL_HELP}"
    )


def _server_account(system_user: str) -> tuple[int, int] | None:
    """Devuelve (uid, gid) con que ejecutar el servidor, o None para ejecutarlo como nosotros."""
    if sys.platform == "win32":
        raise PostgresError(
            "TemporaryPostgres no funciona en Windows. Usa WSL (Ubuntu) o abre el curso en Binder."
        )
    if os.geteuid() != 0:
        return None
    import pwd

    try:
        account = pwd.getpwnam(system_user)
    except KeyError:
        raise PostgresError(
            f"Se está ejecutando como root, y PostgreSQL no arranca como root. Se buscó la "
            f"cuenta sin privilegios {system_user!r} para ejecutarlo con ella, pero no existe. "
            f"Créala (por ejemplo, «useradd --system --user-group {system_user}»; el paquete "
            "postgresql de Debian/Ubuntu ya la crea) o ejecuta el curso como un usuario normal."
        ) from None
    if account.pw_uid == 0:
        raise PostgresError(f"la cuenta {system_user!r} es root: PostgreSQL no arranca así")
    return account.pw_uid, account.pw_gid


# -- el servidor -------------------------------------------------------------------------------


class TemporaryPostgres:
    """Un servidor PostgreSQL nuevo en una carpeta temporal, solo en `127.0.0.1`.

    Se usa con `with` (o `async with`, que no congela el bucle mientras arranca) o con
    `start()` / `stop()`. `stop()` lo detiene y borra la carpeta; llamarlo otra vez no hace
    nada. `stop_all()` del paquete también lo detiene. Arrancar tarda alrededor de un
    segundo: lo que tarda `initdb` en crear el clúster.
    """

    host = "127.0.0.1"
    user = SUPERUSER
    database = DATABASE

    def __init__(
        self,
        *,
        timeout: float = 60.0,
        bin_dir: str | Path | None = None,
        system_user: str = SYSTEM_USER,
        dir: str | Path | None = None,
        settings: Mapping[str, str | int] | None = None,
    ) -> None:
        """Prepara el servidor sin arrancarlo.

        `timeout`: segundos como mucho para crear el clúster y que acepte conexiones.
        `bin_dir`: carpeta de los programas (si no, se buscan con `find_postgres`).
        `system_user`: cuenta con la que se ejecuta el servidor si somos root.
        `dir`: dónde crear la carpeta temporal (si no, la del sistema: `tempfile`).
        `settings`: parámetros de `postgresql.conf` que añadir o cambiar.
        """
        self.timeout = timeout
        self.bin_dir = bin_dir
        self.system_user = system_user
        self.dir = dir
        self.settings = {**DEFAULT_SETTINGS, **{k: str(v) for k, v in (settings or {}).items()}}
        self._lock = threading.Lock()
        self._sentinel: subprocess.Popen[bytes] | None = None
        self._root: Path | None = None
        self._port: int | None = None
        self._pid: int | None = None
        self.startup_time: float | None = None
        """Segundos que tardó el último `start()`."""
        self.exit_code: int | None = None
        """Código de salida de postgres si terminó por su cuenta antes de `stop()`."""

    # -- ciclo de vida ---------------------------------------------------------------

    def start(self) -> Self:
        """Crea el clúster, arranca el servidor y espera a que acepte conexiones.

        Devuelve el propio objeto. Lanza `PostgresNotFound` si PostgreSQL no está
        instalado y `PostgresError` si no arranca (con el final de su registro).
        """
        if self._sentinel is not None:
            raise RuntimeError(f"{self!r} ya está en marcha: llama a stop() antes de reiniciarlo")
        began = time.perf_counter()
        bindir = find_postgres(self.bin_dir)
        account = _server_account(self.system_user)
        root = Path(tempfile.mkdtemp(prefix="curso-pg-", dir=self.dir))
        try:
            if account is not None:
                # La carpeta (0700) pasa a ser de la cuenta del servidor; root entra igual.
                os.chown(root, *account)
            config = {
                "root": str(root),
                "bindir": str(bindir),
                "uid": account[0] if account else None,
                "gid": account[1] if account else None,
                "superuser": self.user,
                "timeout": self.timeout,
                "settings": self.settings,
            }
            # Sesión propia: el Ctrl-C del terminal no le llega, y al matar el grupo de
            # procesos del núcleo de Jupyter sobrevive lo justo para limpiar.
            sentinel = subprocess.Popen(
                [sys.executable, "-I", str(_SENTINEL), json.dumps(config)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise
        with self._lock:
            self._sentinel, self._root = sentinel, root
        try:
            reply = self._wait_reply(sentinel)
        except BaseException:
            # También un Ctrl-C a medio arrancar: que no quede nada.
            self._stop(force=True)
            raise
        self._port, self._pid = reply["port"], reply["pid"]
        self.exit_code = None
        self.startup_time = time.perf_counter() - began
        register(self)
        return self

    def _wait_reply(self, sentinel: subprocess.Popen[bytes]) -> dict[str, Any]:
        """Espera la línea del vigilante; devuelve su mensaje o lanza `PostgresError`."""
        assert sentinel.stdout is not None
        # Un margen sobre el plazo del vigilante, que ya corta initdb y el arranque.
        deadline = time.monotonic() + self.timeout + 10
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise PostgresError(
                    f"PostgreSQL no respondió en {self.timeout + 10:.0f} s.\n"
                    f"Últimas líneas de su registro:\n{self.log_tail()}"
                )
            ready, _, _ = select.select([sentinel.stdout], [], [], min(remaining, 1.0))
            if ready:
                break
        line = sentinel.stdout.readline()
        if not line:
            raise PostgresError(
                "el proceso que vigila PostgreSQL terminó sin decir nada.\n"
                f"Últimas líneas del registro:\n{self.log_tail()}"
            )
        reply: dict[str, Any] = json.loads(line)
        if "error" in reply:
            raise PostgresError(
                f"PostgreSQL no arrancó: {reply['error']}.\n"
                f"Últimas líneas de su registro:\n{reply.get('log') or '(vacío)'}"
            )
        return reply

    def stop(self) -> None:
        """Detiene el servidor y borra su carpeta. Idempotente."""
        self._stop(force=False)

    def _stop(self, force: bool) -> None:
        with self._lock:
            sentinel, root = self._sentinel, self._root
            self._sentinel = self._root = None
            self._port = self._pid = None
        if sentinel is None:
            return
        unregister(self)
        try:
            assert sentinel.stdin is not None
            try:
                # La orden de parar; cerrar no bastaría si un hijo creado con fork (un pool
                # de procesos) heredó este extremo del tubo: el vigilante no vería el final.
                sentinel.stdin.write(b"stop\n")
                sentinel.stdin.flush()
            except OSError:  # BrokenPipeError: el vigilante ya no está
                pass
            sentinel.stdin.close()  # el vigilante lee la orden o el final: detiene y borra
            if force and sentinel.poll() is None:
                # Aún arrancaba (Ctrl-C, plazo vencido): que no espere a terminar.
                sentinel.send_signal(signal.SIGTERM)
            try:
                sentinel.wait(30)
            except subprocess.TimeoutExpired:
                # El vigilante no responde: todo su grupo (él y postgres) fuera.
                os.killpg(sentinel.pid, signal.SIGKILL)
                sentinel.wait()
        finally:
            if sentinel.stdout is not None:
                sentinel.stdout.close()
            if root is not None and root.exists():
                shutil.rmtree(root, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        # Arrancar bloquea un segundo: en un hilo, para que el bucle siga libre.
        starting = asyncio.ensure_future(asyncio.to_thread(self.start))
        try:
            await asyncio.shield(starting)
        except asyncio.CancelledError:
            # Nos cancelan a medio arrancar: el hilo sigue; al acabar, lo deshacemos.
            starting.add_done_callback(lambda _: threading.Thread(target=self.stop).start())
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await asyncio.to_thread(self.stop)

    # -- lo que se consulta ----------------------------------------------------------

    @property
    def running(self) -> bool:
        """Devuelve True mientras el servidor está en marcha (False si se cayó solo)."""
        sentinel = self._sentinel
        if sentinel is None or self._port is None or self.exit_code is not None:
            return False
        if sentinel.poll() is not None:
            self.exit_code = -1
            return False
        assert sentinel.stdout is not None
        # Tras «listo», el vigilante solo vuelve a escribir si postgres termina solo.
        if select.select([sentinel.stdout], [], [], 0)[0]:
            line = sentinel.stdout.readline()
            self.exit_code = json.loads(line)["exited"] if line else -1
            return False
        return True

    def _require_running(self) -> int:
        port = self._port
        if port is None:
            raise RuntimeError("el servidor no está en marcha: llama antes a start()")
        return port

    @property
    def port(self) -> int:
        """Devuelve el puerto TCP en que escucha (en `127.0.0.1`)."""
        return self._require_running()

    @property
    def dsn(self) -> str:
        """Devuelve la cadena de conexión (URL de libpq) para asyncpg, psycopg o psql."""
        return f"postgresql://{self.user}@{self.host}:{self._require_running()}/{self.database}"

    @property
    def pid(self) -> int:
        """Devuelve el identificador del proceso principal de postgres."""
        self._require_running()
        assert self._pid is not None
        return self._pid

    @property
    def data_dir(self) -> Path:
        """Devuelve la carpeta de datos del clúster (dentro de la carpeta temporal)."""
        root = self._root
        if root is None:
            raise RuntimeError("el servidor no está en marcha: llama antes a start()")
        return root / "data"

    def log_tail(self, lines: int = 25) -> str:
        """Devuelve las últimas líneas del registro del servidor (vacío si ya no existe)."""
        root = self._root
        if root is None:
            return ""
        try:
            text = (root / "postgres.log").read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.strip().splitlines()[-lines:])

    def __repr__(self) -> str:
        port = self._port
        if port is None:
            return f"<{type(self).__name__} detenido>"
        return f"<{type(self).__name__} {self.dsn}>"


# -- la orden de terminal ----------------------------------------------------------------------


def serve(timeout: float = 60.0) -> int:
    """Arranca un PostgreSQL temporal hasta Ctrl-C (`python -m asyncio_avanzado postgres`).

    Devuelve el código de salida: 0 si se detuvo con Ctrl-C, 1 si no pudo arrancar o si
    el servidor terminó solo.
    """

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    # Un `kill` normal limpia igual que Ctrl-C (y sin él, limpiaría el vigilante).
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        return _serve(timeout)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _serve(timeout: float) -> int:
    print("Creando un PostgreSQL de usar y tirar...", flush=True)
    pg = TemporaryPostgres(timeout=timeout)
    try:
        pg.start()
    except PostgresError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nInterrumpido: no queda nada en marcha.")
        return 0
    try:
        print(
            f"PostgreSQL en marcha en {pg.host}:{pg.port} (arrancó en {pg.startup_time:.1f} s).\n"
            f"\nCadena de conexión:\n  {pg.dsn}\n"
            "\nConéctate, por ejemplo, con:\n"
            f"  psql {pg.dsn}\n"
            f'  Python (asyncpg):  conexion = await asyncpg.connect("{pg.dsn}")\n'
            f'  Python (psycopg):  conexion = psycopg.connect("{pg.dsn}")\n'
            f"\nLos datos están en {pg.data_dir} y se borran al detenerlo.\n"
            "Pulsa Ctrl-C para detenerlo.",
            flush=True,
        )
        while pg.running:
            time.sleep(0.2)
        print(
            f"error: el servidor terminó por su cuenta (código {pg.exit_code}). "
            f"Últimas líneas de su registro:\n{pg.log_tail()}",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        pg.stop()
        print("\nPostgreSQL detenido y su carpeta, borrada.")
        return 0
    finally:
        pg.stop()
