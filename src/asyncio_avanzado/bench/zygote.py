"""El proceso que crea los hijos del banco de pruebas: importa el banco una vez y hace `fork`.

Un intérprete nuevo tarda décimas de segundo en importar el paquete del curso; un `fork` de
un proceso que ya lo importó, milisegundos. El coordinador (`processes.py`) lanza este
módulo una sola vez, como haría::

    python -m asyncio_avanzado.bench.zygote DIRECCION

pero sin importar el resto del paquete del curso (ver `processes._BOOTSTRAP`), y le escribe
una línea JSON por hijo que quiere: `{"token": ..., "target": "serve", "args": [...]}`. Por
cada línea, el proceso hace `fork`; el hijo se conecta a la DIRECCION
del coordinador (un *socket* Unix en una carpeta privada), se presenta con su `token` y su
pid y ejecuta `worker.<target>(conexión, *args)`. Este proceso no tiene hilos ni bucle de
eventos: el `fork` es seguro. Termina cuando se cierra su entrada estándar.

Donde no hay `fork` (Windows), el coordinador ejecuta cada hijo con `--solo LÍNEA`: un
intérprete nuevo que hace lo mismo que haría el hijo de un `fork`.
"""

import json
import os
import signal
import socket
import sys
from multiprocessing.connection import Connection
from typing import Any

from . import worker

__all__ = ["connect_back", "main"]

TARGETS = {"serve": worker.serve, "generate_load": worker.generate_load}


def connect_back(address: Any, token: str) -> Connection:
    """Se conecta al coordinador en `address`, se presenta y devuelve la conexión."""
    family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.connect(address if isinstance(address, str) else tuple(address))
    conn = Connection(sock.detach())
    conn.send({"token": token, "pid": os.getpid()})
    return conn


def _run_child(address: Any, request: dict[str, Any]) -> int:
    conn = connect_back(address, request["token"])
    try:
        TARGETS[request["target"]](conn, *request["args"])
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    return 0


def main(argv: list[str]) -> int:
    """Punto de entrada; devuelve el código de salida."""
    if argv[0] == "--solo":
        request = json.loads(argv[1])
        return _run_child(request["address"], request)
    address = json.loads(argv[0])
    # Los hijos no se esperan: que el sistema los recoja solo cuando terminen.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # quien decide cuándo parar es el coordinador
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                sys.stdin.close()
                code = _run_child(address, request)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
