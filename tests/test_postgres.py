"""Pruebas del PostgreSQL de usar y tirar: arranca, responde y no deja nada atrás."""

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import psycopg
import pytest
from system_tools import require

from asyncio_avanzado import LagMonitor, check, running_servers, stop_all
from asyncio_avanzado import postgres as pg_module
from asyncio_avanzado.exercises import EXERCISES
from asyncio_avanzado.postgres import (
    PostgresError,
    PostgresNotFound,
    TemporaryPostgres,
    candidate_folders,
    find_postgres,
)

SRC = Path(__file__).resolve().parent.parent / "src"


def postgres_installed() -> bool:
    try:
        find_postgres()
    except PostgresNotFound:
        return False
    return True


@pytest.fixture
def installed():
    require(
        postgres_installed(),
        "PostgreSQL (initdb y postgres)",
        "sudo apt-get install postgresql (o brew install postgresql@16)",
    )


@pytest.fixture
def parent_dir():
    """Una carpeta propia donde crear los clústeres, para ver que no queda nada en ella."""
    path = Path(tempfile.mkdtemp(prefix="prueba-pg-"))
    path.chmod(0o755)  # como root, la cuenta del servidor tiene que poder entrar
    yield path
    leftovers = list(path.iterdir())
    shutil.rmtree(path, ignore_errors=True)
    assert not leftovers, f"quedaron restos: {leftovers}"


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def wait_until(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def process_uid(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError("sin línea Uid")


def asyncpg_query(dsn: str, sql: str):
    async def main():
        conn = await asyncpg.connect(dsn)
        try:
            return await conn.fetchval(sql)
        finally:
            await conn.close()

    return asyncio.run(main())


def test_starts_serves_queries_and_cleans_up(installed, parent_dir):
    pg = TemporaryPostgres(dir=parent_dir)
    assert repr(pg) == "<TemporaryPostgres detenido>"
    with pg:
        assert pg.running
        assert pg.dsn == f"postgresql://postgres@127.0.0.1:{pg.port}/postgres"
        assert repr(pg) == f"<TemporaryPostgres {pg.dsn}>"
        assert asyncpg_query(pg.dsn, "SELECT 6 * 7") == 42
        with psycopg.connect(pg.dsn) as conn:
            assert conn.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)
            assert conn.execute("SHOW fsync").fetchone() == ("off",)
        assert pg.data_dir.parent.parent == parent_dir
        assert (pg.data_dir / "PG_VERSION").exists()
        assert 0 < pg.startup_time < 30
        pid, root = pg.pid, pg.data_dir.parent
        if os.geteuid() == 0 and Path("/proc").is_dir():
            # initdb y postgres se niegan a ejecutarse como root: lo hace la cuenta postgres.
            import pwd

            assert process_uid(pid) == pwd.getpwnam("postgres").pw_uid
    assert not pg.running
    assert not process_exists(pid)
    assert not root.exists()
    assert repr(pg) == "<TemporaryPostgres detenido>"
    pg.stop()  # idempotente
    with pytest.raises(RuntimeError, match="no está en marcha"):
        _ = pg.dsn


def test_stop_does_not_wait_for_a_forked_child(installed, parent_dir):
    # Un hijo creado con fork (los procesos de un ProcessPoolExecutor en Linux) hereda el
    # extremo de escritura del tubo del vigilante: cerrarlo no basta, stop() avisa con una línea.
    pg = TemporaryPostgres(dir=parent_dir).start()
    pid, root = pg.pid, pg.data_dir.parent
    child = os.fork()
    if child == 0:  # el hijo: solo vive un rato con los descriptores heredados
        time.sleep(20)
        os._exit(0)
    try:
        began = time.monotonic()
        pg.stop()
        took = time.monotonic() - began
    finally:
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
    assert took < 15, f"stop() esperó {took:.1f} s al hijo"
    assert not process_exists(pid) and not root.exists()


def test_two_at_once_do_not_collide_and_stop_all_stops_them(installed, parent_dir):
    with TemporaryPostgres(dir=parent_dir) as a, TemporaryPostgres(dir=parent_dir) as b:
        assert a.port != b.port and a.data_dir != b.data_dir
        with psycopg.connect(a.dsn, autocommit=True) as conn:
            conn.execute("CREATE TABLE solo_en_a (x int)")
        with psycopg.connect(b.dsn) as conn:
            assert conn.execute("SELECT to_regclass('solo_en_a')").fetchone() == (None,)
        # Si uno de los dos se detiene por su cuenta, se nota, y el otro sigue.
        os.kill(a.pid, signal.SIGTERM)
        assert wait_until(lambda: not a.running, 10)
        assert a.exit_code == 0 and "shut down" in a.log_tail()
        assert asyncpg_query(b.dsn, "SELECT 1") == 1
        stop_all()  # lo que hace la celda de preparación al volver a ejecutar un cuaderno
        assert not b.running


def test_async_with_does_not_freeze_the_loop_and_cleans_up_on_error(installed, parent_dir):
    async def main():
        async with LagMonitor() as lag:
            with pytest.raises(ZeroDivisionError):
                async with TemporaryPostgres(dir=parent_dir) as pg:
                    conn = await asyncpg.connect(pg.dsn)
                    assert await conn.fetchval("SELECT 'hola'") == "hola"
                    await conn.close()
                    pid = pg.pid
                    raise ZeroDivisionError("a propósito")
        return pid, lag.max_lag

    pid, max_lag = asyncio.run(main())
    assert not process_exists(pid)
    assert max_lag < 0.3  # arrancar (un segundo) y parar ocurren en un hilo


def test_failed_start_shows_the_log_and_cleans_up(installed, parent_dir):
    pg = TemporaryPostgres(dir=parent_dir, settings={"shared_buffers": "mucho"})
    with pytest.raises(PostgresError, match="no arrancó") as error:
        pg.start()
    assert "shared_buffers" in str(error.value)  # el registro de postgres dice qué falló
    assert not pg.running


def test_interrupted_start_leaves_nothing(installed, parent_dir, monkeypatch):
    def interrupted(self, sentinel):
        time.sleep(0.2)  # a medias: el vigilante está en initdb
        raise KeyboardInterrupt

    monkeypatch.setattr(TemporaryPostgres, "_wait_reply", interrupted)
    with pytest.raises(KeyboardInterrupt):
        TemporaryPostgres(dir=parent_dir).start()


OWNER = """
import json, sys, time
from asyncio_avanzado.postgres import TemporaryPostgres
pg = TemporaryPostgres(dir=sys.argv[1]).start()
print(json.dumps({"pid": pg.pid, "root": str(pg.data_dir.parent), "dsn": pg.dsn}), flush=True)
time.sleep(60)
"""


def test_abrupt_death_of_the_owner_cleans_up(installed, parent_dir):
    """Como un núcleo de Jupyter que se reinicia: kill -9 y no queda nada."""
    with subprocess.Popen(
        [sys.executable, "-c", OWNER, str(parent_dir)], stdout=subprocess.PIPE, text=True
    ) as owner:
        try:
            info = json.loads(owner.stdout.readline())
            assert process_exists(info["pid"]) and Path(info["root"]).exists()
            owner.send_signal(signal.SIGKILL)
        finally:
            owner.kill()
    assert wait_until(lambda: not process_exists(info["pid"]), 10), "postgres sigue vivo"
    assert wait_until(lambda: not Path(info["root"]).exists(), 10), "su carpeta sigue ahí"


UNPRIVILEGED = """
import os, subprocess, sys
from asyncio_avanzado.postgres import TemporaryPostgres, find_postgres
with TemporaryPostgres() as pg:
    psql = find_postgres() / "psql"
    out = subprocess.run([str(psql), pg.dsn, "-Atc", "SELECT 6 * 7"], capture_output=True,
                         text=True, check=True).stdout
    root = pg.data_dir.parent
    print(os.geteuid(), out.strip(), root.stat().st_uid == os.geteuid())
print("borrada" if not root.exists() else "sigue")
"""


def test_runs_as_an_unprivileged_user(installed):
    """Como root, las demás pruebas usan la cuenta postgres; aquí, un usuario cualquiera."""
    if os.geteuid() != 0:
        pytest.skip("ya somos un usuario sin privilegios: las demás pruebas lo cubren")
    if not (find_postgres() / "psql").exists():  # lo usa el script: sin asyncpg ni psycopg
        pytest.skip("sin psql junto a initdb")
    # El Python de las pruebas puede estar en una carpeta de root que nobody no puede abrir;
    # el del sistema, con el código del paquete a la vista, sirve igual (solo usa stdlib).
    import pwd

    nobody = pwd.getpwnam("nobody")
    problems = []
    for python in (sys.executable, "/usr/bin/python3"):
        try:
            result = subprocess.run(
                [python, "-c", UNPRIVILEGED],
                user=nobody.pw_uid,
                group=nobody.pw_gid,
                extra_groups=[],
                env={**os.environ, "PYTHONPATH": str(SRC), "HOME": "/"},
                cwd="/",
                capture_output=True,
                text=True,
                timeout=60,
            )
        except OSError as error:
            problems.append(f"{python}: {error}")
            continue
        if result.returncode == 0:
            break
        problems.append(f"{python}: {result.stderr[-300:]}")
    else:
        pytest.skip(f"nobody no puede ejecutar Python con el paquete: {problems}")
    assert result.stdout.split() == [str(nobody.pw_uid), "42", "True", "borrada"]


def test_missing_binaries_say_how_to_install(tmp_path, monkeypatch):
    with pytest.raises(PostgresNotFound) as error:
        TemporaryPostgres(bin_dir=tmp_path).start()
    message = str(error.value)
    for needed in ("apt-get install postgresql", "brew install", "conda install", "Binder"):
        assert needed in message
    monkeypatch.setattr(pg_module, "candidate_folders", lambda: [])
    with pytest.raises(PostgresNotFound, match="ni en los sitios habituales"):
        find_postgres()


def test_candidates_prefer_the_newest_version(tmp_path, monkeypatch):
    for version in ("9.6", "16", "15"):
        (tmp_path / version / "bin").mkdir(parents=True)
    assert pg_module._newest(f"{tmp_path}/*/bin") == [
        tmp_path / v / "bin" for v in ("16", "15", "9.6")
    ]
    assert Path("/usr/local/pgsql/bin") in candidate_folders()


def test_root_without_a_service_account_is_explained(installed, monkeypatch):
    monkeypatch.setattr(pg_module.os, "geteuid", lambda: 0)
    with pytest.raises(PostgresError, match="como root") as error:
        TemporaryPostgres(system_user="cuenta-que-no-existe").start()
    assert "useradd" in str(error.value)


def test_a_check_without_a_running_postgres_starts_its_own(installed):
    # Las pruebas de los ejercicios comparten uno (tests/conftest.py), como un cuaderno; sin
    # ninguno en marcha, la comprobación arranca el suyo fuera de la ventana que se juzga, y
    # lo apaga al terminar.
    def running() -> list:
        return [s for s in running_servers() if isinstance(s, TemporaryPostgres) and s.running]

    assert not running()
    result = asyncio.run(check("07.1", EXERCISES["07.1"].solution))
    assert result.passed, repr(result)
    assert not running()
