"""Ejercicios de la lección 01 (el problema del bloqueo)."""

import asyncio
import socket
import time
from typing import Any

from ..background import BackgroundEchoServer
from ..timeline import Timeline
from .core import Exercise, Failure, call_coroutine, expect_equal, register
from .servers import wait_all_closed

__all__: list[str] = []

CLIENTS = 5


# -- 01.1: encuentra la llamada bloqueante ------------------------------------------------


async def consultar(direccion: tuple[str, int], mensaje: bytes) -> bytes:
    """Envía `mensaje`, cierra la escritura y devuelve todo lo que responde el servidor."""
    reader, writer = await asyncio.open_connection(*direccion)
    try:
        writer.write(mensaje)
        writer.write_eof()  # «no voy a enviar más»: el eco termina y cierra
        await writer.drain()
        return await reader.read()  # hasta el fin de la conexión
    finally:
        writer.close()
        await writer.wait_closed()


async def _blocking_consultar(direccion: tuple[str, int], mensaje: bytes) -> bytes:
    # El esqueleto del cuaderno: funciona, pero cada recv() congela el bucle.
    with socket.create_connection(direccion, timeout=5) as sock:
        sock.sendall(mensaje)
        sock.shutdown(socket.SHUT_WR)
        respuesta = b""
        while trozo := sock.recv(65536):
            respuesta += trozo
        return respuesta


async def _check_consultar(candidate: Any) -> None:
    with BackgroundEchoServer(delay=0.3) as server:
        messages = [f"consulta {i}".encode() * (i + 1) for i in range(CLIENTS)]
        async with asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(call_coroutine(candidate, server.address, m)) for m in messages]
        for message, task in zip(messages, tasks, strict=True):
            expect_equal(message, task.result(), "respuesta")
        await wait_all_closed(server)
        peak = server.stats.peak_active
    if peak < CLIENTS:
        raise Failure(
            # Sin el número exacto: con consultas en fila, una puede cerrarse justo cuando
            # llega la siguiente, y el pico sale 1 o 2 según el reparto de la CPU.
            f"lanzamos {CLIENTS} consultas a la vez, pero el servidor nunca tuvo las {CLIENTS} "
            "conexiones abiertas al mismo tiempo: las consultas no avanzaron en paralelo"
        )


register(
    Exercise(
        key="01.1",
        title="Encuentra la llamada bloqueante",
        function_name="consultar",
        checker=_check_consultar,
        solution=consultar,
        wrong=(_blocking_consultar,),
    )
)


# -- 01.2: espera sin congelar --------------------------------------------------------------


async def preparar(pedido: str, segundos: float) -> str:
    """Simula un trabajo que espera `segundos` y devuelve «`pedido` listo»."""
    await asyncio.sleep(segundos)  # cede el bucle mientras espera
    return f"{pedido} listo"


async def _sleepy_preparar(pedido: str, segundos: float) -> str:
    time.sleep(segundos)  # el esqueleto del cuaderno: congela el bucle entero
    return f"{pedido} listo"


async def _check_preparar(candidate: Any) -> None:
    orders = [f"café {i}" for i in range(CLIENTS)]
    timeline = Timeline()

    async def one(order: str) -> str:
        async with timeline.span(order):
            return await call_coroutine(candidate, order, 0.3)

    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(one(order)) for order in orders]
    for order, task in zip(orders, tasks, strict=True):
        expect_equal(f"{order} listo", task.result())
    if timeline.overlap() < CLIENTS:
        raise Failure(
            f"lanzamos {CLIENTS} pedidos a la vez, pero el máximo de pedidos esperando al "
            f"mismo tiempo fue {timeline.overlap()}: se prepararon uno detrás de otro"
        )


register(
    Exercise(
        key="01.2",
        title="Espera sin congelar el bucle",
        function_name="preparar",
        checker=_check_preparar,
        solution=preparar,
        wrong=(_sleepy_preparar,),
    )
)
