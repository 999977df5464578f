"""`python -m asyncio_avanzado proyecto`: el servicio del proyecto final, desde un terminal.

Arranca un PostgreSQL de usar y tirar con el catálogo (o, con `--dsn`, usa uno en marcha), el
servicio heredado de precios (en su propio hilo) y el servicio HTTP, en `127.0.0.1`. Ctrl-C o
SIGTERM lo detienen en orden.
"""

import argparse
import asyncio
import contextlib
import errno
import logging
import signal
import sys
from typing import Any

__all__ = ["add_parser", "run"]

ITEMS = 50
DATABASE = "proyecto"  # la base de datos que se crea con --dsn


def add_parser(commands: Any) -> argparse.ArgumentParser:
    """Añade la orden `proyecto` a los subanalizadores `commands`; devuelve su analizador."""
    parser = commands.add_parser(
        "proyecto",
        help="el servicio del proyecto final (lección 10): catálogo, precios y simulación",
    )
    parser.add_argument("--host", default="127.0.0.1", help="dirección (por defecto: 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=0, help="puerto (por defecto: 0, uno libre cualquiera)"
    )
    parser.add_argument(
        "--plazo",
        type=float,
        default=1.0,
        metavar="S",
        help="segundos de plazo para el servicio heredado de precios (por defecto: 1)",
    )
    parser.add_argument(
        "--semilla",
        type=int,
        default=0,
        help="semilla de los precios y los fallos del servicio heredado (por defecto: 0)",
    )
    parser.add_argument(
        "--dsn",
        default=None,
        help=(
            "un PostgreSQL que ya está en marcha: el servicio crea en él su propia base de datos, "
            f"«{DATABASE}», en lugar de arrancar un PostgreSQL de usar y tirar"
        ),
    )
    parser.add_argument(
        "--cliente",
        choices=("nativo", "hilos"),
        default="nativo",
        help="cómo se piden los precios: streams o la biblioteca bloqueante en hilos",
    )
    return parser


async def _own_database(admin: str) -> str:
    """Crea (si no existe) la base de datos `DATABASE` en el servidor de `admin`; devuelve su dsn.

    Una base de datos propia, y no la de `admin`: `prepare` borra y vuelve a llenar la tabla
    `articulos`, y la de quien nos presta el servidor (un cuaderno) no se toca.
    """
    from urllib.parse import urlsplit, urlunsplit

    import asyncpg  # aquí: importar el paquete del curso no carga las bibliotecas

    from ..postgres import PostgresError

    try:
        conn = await asyncpg.connect(admin, timeout=10)
    except (OSError, TimeoutError, asyncpg.PostgresError) as error:
        message = f"no se pudo conectar con el PostgreSQL de --dsn ({admin}): {error}"
        raise PostgresError(message) from None
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE):
            await conn.execute(f"CREATE DATABASE {DATABASE}")
    finally:
        await conn.close()
    return urlunsplit(urlsplit(admin)._replace(path="/" + DATABASE))


async def _serve(args: argparse.Namespace) -> None:
    from ..postgres import TemporaryPostgres
    from .catalog import make_items, prepare
    from .legacy import BackgroundLegacyPriceServer
    from .service import PriceService

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # Windows
            loop.add_signal_handler(signum, stop.set)
    items = make_items(ITEMS, args.semilla)
    async with contextlib.AsyncExitStack() as stack:
        if args.dsn is None:
            print("Arrancando PostgreSQL y el servicio heredado…", flush=True)
            dsn = (await stack.enter_async_context(TemporaryPostgres())).dsn
        else:
            print(f"Preparando la base de datos «{DATABASE}» de --dsn…", flush=True)
            dsn = await _own_database(args.dsn)
        await prepare(dsn, items)
        legacy = BackgroundLegacyPriceServer(
            seed=args.semilla, delay=0.05, hang_rate=0.1, reset_rate=0.05
        )
        await asyncio.to_thread(legacy.start)
        try:
            service = PriceService(
                dsn,
                legacy.address,
                host=args.host,
                port=args.port,
                client=args.cliente,
                deadline=args.plazo,
            )
            async with service:
                hangs = [i.id for i in items if legacy.fault(i.codigo) == "cuelga"][:3]
                print(f"Servicio escuchando en {service.url}", flush=True)
                print(f"  curl {service.url}/articulos/1", flush=True)
                print(f"  curl {service.url}/articulos/1/simulacion", flush=True)
                print(f"  curl {service.url}/salud", flush=True)
                print(
                    f'  curl -X POST {service.url}/reservas -d \'{{"id": 1, "cantidad": 2}}\'',
                    flush=True,
                )
                print(f"Artículos (ids 1 a {ITEMS}) cuyo precio se cuelga: {hangs}", flush=True)
                print("Pulsa Ctrl-C para detenerlo.", flush=True)
                await stop.wait()
                print("\nDeteniendo en orden…", flush=True)
        finally:
            await asyncio.to_thread(legacy.stop)


def run(args: argparse.Namespace) -> int:
    """Ejecuta la orden `proyecto` con sus argumentos; devuelve el código de salida."""
    from ..postgres import PostgresError

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S", stream=sys.stdout
    )
    try:
        asyncio.run(_serve(args))
    except KeyboardInterrupt:  # donde no hay manejadores de señales (Windows)
        print("\nServicio detenido.")
        return 0
    except PostgresError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            print(
                f"error: el puerto {args.port} ya está en uso en {args.host}: usa --port con "
                "otro número (o 0, uno libre cualquiera).",
                file=sys.stderr,
            )
        else:
            print(f"error: no se pudo abrir {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    print("Servicio detenido.")
    return 0
