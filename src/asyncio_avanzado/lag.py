"""Monitor del retraso del bucle de eventos: hace visible cuándo algo lo bloquea.

Una tarea «latido» duerme un intervalo corto una y otra vez y anota con cuánto
retraso despierta. Mientras el bucle está libre, el retraso es de décimas de
milisegundo; si una llamada bloqueante congela el bucle D segundos, el latido que
debía despertar durante ese tiempo despierta con unos D segundos de retraso.

Uso en un script o en un cuaderno (``await`` en la celda)::

    async with LagMonitor() as lag:
        await trabajo()
    print(lag.report())

Un latido también llega tarde cuando nadie bloquea el bucle pero la máquina está ocupada:
el sistema operativo no le da CPU al proceso a tiempo. En Linux el monitor distingue los dos
casos: para cada latido anota cuánto esperaron los hilos del proceso en la cola de CPU
(``/proc/self/task/<tid>/schedstat``) y resta esa espera del retraso. Lo que queda es lo que
el propio código congeló el bucle (``frozen_total()``); la espera es cosa de la máquina
(``cpu_wait_total()``). Donde el sistema no lo dice, ``cpu_waits`` es ``None`` y todo el
retraso cuenta como congelado.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from typing import TYPE_CHECKING, NamedTuple

from .text import plural

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["DEFAULT_THRESHOLD", "CpuWaitClock", "LagMonitor", "LagSample", "format_duration"]

#: Retraso a partir del cual consideramos que el bucle estuvo bloqueado (segundos).
DEFAULT_THRESHOLD = 0.05


def format_duration(seconds: float) -> str:
    """Da formato legible a una duración en segundos.

    Devuelve un texto como ``"1.002 s"``, ``"35 ms"`` o ``"0.1 ms"``.
    """
    if seconds >= 1:
        return f"{seconds:.3f} s"
    if seconds >= 0.01:
        return f"{seconds * 1000:.0f} ms"
    return f"{seconds * 1000:.1f} ms"


class CpuWaitClock:
    """Cuánto ha esperado este proceso a que le den una CPU, entre una lectura y la siguiente.

    Lee ``/proc/self/task/<tid>/schedstat`` de cada hilo vivo: nanosegundos en una CPU y en la
    cola de ejecución. ``waited()`` devuelve la mayor de dos esperas: la del hilo que lo creó
    (el del bucle) en la cola, y la del hilo que más esperó de los demás, esta solo hasta lo
    que el hilo del bucle no corrió. El bucle también se para si el hilo que tiene el GIL
    está en la cola, pero mientras el hilo del bucle calcula, lo que esperen los demás no lo
    explica. Sumar esperas contaría varias veces el mismo rato: cuando la máquina está
    ocupada, el hilo del bucle y el que tiene el GIL esperan a la vez (un *kernel* de
    Jupyter tiene media docena de hilos), y un bloqueo del GIL se daría por la máquina.
    ``available`` es ``False`` fuera de Linux o si el sistema no lo publica; entonces
    ``waited()`` devuelve siempre 0.
    """

    _TASKS = "/proc/self/task"

    def __init__(self) -> None:
        self._own = str(threading.get_native_id())
        self._fds: dict[str, int] = {}
        self._last: dict[str, tuple[int, int]] = {}
        self._read_at = time.perf_counter()
        self.available = sys.platform.startswith("linux") and self._probe()

    def _probe(self) -> bool:
        try:
            self._deltas()
        except OSError:
            return False
        return True

    def _deltas(self) -> dict[str, tuple[int, int]]:
        """Devuelve, por hilo, los ns (en una CPU, en la cola) desde la lectura anterior."""
        tids = os.listdir(self._TASKS)
        deltas = {}
        for tid in tids:
            fd = self._fds.get(tid)
            if fd is None:
                try:
                    fd = self._fds[tid] = os.open(f"{self._TASKS}/{tid}/schedstat", os.O_RDONLY)
                except FileNotFoundError:  # el hilo terminó entre listdir y open
                    continue
            try:
                ran, waited = (int(f) for f in os.pread(fd, 128, 0).split()[:2])
            except (OSError, ValueError):
                continue
            # Un hilo nuevo cuenta desde que nació: toda su espera es de este intervalo.
            ran_before, waited_before = self._last.get(tid, (0, 0))
            deltas[tid] = (ran - ran_before, waited - waited_before)
            self._last[tid] = (ran, waited)
        for tid in self._fds.keys() - set(tids):
            os.close(self._fds.pop(tid))
            self._last.pop(tid, None)
        return deltas

    def waited(self) -> float:
        """Devuelve los segundos de espera de CPU desde la lectura anterior (ver arriba)."""
        if not self.available:
            return 0.0
        now = time.perf_counter()
        elapsed, self._read_at = now - self._read_at, now
        try:
            deltas = self._deltas()
        except OSError:
            return 0.0
        ran, own = deltas.pop(self._own, (0, 0))
        not_running = max(0.0, elapsed * 1e9 - ran)
        others = max((waited for _, waited in deltas.values()), default=0)
        # Las dos esperas pasan a la vez (las dos colas las llena el mismo proceso ajeno): se
        # toma la mayor, y la de los demás solo hasta lo que el hilo del bucle no corrió.
        return max(own, min(others, not_running)) / 1e9

    def close(self) -> None:
        """Cierra los descriptores abiertos; no devuelve nada."""
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
        self._last.clear()


class LagSample(NamedTuple):
    """Un latido: cuándo despertó, con cuánto retraso y cuánto de ese retraso fue esperar CPU."""

    t: float
    """Segundos desde el inicio de la medición."""
    lag: float
    """Retraso total del latido, en segundos."""
    cpu_wait: float
    """Parte del retraso en que los hilos del proceso esperaban CPU (0 si no se sabe)."""

    @property
    def frozen(self) -> float:
        """Devuelve la parte del retraso que no explica la espera de CPU: el código congeló."""
        return max(0.0, self.lag - self.cpu_wait)


class LagMonitor:
    """Mide el retraso con el que el bucle de eventos atiende a un latido periódico.

    Las marcas de tiempo salen de ``time.perf_counter()``; ``origin`` es el instante
    de ``start()`` y las muestras se expresan en segundos desde ese origen.
    """

    def __init__(self, interval: float = 0.01) -> None:
        if interval <= 0:
            raise ValueError(f"interval debe ser positivo (en segundos); se recibió {interval!r}")
        self.interval = interval
        self.origin: float | None = None
        self._samples: list[tuple[float, float]] = []  # (despertar absoluto, retraso)
        self._waits: list[float] = []  # espera de CPU del proceso en cada latido
        self._task: asyncio.Task[None] | None = None
        self._due: float | None = None  # cuándo debe despertar el latido que duerme ahora
        self._clock: CpuWaitClock | None = None  # abierto solo mientras mide
        self._cpu_available: bool | None = None

    # -- ciclo de vida -------------------------------------------------------------

    async def start(self) -> None:
        """Empieza una medición nueva en el bucle en ejecución (borra las muestras previas).

        No devuelve nada; lanza ``RuntimeError`` si el monitor ya está midiendo.
        """
        if self.running:
            raise RuntimeError("el monitor ya está midiendo: llama a stop() antes de start()")
        self._samples = []
        self._waits = []
        self._due = None
        self._clock = CpuWaitClock()
        self._cpu_available = self._clock.available
        self.origin = time.perf_counter()
        self._task = asyncio.get_running_loop().create_task(self._beat(), name="LagMonitor")
        # Cedemos una vez para que el latido quede armado antes del código medido: si ese
        # código bloquea sin ceder nunca, el bloqueo se anota igualmente al parar.
        await asyncio.sleep(0)

    async def stop(self) -> None:
        """Detiene el latido y espera a que su tarea termine; llamarlo otra vez no hace nada.

        No devuelve nada.
        """
        task, self._task = self._task, None
        if task is None:
            return
        # Si el bloque que medimos acaba de bloquear el bucle, el latido que debía
        # despertar durante el bloqueo aún no se ha ejecutado y, al cancelarlo, su
        # retraso se perdería justo cuando más importa. Su hora prevista es conocida,
        # así que lo anotamos aquí. (Ceder el control con sleep(0) no basta: según la
        # fase del temporizador, la cancelación llega antes que el latido.)
        now = time.perf_counter()
        if self._due is not None and now > self._due:
            self._record(now, now - self._due)
        self._due = None
        task.cancel()
        clock, self._clock = self._clock, None
        if clock is not None:
            clock.close()
        # wait() no propaga la cancelación de la tarea, pero sí la nuestra si nos cancelan.
        await asyncio.wait({task})

    async def __aenter__(self) -> LagMonitor:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _beat(self) -> None:
        if self._clock:
            self._clock.waited()  # punto de partida: lo de antes no cuenta
        while True:
            self._due = time.perf_counter() + self.interval
            await asyncio.sleep(self.interval)
            now = time.perf_counter()
            # El bucle puede despertar una fracción de microsegundo antes de tiempo.
            self._record(now, max(0.0, now - self._due))
            self._due = None

    def _record(self, now: float, lag: float) -> None:
        # Una sola lectura por latido, desde la anterior: incluye el intervalo en que el latido
        # dormía, así que puede sobrar pero no faltar. Nunca explica más que el propio retraso.
        waited = self._clock.waited() if self._clock else 0.0
        self._samples.append((now, lag))
        self._waits.append(min(lag, max(0.0, waited)))

    # -- resultados ----------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Devuelve ``True`` mientras el latido está en marcha."""
        return self._task is not None

    @property
    def count(self) -> int:
        """Devuelve el número de muestras tomadas."""
        return len(self._samples)

    @property
    def samples(self) -> list[tuple[float, float]]:
        """Devuelve las muestras como pares (segundos desde el inicio, retraso en segundos)."""
        origin = self.origin or 0.0
        return [(t - origin, lag) for t, lag in self._samples]

    @property
    def can_tell_contention(self) -> bool:
        """Devuelve ``True`` si el sistema dice cuánto esperó el proceso por una CPU (Linux)."""
        if self._cpu_available is None:
            clock = CpuWaitClock()
            self._cpu_available = clock.available
            clock.close()
        return self._cpu_available

    @property
    def cpu_waits(self) -> list[float] | None:
        """Devuelve, para cada muestra, los segundos de su retraso que fueron esperar CPU.

        Van en el mismo orden que ``samples``; ``None`` si el sistema no lo dice.
        """
        return list(self._waits) if self.can_tell_contention else None

    @property
    def detailed_samples(self) -> list[LagSample]:
        """Devuelve las muestras con su espera de CPU: una lista de ``LagSample``."""
        origin = self.origin or 0.0
        return [
            LagSample(t - origin, lag, wait)
            for (t, lag), wait in zip(self._samples, self._waits, strict=True)
        ]

    def frozen_total(
        self, floor: float = 0.01, windows: list[tuple[float, float]] | None = None
    ) -> float:
        """Suma lo que el código congeló el bucle: retraso menos espera de CPU, latido a latido.

        Solo cuentan los latidos cuya parte congelada llega a ``floor`` segundos (el ruido de
        unos milisegundos de cualquier máquina no se acumula). Con ``windows`` (pares
        ``(inicio, fin)`` en segundos de ``time.perf_counter()``), solo cuenta la parte de cada
        bloqueo que cae dentro de alguna ventana. Devuelve segundos.
        """
        total = 0.0
        for (t, lag), wait in zip(self._samples, self._waits, strict=True):
            frozen = max(0.0, lag - wait)
            if frozen < floor or lag <= 0:
                continue
            if windows is not None:
                start = t - lag
                inside = sum(max(0.0, min(t, end) - max(start, begin)) for begin, end in windows)
                frozen *= min(1.0, inside / lag)
            total += frozen
        return total

    def cpu_wait_total(self) -> float:
        """Devuelve los segundos de retraso que se explican por esperar CPU (máquina ocupada)."""
        return sum(self._waits)

    def _lags(self) -> list[float]:
        if not self._samples:
            raise RuntimeError(
                "el monitor no tiene muestras todavía: mide algo con «async with LagMonitor()» "
                "o con start()/stop() en el que el bucle llegue a ceder el control"
            )
        return [lag for _, lag in self._samples]

    @property
    def max_lag(self) -> float:
        """Devuelve el peor retraso observado, en segundos (el bloqueo más largo)."""
        return max(self._lags())

    @property
    def mean(self) -> float:
        """Devuelve el retraso medio, en segundos."""
        lags = self._lags()
        return sum(lags) / len(lags)

    def percentile(self, p: float) -> float:
        """Calcula el percentil ``p`` (de 0 a 100) del retraso, interpolando como numpy.

        Devuelve el retraso en segundos.
        """
        if not 0 <= p <= 100:
            raise ValueError(f"el percentil debe estar entre 0 y 100; se recibió {p!r}")
        lags = sorted(self._lags())
        pos = (len(lags) - 1) * p / 100
        low = int(pos)
        high = min(low + 1, len(lags) - 1)
        return lags[low] + (lags[high] - lags[low]) * (pos - low)

    def stalls(self, threshold: float = DEFAULT_THRESHOLD) -> list[tuple[float, float]]:
        """Busca los intervalos en que el bucle estuvo congelado más de ``threshold`` segundos.

        Devuelve pares (inicio, fin) en segundos desde el inicio: desde que el latido
        debía despertar (el bloqueo empezó como mucho un intervalo antes) hasta que
        despertó.
        """
        return [(t - lag, t) for t, lag in self.samples if lag >= threshold]

    def report(self, cpu: bool = False, threshold: float = DEFAULT_THRESHOLD) -> str:
        """Resume la medición en una línea.

        Devuelve un texto como ``"retraso del bucle: máx 1.002 s · p50 0.1 ms · 1 latido de
        87 con más de 50 ms"``: el peor retraso, la mediana y cuántos latidos llegaron tarde
        (un percentil alto, con pocas muestras, sería una interpolación entre dos de ellas).
        Con ``cpu=True`` añade cuánto congeló el código y cuánto fue esperar CPU
        (``"· congelado por el código 1.000 s · espera de CPU 2 ms"``).
        """
        if not self._samples:
            return "retraso del bucle: sin muestras"
        late = len(self.stalls(threshold))
        parts = [
            f"máx {format_duration(self.max_lag)}",
            f"p50 {format_duration(self.percentile(50))}",
            f"{plural(late, 'latido', 'latidos')} de {self.count} con más de "
            f"{format_duration(threshold)}",
        ]
        if cpu:
            parts.append(f"congelado por el código {format_duration(self.frozen_total())}")
            if self.can_tell_contention:
                parts.append(f"espera de CPU {format_duration(self.cpu_wait_total())}")
            else:
                parts.append("espera de CPU: el sistema no la publica")
        return "retraso del bucle: " + " · ".join(parts)

    summary = report

    def __repr__(self) -> str:
        state = "midiendo" if self.running else "detenido"
        worst = f", máx {format_duration(self.max_lag)}" if self._samples else ""
        return f"<LagMonitor {state}: {self.count} muestras{worst}>"

    # -- gráfico -------------------------------------------------------------------

    def plot(
        self,
        ax: Axes | None = None,
        threshold: float = DEFAULT_THRESHOLD,
        origin: float | None = None,
        split: bool = False,
    ) -> Axes:
        """Dibuja el retraso del bucle a lo largo del tiempo, con una línea en ``threshold``.

        Cada bloqueo aparece como un diente de sierra: el retraso crece desde que el
        latido debía despertar hasta que despertó. Para alinear el eje x con una
        ``Timeline``, pasa ``origin=timeline.origin``. Con ``split=True`` pinta encima, en
        naranja, la parte de cada retraso que fue esperar CPU (la máquina, no el código).
        Devuelve los ``Axes``.
        """
        import matplotlib.pyplot as plt  # aquí y no arriba: importar el paquete es rápido

        if ax is None:
            _, ax = plt.subplots(figsize=(8, 2.8), layout="constrained")
        shift = (self.origin or 0.0) - (origin if origin is not None else (self.origin or 0.0))
        xs: list[float] = []
        ys: list[float] = []
        for t, lag in self.samples:
            xs += [t + shift - lag, t + shift]
            ys += [0.0, lag * 1000]
        split = split and self.can_tell_contention
        ax.plot(xs, ys, color="tab:blue", linewidth=1, label="retraso")
        if not split:
            ax.fill_between(xs, ys, color="tab:blue", alpha=0.15, linewidth=0)
        else:
            # Cada diente, partido en dos: abajo (naranja) la parte que fue esperar una CPU, la
            # máquina; encima (azul) la que congeló el código.
            wy: list[float] = []
            for sample in self.detailed_samples:
                wy += [0.0, sample.cpu_wait * 1000]
            ax.fill_between(
                xs, wy, color="tab:orange", alpha=0.7, linewidth=0, label="esperando CPU (máquina)"
            )
            ax.fill_between(
                xs,
                wy,
                ys,
                color="tab:blue",
                alpha=0.3,
                linewidth=0,
                label="congelado por el código",
            )
        ax.axhline(
            threshold * 1000,
            color="tab:red",
            linestyle="--",
            linewidth=1,
            label=f"umbral ({format_duration(threshold)})",
        )
        ax.set_xlabel("tiempo (s)")
        ax.set_ylabel("retraso del bucle (ms)")
        ax.set_ylim(bottom=0)
        ax.set_xlim(left=min(0.0, *xs) if xs else 0.0)
        ax.legend(loc="upper right", frameon=False)
        return ax
