"""Un cliente de eco bloqueante, con su propio plazo, para ejecutarlo en un hilo.

Es el cliente que la lección 04 lleva a un hilo con ``asyncio.to_thread`` o
``loop.run_in_executor``. Un hilo no se puede cancelar desde fuera, así que el
*socket* lleva su propio ``timeout``: si el servidor no contesta, es el propio hilo
el que se rinde y termina::

    eco = await asyncio.to_thread(blocking_echo, servidor.address, b"hola", timeout=2.0)
"""

import socket

__all__ = ["blocking_echo", "recv_exactly"]

# Lo que pedimos a recv() de una vez: un eco largo llega en varios trozos.
_CHUNK = 64 * 1024


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    """Lee de un *socket* bloqueante exactamente `size` bytes y los devuelve.

    Un solo ``recv`` puede devolver menos de lo pedido, así que se repite hasta
    completar. Lanza ``ConnectionError`` si el otro lado cierra antes de tiempo y
    ``TimeoutError`` si un ``recv`` supera el ``timeout`` del *socket*.
    """
    if size < 0:
        raise ValueError(f"size debe ser >= 0 bytes, no {size!r}")
    chunks: list[bytes] = []
    received = 0
    while received < size:
        chunk = sock.recv(min(size - received, _CHUNK))
        if not chunk:
            raise ConnectionError(
                f"el servidor cerró la conexión tras {received} de los {size} bytes esperados"
            )
        chunks.append(chunk)
        received += len(chunk)
    return b"".join(chunks)


def blocking_echo(address: tuple[str, int], message: bytes, timeout: float | None = 5.0) -> bytes:
    """Envía `message` a un servidor de eco con un *socket* bloqueante; devuelve el eco.

    `timeout` (segundos) acota **cada operación** del *socket*: conectar, enviar y
    cada ``recv``. Si una tarda más, lanza ``TimeoutError`` y el *socket* se cierra.
    ``timeout=None`` espera para siempre: solo para demostrar por qué no se hace.
    """
    with socket.create_connection(address, timeout=timeout) as sock:
        sock.sendall(message)  # send() podría enviar solo una parte
        # Un eco devuelve exactamente lo enviado: esa es la delimitación del mensaje.
        return recv_exactly(sock, len(message))
