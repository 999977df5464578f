"""El coordinador: lanza servidores y clientes, mide cada configuración y lo reúne todo.

Cada servidor corre en su propio proceso (fijado a un núcleo si hay varios) y el generador
de carga en otro u otros (en los demás núcleos). Los procesos se crean una vez por serie de
medidas: todos los servidores de la serie viven a la vez, con sus conexiones abiertas, y se
turnan para medir, de modo que una repetición no paga arrancar un intérprete ni conectar. El
coordinador no genera carga: solo da las órdenes, pregunta a cada servidor la CPU que lleva
gastada y lee desde fuera su memoria.
"""

import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

import psutil

from . import system
from .load import ClientReport
from .processes import BenchError, Child
from .servers import ASYNC_SERVERS, HOST, THREAD_SERVERS
from .stats import Run, Summary, merge_quantiles, summarize

if TYPE_CHECKING:
    from .report import Ceiling

__all__ = [
    "DEFAULT_SERVERS",
    "SCALING_SERVERS",
    "BenchResult",
    "Config",
    "Settings",
    "Skipped",
    "all_servers",
    "describe",
    "run_benchmark",
    "run_scaling",
]

UVLOOP = "-uvloop"
STARTUP_TIMEOUT = 20.0
"""Segundos que se espera a que un proceso hijo arranque."""

Progress = Callable[[str], None]


def all_servers() -> list[str]:
    """Devuelve los nombres de todos los servidores, en el orden de la tabla."""
    return [
        *ASYNC_SERVERS,
        *(name + UVLOOP for name in ASYNC_SERVERS),
        *THREAD_SERVERS,
    ]


DEFAULT_SERVERS = all_servers()
SCALING_SERVERS = ["streams", "streams-uvloop", "hilos", "executor"]
"""Los servidores de la tabla de escalado: asyncio, uvloop, hilos y el *executor*."""


def describe(name: str) -> str:
    """Devuelve la descripción en español del servidor `name`."""
    base = name.removesuffix(UVLOOP)
    if base in ASYNC_SERVERS:
        text = ASYNC_SERVERS[base].description
        return text + " sobre uvloop" if name.endswith(UVLOOP) else text
    if name in THREAD_SERVERS:
        return THREAD_SERVERS[name].description
    raise ValueError(f"servidor desconocido: {name!r}; los que hay: {', '.join(all_servers())}")


@dataclass(frozen=True)
class Config:
    """Una configuración de carga."""

    connections: int
    active: int
    size: int


@dataclass(frozen=True)
class Settings:
    """Cómo se mide cada configuración."""

    duration: float
    """Segundos de la ventana de medida."""
    warmup: float
    """Segundos de tráfico antes de la ventana (el servidor «se calienta»)."""
    repetitions: int
    client_processes: int | None = None
    """Procesos cliente (None: uno por núcleo libre, como mucho 4)."""
    rewarm: float = 0.0
    """Segundos de tráfico antes de cada ventana que no es la primera del servidor con sus
    conexiones de ahora: el proceso ya está en marcha y conectado, basta con arrancar el
    ping-pong."""


@dataclass(frozen=True)
class Skipped:
    """Algo que no se midió, y por qué."""

    reason: str
    server: str | None = None
    connections: int | None = None
    failure: bool = False
    """True si se intentó y falló (un proceso no arrancó o no contestó a tiempo)."""


@dataclass
class BenchResult:
    """Todo lo que midió una ejecución del banco de pruebas."""

    kind: str
    """«tabla» o «escalado»."""
    settings: Settings
    machine: dict[str, object]
    """Núcleos, reparto, Python, uvloop, carga de la máquina al empezar y al terminar..."""
    runs: list[Run] = field(default_factory=list)
    summaries: list[Summary] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    def summary(self, server: str, connections: int | None = None) -> Summary:
        """Devuelve el resumen de `server` (con `connections` conexiones, si se indica)."""
        for s in self.summaries:
            if s.server == server and connections in (None, s.connections):
                return s
        raise KeyError(f"no hay medidas de {server!r} con {connections} conexiones")

    @property
    def ceiling(self) -> "Ceiling | None":
        """Devuelve el techo estimado del cliente (None si no hubo ecos)."""
        from .report import ceiling

        return ceiling(self)

    def table(self) -> str:
        """Devuelve el informe en texto: tabla, techo del cliente y veredicto."""
        from .report import format_result

        return format_result(self)

    def to_csv(self, path: str | os.PathLike[str]) -> None:
        """Guarda los resúmenes en un CSV (una fila por servidor y configuración)."""
        from .report import write_csv

        write_csv(self, path)

    def to_json(self, path: str | os.PathLike[str]) -> None:
        """Guarda todo (máquina, ajustes, medidas y resúmenes) en un JSON."""
        from .report import write_json

        write_json(self, path)


