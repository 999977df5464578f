"""Los procesos hijos vistos desde el coordinador: lanzarlos, hablarles y pararlos.

Cada hijo es un intérprete nuevo que ejecuta `asyncio_avanzado.bench.worker`. Le
escribimos órdenes por su entrada estándar y leemos sus respuestas, línea a línea, con un
hilo lector (funciona igual en todos los sistemas). Su salida de errores se guarda para
explicar un fallo, y no se mezcla con la de quien ejecuta el banco (en Jupyter, la celda).
"""

import queue
import subprocess
import sys
import threading
from collections import deque

__all__ = ["BenchError", "Child"]

SHUTDOWN_TIMEOUT = 5.0
"""Segundos que se espera a que un hijo termine por las buenas antes de matarlo."""


class BenchError(RuntimeError):
    """Algo falló al medir: un proceso no arrancó, no contestó a tiempo o se equivocó."""


class Child:
    """Un proceso hijo del banco de pruebas, con su entrada y su salida por líneas."""

    def __init__(self, label: str, args: list[str]) -> None:
        self.label = label
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "asyncio_avanzado.bench.worker", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            bufsize=1,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._errors: deque[str] = deque(maxlen=40)
        self._readers = [
            threading.Thread(target=self._read_stdout, name=f"lector-{label}", daemon=True),
            threading.Thread(target=self._read_stderr, name=f"errores-{label}", daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @property
    def pid(self) -> int:
        """Devuelve el identificador del proceso."""
        return self.proc.pid

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._errors.append(line.rstrip("\n"))

    def send(self, line: str) -> None:
        """Escribe una línea en la entrada del hijo; lanza BenchError si ya no la lee."""
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise self.failure(f"no acepta la orden {line!r}") from exc

    def expect(self, timeout: float) -> str:
        """Devuelve la siguiente línea del hijo; lanza BenchError si termina o tarda más de
        `timeout` segundos."""
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise self.failure(f"no contestó en {timeout:.0f} s") from None
        if line is None:
            self._lines.put(None)  # quien vuelva a preguntar también verá el final
            self.proc.poll()
            raise self.failure("terminó antes de tiempo")
        return line

    def failure(self, what: str) -> BenchError:
        """Devuelve un BenchError que explica qué le pasó al hijo, con su salida de errores."""
        # Un instante para que el lector recoja las últimas líneas de una traza.
        for reader in self._readers[1:]:
            reader.join(0.5)
        message = f"el proceso {self.label} {what}"
        if self.proc.returncode is not None:
            message += f" (código de salida {self.proc.returncode})"
        if self._errors:
            message += ":\n" + "\n".join(self._errors)
        return BenchError(message)

    def close(self, timeout: float = SHUTDOWN_TIMEOUT) -> None:
        """Cierra la entrada del hijo (su señal de parada), lo espera y, si no termina a
        tiempo, lo mata. Idempotente."""
        try:
            if self.proc.stdin is not None and not self.proc.stdin.closed:
                self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for reader in self._readers:
            reader.join(SHUTDOWN_TIMEOUT)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()

    def kill(self) -> None:
        """Mata el hijo sin esperar a que termine por las buenas y recoge sus restos."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.close(timeout=SHUTDOWN_TIMEOUT)
