"""Las medidas del banco de pruebas y su resumen: una medida por repetición, un resumen
(mediana y dispersión) por servidor y configuración."""

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["CLIENT_BUSY", "Run", "Summary", "merge_quantiles", "summarize"]

CLIENT_BUSY = 0.85
"""Fracción de sus núcleos a partir de la cual decimos que el cliente fue el límite."""


def merge_quantiles(
    parts: Sequence[tuple[Sequence[float], int]], fractions: Sequence[float]
) -> list[float | None]:
    """Combina los cuantiles de varios procesos cliente, cada uno con su peso (número de
    ecos), y devuelve los cuantiles `fractions` (entre 0 y 1) del conjunto.

    Cada proceso manda su distribución como una lista ordenada de cuantiles equiespaciados;
    juntamos todos los puntos, cada uno con el peso de su proceso. Devuelve None en cada
    cuantil si no hubo ningún eco.
    """
    points: list[tuple[float, float]] = []
    for quantiles, weight in parts:
        if quantiles and weight:
            points.extend((value, weight / len(quantiles)) for value in quantiles)
    if not points:
        return [None] * len(fractions)
    points.sort()
    total = sum(w for _, w in points)
    results: list[float | None] = []
    for fraction in fractions:
        # El margen evita que el redondeo de la suma de pesos salte al punto siguiente.
        goal, seen = fraction * total * (1 - 1e-9), 0.0
        for value, weight in points:
            seen += weight
            if seen >= goal:
                results.append(value)
                break
        else:
            results.append(points[-1][0])
    return results


@dataclass(frozen=True)
class Run:
    """Una medida: un servidor, una configuración, una repetición."""

    server: str
    connections: int
    active: int
    size: int
    repetition: int
    duration: float
    """Segundos de la ventana de medida."""
    requests: int
    """Ecos completos y comprobados dentro de la ventana (todos los procesos cliente)."""
    latency_p50: float | None
    """Latencia mediana de un eco, en segundos (None si no hubo ninguno)."""
    latency_p99: float | None
    latency_mean: float | None
    """Latencia media de un eco, en segundos (None si no hubo ninguno)."""
    server_cpu: float
    """Fracción de un núcleo que usó el servidor (CPU de usuario + sistema / tiempo)."""
    connections_before: int
    """Conexiones abiertas en la medida anterior del mismo proceso servidor (0 en la primera)."""
    server_rss_before: int
    """Memoria residente del servidor, en bytes, con `connections_before` conexiones (antes
    de la primera conexión, en la primera medida)."""
    server_rss: int
    """Memoria residente del servidor, en bytes, con todas las conexiones abiertas."""
    client_cpu: float
    """Núcleos que usaron los procesos cliente (CPU / tiempo; puede pasar de 1)."""
    client_cores: int
    """Núcleos que los procesos cliente tenían para ellos."""
    errors: int
    """Ecos que no coincidían byte a byte con lo enviado."""
    dropped: int
    """Conexiones que el servidor cerró antes de tiempo."""
    verified_bytes: int
    """Bytes de eco comprobados byte a byte en toda la prueba."""
    pool_threads: int
    """Hilos del *executor* por defecto en el proceso servidor."""

    @property
    def rate(self) -> float:
        """Devuelve los ecos por segundo."""
        return self.requests / self.duration if self.duration > 0 else 0.0

    @property
    def mb_per_s(self) -> float:
        """Devuelve los megabytes por segundo (10⁶ bytes) que devolvió el servidor."""
        return self.rate * self.size / 1e6

    @property
    def memory_per_connection(self) -> float:
        """Devuelve los bytes de memoria residente que costó cada conexión: la pendiente entre
        la medida anterior y esta, (RSS − RSS antes) / (conexiones − conexiones antes).

        Es memoria del proceso: no incluye lo que guarda el sistema operativo por cada
        conexión (los búferes del *socket*, lo que dedica a cada hilo).
        """
        return (self.server_rss - self.server_rss_before) / (
            self.connections - self.connections_before
        )

    @property
    def server_cpu_per_request(self) -> float | None:
        """Devuelve los segundos de CPU del servidor por eco (None si no hubo ecos).

        Con la máquina ocupada por otros programas, los ecos/s bajan pero el coste por eco
        cambia mucho menos: es la comparación más estable entre servidores.
        """
        return self.server_cpu / self.rate if self.requests else None

    @property
    def client_limited(self) -> bool:
        """Devuelve True si el cliente usó casi todos sus núcleos: el límite pudo ser él."""
        return self.client_cpu >= CLIENT_BUSY * self.client_cores

    @property
    def client_ceiling(self) -> float | None:
        """Devuelve cuántos ecos por segundo podría generar el cliente con todos sus núcleos
        al 100 %, a su coste por eco en esta medida (None si no hubo ecos)."""
        if not self.requests or self.client_cpu <= 0:
            return None
        return self.rate / self.client_cpu * self.client_cores

    @property
    def echo_ok(self) -> bool:
        """Devuelve True si no hubo ni ecos erróneos ni conexiones cortadas."""
        return self.errors == 0 and self.dropped == 0


