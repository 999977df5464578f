"""Ejercicios de la lección 01 (el problema del bloqueo)."""

import asyncio
import random
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..background import BackgroundEchoServer
from ..lag import format_duration
from .calls import run_calls, sizes
from .core import (
    Exercise,
    Failure,
    Mistake,
    Wrong,
    call_coroutine,
    expect_equal,
    register,
    unpredictable,
    unpredictable_text,
)
from .lesson00 import _never_closes as _leaks
from .lesson00 import expect_bytes, expect_streams, expect_traffic
from .servers import spy_writers, wait_all_closed

__all__: list[str] = []


# -- 01.1: encuentra la llamada bloqueante ------------------------------------------------

QUERY_DELAY = 0.15
"""Lo que tarda el eco en devolver cada trozo (de hasta 64 KiB) de una consulta."""
QUERY_DEADLINE = 2.0


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


async def _check_consultar(candidate: Any) -> None:
    # Tres consultas al azar, una de más de 64 KiB: su respuesta llega en varios trozos.
    messages = [unpredictable(n) for n in sizes((20, 80), (500, 3000), (100_000, 150_000))]
    with BackgroundEchoServer(delay=QUERY_DELAY) as server, spy_writers(server.address) as spy:
        got = await run_calls(
            candidate,
            [(server.address, message) for message in messages],
            QUERY_DEADLINE,
            "read() sin argumento espera a que el servidor cierre, y el eco no cierra hasta "
            "saber que no le enviarás nada más: díselo con writer.write_eof()",
        )
        for message, answer in zip(messages, got, strict=True):
            expect_bytes(message, answer, f"respuesta a una consulta de {len(message)} bytes")
        spy.raise_if_left_open()
        await wait_all_closed(server)
        total = sum(map(len, messages))
        expect_traffic(server, total, total, "tus consultas")
        peak = server.stats.peak_active
        if peak < len(messages):
            raise Failure(
                # Sin el número exacto: con consultas en fila, una puede cerrarse justo cuando
                # llega la siguiente, y el pico sale 1 o 2 según el reparto de la CPU.
                f"lanzamos {len(messages)} consultas a la vez, pero el servidor nunca tuvo las "
                f"{len(messages)} conexiones abiertas al mismo tiempo: las consultas no "
                "avanzaron a la vez"
            )
        expect_streams(spy, len(messages), "la consulta se hizo")


async def _blocking_consultar(direccion: tuple[str, int], mensaje: bytes) -> bytes:
    # El esqueleto del cuaderno: funciona, pero cada recv() congela el bucle.
    with socket.create_connection(direccion, timeout=5) as sock:
        sock.sendall(mensaje)
        sock.shutdown(socket.SHUT_WR)
        respuesta = b""
        while trozo := sock.recv(65536):
            respuesta += trozo
        return respuesta


async def _blocking_polling(direccion: tuple[str, int], mensaje: bytes) -> bytes:
    # «Cedo el bucle cada 50 ms»: cada recv() sigue bloqueando hasta 50 ms.
    with socket.create_connection(direccion, timeout=5) as sock:
        sock.sendall(mensaje)
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(0.05)
        respuesta = b""
        while True:
            try:
                trozo = sock.recv(65536)
            except TimeoutError:
                await asyncio.sleep(0)
                continue
            if not trozo:
                return respuesta
            respuesta += trozo


async def _blocking_in_a_thread(direccion: tuple[str, int], mensaje: bytes) -> bytes:
    # No congela el bucle, pero no es lo que pide el ejercicio: reescribirla con streams.
    def blocking() -> bytes:
        with socket.create_connection(direccion, timeout=5) as sock:
            sock.sendall(mensaje)
            sock.shutdown(socket.SHUT_WR)
            respuesta = b""
            while trozo := sock.recv(65536):
                respuesta += trozo
            return respuesta

    return await asyncio.to_thread(blocking)


