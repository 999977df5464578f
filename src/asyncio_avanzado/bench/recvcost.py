"""Cuánto cuesta leer un mensaje pequeño con `recv(256 KiB)` y con `recv_into`.

El transporte de asyncio (con el bucle de `selectors`) lee con `sock.recv(256 * 1024)` y
entrega el resultado a `data_received`: Python reserva 256 KiB para cada lectura y luego los
recorta a lo que llegó. Con glibc, una reserva tan grande se hace con `mmap` (y el recorte y la
liberación con `mremap` y `munmap`) mientras el umbral de `mmap` del proceso siga en su valor
inicial de 128 KiB: tres llamadas al sistema más por lectura. Un proceso que ya liberó bloques
grandes sube ese umbral y deja de notarlo; y cuándo pasa eso depende de toda la historia del
proceso (qué importó, qué liberó). Por eso se mide en un intérprete nuevo, como el servidor
del banco, y otra vez tras liberar a propósito un bloque grande.
"""

import json
import subprocess
import sys
from dataclasses import dataclass

__all__ = ["RecvCost", "measure_recv_cost"]

ASYNCIO_MAX_SIZE = 256 * 1024
"""Lo que pide en cada lectura el transporte de asyncio con `selectors` (`max_size`)."""

_SCRIPT = r"""
import json, socket, sys, time
size, reads, big, free_big_block = map(int, sys.argv[1:5])
if free_big_block:
    block = bytes(big + 64 * 1024)  # glibc lo reserva con mmap; al liberarlo sube el umbral
    del block
a, b = socket.socketpair()
message = b"x" * size
buffer = bytearray(64 * 1024)

def per_read(read):
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(reads):
            a.send(message)
            read()
        best = min(best, (time.perf_counter() - start) / reads)
    return best

print(json.dumps({
    "recv_big": per_read(lambda: b.recv(big)),
    "recv_into": per_read(lambda: b.recv_into(buffer)),
}))
"""


@dataclass(frozen=True)
class RecvCost:
    """Segundos por mensaje (enviar y leer) con cada forma de leer, en un intérprete nuevo."""

    recv_big: float
    """Con `sock.recv(ASYNCIO_MAX_SIZE)`, como `Protocol` y los *streams* de asyncio."""
    recv_into: float
    """Con `sock.recv_into(búfer)` sobre un búfer reutilizado, como `BufferedProtocol`."""
    free_big_block: bool
    """Si antes de medir se liberó un bloque mayor que `ASYNCIO_MAX_SIZE`."""

    @property
    def ratio(self) -> float:
        """Devuelve cuántas veces más cuesta `recv(256 KiB)` que `recv_into`."""
        return self.recv_big / self.recv_into


def measure_recv_cost(
    size: int = 1024, reads: int = 5000, free_big_block: bool = False
) -> RecvCost:
    """Mide en un intérprete nuevo y devuelve el coste de cada forma de leer."""
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            _SCRIPT,
            str(size),
            str(reads),
            str(ASYNCIO_MAX_SIZE),
            str(int(free_big_block)),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"la medida de recv falló:\n{result.stderr.strip()}")
    data = json.loads(result.stdout)
    return RecvCost(data["recv_big"], data["recv_into"], free_big_block)
