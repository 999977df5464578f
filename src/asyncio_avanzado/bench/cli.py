"""La orden `python -m asyncio_avanzado bench`: opciones en español, medida e informe."""

import argparse
import sys
from typing import Any

from .processes import BenchError
from .runner import (
    DEFAULT_SERVERS,
    FULL,
    FULL_COUNTS,
    QUICK,
    QUICK_COUNTS,
    SCALING_SERVERS,
    all_servers,
    run_benchmark,
    run_scaling,
)

__all__ = ["SpanishHelpFormatter", "add_parser", "build_parser", "main", "run"]

DESCRIPTION = """\
Compara, en esta máquina, los enfoques del curso bajo carga: servidores de eco en su propio
proceso y un generador de carga en uno o varios más, sobre 127.0.0.1. Cada conexión activa
envía un mensaje, espera su eco completo, lo comprueba byte a byte y envía el siguiente
(ping-pong).

Servidores:
  base              asyncio.start_server desnudo: la referencia
  streams           EchoServer del curso (streams)
  protocol          asyncio.Protocol
  buffered          asyncio.BufferedProtocol
  sock              loop.sock_* con sockets no bloqueantes
  executor          run_in_executor(None, ...) con sockets bloqueantes
  NOMBRE-uvloop     cada uno de los anteriores sobre uvloop (si está disponible)
  hilos             un hilo por conexión, sockets bloqueantes
  hilos-curso       ThreadedEchoServer del curso
"""

EPILOG = f"""\
Ejemplos:
  python -m asyncio_avanzado bench                      tabla completa (mensajes de 1 KiB)
  python -m asyncio_avanzado bench --rapido             lo mismo, en unos segundos
  python -m asyncio_avanzado bench --escalado           de 10 a 10 000 conexiones, 10 % activas
  python -m asyncio_avanzado bench --servidores base streams --tamano 65536 --csv r.csv

Por defecto, cada medida dura {FULL.duration:g} s (más {FULL.warmup:g} s de calentamiento) y se
repite {FULL.repetitions} veces; con --rapido, {QUICK.duration:g} s y {QUICK.repetitions} veces. Los
números cambian de una máquina a otra y de una ejecución a otra: compara cocientes y órdenes, no
cifras sueltas. Si la máquina ya estaba ocupada al empezar, el informe lo avisa.
"""


class SpanishHelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Formato de ayuda de argparse con sus encabezados en español («uso:»)."""

    def add_usage(
        self, usage: str | None, actions: Any, groups: Any, prefix: str | None = None
    ) -> None:
        super().add_usage(usage, actions, groups, "uso: " if prefix is None else prefix)


def _active(text: str) -> int | float:
    """Convierte «25» en 25 conexiones y «10%» en la fracción 0.1."""
    try:
        if text.endswith("%"):
            value = float(text[:-1]) / 100
            if not 0 < value <= 1:
                raise ValueError
            return value
        number = int(text)
        if number < 1:
            raise ValueError
        return number
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} no vale: escribe un número de conexiones (25) o un porcentaje (10%)"
        ) from None


def _positive(kind: type) -> Any:
    def convert(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            value = 0
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{text!r} no vale: hace falta un número positivo")
        return value

    return convert


def configure(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Añade a `parser` las opciones de la orden y pone sus encabezados en español.

    Devuelve el mismo analizador.
    """
    parser._optionals.title = "opciones"
    parser._positionals.title = "argumentos"
    parser.add_argument("-h", "--help", action="help", help="muestra esta ayuda y termina")
    parser.add_argument(
        "--servidores",
        nargs="+",
        choices=all_servers(),
        metavar="NOMBRE",
        help="servidores que se comparan (por defecto, todos; con --escalado: "
        f"{' '.join(SCALING_SERVERS)})",
    )
    parser.add_argument(
        "--tamano",
        type=_positive(int),
        default=1024,
        metavar="BYTES",
        help="bytes de cada mensaje (por defecto, 1024)",
    )
    parser.add_argument(
        "--conexiones",
        type=_positive(int),
        nargs="+",
        metavar="N",
        help="conexiones abiertas (por defecto, 100; con --escalado, varias: "
        f"{' '.join(map(str, FULL_COUNTS))}, o {' '.join(map(str, QUICK_COUNTS))} con --rapido)",
    )
    parser.add_argument(
        "--activas",
        type=_active,
        metavar="N|P%",
        help="cuántas conexiones hacen ping-pong; las demás se quedan abiertas y calladas "
        "(por defecto, todas; con --escalado, el 10%%)",
    )
    parser.add_argument(
        "--duracion",
        type=_positive(float),
        metavar="S",
        help=f"segundos de cada medida (por defecto, {FULL.duration:g}; "
        f"{QUICK.duration:g} con --rapido)",
    )
    parser.add_argument(
        "--repeticiones",
        type=_positive(int),
        metavar="R",
        help=f"medidas de cada servidor; se da la mediana y la dispersión (por defecto, "
        f"{FULL.repetitions}; {QUICK.repetitions} con --rapido)",
    )
    parser.add_argument(
        "--clientes",
        type=_positive(int),
        metavar="P",
        help="procesos del generador de carga (por defecto, uno por núcleo libre, hasta 4)",
    )
    parser.add_argument(
        "--escalado",
        action="store_true",
        help="mide cómo cambian los ecos/s y la memoria por conexión al crecer las conexiones",
    )
    parser.add_argument(
        "--rapido",
        action="store_true",
        help="medidas cortas (unos segundos en total)",
    )
    parser.add_argument("--csv", metavar="ARCHIVO", help="guarda los resúmenes en un CSV")
    parser.add_argument(
        "--json", metavar="ARCHIVO", help="guarda todo (máquina, medidas, resúmenes) en un JSON"
    )
    return parser


PARSER_OPTIONS: dict[str, Any] = {
    "description": DESCRIPTION,
    "epilog": EPILOG,
    "formatter_class": SpanishHelpFormatter,
    "add_help": False,
}


def add_parser(commands: Any) -> argparse.ArgumentParser:
    """Añade la orden `bench` a los subanalizadores `commands`; devuelve su analizador."""
    parser = commands.add_parser(
        "bench", help="compara los enfoques del curso bajo carga", **PARSER_OPTIONS
    )
    return configure(parser)


def build_parser() -> argparse.ArgumentParser:
    """Devuelve un analizador solo para esta orden."""
    return configure(
        argparse.ArgumentParser(prog="python -m asyncio_avanzado bench", **PARSER_OPTIONS)
    )


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    """Ejecuta la orden con los argumentos ya analizados; devuelve el código de salida."""
    common: dict[str, Any] = {
        "size": args.tamano,
        "duration": args.duracion,
        "repetitions": args.repeticiones,
        "quick": args.rapido,
        "client_processes": args.clientes,
        "progress": _progress,
    }
    try:
        if args.escalado:
            result = run_scaling(
                args.servidores or SCALING_SERVERS,
                counts=args.conexiones,
                active=args.activas if args.activas is not None else 0.1,
                **common,
            )
        else:
            if args.conexiones and len(args.conexiones) > 1:
                print(
                    "error: sin --escalado, --conexiones lleva un solo número; "
                    "para varios, añade --escalado",
                    file=sys.stderr,
                )
                return 2
            connections = args.conexiones[0] if args.conexiones else 100
            result = run_benchmark(
                args.servidores or DEFAULT_SERVERS,
                connections=connections,
                active=args.activas,
                **common,
            )
    except (BenchError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nInterrumpido.", file=sys.stderr)
        return 130
    print(result.table())
    for path, save, what in ((args.csv, result.to_csv, "CSV"), (args.json, result.to_json, "JSON")):
        if path:
            save(path)
            print(f"{what} guardado en {path}")
    failed = any(s.failure for s in result.skipped)
    return 0 if all(s.echo_ok for s in result.summaries) and not failed else 1


def main(argv: list[str] | None = None) -> int:
    """Punto de entrada; devuelve el código de salida."""
    return run(build_parser().parse_args(argv))
