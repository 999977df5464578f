"""El proyecto final (lección 10): un servicio pequeño pero de verdad que junta todo el curso.

- `legacy`: el servicio heredado de precios (protocolo de líneas, lento, con cuelgues y
  cortes que decide una semilla) y `legacy_client`, su biblioteca cliente bloqueante;
- `native`: el cliente nativo de *streams* para el mismo protocolo;
- `cpu`: la simulación de precios, importable por un *pool* de procesos;
- `catalog`: la tabla `articulos` de PostgreSQL;
- `service`: el servicio HTTP de referencia (aiohttp, asyncpg, hilos, procesos, `/salud`);
- `load`: la prueba de carga;
- `cli`: `python -m asyncio_avanzado proyecto`.

Las soluciones de los ejercicios 10.1 a 10.6 están en `solutions`.
"""

from .catalog import Item, make_items, prepare
from .cpu import simulate_price
from .legacy import BackgroundLegacyPriceServer, LegacyPriceServer, LegacyStats, price_for
from .legacy_client import LegacyError, fetch_price, parse_reply, request_line
from .native import fetch_price_async

__all__ = [
    "BackgroundLegacyPriceServer",
    "Item",
    "LegacyError",
    "LegacyPriceServer",
    "LegacyStats",
    "fetch_price",
    "fetch_price_async",
    "make_items",
    "parse_reply",
    "prepare",
    "price_for",
    "request_line",
    "simulate_price",
]
