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
    """Contadores mutables y seguros entre hilos; `snapshot()` devuelve un `EchoStats`."""

    def __init__(self) -> None:
        # Un servidor de hilos actualiza desde muchos hilos a la vez y `+=` no es atómico.
        self._lock = threading.Lock()
        self._values = dict.fromkeys(EchoStats.__dataclass_fields__, 0)

    def add(self, field: str, amount: int = 1) -> None:
        """Suma `amount` al contador `field`."""
        with self._lock:
            values = self._values
            values[field] += amount
            if field == "active" and values["active"] > values["peak_active"]:
                values["peak_active"] = values["active"]

    def snapshot(self) -> EchoStats:
        """Devuelve una copia inmutable de los contadores."""
        with self._lock:
            return EchoStats(**self._values)