@dataclass(frozen=True)
class Summary:
    """El resumen de las repeticiones de un servidor en una configuración."""

    server: str
    description: str
    connections: int
    active: int
    size: int
    repetitions: int
    rate: float
    """Mediana de los ecos por segundo."""
    rate_min: float
    rate_max: float
    mb_per_s: float
    latency_p50: float | None
    """Mediana (entre repeticiones) de la latencia p50, en segundos."""
    latency_p99: float | None
    latency_mean: float | None
    """Mediana (entre repeticiones) de la latencia media, en segundos."""
    server_cpu: float
    server_cpu_per_request: float | None
    """Mediana de los segundos de CPU del servidor por eco."""
    server_rss: int
    """Mediana de la memoria residente del servidor con las conexiones abiertas (bytes)."""
    memory_per_connection: float
    """Mediana de los bytes de memoria residente por conexión (la pendiente desde la
    configuración anterior, o desde cero conexiones)."""
    connections_before: int
    """Las conexiones desde las que se mide esa pendiente."""
    client_cpu: float
    client_limited: bool
    """True si el cliente fue el límite en la mayoría de las repeticiones."""
    errors: int
    dropped: int
    verified_bytes: int
    pool_threads: int

    @property
    def little_latency(self) -> float | None:
        """Devuelve la latencia media que predice la ley de Little para este bucle cerrado:
        conexiones activas / ecos por segundo, en segundos (None si no hubo ecos)."""
        return self.active / self.rate if self.rate else None

    @property
    def spread(self) -> float:
        """Devuelve la dispersión: (máximo − mínimo) / mediana de los ecos por segundo."""
        return (self.rate_max - self.rate_min) / self.rate if self.rate else 0.0

    @property
    def echo_ok(self) -> bool:
        """Devuelve True si en ninguna repetición hubo ecos erróneos ni conexiones cortadas."""
        return self.errors == 0 and self.dropped == 0


def _median_or_none(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def summarize(runs: Sequence[Run], description: str) -> Summary:
    """Resume las repeticiones `runs` (mismo servidor y configuración); devuelve el resumen."""
    first = runs[0]
    rates = [r.rate for r in runs]
    return Summary(
        server=first.server,
        description=description,
        connections=first.connections,
        active=first.active,
        size=first.size,
        repetitions=len(runs),
        rate=statistics.median(rates),
        rate_min=min(rates),
        rate_max=max(rates),
        mb_per_s=statistics.median(r.mb_per_s for r in runs),
        latency_p50=_median_or_none(r.latency_p50 for r in runs),
        latency_p99=_median_or_none(r.latency_p99 for r in runs),
        latency_mean=_median_or_none(r.latency_mean for r in runs),
        server_cpu=statistics.median(r.server_cpu for r in runs),
        server_cpu_per_request=_median_or_none(r.server_cpu_per_request for r in runs),
        server_rss=int(statistics.median(r.server_rss for r in runs)),
        memory_per_connection=statistics.median(r.memory_per_connection for r in runs),
        connections_before=first.connections_before,
        client_cpu=statistics.median(r.client_cpu for r in runs),
        client_limited=sum(r.client_limited for r in runs) * 2 > len(runs),
        errors=sum(r.errors for r in runs),
        dropped=sum(r.dropped for r in runs),
        verified_bytes=sum(r.verified_bytes for r in runs),
        pool_threads=first.pool_threads,
    )
