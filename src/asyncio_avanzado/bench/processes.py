"""Los procesos hijos vistos desde el coordinador: lanzarlos, hablarles y pararlos.

Cada hijo ejecuta una función de `worker.py` (un servidor o un generador de carga) en otro
proceso, y hablamos con él por una conexión de `multiprocessing.connection` (diccionarios en
los dos sentidos). Los crea `zygote.py`: un proceso que importa el banco de pruebas una vez y
hace un `fork` por hijo, en milisegundos, en vez de las décimas de segundo que tarda un
intérprete nuevo en importar el paquete del curso. Donde no hay `fork` (Windows), cada hijo
es un intérprete nuevo.

Los hijos se conectan al coordinador por un *socket* Unix en una carpeta privada (o por
`127.0.0.1` donde no los hay) y se presentan con un *token* al azar. Lo que escriban en su
salida de errores se guarda para explicar un fallo, y no se mezcla con la de quien ejecuta el
banco (en Jupyter, la celda).
"""

from __future__ import annotations

import atexit
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections import deque
from multiprocessing.connection import Connection
from typing import Any

__all__ = ["BenchError", "Child"]

SHUTDOWN_TIMEOUT = 5.0
"""Segundos que se espera a que un hijo termine por las buenas antes de matarlo."""
START_TIMEOUT = 20.0
"""Segundos que se espera a que un hijo nuevo se presente."""
CAN_FORK = hasattr(os, "fork") and sys.platform != "win32"


_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Cómo arranca el proceso que crea los hijos. `import asyncio_avanzado` cargaría todo lo de los
# cuadernos (ejercicios, PostgreSQL, figuras...): unas décimas de segundo que los hijos no
# usan. El paquete se registra vacío, con su carpeta, y se importa solo el banco (que importa a
# su vez los servidores del curso que mide, `echo` y `threaded`).
_BOOTSTRAP = """
import logging, sys, types
package = types.ModuleType("asyncio_avanzado")
package.__path__ = [sys.argv[1]]
sys.modules["asyncio_avanzado"] = package
logging.getLogger("asyncio_avanzado").addHandler(logging.NullHandler())  # como el paquete
from asyncio_avanzado.bench import zygote
sys.exit(zygote.main(sys.argv[2:]))
"""


class BenchError(RuntimeError):
    """Algo falló al medir: un proceso no arrancó, no contestó a tiempo o se equivocó."""


