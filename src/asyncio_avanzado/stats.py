"""Contadores que los servidores de eco comparten con las lecciones."""

import threading
from dataclasses import dataclass

__all__ = ["EchoStats", "StatsCounter"]


@dataclass(frozen=True)
class EchoStats:
    """Fotografía de la actividad de un servidor de eco en un instante."""

    connections: int = 0
    """Conexiones aceptadas desde que arrancó."""
    active: int = 0
    """Conexiones abiertas ahora mismo."""
    peak_active: int = 0
    """Máximo de conexiones abiertas a la vez: mide la concurrencia de los clientes."""
    rejected: int = 0
    """Conexiones cerradas nada más llegar por superar el límite."""
    bytes_received: int = 0
    bytes_sent: int = 0
    resets: int = 0
    """Clientes que cortaron la conexión a medias (reinicio, tubería rota)."""
    idle_closed: int = 0
    """Conexiones cerradas por estar inactivas más tiempo del permitido."""


class StatsCounter:
    """Contadores mutables; `snapshot()` devuelve un `EchoStats`.

    Con `shared=True` (por defecto) se pueden actualizar desde varios hilos a la vez, como en
    un servidor de hilos, donde `+=` no es atómico. Un servidor de asyncio los actualiza solo
    desde el hilo de su bucle y pasa `shared=False`: se ahorra tomar un candado en cada mensaje.
    """

    def __init__(self, *, shared: bool = True) -> None:
        self._lock = threading.Lock()
        self._values = dict.fromkeys(EchoStats.__dataclass_fields__, 0)
        if not shared:
            self.add = self._add  # type: ignore[method-assign]

    def add(self, field: str, amount: int = 1) -> None:
        """Suma `amount` al contador `field`."""
        with self._lock:
            self._add(field, amount)

    def _add(self, field: str, amount: int = 1) -> None:
        values = self._values
        values[field] += amount
        if field == "active" and values["active"] > values["peak_active"]:
            values["peak_active"] = values["active"]

    def snapshot(self) -> EchoStats:
        """Devuelve una copia inmutable de los contadores."""
        with self._lock:
            return EchoStats(**self._values)
