"""Órdenes de terminal del curso: `python -m asyncio_avanzado eco`."""

import argparse
import asyncio
import errno
import logging
import sys

from . import grading
from .bench.cli import add_parser as add_bench_parser
from .bench.cli import run as run_bench
from .echo import EchoServer
from .proyecto import cli as proyecto_cli

__all__ = ["main"]

DEFAULT_PORT = 8888
"""El puerto que usan los ejemplos del guion original del curso."""


async def serve_forever(host: str, port: int, delay: float) -> None:
    """Sirve eco en `host:port` hasta que se cancele."""
    async with EchoServer(host, port, delay=delay):
        print("Pulsa Ctrl-C para detenerlo.", flush=True)
        await asyncio.Event().wait()


def build_parser() -> argparse.ArgumentParser:
    """Devuelve el analizador de argumentos de la orden."""
    parser = argparse.ArgumentParser(
        prog="python -m asyncio_avanzado",
        description="Herramientas de terminal del curso «Tópicos avanzados de asyncio».",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="orden")
    eco = commands.add_parser("eco", help="servidor de eco TCP (devuelve cada byte que recibe)")
    eco.add_argument("--host", default="127.0.0.1", help="dirección (por defecto: 127.0.0.1)")
    eco.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"puerto (por defecto: {DEFAULT_PORT})"
    )
    eco.add_argument(
        "--retardo",
        type=float,
        default=0.0,
        metavar="S",
        help="segundos de espera antes de cada respuesta (por defecto: 0)",
    )
    pg = commands.add_parser(
        "postgres",
        help="un PostgreSQL de usar y tirar (se crea al empezar y se borra con Ctrl-C)",
    )
    pg.add_argument(
        "--plazo",
        type=float,
        default=60.0,
        metavar="S",
        help="segundos como mucho para que arranque (por defecto: 60)",
    )
    add_bench_parser(commands)
    grading.add_parser(commands)
    proyecto_cli.add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Punto de entrada; devuelve el código de salida."""
    args = build_parser().parse_args(argv)
    if args.command == "bench":
        return run_bench(args)
    if args.command == "corregir":
        # nbformat importa jsonschema, que importaría rfc3987_syntax (lo trae jupyter-events):
        # compila sus gramáticas al importarse, de 2 a 6 s, para validar formatos «iri» que
        # ningún cuaderno usa. Sin él, jsonschema los omite.
        sys.modules.setdefault("rfc3987_syntax", None)
        return grading.run(args)
    if args.command == "proyecto":
        return proyecto_cli.run(args)
    if args.command == "postgres":
        from .postgres import serve

        return serve(args.plazo)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S", stream=sys.stdout
    )
    try:
        asyncio.run(serve_forever(args.host, args.port, args.retardo))
    except KeyboardInterrupt:
        print("\nServidor detenido.")
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            print(
                f"error: el puerto {args.port} ya está en uso en {args.host}. "
                "¿Hay otro servidor de eco abierto? Ciérralo o usa --port con otro número.",
                file=sys.stderr,
            )
        else:
            print(f"error: no se pudo abrir {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