async def _reads_once_consultar(direccion: tuple[str, int], mensaje: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(*direccion)
    try:
        writer.write(mensaje)
        writer.write_eof()
        await writer.drain()
        return await reader.read(65536)  # un solo trozo, no «todo hasta que cierre»
    finally:
        writer.close()
        await writer.wait_closed()


async def _echo_without_asking(direccion: tuple[str, int], mensaje: bytes) -> bytes:
    return mensaje  # «es un eco: responderá lo mismo»


async def _forgets_write_eof(direccion: tuple[str, int], mensaje: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(*direccion)
    try:
        writer.write(mensaje)
        await writer.drain()
        return await reader.read()  # el eco no cierra: espera más datos nuestros
    finally:
        writer.close()
        await writer.wait_closed()


async def _never_closes_consultar(direccion: tuple[str, int], mensaje: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(*direccion)
    writer.write(mensaje)
    writer.write_eof()
    await writer.drain()
    respuesta = await reader.read()
    _leaks.leaked.append(writer)  # type: ignore[attr-defined]
    return respuesta


async def _no_wait_closed_consultar(direccion: tuple[str, int], mensaje: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(*direccion)
    try:
        writer.write(mensaje)
        writer.write_eof()
        await writer.drain()
        return await reader.read()
    finally:
        writer.close()  # sin await writer.wait_closed()


register(
    Exercise(
        key="01.1",
        title="Encuentra la llamada bloqueante",
        function_name="consultar",
        checker=_check_consultar,
        solution=consultar,
        wrong=(
            Wrong(_blocking_consultar, Mistake.BLOCKING, "congeló el bucle"),
            Wrong(_blocking_polling, Mistake.BLOCKING, "congeló el bucle"),
            Wrong(_blocking_in_a_thread, Mistake.WRONG_TOOL, "no usaste asyncio.open_connection"),
            Wrong(_reads_once_consultar, Mistake.PARTIAL_IO, "llegó solo una parte"),
            Wrong(_echo_without_asking, Mistake.NO_WORK, "no vino del servidor"),
            Wrong(_forgets_write_eof, Mistake.PROTOCOL, "writer.write_eof()"),
            Wrong(_never_closes_consultar, Mistake.LEFT_OPEN, "cuando tu función terminó"),
            Wrong(_no_wait_closed_consultar, Mistake.LEFT_OPEN, "no esperaste"),
        ),
        applies=frozenset(
            {
                Mistake.NO_WORK,
                Mistake.LEFT_OPEN,
                Mistake.PARTIAL_IO,
                Mistake.WRONG_TOOL,
                Mistake.BLOCKING,
                Mistake.PROTOCOL,
            }
        ),
    )
)


# -- 01.2: espera sin congelar --------------------------------------------------------------

WAITS = (0.1, 0.2, 0.3)
"""Lo que espera cada pedido, en segundos: distintos, para ver que cada uno espera lo suyo."""


async def preparar(pedido: str, segundos: float) -> str:
    """Simula un trabajo que espera `segundos` y devuelve «`pedido` listo»."""
    await asyncio.sleep(segundos)  # cede el bucle mientras espera
    return f"{pedido} listo"


@contextmanager
def _count_executor_calls(loop: asyncio.AbstractEventLoop) -> Iterator[list[int]]:
    """Cuenta las llamadas a `loop.run_in_executor` (también las de `asyncio.to_thread`)."""
    calls = [0]
    original = loop.run_in_executor

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return original(*args, **kwargs)

    try:
        loop.run_in_executor = counting  # type: ignore[method-assign]
    except AttributeError:  # un bucle que no admite atributos propios (uvloop): no contamos
        yield calls
        return
    try:
        yield calls
    finally:
        del loop.run_in_executor  # vuelve el método de la clase


async def _check_preparar(candidate: Any) -> None:
    waits = random.sample(WAITS, len(WAITS))
    orders = [f"pedido {unpredictable_text(6)}" for _ in waits]
    timings: dict[str, tuple[float, float]] = {}

    async def timed(order: str, seconds: float) -> Any:
        start = time.perf_counter()
        result = await call_coroutine(candidate, order, seconds)
        timings[order] = (start, time.perf_counter())
        return result

    with _count_executor_calls(asyncio.get_running_loop()) as executor_calls:
        got = await run_calls(
            timed, list(zip(orders, waits, strict=True)), 3.0, "¿esperas algo que no llega?"
        )
    for order, result in zip(orders, got, strict=True):
        expect_equal(f"{order} listo", result, f"resultado de preparar({order!r}, ...)")
    for order, seconds in zip(orders, waits, strict=True):
        start, end = timings[order]
        if end - start < 0.9 * seconds:
            raise Failure(
                f"un pedido de {format_duration(seconds)} estuvo listo a los "
                f"{format_duration(end - start)}: preparar no esperó. Espera los segundos "
                "de verdad, cediendo el bucle: await asyncio.sleep(segundos) (sleep(0) solo "
                "cede el turno un instante)"
            )
    total = max(end for _, end in timings.values()) - min(s for s, _ in timings.values())
    if total > (max(waits) + sum(waits)) / 2:
        raise Failure(
            f"lanzamos {len(waits)} pedidos a la vez y tardaron {format_duration(total)} en "
            f"total, casi la suma de sus esperas ({format_duration(sum(waits))}) y no la más "
            f"larga ({format_duration(max(waits))}): se prepararon uno detrás de otro"
        )
    ends = {seconds: timings[order][1] for order, seconds in zip(orders, waits, strict=True)}
    if ends[max(waits)] - ends[min(waits)] < 0.5 * (max(waits) - min(waits)):
        raise Failure(
            f"los pedidos de {format_duration(min(waits))} y de {format_duration(max(waits))} "
            "estuvieron listos a la vez: cada pedido debe esperar los segundos que recibe "
            "(usa el parámetro segundos, no un número fijo)"
        )
    if executor_calls[0]:
        raise Failure(
            "preparar espera en un hilo (asyncio.to_thread o run_in_executor): no congela el "
            "bucle, pero ocupa un hilo por pedido solo para esperar, y los hilos del ejecutor "
            "son pocos. Para esperar sin bloquear basta await asyncio.sleep(segundos)"
        )


async def _sleepy_preparar(pedido: str, segundos: float) -> str:
    time.sleep(segundos)  # noqa: ASYNC251 (el esqueleto: congela el bucle)
    return f"{pedido} listo"


async def _sleeps_in_slices(pedido: str, segundos: float) -> str:
    # «Cedo el bucle cada 50 ms»: cada trozo de time.sleep lo congela igual.
    for _ in range(round(segundos / 0.05)):
        time.sleep(0.05)  # noqa: ASYNC251 (error a propósito)
        await asyncio.sleep(0)
    return f"{pedido} listo"


async def _sleeps_zero(pedido: str, segundos: float) -> str:
    await asyncio.sleep(0)  # cede el bucle... pero no espera nada
    return f"{pedido} listo"


async def _fixed_wait(pedido: str, segundos: float) -> str:
    await asyncio.sleep(0.3)  # «los pedidos tardan 0.3 s»: ignora segundos
    return f"{pedido} listo"


async def _waits_in_a_thread(pedido: str, segundos: float) -> str:
    await asyncio.to_thread(time.sleep, segundos)
    return f"{pedido} listo"


register(
    Exercise(
        key="01.2",
        title="Espera sin congelar el bucle",
        function_name="preparar",
        checker=_check_preparar,
        solution=preparar,
        wrong=(
            Wrong(_sleepy_preparar, Mistake.BLOCKING, "congeló el bucle"),
            Wrong(_sleeps_in_slices, Mistake.BLOCKING, "congeló el bucle"),
            Wrong(_sleeps_zero, Mistake.PROTOCOL, "preparar no esperó"),
            Wrong(_fixed_wait, Mistake.PROTOCOL, "los segundos que recibe"),
            Wrong(_waits_in_a_thread, Mistake.WRONG_TOOL, "espera en un hilo"),
        ),
        applies=frozenset({Mistake.BLOCKING, Mistake.PROTOCOL, Mistake.WRONG_TOOL}),
    )
)
