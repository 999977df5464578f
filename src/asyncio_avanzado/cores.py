"""Cuántos núcleos puede usar de verdad este proceso (para saber qué aceleración esperar).

``os.cpu_count()`` cuenta los núcleos de la máquina, no los que nos dejan usar. Dos cosas
los limitan en Linux, y las dos son habituales en Binder, en Docker y en la integración
continua:

- la **afinidad** del proceso (``taskset -c 0``, ``docker --cpuset-cpus``), que da
  ``os.sched_getaffinity(0)``;
- la **cuota de CPU** de su *cgroup* (``docker --cpus=1.5``, los límites de Kubernetes):
  ``/sys/fs/cgroup/cpu.max`` en cgroup v2, ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``
  en cgroup v1. Con una cuota de 1.5 núcleos, el proceso y sus hijos juntos no pasan de
  1.5 segundos de CPU por segundo de reloj, por muchos núcleos que tenga la máquina.

Uso::

    nucleos = usable_cores()
    print(nucleos.describe())   # «2 núcleos utilizables: ...»
    if nucleos.usable >= 2: ...
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from .text import plural

__all__ = ["Cores", "cgroup_quota", "speedup_case", "usable_cores"]

_CGROUP_ROOT = Path("/sys/fs/cgroup")
_PROC_CGROUP = Path("/proc/self/cgroup")


@dataclass(frozen=True)
class Cores:
    """Los núcleos que ve este proceso: los de la máquina, los de su afinidad y su cuota."""

    cpu_count: int | None
    """Lo que dice ``os.cpu_count()``: los núcleos de la máquina (``None`` si no lo sabe)."""
    affinity: int | None
    """Los núcleos en los que puede ejecutarse el proceso (``None`` donde no se puede saber)."""
    quota: float | None
    """La cuota de CPU del *cgroup*, en núcleos (``None``: sin cuota, o no se puede saber)."""
    quota_file: str | None = None
    """El archivo del que salió la cuota."""

    @property
    def limit(self) -> float:
        """Devuelve cuántos núcleos a la vez puede ocupar el proceso (puede ser fraccionario)."""
        known = [x for x in (self.cpu_count, self.affinity, self.quota) if x is not None]
        return min(known) if known else 1.0

    @property
    def usable(self) -> int:
        """Devuelve los núcleos enteros que puede ocupar a la vez (al menos 1).

        Con una cuota de 1.5 núcleos devuelve 1: dos procesos no irían el doble de rápido.
        """
        return max(1, math.floor(self.limit + 1e-9))

    def describe(self) -> str:
        """Devuelve una frase en español con los núcleos utilizables y de dónde sale el número.

        Por ejemplo: «1 núcleo utilizable (os.cpu_count() dice 2; afinidad: 1; sin cuota de
        CPU)».
        """
        parts = [f"os.cpu_count() dice {self.cpu_count if self.cpu_count else 'no lo sabe'}"]
        if self.affinity is not None:
            parts.append(f"afinidad: {self.affinity}")
        else:
            parts.append("afinidad: no se puede saber aquí")
        if self.quota is not None:
            parts.append(f"cuota de CPU: {_format_cores(self.quota)} ({self.quota_file})")
        else:
            parts.append("sin cuota de CPU")
        head = plural(self.usable, "núcleo utilizable", "núcleos utilizables")
        return f"{head} ({'; '.join(parts)})"


def _format_cores(value: float) -> str:
    if value == int(value):
        return plural(int(value), "núcleo")
    return f"{value:.2f}".rstrip("0") + " núcleos"


def usable_cores() -> Cores:
    """Mide los núcleos que este proceso puede usar: afinidad y cuota del *cgroup*.

    Devuelve un ``Cores``; su ``usable`` es el número que importa para esperar aceleración
    de un *pool* de procesos (los hijos heredan la afinidad y el *cgroup*).
    """
    affinity = None
    if hasattr(os, "sched_getaffinity"):  # Linux; no existe en macOS ni en Windows
        affinity = len(os.sched_getaffinity(0))
    quota, quota_file = cgroup_quota()
    return Cores(os.cpu_count(), affinity, quota, quota_file)


def speedup_case(usable: int, speedup: float, busy: float, serial_busy: float = 1.0) -> str:
    """Dice en una frase qué caso fue una medida de trabajos en paralelo, y por qué.

    ``speedup`` es el tiempo en serie entre el tiempo en paralelo; ``busy``, los núcleos
    ocupados de media en paralelo (la CPU de todos los trabajos entre el reloj), y
    ``serial_busy``, lo mismo en serie. Tres casos:

    - un solo núcleo utilizable: los trabajos se turnan, no hay aceleración que esperar;
    - la máquina estaba ocupada: en paralelo no se consiguieron ni 1.25 núcleos;
    - hubo paralelo. La aceleración es entonces ``busy / serial_busy`` dividido entre lo que
      encareció cada trabajo: dos núcleos que comparten caché, memoria o, en una máquina
      virtual, el procesador físico, hacen más lento cada trabajo cuando van a la vez. Si
      cada uno costó más de un 15 % de CPU que en serie, la frase lo dice con la cifra.
    """
    if usable < 2:
        return (
            f"1 núcleo utilizable: los trabajos se turnaron en él (×{speedup:.1f}); "
            "con 2 núcleos libres, casi ×2"
        )
    if busy < 1.25:
        return (
            f"máquina ocupada: con {usable} núcleos utilizables, los trabajos solo ocuparon "
            f"{busy:.1f} a la vez (×{speedup:.1f})"
        )
    text = f"{usable} núcleos utilizables: los trabajos ocuparon {busy:.1f} a la vez"
    text += f", ×{speedup:.1f}"
    extra = busy / (serial_busy * speedup) - 1  # la CPU de más de cada trabajo
    if extra > 0.15:
        text += (
            f"; cada trabajo gastó un {extra * 100:.0f} % más de CPU que en serie (núcleos "
            "que comparten caché, memoria o procesador físico)"
        )
    return text


def cgroup_quota(
    root: Path = _CGROUP_ROOT, proc_cgroup: Path = _PROC_CGROUP
) -> tuple[float | None, str | None]:
    """Lee la cuota de CPU del *cgroup* de este proceso (v2 y, si no, v1).

    Devuelve ``(núcleos, archivo)``, o ``(None, None)`` si no hay cuota o no se puede leer.
    Una cuota puede estar en cualquier antepasado del *cgroup*: manda la más pequeña.
    """
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return None, None
    found: list[tuple[float, str]] = []
    for line in lines:
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hierarchy == "0" and controllers == "":  # cgroup v2 (la jerarquía unificada)
            for directory in _candidates(root, path):
                quota = _read_v2(directory / "cpu.max")
                if quota is not None:
                    found.append((quota, str(directory / "cpu.max")))
        elif "cpu" in controllers.split(","):  # cgroup v1, el controlador «cpu»
            for mount in (root / controllers, root / "cpu", root / "cpu,cpuacct"):
                for directory in _candidates(mount, path):
                    quota = _read_v1(directory)
                    if quota is not None:
                        found.append((quota, str(directory / "cpu.cfs_quota_us")))
    if not found:
        return None, None
    return min(found)


def _candidates(mount: Path, path: str) -> list[Path]:
    """El directorio del *cgroup* y sus antepasados, dentro del punto de montaje.

    Dentro de un contenedor, /proc/self/cgroup puede dar la ruta vista desde fuera; entonces
    el propio punto de montaje es nuestro *cgroup*.
    """
    if not mount.is_dir():
        return []
    parts = [p for p in path.split("/") if p]
    dirs = [mount.joinpath(*parts[:i]) for i in range(len(parts), 0, -1)]
    return [d for d in dirs if d.is_dir()] + [mount]


def _read_v2(path: Path) -> float | None:
    try:
        fields = path.read_text().split()  # «max 100000» o «150000 100000»
    except OSError:
        return None
    if len(fields) < 2 or fields[0] == "max":
        return None
    try:
        quota, period = int(fields[0]), int(fields[1])
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def _read_v1(directory: Path) -> float | None:
    try:
        quota = int((directory / "cpu.cfs_quota_us").read_text())
        period = int((directory / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    if quota <= 0 or period <= 0:  # -1: sin cuota
        return None
    return quota / period
