"""El cliente nativo del servicio heredado: *streams*, delimitado por líneas y con plazo."""

import asyncio
import contextlib

from .legacy_client import MAX_REPLY, parse_reply, request_line

__all__ = ["fetch_price_async"]


async def fetch_price_async(address: tuple[str, int], code: str, deadline: float = 1.0) -> int:
    """Pide el precio de `code` con *streams*; devuelve los céntimos.

    `deadline` (segundos) acota la petición entera (conectar, enviar y leer la respuesta): si
    vence, lanza `TimeoutError`, y la conexión ya está cerrada. Lanza `ConnectionError` si el
    servicio corta y `LegacyError` si responde un error.
    """
    async with asyncio.timeout(deadline):
        reader, writer = await asyncio.open_connection(*address, limit=MAX_REPLY)
        try:
            writer.write(request_line(code))
            await writer.drain()
            line = await reader.readline()  # la respuesta puede llegar en varios trozos
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
    return parse_reply(code, line)