def _machine(plan: system.CorePlan, client_uvloop: bool) -> dict[str, object]:
    try:
        import uvloop

        uvloop_version: str | None = uvloop.__version__
    except ImportError:
        uvloop_version = None
    load = _load_average()
    usable = system.usable_cores()
    return {
        "fecha": datetime.now().isoformat(timespec="seconds"),
        "sistema": platform.platform(),
        "python": sys.version.split()[0],
        "uvloop": uvloop_version,
        "nucleos": os.cpu_count(),
        "nucleos_utilizables": usable,
        "reparto": plan.description,
        "cliente_con_uvloop": client_uvloop,
        "carga_inicial": load,
        "aviso_carga": system.load_warning(load, usable),
    }


def _load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def _resolve_active(connections: int, active: int | float | None) -> int:
    if active is None:
        return connections
    if isinstance(active, float):
        if not 0 < active <= 1:
            raise ValueError(f"la fracción de conexiones activas debe estar en (0, 1], no {active}")
        return max(1, round(connections * active))
    if not 1 <= active <= connections:
        raise ValueError(f"las conexiones activas deben estar entre 1 y {connections}, no {active}")
    return active


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (i < total % parts) for i in range(parts)]


def _shorten(text: str, limit: int = 800) -> str:
    return text if len(text) <= limit else text[: limit // 2] + " [...] " + text[-limit // 2 :]


@dataclass
class _Server:
    """Un proceso servidor en marcha durante una serie de medidas, y lo que sabemos de él."""

    name: str
    child: Child
    port: int
    pool_threads: int
    proc: psutil.Process
    rss_idle: int
    """Memoria residente antes de la primera conexión."""
    connections: int = 0
    """Conexiones que le tienen abiertas los clientes."""
    warm: bool = False
    """Si ya tuvo tráfico con las conexiones de ahora (entonces basta un calentamiento corto)."""
    failure: str | None = None


class _Fleet:
    """Los procesos cliente de una ejecución del banco y cómo medir un servidor con ellos.

    Los clientes se crean una vez y guardan un grupo de conexiones por servidor; cada
    servidor vive toda una serie de configuraciones (más conexiones cada vez, en el
    escalado), así que entre una medida y la siguiente no se arranca ni se conecta nada.
    """

    def __init__(self, plan: system.CorePlan, client_uvloop: bool, settings: Settings) -> None:
        self.plan = plan
        self.settings = settings
        self.client_uvloop = client_uvloop
        self.clients: list[Child] = []

    def start_clients(self, fds_per_client: int) -> None:
        """Arranca los procesos cliente (uno por núcleo del plan)."""
        for i, cores in enumerate(self.plan.clients):
            label = f"cliente {i + 1}"
            child = Child(label, "generate_load", self.client_uvloop, cores, fds_per_client)
            self.clients.append(child)

    def start_server(self, name: str, fds: int) -> _Server:
        """Arranca el servidor `name` y espera a que escuche; lanza BenchError si no."""
        base = name.removesuffix(UVLOOP)
        child = Child(
            f"servidor {name}", "serve", base, name.endswith(UVLOOP), self.plan.server, fds
        )
        try:
            announced = child.expect(STARTUP_TIMEOUT)
            proc = psutil.Process(child.pid)
            rss = proc.memory_info().rss
        except psutil.Error as exc:
            child.kill()
            raise BenchError(f"no se pudo medir el proceso servidor {name}: {exc}") from exc
        except BenchError:
            child.kill()
            raise
        return _Server(name, child, announced["puerto"], int(announced["hilos_pool"]), proc, rss)

    def connect(self, server: _Server, config: Config) -> None:
        """Abre las conexiones que le faltan a `server` para llegar a `config.connections`."""
        shares = _split(config.connections, len(self.clients))
        done = _split(server.connections, len(self.clients))
        for i, (child, want, have) in enumerate(zip(self.clients, shares, done, strict=True)):
            if want > have:
                child.send(
                    {
                        "cmd": "connect",
                        "group": server.name,
                        "host": HOST,
                        "port": server.port,
                        "count": want - have,
                        "size": config.size,
                        "first": i * 10_000_000,
                    }
                )
        timeout = STARTUP_TIMEOUT + config.connections / 100
        failures = []
        for child, want, have in zip(self.clients, shares, done, strict=True):
            # Todas las respuestas, aunque una traiga un fallo: que no quede ninguna pendiente.
            if want > have and "fallo" in (reply := child.expect(timeout)):
                failures.append(
                    child.failure(
                        f"no pudo abrir {want - have} conexiones a {server.name}: {reply['fallo']}"
                    )
                )
        if failures:
            raise failures[0]
        server.connections = config.connections
        server.warm = False

    def measure(self, server: _Server, config: Config, before: tuple[int, int], rep: int) -> Run:
        """Mide una ventana de `server` con la carga `config`; devuelve la medida.

        `before`: (conexiones, memoria residente) de la medida anterior del mismo proceso,
        para la memoria por conexión. Lanza BenchError si algún proceso falla.
        """
        settings = self.settings
        shares = _split(config.connections, len(self.clients))
        actives = _split(config.active, len(self.clients))
        used = [(c, a) for c, n, a in zip(self.clients, shares, actives, strict=True) if n]
        group = server.name
        for child, active in used:
            child.send({"cmd": "go", "group": group, "active": active})
        time.sleep(settings.rewarm if server.warm else settings.warmup)
        server.warm = True
        stopped: list[Child] = []

        def stop_clients() -> None:
            for child, _ in used:
                if child not in stopped:
                    child.send({"cmd": "stop", "group": group})
                    stopped.append(child)

        try:
            start = server.child.ask({"cmd": "cpu"}, STARTUP_TIMEOUT)
            for child, _ in used:
                child.send({"cmd": "mark", "group": group})
            time.sleep(settings.duration)
            # Al cerrar la ventana, las órdenes al servidor y a los clientes salen juntas y
            # luego se esperan las respuestas: las dos ventanas terminan a la vez, y no se
            # suman dos viajes de ida y vuelta uno detrás de otro.
            server.child.send({"cmd": "cpu"})
            stop_clients()
            end = server.child.expect(STARTUP_TIMEOUT)
            rss = server.proc.memory_info().rss
        except psutil.Error as exc:  # el servidor murió mientras lo medíamos
            raise BenchError(f"no se pudo medir el proceso servidor {group}: {exc}") from exc
        finally:
            # También si el servidor falló: cada cliente contesta a «stop», y esa respuesta
            # no puede quedarse en la tubería para la medida siguiente.
            stop_clients()
            reports = [ClientReport(**child.expect(STARTUP_TIMEOUT)) for child, _ in used]
        talking = [r for r, (_, a) in zip(reports, used, strict=True) if a] or reports
        elapsed = sum(r.elapsed for r in talking) / len(talking)
        requests = sum(r.requests for r in reports)
        p50, p99 = merge_quantiles([(r.latencies, r.requests) for r in reports], [0.50, 0.99])
        mean = sum(r.latency_total for r in reports) / requests if requests else None
        wall = end["reloj"] - start["reloj"]
        return Run(
            server=group,
            connections=config.connections,
            active=config.active,
            size=config.size,
            repetition=rep,
            duration=elapsed,
            requests=requests,
            latency_p50=p50,
            latency_p99=p99,
            latency_mean=mean,
            server_cpu=max(0.0, end["cpu"] - start["cpu"]) / wall if wall > 0 else 0.0,
            connections_before=before[0],
            server_rss_before=before[1],
            server_rss=rss,
            client_cpu=sum(r.cpu / r.elapsed for r in reports if r.elapsed > 0),
            client_cores=min(self.plan.client_cores, sum(1 for _, a in used if a) or 1),
            errors=sum(r.errors for r in reports),
            dropped=sum(r.dropped for r in reports),
            verified_bytes=sum(r.verified_bytes for r in reports),
            pool_threads=server.pool_threads,
        )

    def stop_server(self, server: _Server) -> None:
        """Cierra las conexiones de los clientes a `server` y detiene su proceso."""
        for child in self.clients:
            if child.running:
                try:
                    child.ask({"cmd": "close", "group": server.name}, STARTUP_TIMEOUT)
                except BenchError:
                    pass
        server.child.close()

    def clients_alive(self) -> bool:
        """Devuelve True si todos los procesos cliente siguen en marcha."""
        return all(child.running for child in self.clients)

    def close(self) -> None:
        """Detiene los procesos cliente."""
        for child in self.clients:
            child.close()
        self.clients.clear()


def _limits_problem(config: Config, plan: system.CorePlan) -> str | None:
    """Devuelve por qué `config` no cabe en esta máquina, o None si cabe."""
    per_client = -(-config.connections // max(1, len(plan.clients)))
    problem = system.fd_limit_problem(max(config.connections, per_client))
    if problem is None:
        problem = system.port_range_problem(config.connections)
    if problem is None:
        return None
    return f"se omiten {config.connections} conexiones: {problem}"


def _batches(names: list[str], per_client: int) -> list[list[str]]:
    """Reparte los servidores en tandas que quepan a la vez en los descriptores de un cliente.

    Lo mejor es una sola tanda: todos los servidores vivos a la vez y sus repeticiones
    turnándose. Si los descriptores no dan para tanto, tandas más pequeñas.
    """
    size = max(1, len(names))
    while size > 1 and system.fd_limit_problem(per_client * size) is not None:
        size = (size + 1) // 2
    return [names[i : i + size] for i in range(0, len(names), size)]


def run_configs(
    kind: str,
    configs: Sequence[Config],
    servers: Sequence[str],
    settings: Settings,
    progress: Progress | None = None,
) -> BenchResult:
    """Mide cada servidor de `servers` con cada configuración de `configs`.

    Las configuraciones forman una serie: cada servidor arranca una vez y los clientes le
    abren más conexiones de una configuración a la siguiente (por eso `configs` va de menos a
    más conexiones). En cada configuración, las repeticiones se turnan entre los servidores,
    cada vez empezando por uno distinto, para que el ruido de la máquina (otros programas, el
    turbo del procesador) se reparta entre todos. Devuelve el resultado completo.
    """
    names = list(dict.fromkeys(servers))
    for name in names:
        describe(name)  # ValueError si no existe
    plan = system.plan_cores(settings.client_processes)
    uvloop_problem = system.uvloop_unavailable()
    result = BenchResult(kind, settings, _machine(plan, uvloop_problem is None))
    if uvloop_problem is not None:
        skipped = [n for n in names if n.endswith(UVLOOP)]
        if skipped:
            result.skipped.append(Skipped(f"{', '.join(skipped)}: {uvloop_problem}"))
        names = [n for n in names if not n.endswith(UVLOOP)]

    todo = []
    for config in sorted(configs, key=lambda c: c.connections):
        if problem := _limits_problem(config, plan):
            result.skipped.append(Skipped(problem, connections=config.connections))
        else:
            todo.append(config)
    runs: dict[tuple[str, int], list[Run]] = {}
    if todo and names:
        largest = todo[-1].connections
        per_client = -(-largest // max(1, len(plan.clients)))
        batches = _batches(names, per_client)
        fleet = _Fleet(plan, uvloop_problem is None, settings)
        try:
            fleet.start_clients(per_client * len(batches[0]) + system.FD_MARGIN)
            total = len(todo) * len(names) * settings.repetitions
            for batch in batches:
                _run_batch(fleet, batch, todo, runs, result, total, progress)
        finally:
            fleet.close()
    for config in todo:
        result.summaries.extend(
            summarize(runs[name, config.connections], describe(name))
            for name in names
            if runs.get((name, config.connections))
        )
    result.machine["carga_final"] = _load_average()
    return result


def _run_batch(
    fleet: _Fleet,
    batch: list[str],
    todo: list[Config],
    runs: dict[tuple[str, int], list[Run]],
    result: BenchResult,
    total: int,
    progress: Progress | None,
) -> None:
    """Mide los servidores de `batch` con la serie de configuraciones `todo`."""
    settings = fleet.settings
    alive: list[_Server] = []

    def fail(name: str, connections: int, exc: BenchError) -> None:
        reason = f"{name} con {connections} conexiones: {_shorten(str(exc))}"
        result.skipped.append(Skipped(reason, name, connections, failure=True))
        if progress is not None:
            progress(f"falló {reason}")

    try:
        for name in batch:
            try:
                alive.append(fleet.start_server(name, todo[-1].connections + system.FD_MARGIN))
            except BenchError as exc:
                fail(name, todo[0].connections, exc)
        before = {s.name: (0, s.rss_idle) for s in alive}
        for config in todo:
            for server in alive:
                if server.failure is None:
                    try:
                        fleet.connect(server, config)
                    except BenchError as exc:
                        server.failure = str(exc)
                        fail(server.name, config.connections, exc)
            for repetition in range(settings.repetitions):
                shift = repetition % max(1, len(alive))
                for server in alive[shift:] + alive[:shift]:
                    if server.failure is not None:
                        continue
                    try:
                        run = fleet.measure(server, config, before[server.name], repetition)
                    except BenchError as exc:
                        # Un servidor que no aguanta una configuración no tumba las demás.
                        server.failure = str(exc)
                        fail(server.name, config.connections, exc)
                        if not fleet.clients_alive():
                            raise
                        continue
                    runs.setdefault((server.name, config.connections), []).append(run)
                    result.runs.append(run)
                    if progress is not None:
                        done = len(result.runs)
                        rate = f"{run.rate:,.0f}".replace(",", "\u202f")
                        progress(
                            f"[{done}/{total}] {server.name}, {config.connections} conexiones "
                            f"({config.active} activas): {rate} ecos/s"
                        )
            for server in alive:
                measured = runs.get((server.name, config.connections))
                if measured:
                    rss = int(statistics.median(r.server_rss for r in measured))
                    before[server.name] = (config.connections, rss)
    finally:
        for server in alive:
            fleet.stop_server(server)


# Rápido: ventanas de 3 centésimas. Bastan para el orden de la tabla y para lo que comprueba la
# lección 08 (cada byte vuelve, la ley de Little, la memoria por conexión), no para publicar cifras.
QUICK = Settings(duration=0.03, warmup=0.03, repetitions=3, rewarm=0.01)
FULL = Settings(duration=2.0, warmup=0.5, repetitions=3, rewarm=0.2)
QUICK_COUNTS = (10, 100, 1000)
FULL_COUNTS = (10, 100, 1000, 10_000)


def _settings(
    quick: bool,
    duration: float | None,
    repetitions: int | None,
    client_processes: int | None,
) -> Settings:
    preset = QUICK if quick else FULL
    return Settings(
        duration=duration if duration is not None else preset.duration,
        warmup=min(preset.warmup, duration) if duration is not None else preset.warmup,
        repetitions=repetitions if repetitions is not None else preset.repetitions,
        client_processes=client_processes,
        rewarm=min(preset.rewarm, duration) if duration is not None else preset.rewarm,
    )


def run_benchmark(
    servers: Sequence[str] | None = None,
    *,
    size: int = 1024,
    connections: int = 100,
    active: int | float | None = None,
    duration: float | None = None,
    repetitions: int | None = None,
    quick: bool = False,
    client_processes: int | None = None,
    progress: Progress | None = None,
) -> BenchResult:
    """Compara los servidores con una sola configuración de carga; devuelve el resultado.

    `servers`: nombres (por defecto, todos; ver `all_servers()`). `size`: bytes de cada
    mensaje. `connections`: conexiones abiertas; `active`: cuántas hacen ping-pong (un
    entero, una fracción entre 0 y 1 o None para todas). `duration`: segundos de cada medida
    (2; 0.03 con `quick`). `repetitions`: medidas por servidor (3, también con `quick`).
    `progress`: función a la que se pasa una línea de texto tras cada medida.

    Bloquea mientras mide (segundos o minutos): desde una corrutina, o en un cuaderno,
    llámala con `await asyncio.to_thread(run_benchmark, ...)`.
    """
    if size < 1:
        raise ValueError(f"el tamaño de los mensajes debe ser >= 1 byte, no {size}")
    if connections < 1:
        raise ValueError(f"hace falta al menos una conexión, no {connections}")
    config = Config(connections, _resolve_active(connections, active), size)
    settings = _settings(quick, duration, repetitions, client_processes)
    return run_configs("tabla", [config], servers or DEFAULT_SERVERS, settings, progress)


def run_scaling(
    servers: Sequence[str] | None = None,
    *,
    counts: Sequence[int] | None = None,
    active: int | float | None = 0.1,
    size: int = 1024,
    duration: float | None = None,
    repetitions: int | None = None,
    quick: bool = False,
    client_processes: int | None = None,
    progress: Progress | None = None,
) -> BenchResult:
    """Mide cómo escalan los servidores con el número de conexiones; devuelve el resultado.

    `counts`: números de conexiones (10, 100, 1000 y 10 000; sin 10 000 con `quick`). Los
    que no caben en el límite de descriptores del sistema (tras subir el límite blando hasta
    el duro) se omiten con una explicación en `skipped`. `active`: conexiones que hacen
    ping-pong en cada caso, como fracción (por defecto, el 10 %) o como número fijo; las
    demás se quedan abiertas y calladas. El resto, como en `run_benchmark`.
    """
    counts = counts or (QUICK_COUNTS if quick else FULL_COUNTS)
    # Un número fijo de activas no puede pasar del total de conexiones de cada caso.
    configs = [
        Config(n, _resolve_active(n, min(active, n) if isinstance(active, int) else active), size)
        for n in counts
    ]
    settings = _settings(quick, duration, repetitions, client_processes)
    return run_configs("escalado", configs, servers or SCALING_SERVERS, settings, progress)
