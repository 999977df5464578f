"""Opciones comunes a todos los servidores de eco del curso."""

from dataclasses import dataclass

__all__ = ["EchoOptions"]


@dataclass(frozen=True)
class EchoOptions:
    """Comportamiento de un servidor de eco; los valores por defecto son seguros en un portátil."""

    delay: float = 0.0
    """Segundos de espera antes de devolver cada fragmento (para ver la concurrencia)."""
    max_connections: int = 1000
    """Conexiones simultáneas; las que sobran se cierran nada más llegar."""
    max_buffer: int = 256 * 1024
    """Bytes que el servidor guarda por conexión antes de dejar de leer (contrapresión)."""
    idle_timeout: float | None = 300.0
    """Segundos sin progreso (ni lectura ni escritura) tras los que se cierra la conexión."""
    chunk_size: int = 64 * 1024
    """Bytes que se piden en cada lectura."""

    def __post_init__(self) -> None:
        if self.delay < 0:
            raise ValueError(f"delay debe ser >= 0 segundos, no {self.delay!r}")
        if self.max_connections < 1:
            raise ValueError(f"max_connections debe ser >= 1, no {self.max_connections!r}")
        if self.max_buffer < 1024:
            raise ValueError(f"max_buffer debe ser >= 1024 bytes, no {self.max_buffer!r}")
        if self.idle_timeout is not None and self.idle_timeout <= 0:
            raise ValueError(
                f"idle_timeout debe ser None (sin límite) o > 0 segundos, no {self.idle_timeout!r}"
            )
        if self.chunk_size < 1:
            raise ValueError(f"chunk_size debe ser >= 1 byte, no {self.chunk_size!r}")
