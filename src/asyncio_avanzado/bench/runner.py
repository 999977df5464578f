"""El coordinador: lanza servidor y clientes, mide cada configuración y lo reúne todo.

Cada medida usa procesos nuevos: el servidor en uno (fijado a un núcleo si hay varios) y
el generador de carga en otro u otros (en los demás núcleos). El coordinador no genera
carga: solo da las órdenes y lee, desde fuera, la CPU y la memoria del servidor.
"""

import json
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import psutil

from . import system
from .load import ClientConfig, ClientReport
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
    return {
        "fecha": datetime.now().isoformat(timespec="seconds"),
        "sistema": platform.platform(),
        "python": sys.version.split()[0],
        "uvloop": uvloop_version,
        "nucleos": os.cpu_count(),
        "reparto": plan.description,
        "cliente_con_uvloop": client_uvloop,
        "carga_inicial": _load_average(),
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


def _json_line(child: Child, timeout: float) -> dict[str, Any]:
    """Lee una línea JSON de `child` y la devuelve; lanza BenchError si no lo es."""
    line = child.expect(timeout)
    try:
        return json.loads(line)
    except ValueError:
        raise child.failure(f"escribió {line!r} en vez de una línea JSON") from None


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (i < total % parts) for i in range(parts)]


def measure_once(
    server: str,
    config: Config,
    settings: Settings,
    plan: system.CorePlan,
    client_uvloop: bool,
    repetition: int = 0,
) -> Run:
    """Mide una vez `server` con la carga `config`; devuelve la medida.

    Lanza BenchError si algún proceso falla o no contesta a tiempo.
    """
    base = server.removesuffix(UVLOOP)
    server_args = ["servidor", base]
    if server.endswith(UVLOOP):
        server_args.append("--uvloop")
    if plan.server:
        server_args += ["--nucleos", *map(str, plan.server)]
    processes = min(len(plan.clients), config.connections)
    children: list[Child] = []
    try:
        srv = Child(f"servidor {server}", server_args)
        children.append(srv)
        clients = []
        for i, cores in enumerate(plan.clients[:processes]):
            args = ["cliente"] + (["--uvloop"] if client_uvloop else [])
            if cores:
                args += ["--nucleos", *map(str, cores)]
            clients.append(Child(f"cliente {i + 1}", args))
        children.extend(clients)

        announced = _json_line(srv, STARTUP_TIMEOUT)
        server_proc = psutil.Process(srv.pid)
        rss_before = server_proc.memory_info().rss
        first = 0
        for child, (conns, act) in zip(
            clients,
            zip(
                _split(config.connections, processes),
                _split(config.active, processes),
                strict=True,
            ),
            strict=True,
        ):
            cfg = ClientConfig(HOST, announced["puerto"], conns, act, config.size, first)
            child.send(json.dumps(asdict(cfg)))
            first += conns
        connect_timeout = STARTUP_TIMEOUT + config.connections / 100
        for child in clients:
            if (line := child.expect(connect_timeout)) != "listo":
                raise child.failure(f"respondió {line!r} en vez de «listo»")

        for child in clients:
            child.send("go")
        time.sleep(settings.warmup)
        cpu0 = server_proc.cpu_times()
        wall0 = time.perf_counter()
        for child in clients:
            child.send("mark")
        time.sleep(settings.duration)
        # Antes de «stop»: tras recibirlo, los clientes cierran sus conexiones.
        cpu1 = server_proc.cpu_times()
        wall1 = time.perf_counter()
        rss = server_proc.memory_info().rss
        for child in clients:
            child.send("stop")
        reports = [ClientReport(**_json_line(child, STARTUP_TIMEOUT)) for child in clients]
    except psutil.Error as exc:  # el servidor murió mientras lo medíamos
        raise BenchError(f"no se pudo medir el proceso servidor {server}: {exc}") from exc
    finally:
        for child in reversed(children):  # primero los clientes, después el servidor
            child.close()

    elapsed = sum(r.elapsed for r in reports) / len(reports)
    requests = sum(r.requests for r in reports)
    p50, p99 = merge_quantiles([(r.latencies, r.requests) for r in reports], [0.50, 0.99])
    return Run(
        server=server,
        connections=config.connections,
        active=config.active,
        size=config.size,
        repetition=repetition,
        duration=elapsed,
        requests=requests,
        latency_p50=p50,
        latency_p99=p99,
        server_cpu=max(0.0, cpu1.user + cpu1.system - cpu0.user - cpu0.system) / (wall1 - wall0),
        server_rss_before=rss_before,
        server_rss=rss,
        client_cpu=sum(r.cpu / r.elapsed for r in reports if r.elapsed > 0),
        client_cores=min(plan.client_cores, processes),
        errors=sum(r.errors for r in reports),
        dropped=sum(r.dropped for r in reports),
        verified_bytes=sum(r.verified_bytes for r in reports),
        pool_threads=int(announced["hilos_pool"]),
    )


