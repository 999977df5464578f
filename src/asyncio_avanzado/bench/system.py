"""Lo que el banco de pruebas necesita saber de la máquina: uvloop, núcleos, carga y
descriptores."""

import importlib.util
import os
import sys
from dataclasses import dataclass

from ..text import plural

__all__ = [
    "CorePlan",
    "fd_limit_problem",
    "load_warning",
    "plan_cores",
    "port_range_problem",
    "usable_cores",
    "uvloop_unavailable",
]

FD_MARGIN = 64
"""Descriptores que cada proceso necesita además de sus conexiones (tuberías, epoll...)."""


def uvloop_unavailable() -> str | None:
    """Devuelve por qué no se puede usar uvloop en esta máquina, o None si se puede."""
    if sys.platform == "win32":
        return "uvloop no existe para Windows: se omiten las variantes con uvloop."
    if importlib.util.find_spec("uvloop") is None:
        return (
            "uvloop no está instalado (pip install uvloop): se omiten las variantes con uvloop "
            "y el cliente usa el bucle de asyncio."
        )
    return None


@dataclass(frozen=True)
class CorePlan:
    """Dónde corre cada proceso de una medida."""

    server: list[int] | None
    """Núcleos del servidor (None: donde decida el sistema)."""
    clients: list[list[int] | None]
    """Núcleos de cada proceso cliente."""
    client_cores: int
    """Núcleos que el cliente tiene para él: su techo de CPU."""
    description: str


def plan_cores(client_processes: int | None = None) -> CorePlan:
    """Reparte los núcleos: uno para el servidor y el resto para los procesos clientes.

    Con `client_processes=None`, un proceso cliente por núcleo libre (como mucho 4). Sin
    `os.sched_setaffinity` (macOS, Windows) o con un solo núcleo no fija nada. Devuelve el
    plan.
    """
    if hasattr(os, "sched_getaffinity"):
        available = sorted(os.sched_getaffinity(0))
    else:
        available = list(range(os.cpu_count() or 1))
    pinning = hasattr(os, "sched_setaffinity") and len(available) >= 2
    rest = available[1:] if len(available) >= 2 else available
    count = client_processes or max(1, min(len(rest), 4))
    if not pinning:
        shared = "lo comparten" if len(available) == 1 else "los comparten"
        return CorePlan(
            None,
            [None] * count,
            max(1, len(rest)),
            f"{plural(len(available), 'núcleo')} sin fijar: servidor y cliente {shared}",
        )
    clients = [[rest[i % len(rest)]] for i in range(count)]
    used = sorted({core for cores in clients for core in cores})
    where = ", ".join(map(str, used))
    cores_word = "el núcleo" if len(used) == 1 else "los núcleos"
    return CorePlan(
        [available[0]],
        list(clients),
        len(used),
        f"servidor en el núcleo {available[0]}; "
        f"{plural(count, 'proceso cliente', 'procesos cliente')} en {cores_word} {where}",
    )


def usable_cores() -> int:
    """Devuelve los núcleos que este proceso puede ocupar a la vez (afinidad y cuota de CPU
    del *cgroup*; `os.cpu_count()` no ve ninguna de las dos)."""
    try:
        from ..cores import usable_cores as measure
    except ImportError:  # pragma: no cover - sin el módulo común, al menos la afinidad
        if hasattr(os, "sched_getaffinity"):
            return max(1, len(os.sched_getaffinity(0)))
        return os.cpu_count() or 1
    return measure().usable


def load_warning(load: list[float] | None, usable: int) -> str | None:
    """Devuelve un aviso si la carga media del último minuto pasa de los núcleos utilizables
    (otros programas compiten por la CPU y las cifras saldrán bajas y dispersas), o None."""
    if not load or load[0] <= usable:
        return None
    return (
        f"⚠ La máquina ya estaba ocupada al empezar: carga media de {load[0]:g} en el último "
        f"minuto con {plural(usable, 'núcleo utilizable', 'núcleos utilizables')}. Otros "
        "programas compiten por la CPU: las cifras saldrán más bajas y más dispersas que en una "
        "máquina tranquila. Cierra lo que puedas y repite; compara cocientes, no cifras."
    )


def fd_limit_problem(needed: int) -> str | None:
    """Sube el límite blando de descriptores abiertos hasta `needed` (más un margen) si el
    límite duro lo permite. Los procesos hijos lo heredan.

    Devuelve None si cabe, o una explicación en español si no.
    """
    try:
        import resource
    except ImportError:  # Windows: no hay RLIMIT_NOFILE
        return None
    needed += FD_MARGIN
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return None
    target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):
        target = soft
    if target >= needed:
        return None
    return (
        f"hacen falta unos {needed} descriptores de archivo por proceso y el sistema solo "
        f"permite {target} (límite duro: {hard}; se ve con «ulimit -Hn»). Para medirlo, "
        "sube el límite duro (por ejemplo, en /etc/security/limits.conf) y vuelve a probar."
    )


def port_range_problem(connections: int) -> str | None:
    """Devuelve por qué `connections` conexiones a un mismo servidor no caben en los puertos
    efímeros del sistema, o None si caben."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = map(int, f.read().split())
    except (OSError, ValueError):
        return None
    if connections <= high - low:
        return None
    return (
        f"{connections} conexiones no caben en los {high - low} puertos efímeros del sistema "
        "(/proc/sys/net/ipv4/ip_local_port_range)."
    )