class _Zygote:
    """El proceso que crea los hijos, y el *socket* por el que estos se presentan."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._folder = tempfile.mkdtemp(prefix="curso-banco-")  # 0700: solo nosotros
        if hasattr(socket, "AF_UNIX") and CAN_FORK:
            self.address: Any = os.path.join(self._folder, "hijos")
            self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self._listener.bind(self.address)
        else:
            self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self._listener.bind(("127.0.0.1", 0))
            self.address = list(self._listener.getsockname()[:2])
        self._listener.listen(64)
        self.errors: deque[str] = deque(maxlen=40)
        self.proc: subprocess.Popen[str] | None = None
        if CAN_FORK:
            self.proc = self._popen([json.dumps(self.address)], stdin=subprocess.PIPE)

    def _popen(self, args: list[str], **options: Any) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-c", _BOOTSTRAP, _PACKAGE_DIR, *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            bufsize=1,
            **options,
        )
        self._reader = threading.Thread(target=self._read_errors, args=(proc,), daemon=True)
        self._reader.start()
        return proc

    def _read_errors(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stderr is not None
        with proc.stderr:  # se cierra cuando el proceso termina (fin del archivo)
            for line in proc.stderr:
                self.errors.append(line.rstrip("\n"))

    @property
    def alive(self) -> bool:
        """Devuelve True si puede crear hijos."""
        return not CAN_FORK or (self.proc is not None and self.proc.poll() is None)

    def spawn(self, label: str, target: str, args: list[Any]) -> tuple[Connection, int]:
        """Crea un hijo que ejecuta `worker.<target>(conexión, *args)`; devuelve la conexión
        y su pid. Lanza BenchError si no se presenta a tiempo."""
        token = secrets.token_hex(16)
        request = {"token": token, "target": target, "args": args}
        with self._lock:  # un hijo cada vez: el primero que se presente es el nuestro
            if CAN_FORK:
                assert self.proc is not None and self.proc.stdin is not None
                try:
                    self.proc.stdin.write(json.dumps(request) + "\n")
                    self.proc.stdin.flush()
                except OSError as exc:
                    raise BenchError(f"el proceso que crea los hijos ya no está: {exc}") from exc
            else:
                self._popen(["--solo", json.dumps({**request, "address": self.address})])
            self._listener.settimeout(START_TIMEOUT)
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                raise BenchError(self._explain(f"el proceso {label} no arrancó")) from None
        sock.settimeout(None)
        conn = Connection(sock.detach())
        if not conn.poll(START_TIMEOUT):
            conn.close()
            raise BenchError(self._explain(f"el proceso {label} no se presentó"))
        hello = conn.recv()
        if hello.get("token") != token:
            conn.close()
            raise BenchError(f"se presentó un proceso que no era {label}")
        return conn, int(hello["pid"])

    def _explain(self, what: str) -> str:
        return what + (":\n" + "\n".join(self.errors) if self.errors else "")

    def close(self) -> None:
        """Termina el proceso que crea los hijos y borra su carpeta."""
        if self.proc is not None and self.proc.poll() is None:
            assert self.proc.stdin is not None
            try:
                self.proc.stdin.close()  # su señal para terminar
                self.proc.wait(SHUTDOWN_TIMEOUT)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None:
            self._reader.join(SHUTDOWN_TIMEOUT)  # su stderr, leído hasta el final y cerrado
        self._listener.close()
        shutil.rmtree(self._folder, ignore_errors=True)


_zygote: _Zygote | None = None
_zygote_lock = threading.Lock()


def _the_zygote() -> _Zygote:
    global _zygote
    with _zygote_lock:
        if _zygote is None or not _zygote.alive:
            if _zygote is not None:
                _zygote.close()
            _zygote = _Zygote()
        return _zygote


@atexit.register
def _close_zygote() -> None:
    if _zygote is not None:
        _zygote.close()


class Child:
    """Un proceso hijo del banco de pruebas y su conexión."""

    def __init__(self, label: str, target: str, *args: Any) -> None:
        self.label = label
        self._conn, self.pid = _the_zygote().spawn(label, target, list(args))
        self._ended = False

    @property
    def running(self) -> bool:
        """Devuelve True mientras el proceso siga vivo (que sepamos)."""
        if self._ended:
            return False
        try:
            os.kill(self.pid, 0)
        except (ProcessLookupError, PermissionError):
            self._ended = True
        except OSError:
            pass
        return not self._ended

    def send(self, message: dict[str, Any]) -> None:
        """Envía una orden al hijo; lanza BenchError si ya no la lee."""
        try:
            self._conn.send(message)
        except (OSError, ValueError) as exc:
            raise self.failure(f"no acepta la orden {message.get('cmd')!r}") from exc

    def expect(self, timeout: float) -> dict[str, Any]:
        """Devuelve el siguiente mensaje del hijo; lanza BenchError si termina, si tarda más
        de `timeout` segundos o si avisa de un error."""
        try:
            if not self._conn.poll(timeout):
                raise self.failure(f"no contestó en {timeout:.0f} s")
            message: dict[str, Any] = self._conn.recv()
        except (EOFError, OSError):
            self._ended = True
            raise self.failure("terminó antes de tiempo") from None
        if "error" in message:
            self._ended = True
            raise self.failure("falló:\n" + message["error"].rstrip())
        return message

    def ask(self, message: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Envía `message` y devuelve la respuesta del hijo."""
        self.send(message)
        return self.expect(timeout)

    def failure(self, what: str) -> BenchError:
        """Devuelve un BenchError que explica qué le pasó al hijo."""
        message = f"el proceso {self.label} {what}"
        errors = _zygote.errors if _zygote is not None else ()
        if errors:
            message += ":\n" + "\n".join(errors)
        return BenchError(message)

    def close(self, timeout: float = SHUTDOWN_TIMEOUT) -> None:
        """Le dice al hijo que termine y espera a que cierre su conexión; si no lo hace a
        tiempo, lo mata. Idempotente."""
        if self._conn.closed:
            return
        try:
            self._conn.send({"cmd": "exit"})
            # El hijo cierra su extremo al terminar: hasta entonces no llega el final.
            while self._conn.poll(timeout):
                self._conn.recv()
            ended = False
        except (EOFError, OSError, ValueError):
            ended = True
        self._conn.close()
        if not ended:
            self.kill()

    def kill(self) -> None:
        """Mata el hijo sin esperar a que termine por las buenas."""
        if self.running:
            try:
                os.kill(self.pid, signal.SIGKILL if hasattr(signal, "SIGKILL") else signal.SIGTERM)
            except OSError:
                pass
        self._ended = True
        if not self._conn.closed:
            self._conn.close()
