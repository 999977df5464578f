"""El informe del banco de pruebas: la tabla en texto, el techo del cliente, el veredicto
y los archivos CSV y JSON."""

import csv
import json
import os
import statistics
import textwrap
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING

from ..text import plural
from .stats import CLIENT_BUSY, Summary

if TYPE_CHECKING:
    from .runner import BenchResult

__all__ = [
    "BASELINE",
    "CEILING_GOAL",
    "COURSE_STREAMS",
    "STREAMS_GOAL",
    "Ceiling",
    "ceiling",
    "format_result",
    "write_csv",
    "write_json",
]

BASELINE = "base"
COURSE_STREAMS = "streams"
STREAMS_GOAL = 0.9
"""El servidor de *streams* del curso debe dar al menos esta fracción de «base»."""
CEILING_GOAL = 1.5
"""El techo del cliente debería ser al menos esta vez el servidor más rápido."""


def _number(value: float) -> str:
    """Devuelve `value` redondeado, con espacios finos entre miles (12 345)."""
    return f"{value:,.0f}".replace(",", "\u202f")


def _ms(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    ms = seconds * 1e3
    return f"{ms:.2f}" if ms < 10 else f"{ms:.1f}" if ms < 100 else f"{ms:.0f}"


def _percent(fraction: float) -> str:
    return f"{fraction * 100:.0f}%"


@dataclass(frozen=True)
class Ceiling:
    """El techo del generador de carga, estimado con su propio coste de CPU por eco."""

    rate: float
    """Ecos por segundo que daría el cliente con todos sus núcleos al 100 %."""
    cpu_per_request: float
    """Segundos de CPU del cliente por eco."""
    fastest_server: str
    fastest_rate: float
    client_cores: int

    @property
    def ratio(self) -> float:
        """Devuelve el techo dividido por los ecos/s del servidor más rápido."""
        return self.rate / self.fastest_rate


def ceiling(result: "BenchResult") -> Ceiling | None:
    """Estima el techo del cliente con las medidas del servidor más rápido: ecos/s
    ÷ núcleos que usó el cliente × núcleos que tiene. Devuelve None si no hubo ecos."""
    measured = [s for s in result.summaries if s.rate > 0]
    if not measured:
        return None
    fastest = max(measured, key=lambda s: s.rate)
    runs = [
        r
        for r in result.runs
        if r.server == fastest.server
        and r.connections == fastest.connections
        and r.client_ceiling is not None
    ]
    if not runs:
        return None
    rate = statistics.median(r.client_ceiling for r in runs if r.client_ceiling is not None)
    cores = runs[0].client_cores
    return Ceiling(rate, cores / rate, fastest.server, fastest.rate, cores)


def _note(s: Summary) -> str:
    notes = []
    if not s.echo_ok:
        notes.append(f"✘ eco: {s.errors} erróneos, {s.dropped} cortadas")
    if s.rate == 0:
        if s.server.startswith("executor") and s.connections - s.active >= s.pool_threads:
            notes.append(f"bloqueado: {s.connections - s.active} calladas ≥ {s.pool_threads} hilos")
        else:
            notes.append("ningún eco")
    if s.client_limited:
        notes.append("limitado por el cliente")
    return "; ".join(notes)


HEADER = (
    f"{'servidor':<16} {'ecos/s':>9} {'±':>4} {'MB/s':>6} {'× base':>6} {'p50 ms':>7} "
    f"{'p99 ms':>7} {'CPU srv':>7} {'µs/eco':>6} {'MiB srv':>7} {'KiB/con':>7} {'CPU cli':>7}  nota"
)


def _us(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds * 1e6:.1f}"


def _row(s: Summary, base: Summary | None) -> str:
    ratio = f"{s.rate / base.rate:.2f}" if base is not None and base.rate else "—"
    spread = _percent(s.spread / 2) if s.repetitions > 1 else "—"
    return (
        f"{s.server:<16} {_number(s.rate):>9} {spread:>4} {s.mb_per_s:>6.1f} {ratio:>6} "
        f"{_ms(s.latency_p50):>7} {_ms(s.latency_p99):>7} {_percent(s.server_cpu):>7} "
        f"{_us(s.server_cpu_per_request):>6} {s.server_rss / 2**20:>7.1f} "
        f"{s.memory_per_connection / 1024:>7.1f} {_percent(s.client_cpu):>7}  {_note(s)}"
    )


LEGEND = (
    "ecos/s y MB/s (datos devueltos, en un sentido): medianas; ±: media dispersión\n"
    "(máx − mín) / 2 entre repeticiones; p50/p99: latencia de un eco vista por el cliente;\n"
    "CPU srv/cli: % de un núcleo; µs/eco: CPU del servidor por eco (lo más estable si la\n"
    "máquina está ocupada); MiB srv: memoria residente del servidor con las conexiones\n"
    "abiertas; KiB/con: pendiente de esa memoria desde la fila anterior del mismo servidor (o\n"
    "desde cero conexiones): lo que creció / las conexiones nuevas. No cuenta la memoria del\n"
    "sistema operativo (búferes de los sockets, lo que dedica a cada hilo)."
)


def _pivot(result: "BenchResult", title: str, value: str) -> list[str]:
    counts = sorted({s.connections for s in result.summaries})
    servers = list(dict.fromkeys(s.server for s in result.summaries))
    if value == "rate":
        heads = [str(n) for n in counts]
    else:  # la pendiente va de un número de conexiones al siguiente
        heads = [f"{a}→{b}" for a, b in zip([0, *counts], counts, strict=False)]
    lines = [title, f"{'servidor':<16}" + "".join(f"{h:>12}" for h in heads)]
    for server in servers:
        cells = []
        for n in counts:
            found = [s for s in result.summaries if s.server == server and s.connections == n]
            if not found:
                cells.append("—")
            elif value == "rate":
                cells.append(_number(found[0].rate))
            else:
                cells.append(f"{found[0].memory_per_connection / 1024:.1f}")
        lines.append(f"{server:<16}" + "".join(f"{c:>12}" for c in cells))
    return lines


def format_result(result: "BenchResult") -> str:
    """Devuelve el informe completo en texto."""
    settings, machine = result.settings, result.machine
    warmup = f"+{settings.warmup:g} s de calentamiento"
    if settings.rewarm and settings.repetitions > 1:
        warmup += f" la primera vez, {settings.rewarm:g} s las demás"
    lines = [
        _para(
            f"Eco en ping-pong sobre 127.0.0.1: {settings.duration:g} s por medida ({warmup}), "
            f"{plural(settings.repetitions, 'repetición', 'repeticiones')}."
        ),
        _para(
            f"Python {machine['python']}, uvloop {machine['uvloop'] or 'no disponible'}; "
            f"{machine['reparto']}; carga de la máquina (1, 5, 15 min) al empezar "
            f"{machine['carga_inicial']} y al terminar {machine.get('carga_final')}."
        ),
    ]
    if machine.get("aviso_carga"):
        lines.append(_para(str(machine["aviso_carga"])))
    lines += ["", HEADER, "-" * len(HEADER)]
    for size in sorted({s.size for s in result.summaries}):
        for count in sorted({s.connections for s in result.summaries if s.size == size}):
            group = [s for s in result.summaries if s.size == size and s.connections == count]
            base = next((s for s in group if s.server == BASELINE), None)
            active = ", ".join(str(n) for n in dict.fromkeys(s.active for s in group))
            lines.append(
                f"· mensajes de {size} bytes, {plural(count, 'conexión')} ({active} activas)"
            )
            lines.extend(_row(s, base) for s in group)
    lines.append(LEGEND)
    if result.kind == "escalado" and result.summaries:
        lines += ["", *_pivot(result, "Ecos por segundo (medianas):", "rate")]
        title = "Memoria por conexión (KiB; pendiente entre dos números de conexiones):"
        lines += ["", *_pivot(result, title, "memory")]
    lines += ["", *_ceiling_lines(result), *_verdict_lines(result)]
    for skipped in result.skipped:
        lines.append(_para(f"Omitido: {skipped.reason}"))
    broken = [s.server for s in result.summaries if not s.echo_ok]
    if broken:
        lines.append(f"✘ Eco incorrecto en: {', '.join(dict.fromkeys(broken))}.")
    elif result.summaries:
        lines.append("✔ Todos los servidores devolvieron cada byte tal como lo recibieron.")
    return "\n".join(lines)


def _para(text: str, indent: str = "") -> str:
    """Devuelve `text` partido en líneas de 100 caracteres como mucho (las siguientes, con
    sangría)."""
    return textwrap.fill(text, 100, initial_indent=indent, subsequent_indent=indent + "  ")


def _ceiling_lines(result: "BenchResult") -> list[str]:
    top = ceiling(result)
    if top is None:
        return ["Techo del cliente: sin ecos, no se puede estimar."]
    cores = plural(top.client_cores, "núcleo")
    lines = [
        _para(
            f"Techo del cliente: ≈ {_number(top.rate)} ecos/s con {cores} al 100 % "
            f"({top.cpu_per_request * 1e6:.1f} µs de CPU por eco), {top.ratio:.2f}× el servidor "
            f"más rápido ({top.fastest_server}, {_number(top.fastest_rate)} ecos/s)."
        )
    ]
    if top.ratio < CEILING_GOAL:
        text = (
            f"No llega a {CEILING_GOAL}×: las filas más rápidas pueden estar limitadas por el "
            "cliente, y sus diferencias, achatadas. En ping-pong el cliente trabaja por eco casi "
            f"lo mismo que el servidor, y aquí tiene {cores}; con más núcleos, dale más procesos "
            "(--clientes)."
        )
        lines.append(_para(text, "  "))
    else:
        text = (
            f"Es ≥ {CEILING_GOAL}×: a su coste por eco, el cliente daba para bastante más de lo "
            "que pidió el servidor más rápido."
        )
        lines.append(_para(text, "  "))
    limited = [s.server for s in result.summaries if s.client_limited]
    if limited:
        text = (
            f"Con el cliente saturado (≥ {CLIENT_BUSY * 100:.0f} % de sus núcleos): "
            f"{', '.join(dict.fromkeys(limited))}."
        )
        lines.append(_para(text, "  "))
    return lines


def _verdict_lines(result: "BenchResult") -> list[str]:
    lines = []
    for count in sorted({s.connections for s in result.summaries}):
        group = {s.server: s for s in result.summaries if s.connections == count}
        base, ours = group.get(BASELINE), group.get(COURSE_STREAMS)
        if base is None or ours is None or not base.rate:
            continue
        ratio = ours.rate / base.rate
        mark = "✔" if ratio >= STREAMS_GOAL else "✘"
        cost = ""
        if ours.server_cpu_per_request and base.server_cpu_per_request:
            cost_ratio = ours.server_cpu_per_request / base.server_cpu_per_request
            cost = f"; CPU del servidor por eco: {cost_ratio:.2f}× la de base"
        lines.append(
            _para(
                f"{mark} EchoServer del curso / start_server desnudo "
                f"({plural(count, 'conexión')}): {ratio:.2f}× en ecos/s "
                f"(objetivo ≥ {STREAMS_GOAL}×){cost}."
            )
        )
    return lines


# -- archivos -------------------------------------------------------------------------------

CSV_EXTRA = ["spread", "echo_ok", "ratio_base"]


def _summary_row(s: Summary, result: "BenchResult") -> dict[str, object]:
    row: dict[str, object] = asdict(s)
    base = next(
        (b for b in result.summaries if b.server == BASELINE and b.connections == s.connections),
        None,
    )
    row["spread"] = round(s.spread, 4)
    row["echo_ok"] = s.echo_ok
    row["ratio_base"] = round(s.rate / base.rate, 4) if base is not None and base.rate else None
    return row


def write_csv(result: "BenchResult", path: str | os.PathLike[str]) -> None:
    """Guarda un resumen por fila (servidor y configuración) en el CSV `path`."""
    names = [f.name for f in fields(Summary)] + CSV_EXTRA
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=names)
        writer.writeheader()
        for s in result.summaries:
            writer.writerow(_summary_row(s, result))


def write_json(result: "BenchResult", path: str | os.PathLike[str]) -> None:
    """Guarda en el JSON `path` la máquina, los ajustes, los resúmenes, cada medida, lo
    omitido y el techo del cliente."""
    top = ceiling(result)
    data = {
        "tipo": result.kind,
        "maquina": result.machine,
        "ajustes": asdict(result.settings),
        "resumenes": [_summary_row(s, result) for s in result.summaries],
        "medidas": [
            {**asdict(r), "rate": r.rate, "memory_per_connection": r.memory_per_connection}
            for r in result.runs
        ],
        "omitidos": [asdict(s) for s in result.skipped],
        "techo_cliente": None if top is None else {**asdict(top), "ratio": top.ratio},
    }
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False, indent=2)
        f.write("\n")