def _shorten(text: str, limit: int = 800) -> str:
    return text if len(text) <= limit else text[: limit // 2] + " [...] " + text[-limit // 2 :]


def _limits_problem(config: Config, plan: system.CorePlan) -> str | None:
    """Devuelve por qué `config` no cabe en esta máquina, o None si cabe."""
    per_client = -(-config.connections // max(1, len(plan.clients)))
    problem = system.fd_limit_problem(max(config.connections, per_client))
    if problem is None:
        problem = system.port_range_problem(config.connections)
    if problem is None:
        return None
    return f"se omiten {config.connections} conexiones: {problem}"


def run_configs(
    kind: str,
    configs: Sequence[Config],
    servers: Sequence[str],
    settings: Settings,
    progress: Progress | None = None,
) -> BenchResult:
    """Mide cada servidor de `servers` con cada configuración de `configs`.

    En cada repetición los servidores se turnan, cada vez empezando por uno distinto, para
    que el ruido de la máquina (otros programas, el turbo del procesador) se reparta entre
    todos. Devuelve el resultado completo.
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
    for config in configs:
        if problem := _limits_problem(config, plan):
            result.skipped.append(Skipped(problem, connections=config.connections))
        else:
            todo.append(config)
    total = len(todo) * len(names) * settings.repetitions
    done = 0
    for config in todo:
        runs: dict[str, list[Run]] = {name: [] for name in names}
        failed: set[str] = set()
        for repetition in range(settings.repetitions):
            shift = repetition % max(1, len(names))
            for name in names[shift:] + names[:shift]:
                if name in failed:
                    continue
                try:
                    run = measure_once(
                        name, config, settings, plan, uvloop_problem is None, repetition
                    )
                except BenchError as exc:
                    # Un servidor que no aguanta una configuración no tumba las demás medidas.
                    failed.add(name)
                    reason = f"{name} con {config.connections} conexiones: {_shorten(str(exc))}"
                    result.skipped.append(Skipped(reason, name, config.connections, failure=True))
                    if progress is not None:
                        progress(f"[{done}/{total}] falló {reason}")
                    continue
                runs[name].append(run)
                result.runs.append(run)
                done += 1
                if progress is not None:
                    rate = f"{run.rate:,.0f}".replace(",", "\u202f")
                    progress(
                        f"[{done}/{total}] {name}, {config.connections} conexiones "
                        f"({config.active} activas): {rate} ecos/s"
                    )
        result.summaries.extend(
            summarize(runs[name], describe(name)) for name in names if runs[name]
        )
    result.machine["carga_final"] = _load_average()
    return result


QUICK = Settings(duration=0.3, warmup=0.15, repetitions=1)
FULL = Settings(duration=2.0, warmup=0.5, repetitions=3)
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
    (2; 0.5 con `quick`). `repetitions`: medidas por servidor (3; 1 con `quick`).
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
