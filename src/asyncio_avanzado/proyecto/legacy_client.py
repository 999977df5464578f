"""La biblioteca cliente del servicio heredado: bloqueante, con un `socket` normal.

Es la que «nos dio el otro equipo»: funciona, pero bloquea el hilo que la llama hasta que el
servicio responde, y sin `timeout` espera para siempre (como `urlopen` o tantos clientes). En
asyncio se lleva a un hilo, con un plazo en el propio *socket* (lección 04).
"""

import socket

__all__ = ["LegacyError", "fetch_price", "parse_reply", "request_line"]

MAX_REPLY = 256
"""Bytes como mucho de una línea de respuesta."""


class LegacyError(Exception):
    """El servicio heredado respondió un error o algo que no es una respuesta del protocolo."""


def request_line(code: str) -> bytes:
    """Devuelve la petición del protocolo para `code`: ``b"PRECIO <código>\\n"``."""
    if not code or any(c.isspace() for c in code):
        raise ValueError(f"el código debe ser una palabra sin espacios, no {code!r}")
    return f"PRECIO {code}\n".encode()


def parse_reply(code: str, line: bytes) -> int:
    """Devuelve los céntimos de una línea de respuesta ``OK <código> <céntimos>\\n``.

    Lanza `ConnectionError` si la línea está vacía (el servicio cerró sin responder) y
    `LegacyError` si es un ERROR, está cortada o no es del código pedido.
    """
    if not line:
        raise ConnectionError(f"el servicio heredado cerró sin responder al código {code!r}")
    if not line.endswith(b"\n"):
        raise LegacyError(f"respuesta cortada del servicio heredado: {line!r}")
    parts = line.decode(errors="replace").split()
    if parts[:1] == ["ERROR"]:
        raise LegacyError(f"el servicio heredado respondió un error: {' '.join(parts[1:])}")
    if len(parts) != 3 or parts[0] != "OK" or parts[1] != code or not parts[2].isdigit():
        raise LegacyError(f"respuesta inesperada del servicio heredado para {code!r}: {line!r}")
    return int(parts[2])


def fetch_price(address: tuple[str, int], code: str, timeout: float | None = None) -> int:
    """Pide al servicio heredado el precio de `code`; devuelve los céntimos. **Bloquea.**

    `timeout` (segundos) acota cada operación del *socket* (conectar, enviar, cada lectura);
    si vence, lanza `TimeoutError` y el *socket* se cierra. Con `None` (por defecto, como
    tantas bibliotecas) espera para siempre. Lanza `ConnectionError` si el servicio corta y
    `LegacyError` si responde un error.
    """
    with socket.create_connection(address, timeout=timeout) as sock:
        sock.sendall(request_line(code))
        # makefile() delimita por líneas: junta los trozos hasta el salto de línea.
        with sock.makefile("rb") as stream:
            line = stream.readline(MAX_REPLY)
    return parse_reply(code, line)
