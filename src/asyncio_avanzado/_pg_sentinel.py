"""Vigilante de un PostgreSQL temporal: lo crea, lo arranca y lo borra todo al final.

`postgres.py` lo ejecuta como *script* aparte (`python -I _pg_sentinel.py CONFIG`), en su
propia sesión, y se queda con el extremo de escritura de su entrada estándar. El vigilante
responde una línea JSON por su salida estándar (`{"port": ..., "pid": ...}` o
`{"error": ...}`) y espera a que por esa entrada llegue algo o se cierre: `stop()` escribe
una línea y la cierra, y se cierra sola cuando el programa que lo lanzó muere de golpe
(`kill -9`, reinicio del núcleo de Jupyter): el sistema operativo cierra sus descriptores.
En cualquiera de los dos casos el vigilante detiene el servidor y borra la carpeta temporal.

Solo usa la biblioteca estándar: se ejecuta con `-I` (modo aislado), sin importar el paquete.
"""

import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

# Lo que escribe postgres en su registro cuando otro programa le ganó el puerto.
_PORT_TAKEN = ("could not bind", "Address already in use", "could not create any TCP/IP")
_PORT_ATTEMPTS = 5


class StartError(Exception):
    """El servidor no llegó a aceptar conexiones; el mensaje dice por qué."""


class _Stop(BaseException):
    """Nos pidieron terminar con una señal mientras arrancábamos o esperábamos."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _log_tail(log: Path, start: int = 0, lines: int = 25) -> str:
    try:
        with open(log, "rb") as f:
            f.seek(start)
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


def _as_server_user(cfg: dict[str, Any]) -> dict[str, Any]:
    """Devuelve los argumentos de `Popen` para ejecutar como el usuario del servidor."""
    if cfg["uid"] is None:
        return {}
    return {"user": cfg["uid"], "group": cfg["gid"], "extra_groups": []}


def _ready(data: Path) -> bool:
    # postgres escribe «ready» en la línea 8 de postmaster.pid cuando acepta conexiones
    # (lo mismo que consulta `pg_ctl -w`).
    try:
        lines = (data / "postmaster.pid").read_text().splitlines()
    except (OSError, UnicodeDecodeError):
        return False
    return len(lines) >= 8 and lines[7].strip() == "ready"


def _start(cfg: dict[str, Any], root: Path, logf: Any, procs: list[subprocess.Popen]) -> int:
    """Crea el clúster y arranca el servidor; devuelve su puerto.

    Cada proceso de postgres que lanza queda en `procs`, para detenerlo pase lo que pase.
    """
    deadline = time.monotonic() + cfg["timeout"]
    bindir = Path(cfg["bindir"])
    data = root / "data"
    log = root / "postgres.log"
    common = {
        "stdin": subprocess.DEVNULL,
        "stdout": logf,
        "stderr": subprocess.STDOUT,
        "cwd": root,
        "env": {**os.environ, "LC_ALL": "C", "TZ": "UTC"},
        **_as_server_user(cfg),
    }
    initdb = [
        str(bindir / "initdb"),
        *("-D", str(data), "-U", cfg["superuser"]),
        *("--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"),
    ]
    try:
        subprocess.run(initdb, check=True, timeout=cfg["timeout"], **common)
    except subprocess.TimeoutExpired:
        raise StartError(f"initdb no terminó en {cfg['timeout']:.0f} s") from None
    except subprocess.CalledProcessError as error:
        raise StartError(f"initdb falló (código {error.returncode})") from None
    settings = {
        "listen_addresses": "127.0.0.1",
        "unix_socket_directories": str(root),
        **cfg["settings"],
    }
    options = [arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")]
    for _ in range(_PORT_ATTEMPTS):
        port = _free_port()
        offset = log.stat().st_size
        proc = subprocess.Popen(
            [str(bindir / "postgres"), "-D", str(data), "-p", str(port), *options], **common
        )
        procs.append(proc)
        while not _ready(data):
            if proc.poll() is not None:
                break
            if time.monotonic() > deadline:
                _shutdown(proc)
                raise StartError(f"no aceptó conexiones en {cfg['timeout']:.0f} s")
            time.sleep(0.01)
        else:
            return port
        tail = _log_tail(log, offset)
        if not any(sign in tail for sign in _PORT_TAKEN):
            raise StartError(f"postgres terminó nada más arrancar (código {proc.returncode})")
        # Otro programa ocupó el puerto entre que lo elegimos y postgres lo pidió: otro.
    raise StartError(f"no encontró un puerto libre en {_PORT_ATTEMPTS} intentos")


def _shutdown(proc: subprocess.Popen) -> None:
    """Detiene el servidor sin esperas: los datos se van a borrar."""
    if proc.poll() is None:
        # SIGQUIT es la «parada inmediata» de postgres: corta conexiones y no escribe nada.
        proc.send_signal(signal.SIGQUIT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _remove(root: Path) -> None:
    import shutil

    for _ in range(3):
        shutil.rmtree(root, ignore_errors=True)
        if not root.exists():
            return
        time.sleep(0.1)  # un proceso hijo que aún escribe su último archivo


def _report(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def _wait_for_eof(proc: subprocess.Popen, log: Path) -> None:
    """Espera la orden de parar o el final de la entrada; si postgres muere antes, lo avisa.

    `stop()` escribe una línea y cierra. La línea basta: un proceso hijo del programa creado
    con *fork* (los de un `ProcessPoolExecutor` en Linux) hereda el extremo de escritura y,
    mientras viva, el final de la entrada no llegaría nunca.
    """
    reported = False
    while True:
        readable, _, _ = select.select([sys.stdin], [], [], 0.25)
        if readable:
            os.read(sys.stdin.fileno(), 4096)
            return  # la orden de stop(), o el fin de la entrada: el que nos lanzó murió
        if not reported and proc.poll() is not None:
            # Alguien lo detuvo o se cayó: se avisa, pero la carpeta sigue hasta stop(),
            # para que su registro pueda leerse.
            _report({"exited": proc.returncode, "log": _log_tail(log)})
            reported = True


def main(argv: list[str]) -> int:
    cfg = json.loads(argv[0])
    root = Path(cfg["root"])
    cleaning = False

    def on_signal(signum: int, frame: object) -> None:
        if not cleaning:
            raise _Stop

    # En su propia sesión no le llega el Ctrl-C del terminal, pero por si acaso: quien
    # decide cuándo parar es el programa que nos lanzó, cerrando nuestra entrada.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    procs: list[subprocess.Popen] = []
    try:
        with open(root / "postgres.log", "ab") as logf:
            try:
                port = _start(cfg, root, logf, procs)
            except StartError as error:
                _report({"error": str(error), "log": _log_tail(root / "postgres.log")})
                return 1
            except Exception as error:  # cualquier otro fallo también se cuenta
                _report({"error": f"{type(error).__name__}: {error}", "log": ""})
                return 1
            _report({"port": port, "pid": procs[-1].pid})
            _wait_for_eof(procs[-1], root / "postgres.log")
    except (_Stop, OSError):
        pass  # una señal, o el que nos lanzó ya no está (tubería rota): a limpiar
    finally:
        cleaning = True
        for proc in procs:
            _shutdown(proc)
        _remove(root)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
