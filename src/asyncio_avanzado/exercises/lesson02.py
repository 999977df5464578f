"""Ejercicios de la lección 02 (los *streams* nativos de asyncio)."""

import asyncio
import contextlib
import random
import re
import socket
import time
import weakref
from typing import Any

from ..background import BackgroundEchoServer
from ..chunky import BackgroundChunkyServer, shout
from ..clients import reset_connection
from ..lag import format_duration
from ..text import plural
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


def _text(n: int) -> str:
    """Un texto al azar de `n` caracteres, sin espacios en los extremos (una línea limpia)."""
    return unpredictable_text(n).strip() or "ñ"


# -- 02.1: una conversación por líneas ---------------------------------------------------

CHAT_DEADLINE = 2.0


async def conversar(direccion: tuple[str, int], preguntas: list[str]) -> list[str]:
    """Hace cada pregunta por la misma conexión; devuelve las respuestas, sin el salto final."""
    reader, writer = await asyncio.open_connection(*direccion)
    try:
        respuestas = []
        for pregunta in preguntas:
            writer.write(pregunta.encode() + b"\n")  # el "\n" marca el final de la pregunta
            await writer.drain()
            linea = await reader.readline()  # hasta el "\n", llegue en los trozos que llegue
            respuestas.append(linea.decode().rstrip("\n"))
        return respuestas
    finally:
        writer.close()
        await writer.wait_closed()


def _expect_answers(expected: list[str], got: Any) -> None:
    if not isinstance(got, list) or len(got) != len(expected):
        expect_equal(expected, got, f"una lista con {plural(len(expected), 'respuesta')}")
    for n, (answer, reply) in enumerate(zip(expected, got, strict=True), 1):
        if reply == answer:
            continue
        # Un trozo puede cortar una letra por la mitad: lo que no se pudo decodificar, fuera.
        start = reply.rstrip("\ufffd") if isinstance(reply, str) else None
        if start and len(start) < len(answer) and answer.startswith(start):
            raise Failure(
                f"respuesta {n}: llegó solo una parte ({len(start)} de {len(answer)} "
                "caracteres). El servidor la envía en varios trozos, y un read(n) devuelve lo "
                'que haya llegado: lee la línea entera, hasta el "\\n", con readline()'
            )
        expect_equal(answer, reply, f"respuesta {n} (a una pregunta de {len(answer)} caracteres)")


async def _check_conversar(candidate: Any) -> None:
    # Preguntas al azar: una corta, una de más de 100 bytes y una larga. Cada respuesta llega en
    # tres trozos separados por pausas, 0.1 s después de recibir la pregunta entera.
    questions = [_text(n) for n in sizes((10, 30), (120, 300), (2000, 4000))]
    expected = [shout(q.encode()).decode().rstrip("\n") for q in questions]
    with (
        BackgroundChunkyServer(pieces=3, pause=0.05, delay=0.1) as server,
        spy_writers(server.address) as spy,
    ):
        (got,) = await run_calls(
            candidate,
            [(server.address, list(questions))],
            CHAT_DEADLINE,
            "el servidor solo contesta cuando recibe una línea entera: ¿terminaste cada "
            'pregunta con "\\n"?',
        )
        _expect_answers(expected, got)
        spy.raise_if_left_open()
        await wait_all_closed(server)
        sent = sum(len(q.encode()) + 1 for q in questions)
        answered = sum(len(shout(q.encode())) for q in questions)
        expect_traffic(server, sent, answered, "tus preguntas")
        connections = server.stats.connections
        if connections != 1:
            raise Failure(
                f"abriste {plural(connections, 'conexión', 'conexiones')} para "
                f"{plural(len(questions), 'pregunta')}: haz todas las preguntas por la misma "
                "conexión, una detrás de otra"
            )
        if server.early_lines:
            raise Failure(
                f"enviaste {plural(server.early_lines, 'pregunta')} antes de recibir la "
                "respuesta a la anterior: es una conversación, pregunta y respuesta. Envía una "
                "pregunta, lee su respuesta entera y solo entonces envía la siguiente"
            )
        expect_streams(spy, 1, "la conversación se hizo")


async def _reads_once(direccion: tuple[str, int], preguntas: list[str]) -> list[str]:
    reader, writer = await asyncio.open_connection(*direccion)
    try:
        respuestas = []
        for pregunta in preguntas:
            writer.write(pregunta.encode() + b"\n")
            await writer.drain()
            respuestas.append((await reader.read(100)).decode(errors="replace").rstrip("\n"))
        return respuestas
    finally:
        writer.close()
        await writer.wait_closed()


async def _no_newline(direccion: tuple[str, int], preguntas: list[str]) -> list[str]:
    reader, writer = await asyncio.open_connection(*direccion)
    try:
        respuestas = []
        for pregunta in preguntas:
            writer.write(pregunta.encode())
            await writer.drain()
            respuestas.append((await reader.readline()).decode().rstrip("\n"))
        return respuestas
    finally:
        writer.close()
        await writer.wait_closed()


async def _one_connection_each(direccion: tuple[str, int], preguntas: list[str]) -> list[str]:
    respuestas = []
    for pregunta in preguntas:
        reader, writer = await asyncio.open_connection(*direccion)
        try:
            writer.write(pregunta.encode() + b"\n")
            await writer.drain()
            respuestas.append((await reader.readline()).decode().rstrip("\n"))
        finally:
            writer.close()
            await writer.wait_closed()
    return respuestas


async def _all_questions_first(direccion: tuple[str, int], preguntas: list[str]) -> list[str]:
    # En cadena: todas las preguntas de golpe y luego todas las respuestas.
    reader, writer = await asyncio.open_connection(*direccion)
    try:
        writer.write(b"".join(p.encode() + b"\n" for p in preguntas))
        await writer.drain()
        return [(await reader.readline()).decode().rstrip("\n") for _ in preguntas]
    finally:
        writer.close()
        await writer.wait_closed()


async def _uppercases_locally(direccion: tuple[str, int], preguntas: list[str]) -> list[str]:
    return [pregunta.upper() for pregunta in preguntas]  # «ya sé lo que contesta»


async def _blocking_conversar(direccion: tuple[str, int], preguntas: list[str]) -> list[str]:
    with socket.create_connection(direccion, timeout=5) as sock, sock.makefile("rwb") as f:
        respuestas = []
        for pregunta in preguntas:
            f.write(pregunta.encode() + b"\n")
            f.flush()
            respuestas.append(f.readline().decode().rstrip("\n"))
        return respuestas


async def _blocking_in_slices_conversar(
    direccion: tuple[str, int], preguntas: list[str]
) -> list[str]:
    # Un socket bloqueante con un plazo corto y sleep(0) entre intentos: bloquea a trozos.
    with socket.create_connection(direccion, timeout=5) as sock:
        sock.settimeout(0.05)
        respuestas = []
        for pregunta in preguntas:
            sock.sendall(pregunta.encode() + b"\n")
            linea = b""
            while not linea.endswith(b"\n"):
                try:
                    linea += sock.recv(65536)
                except TimeoutError:
                    await asyncio.sleep(0)
            respuestas.append(linea.decode().rstrip("\n"))
        return respuestas


async def _conversar_in_a_thread(direccion: tuple[str, int], preguntas: list[str]) -> list[str]:
    def blocking() -> list[str]:
        with socket.create_connection(direccion, timeout=5) as sock, sock.makefile("rwb") as f:
            respuestas = []
            for pregunta in preguntas:
                f.write(pregunta.encode() + b"\n")
                f.flush()
                respuestas.append(f.readline().decode().rstrip("\n"))
            return respuestas

    return await asyncio.to_thread(blocking)


async def _never_closes_conversar(direccion: tuple[str, int], preguntas: list[str]) -> list[str]:
    reader, writer = await asyncio.open_connection(*direccion)
    respuestas = []
    for pregunta in preguntas:
        writer.write(pregunta.encode() + b"\n")
        await writer.drain()
        respuestas.append((await reader.readline()).decode().rstrip("\n"))
    _leaks.leaked.append(writer)  # type: ignore[attr-defined]
    return respuestas


async def _no_wait_closed_conversar(direccion: tuple[str, int], preguntas: list[str]) -> list[str]:
    reader, writer = await asyncio.open_connection(*direccion)
    try:
        respuestas = []
        for pregunta in preguntas:
            writer.write(pregunta.encode() + b"\n")
            await writer.drain()
            respuestas.append((await reader.readline()).decode().rstrip("\n"))
        return respuestas
    finally:
        writer.close()  # sin await writer.wait_closed()


register(
    Exercise(
        key="02.1",
        title="Una conversación por líneas",
        function_name="conversar",
        checker=_check_conversar,
        solution=conversar,
        wrong=(
            Wrong(_reads_once, Mistake.PARTIAL_IO, "llegó solo una parte"),
            Wrong(_no_newline, Mistake.PROTOCOL, "terminaste cada pregunta"),
            Wrong(_one_connection_each, Mistake.PROTOCOL, "por la misma conexión"),
            Wrong(_all_questions_first, Mistake.PROTOCOL, "antes de recibir la respuesta"),
            Wrong(_uppercases_locally, Mistake.NO_WORK, "no vino del servidor"),
            Wrong(_blocking_conversar, Mistake.BLOCKING, "congeló el bucle"),
            Wrong(_blocking_in_slices_conversar, Mistake.BLOCKING, "congeló el bucle"),
            Wrong(_conversar_in_a_thread, Mistake.WRONG_TOOL, "no usaste asyncio.open_connection"),
            Wrong(_never_closes_conversar, Mistake.LEFT_OPEN, "cuando tu función terminó"),
            Wrong(_no_wait_closed_conversar, Mistake.LEFT_OPEN, "no esperaste"),
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


# -- 02.2: muchos ecos a la vez ----------------------------------------------------------

ECHOES_DELAY = 0.2
"""Lo que tarda el eco en devolver cada trozo (de hasta 64 KiB) de un mensaje."""


async def ecos(direccion: tuple[str, int], mensajes: list[bytes]) -> list[bytes]:
    """Pide el eco de cada mensaje por su propia conexión, todos a la vez; los devuelve en orden."""

    async def uno(mensaje: bytes) -> bytes:
        reader, writer = await asyncio.open_connection(*direccion)
        try:
            writer.write(mensaje)
            await writer.drain()
            return await reader.readexactly(len(mensaje))
        finally:
            writer.close()
            await writer.wait_closed()

    async with asyncio.TaskGroup() as tg:
        tareas = [tg.create_task(uno(mensaje)) for mensaje in mensajes]
    return [tarea.result() for tarea in tareas]


async def _check_ecos(candidate: Any) -> None:
    # Cuatro mensajes al azar; uno de más de 100 KiB, cuyo eco llega en varios trozos.
    messages = [
        unpredictable(n) for n in sizes((10, 60), (10, 60), (500, 3000), (100_000, 150_000))
    ]
    random.shuffle(messages)
    with BackgroundEchoServer(delay=ECHOES_DELAY) as server, spy_writers(server.address) as spy:
        (got,) = await run_calls(
            candidate,
            [(server.address, list(messages))],
            4.0,
            "¿lees más bytes de los que devuelve el eco? Un eco devuelve exactamente los enviados",
        )
        if not isinstance(got, list) or len(got) != len(messages):
            expect_equal(messages, got, f"una lista con {plural(len(messages), 'eco')}")
        for i, (message, echo) in enumerate(zip(messages, got, strict=True)):
            expect_bytes(message, echo, f"eco del mensaje {i} ({len(message)} bytes)")
        spy.raise_if_left_open()
        await wait_all_closed(server)
        total = sum(map(len, messages))
        expect_traffic(server, total, total, "tus mensajes")
        stats = server.stats
        if stats.connections < len(messages):
            raise Failure(
                f"{plural(len(messages), 'mensaje')} llegaron por "
                f"{plural(stats.connections, 'conexión', 'conexiones')}: pide cada eco por su "
                "propia conexión"
            )
        if stats.peak_active < len(messages):
            raise Failure(
                f"pedimos {plural(len(messages), 'eco')}, pero el máximo de conexiones abiertas "
                f"a la vez fue {stats.peak_active}: se pidieron uno detrás de otro (lánzalos "
                "como tareas de un TaskGroup)"
            )
        expect_streams(spy, len(messages), "los ecos llegaron")


async def _sequential_ecos(direccion: tuple[str, int], mensajes: list[bytes]) -> list[bytes]:
    resultados = []
    for mensaje in mensajes:
        reader, writer = await asyncio.open_connection(*direccion)
        try:
            writer.write(mensaje)
            await writer.drain()
            resultados.append(await reader.readexactly(len(mensaje)))
        finally:
            writer.close()
            await writer.wait_closed()
    return resultados


async def _one_connection_for_all(direccion: tuple[str, int], mensajes: list[bytes]) -> list[bytes]:
    reader, writer = await asyncio.open_connection(*direccion)
    try:
        writer.write(b"".join(mensajes))
        await writer.drain()
        return [await reader.readexactly(len(mensaje)) for mensaje in mensajes]
    finally:
        writer.close()
        await writer.wait_closed()


async def _reads_once_ecos(direccion: tuple[str, int], mensajes: list[bytes]) -> list[bytes]:
    async def uno(mensaje: bytes) -> bytes:
        reader, writer = await asyncio.open_connection(*direccion)
        try:
            writer.write(mensaje)
            await writer.drain()
            return await reader.read(1_000_000)  # lo que haya llegado: quizá solo un trozo
        finally:
            writer.close()
            await writer.wait_closed()

    async with asyncio.TaskGroup() as tg:
        tareas = [tg.create_task(uno(mensaje)) for mensaje in mensajes]
    return [tarea.result() for tarea in tareas]


async def _returns_the_messages(direccion: tuple[str, int], mensajes: list[bytes]) -> list[bytes]:
    return list(mensajes)


def _blocking_echo(direccion: tuple[str, int], mensaje: bytes) -> bytes:
    with socket.create_connection(direccion, timeout=5) as sock:
        sock.sendall(mensaje)
        sock.shutdown(socket.SHUT_WR)
        datos = b""
        while trozo := sock.recv(65536):
            datos += trozo
        return datos


async def _blocking_ecos(direccion: tuple[str, int], mensajes: list[bytes]) -> list[bytes]:
    return [_blocking_echo(direccion, mensaje) for mensaje in mensajes]


async def _blocking_in_slices_ecos(
    direccion: tuple[str, int], mensajes: list[bytes]
) -> list[bytes]:
    async def uno(mensaje: bytes) -> bytes:
        with socket.create_connection(direccion, timeout=5) as sock:
            sock.sendall(mensaje)
            sock.settimeout(0.05)  # «si no hay nada, cedo el bucle y vuelvo a intentar»
            datos = b""
            while len(datos) < len(mensaje):
                try:
                    datos += sock.recv(65536)
                except TimeoutError:
                    await asyncio.sleep(0)
            return datos

    return await asyncio.gather(*(uno(mensaje) for mensaje in mensajes))


async def _ecos_in_threads(direccion: tuple[str, int], mensajes: list[bytes]) -> list[bytes]:
    return await asyncio.gather(
        *(asyncio.to_thread(_blocking_echo, direccion, mensaje) for mensaje in mensajes)
    )


async def _never_closes_ecos(direccion: tuple[str, int], mensajes: list[bytes]) -> list[bytes]:
    async def uno(mensaje: bytes) -> bytes:
        reader, writer = await asyncio.open_connection(*direccion)
        writer.write(mensaje)
        await writer.drain()
        _leaks.leaked.append(writer)  # type: ignore[attr-defined]
        return await reader.readexactly(len(mensaje))

    return await asyncio.gather(*(uno(mensaje) for mensaje in mensajes))


async def _no_wait_closed_ecos(direccion: tuple[str, int], mensajes: list[bytes]) -> list[bytes]:
    async def uno(mensaje: bytes) -> bytes:
        reader, writer = await asyncio.open_connection(*direccion)
        try:
            writer.write(mensaje)
            await writer.drain()
            return await reader.readexactly(len(mensaje))
        finally:
            writer.close()  # sin await writer.wait_closed()

    return await asyncio.gather(*(uno(mensaje) for mensaje in mensajes))


register(
    Exercise(
        key="02.2",
        title="Muchos ecos a la vez",
        function_name="ecos",
        checker=_check_ecos,
        solution=ecos,
        wrong=(
            Wrong(_sequential_ecos, Mistake.PROTOCOL, "uno detrás de otro"),
            Wrong(_one_connection_for_all, Mistake.PROTOCOL, "propia conexión"),
            Wrong(_reads_once_ecos, Mistake.PARTIAL_IO, "llegó solo una parte"),
            Wrong(_returns_the_messages, Mistake.NO_WORK, "no vino del servidor"),
            Wrong(_blocking_ecos, Mistake.BLOCKING, "congeló el bucle"),
            Wrong(_blocking_in_slices_ecos, Mistake.BLOCKING, "congeló el bucle"),
            Wrong(_ecos_in_threads, Mistake.WRONG_TOOL, "no usaste asyncio.open_connection"),
            Wrong(_never_closes_ecos, Mistake.LEFT_OPEN, "cuando tu función terminó"),
            Wrong(_no_wait_closed_ecos, Mistake.LEFT_OPEN, "no esperaste"),
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


# -- 02.3: con plazo ------------------------------------------------------------------------

FAST_DELAY = 0.1
"""Lo que tarda el servidor rápido en devolver cada trozo (de hasta 64 KiB)."""
SLOW_DELAY = 1.0
"""Lo que tarda el servidor lento: bastante más que el plazo, para que no haya duda."""
LONG_DEADLINE = 3.0
SHORT_DEADLINE = 0.3


async def eco_con_plazo(direccion: tuple[str, int], mensaje: bytes, plazo: float) -> bytes | None:
    """Devuelve el eco de `mensaje`, o None si no llega entero en `plazo` segundos."""
    reader, writer = await asyncio.open_connection(*direccion)
    try:
        async with asyncio.timeout(plazo):
            writer.write(mensaje)
            await writer.drain()
            return await reader.readexactly(len(mensaje))
    except TimeoutError:
        return None
    finally:
        writer.close()  # también al vencer el plazo: no dejamos la conexión abierta
        await writer.wait_closed()


async def _call_with_deadline(
    candidate: Any, address: tuple[str, int], message: bytes, deadline: float
) -> Any:
    try:
        (got,) = await run_calls(
            candidate, [(address, message, deadline)], deadline + SLOW_DELAY + 2, "¿y el plazo?"
        )
    except Failure as failure:
        if isinstance(failure.__cause__, TimeoutError):
            raise Failure(
                "tu función dejó escapar TimeoutError: captúralo (except TimeoutError) y "
                "devuelve None cuando venza el plazo"
            ) from None
        raise
    return got


async def _check_eco_con_plazo(candidate: Any) -> None:
    # Con tiempo de sobra: un mensaje al azar de más de 100 KiB, que vuelve en varios trozos.
    message = unpredictable(random.randint(100_000, 150_000))
    with BackgroundEchoServer(delay=FAST_DELAY) as fast, spy_writers(fast.address) as spy:
        got = await _call_with_deadline(candidate, fast.address, message, LONG_DEADLINE)
        expect_bytes(message, got, f"con un plazo de {format_duration(LONG_DEADLINE)}")
        spy.raise_if_left_open()
        await wait_all_closed(fast)
        expect_traffic(fast, len(message), len(message), "tu mensaje")
        expect_streams(spy, 1, "el eco llegó")
    # Sin tiempo: el servidor tarda más que el plazo. El servidor lento se entera del cierre
    # cuando por fin contesta; desde este lado, el espía ve si se cerró a tiempo.
    message = unpredictable(random.randint(20, 60))
    with BackgroundEchoServer(delay=SLOW_DELAY) as slow, spy_writers(slow.address) as spy:
        start = time.perf_counter()
        got = await _call_with_deadline(candidate, slow.address, message, SHORT_DEADLINE)
        elapsed = time.perf_counter() - start
        situation = (
            f"con un servidor que tarda {format_duration(SLOW_DELAY)} y un plazo de "
            f"{format_duration(SHORT_DEADLINE)}"
        )
        if got is not None:
            raise Failure(
                f"{situation}, devolviste {'el eco' if got == message else repr(got)[:40]} a "
                f"los {format_duration(elapsed)}: pasado el plazo debías devolver None. Pon la "
                "espera dentro de async with asyncio.timeout(plazo)"
            )
        if elapsed > (SHORT_DEADLINE + SLOW_DELAY) / 2:
            raise Failure(
                f"{situation}, devolviste None, pero a los {format_duration(elapsed)}: esperaste "
                "la respuesta entera en vez de cortar la espera al vencer el plazo. Usa "
                "async with asyncio.timeout(plazo), que cancela la espera a tiempo"
            )
        spy.raise_if_left_open()
        expect_streams(spy, 1, "el plazo se cumplió")


async def _ignores_deadline(direccion: tuple[str, int], mensaje: bytes, plazo: float) -> bytes:
    reader, writer = await asyncio.open_connection(*direccion)
    try:
        writer.write(mensaje)
        await writer.drain()
        return await reader.readexactly(len(mensaje))
    finally:
        writer.close()
        await writer.wait_closed()


async def _lets_timeout_escape(
    direccion: tuple[str, int], mensaje: bytes, plazo: float
) -> bytes | None:
    reader, writer = await asyncio.open_connection(*direccion)
    try:
        async with asyncio.timeout(plazo):
            writer.write(mensaje)
            await writer.drain()
            return await reader.readexactly(len(mensaje))
    finally:
        writer.close()
        await writer.wait_closed()


async def _checks_the_clock_after(
    direccion: tuple[str, int], mensaje: bytes, plazo: float
) -> bytes | None:
    inicio = time.perf_counter()
    reader, writer = await asyncio.open_connection(*direccion)
    try:
        writer.write(mensaje)
        await writer.drain()
        datos = await reader.readexactly(len(mensaje))
    finally:
        writer.close()
        await writer.wait_closed()
    return None if time.perf_counter() - inicio > plazo else datos  # «llegó tarde»


async def _reads_once_plazo(
    direccion: tuple[str, int], mensaje: bytes, plazo: float
) -> bytes | None:
    reader, writer = await asyncio.open_connection(*direccion)
    try:
        async with asyncio.timeout(plazo):
            writer.write(mensaje)
            await writer.drain()
            return await reader.read(len(mensaje))  # «hasta len(mensaje)»: lo que haya llegado
    except TimeoutError:
        return None
    finally:
        writer.close()
        await writer.wait_closed()


async def _returns_message_or_none(
    direccion: tuple[str, int], mensaje: bytes, plazo: float
) -> bytes | None:
    return mensaje if plazo >= 1 else None  # «con poco plazo no llega»


async def _blocking_eco_con_plazo(
    direccion: tuple[str, int], mensaje: bytes, plazo: float
) -> bytes | None:
    with socket.create_connection(direccion, timeout=plazo) as sock:
        sock.sendall(mensaje)
        datos = b""
        try:
            while len(datos) < len(mensaje):
                datos += sock.recv(65536)
        except TimeoutError:
            return None
        return datos


async def _plazo_in_a_thread(
    direccion: tuple[str, int], mensaje: bytes, plazo: float
) -> bytes | None:
    def blocking() -> bytes | None:
        with socket.create_connection(direccion, timeout=plazo) as sock:
            sock.sendall(mensaje)
            datos = b""
            try:
                while len(datos) < len(mensaje):
                    datos += sock.recv(65536)
            except TimeoutError:
                return None
            return datos

    return await asyncio.to_thread(blocking)


async def _left_open_on_timeout(
    direccion: tuple[str, int], mensaje: bytes, plazo: float
) -> bytes | None:
    reader, writer = await asyncio.open_connection(*direccion)
    try:
        async with asyncio.timeout(plazo):
            writer.write(mensaje)
            await writer.drain()
            datos = await reader.readexactly(len(mensaje))
    except TimeoutError:
        return None  # ...y la conexión, abierta
    writer.close()
    await writer.wait_closed()
    return datos


async def _no_wait_closed_plazo(
    direccion: tuple[str, int], mensaje: bytes, plazo: float
) -> bytes | None:
    reader, writer = await asyncio.open_connection(*direccion)
    try:
        async with asyncio.timeout(plazo):
            writer.write(mensaje)
            await writer.drain()
            return await reader.readexactly(len(mensaje))
    except TimeoutError:
        return None
    finally:
        writer.close()  # sin await writer.wait_closed()


register(
    Exercise(
        key="02.3",
        title="Con plazo",
        function_name="eco_con_plazo",
        checker=_check_eco_con_plazo,
        solution=eco_con_plazo,
        wrong=(
            Wrong(_ignores_deadline, Mistake.PROTOCOL, "pasado el plazo debías devolver None"),
            Wrong(_lets_timeout_escape, Mistake.PROTOCOL, "dejó escapar TimeoutError"),
            Wrong(_checks_the_clock_after, Mistake.PROTOCOL, "en vez de cortar la espera"),
            Wrong(_reads_once_plazo, Mistake.PARTIAL_IO, "llegó solo una parte"),
            Wrong(_returns_message_or_none, Mistake.NO_WORK, "no vino del servidor"),
            Wrong(_blocking_eco_con_plazo, Mistake.BLOCKING, "congeló el bucle"),
            Wrong(_plazo_in_a_thread, Mistake.WRONG_TOOL, "no usaste asyncio.open_connection"),
            Wrong(_left_open_on_timeout, Mistake.LEFT_OPEN, "cuando tu función terminó"),
            Wrong(_no_wait_closed_plazo, Mistake.LEFT_OPEN, "no esperaste"),
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


# -- 02.4: tu propio servidor ---------------------------------------------------------------

THINK = 0.2
"""Lo que tarda el servidor en «pensar» cada respuesta, en segundos."""
LINES = 2
BURST_CLIENTS = 3
ANSWER_DEADLINE = 3.0
"""Lo que espera el cliente de pregunta y respuesta cada contestación."""


async def numerar(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Contesta cada línea con «n: línea» tras pensar 0.2 s; cierra cuando el cliente termina."""
    try:
        n = 0
        while linea := await reader.readline():  # b"" cuando el cliente cierra su mitad
            n += 1
            await asyncio.sleep(0.2)  # «pensar» la respuesta, sin congelar el bucle
            writer.write(f"{n}: ".encode() + linea)
            await writer.drain()
    except ConnectionError:
        pass  # el cliente cortó de golpe: termina esta conversación, no el servidor
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):  # tras un corte, wait_closed da el mismo error
            await writer.wait_closed()


def _numbered(lines: list[str]) -> bytes:
    return "".join(f"{n}: {line}\n" for n, line in enumerate(lines, 1)).encode()


def _expect_numbered(lines: list[str], got: bytes, who: str) -> None:
    expected = _numbered(lines)
    if got == expected:
        return
    text = got.decode(errors="replace")
    numbers = [int(m) for m in re.findall(r"^(\d+): ", text, re.M)]
    same_lines = sorted(re.sub(r"^\d+: ", "", text, flags=re.M).splitlines()) == sorted(lines)
    if same_lines and len(numbers) == len(lines) and numbers != list(range(1, len(lines) + 1)):
        raise Failure(
            f"{who} recibió las líneas numeradas {numbers}: n cuenta las líneas de cada "
            "conexión, desde 1 en cada conexión (una variable local de numerar, no global)"
        )
    if expected.startswith(got) and got:
        raise Failure(
            f"{who} recibió solo {plural(text.count(chr(10)), 'línea')} de sus {len(lines)} "
            f"respuestas: ¿cerraste la conexión antes de contestar todas? Contesta cada línea "
            "hasta que readline() devuelva b''"
        )
    shown = text if len(text) < 80 else text[:75] + "…"
    raise Failure(
        f"{who} envió {plural(len(lines), 'línea')} de una vez y recibió {shown!r}. Se esperaba "
        "una respuesta por línea, «n: línea». Lee línea a línea con readline() (un read(n) "
        "devuelve trozos que no coinciden con las líneas)"
    )


async def _check_numerar(candidate: Any) -> None:
    errors: list[BaseException] = []
    reset_errors: list[BaseException] = []
    handlers: set[asyncio.Task[Any]] = set()
    left_open = not_waited = 0
    reset_port: list[int] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal left_open, not_waited
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        peer_port = writer.get_extra_info("peername")[1]
        waited = False
        wait_closed = writer.wait_closed

        async def spying_wait_closed() -> None:
            nonlocal waited
            waited = True
            await wait_closed()

        writer.wait_closed = spying_wait_closed  # type: ignore[method-assign]
        try:
            await call_coroutine(candidate, reader, writer)
            if peer_port not in reset_port:
                if not writer.is_closing():
                    left_open += 1
                elif not waited:
                    not_waited += 1
        except asyncio.CancelledError:
            pass  # en 3.11, propagarla haría que asyncio imprimiera una traza en la celda
        except Exception as error:  # se informa luego, sin que asyncio lo imprima en la celda
            (reset_errors if peer_port in reset_port else errors).append(error)
        finally:
            handlers.discard(task)
            if not writer.is_closing():
                writer.close()  # cerramos por el alumno para que el cliente reciba lo enviado

    async def burst(lines: list[str]) -> bytes:
        # Todas las líneas de golpe y el medio cierre: el servidor debe separarlas él solo.
        reader, writer = await asyncio.open_connection(*address)
        try:
            writer.write("".join(f"{line}\n" for line in lines).encode())
            writer.write_eof()
            await writer.drain()
            return await reader.read()
        except ConnectionError:
            return b""
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def ping_pong(lines: list[str]) -> tuple[bytes, list[float]]:
        # Una línea, su respuesta, la siguiente: un cliente que espera antes de seguir.
        reader, writer = await asyncio.open_connection(*address)
        got, waits = b"", []
        try:
            for line in lines:
                writer.write(f"{line}\n".encode())
                await writer.drain()
                start = time.perf_counter()
                try:
                    async with asyncio.timeout(ANSWER_DEADLINE):
                        answer = await reader.readline()
                except TimeoutError:
                    raise Failure(
                        "un cliente que envía una línea y espera su respuesta antes de enviar "
                        f"la siguiente no recibió nada en {format_duration(ANSWER_DEADLINE)}: "
                        "contesta cada línea en cuanto la leas, sin esperar a que el cliente "
                        "termine (no leas hasta el final antes de contestar)"
                    ) from None
                waits.append(time.perf_counter() - start)
                got += answer
                if not answer:
                    break
            writer.write_eof()
            await writer.drain()
            got += await reader.read()
            return got, waits
        except ConnectionError:
            return got, waits
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def cut_off(line: str) -> None:
        # Una pregunta, su respuesta, media línea más y un corte con RST (SO_LINGER a cero).
        reader, writer = await asyncio.open_connection(*address)
        reset_port.append(writer.get_extra_info("sockname")[1])
        try:
            writer.write(f"{line}\n".encode())
            await writer.drain()
            async with asyncio.timeout(ANSWER_DEADLINE):
                await reader.readline()
            writer.write("media lín".encode())
            await writer.drain()
            reset_connection(writer)
        except (ConnectionError, TimeoutError):
            pass
        finally:
            writer.transport.abort()

    bursts = [[_text(random.randint(30, 150)) for _ in range(LINES)] for _ in range(BURST_CLIENTS)]
    chat = [_text(random.randint(10, 40)) for _ in range(LINES)]
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    async with server:
        address = server.sockets[0].getsockname()[:2]
        start = time.perf_counter()
        clients = [burst(lines) for lines in bursts] + [ping_pong(chat), cut_off(_text(20))]
        try:
            async with asyncio.timeout((BURST_CLIENTS + 2) * LINES * THINK * 2 + ANSWER_DEADLINE):
                outcomes = await asyncio.gather(*clients, return_exceptions=True)
        except TimeoutError:
            raise Failure(
                "los clientes enviaron sus líneas y cerraron su mitad de escritura, pero la "
                "conexión no terminó: cuando readline() devuelva b'', cierra con writer.close() "
                "y await writer.wait_closed()"
            ) from None
        finally:
            # Un servidor que no termina no debe quedarse en el bucle del cuaderno.
            elapsed = time.perf_counter() - start
            for task in list(handlers):
                task.cancel()
            await asyncio.gather(*handlers, return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    if errors:
        raise errors[0]
    for i, (lines, got) in enumerate(zip(bursts, outcomes, strict=False)):
        _expect_numbered(lines, got, f"el cliente {i + 1}")
    got, waits = outcomes[BURST_CLIENTS]
    _expect_numbered(chat, got, "el cliente de pregunta y respuesta")
    if left_open:
        raise Failure(
            f"{plural(left_open, 'conexión seguía abierta', 'conexiones seguían abiertas')} "
            f"cuando tu función terminó: {'ciérralas' if left_open > 1 else 'ciérrala'} con "
            "writer.close() y await writer.wait_closed(), en un finally"
        )
    if not_waited:
        raise Failure(
            f"cerraste {plural(not_waited, 'conexión', 'conexiones')} con writer.close() pero no "
            f"esperaste a que {'se cerraran' if not_waited > 1 else 'se cerrara'} de verdad: "
            "añade await writer.wait_closed()"
        )
    if reset_errors:
        error = reset_errors[0]
        raise Failure(
            f"un cliente cortó la conexión a medias y tu numerar dejó escapar "
            f"{type(error).__name__}. Con start_server los demás clientes siguen atendidos, pero "
            "asyncio lo anota como un error del programa («Unhandled exception in "
            "client_connected_cb») y, si los clientes corrieran en un TaskGroup, el grupo los "
            "cancelaría a todos. Que un cliente corte es normal: captura ConnectionError en "
            "numerar (también alrededor de wait_closed) y cierra esa conexión"
        )
    if waits and min(waits) < 0.8 * THINK:
        raise Failure(
            f"contestaste una línea a los {format_duration(min(waits))}: piensa "
            f"{format_duration(THINK)} antes de cada respuesta, sin congelar el bucle "
            f"(await asyncio.sleep({THINK}))"
        )
    if elapsed > 2 * LINES * THINK + 0.5:
        raise Failure(
            f"{plural(BURST_CLIENTS + 1, 'cliente')} con {plural(LINES, 'línea')} cada uno "
            f"tardaron {format_duration(elapsed)} en total, cuando a la vez bastaban unos "
            f"{format_duration(LINES * THINK)}: se atendieron de uno en uno"
        )


async def _without_reset_handling(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        n = 0
        while linea := await reader.readline():
            n += 1
            await asyncio.sleep(THINK)
            writer.write(f"{n}: ".encode() + linea)
            await writer.drain()
    finally:
        writer.close()
        await writer.wait_closed()  # tras un corte, lanza ConnectionResetError


async def _blocking_numerar(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        n = 0
        while linea := await reader.readline():
            n += 1
            time.sleep(THINK)  # noqa: ASYNC251 (a propósito: congela el bucle)
            writer.write(f"{n}: ".encode() + linea)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def _thinks_in_slices(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        n = 0
        while linea := await reader.readline():
            n += 1
            for _ in range(4):  # «cedo el bucle cada 50 ms»
                time.sleep(THINK / 4)  # noqa: ASYNC251 (error a propósito)
                await asyncio.sleep(0)
            writer.write(f"{n}: ".encode() + linea)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def _reads_chunks(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        n = 0
        while datos := await reader.read(100):
            n += 1
            await asyncio.sleep(THINK)
            writer.write(f"{n}: ".encode() + datos)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def _reads_everything_first(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        lineas = (await reader.read()).splitlines(keepends=True)  # hasta que el cliente cierre
        for n, linea in enumerate(lineas, 1):
            await asyncio.sleep(THINK)
            writer.write(f"{n}: ".encode() + linea)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def _does_not_think(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        n = 0
        while linea := await reader.readline():
            n += 1
            writer.write(f"{n}: ".encode() + linea)  # sin pensar
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


_shared = {"n": 0}


async def _global_counter(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while linea := await reader.readline():
            _shared["n"] += 1  # un contador para todas las conexiones
            n = _shared["n"]
            await asyncio.sleep(THINK)
            writer.write(f"{n}: ".encode() + linea)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


_locks: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock]" = (
    weakref.WeakKeyDictionary()
)


async def _one_client_at_a_time(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    # Un candado común a todas las conexiones (uno por bucle: un Lock no cambia de bucle).
    lock = _locks.setdefault(asyncio.get_running_loop(), asyncio.Lock())
    try:
        async with lock:  # «para que no se mezclen»: atiende de uno en uno
            n = 0
            while linea := await reader.readline():
                n += 1
                await asyncio.sleep(THINK)
                writer.write(f"{n}: ".encode() + linea)
                await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def _forgets_to_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        n = 0
        while linea := await reader.readline():
            n += 1
            await asyncio.sleep(THINK)
            writer.write(f"{n}: ".encode() + linea)
            await writer.drain()


async def _no_wait_closed_numerar(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        n = 0
        while linea := await reader.readline():
            n += 1
            await asyncio.sleep(THINK)
            writer.write(f"{n}: ".encode() + linea)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()  # sin await writer.wait_closed()


register(
    Exercise(
        key="02.4",
        title="Tu propio servidor",
        function_name="numerar",
        checker=_check_numerar,
        solution=numerar,
        wrong=(
            Wrong(_without_reset_handling, Mistake.SERVER_FALLS, "dejó escapar"),
            Wrong(_blocking_numerar, Mistake.BLOCKING, "congeló el bucle"),
            Wrong(_thinks_in_slices, Mistake.BLOCKING, "congeló el bucle"),
            Wrong(_reads_chunks, Mistake.PARTIAL_IO, "readline()"),
            Wrong(_reads_everything_first, Mistake.PROTOCOL, "no leas hasta el final"),
            Wrong(_does_not_think, Mistake.PROTOCOL, "piensa"),
            Wrong(_global_counter, Mistake.PROTOCOL, "desde 1 en cada conexión"),
            Wrong(_one_client_at_a_time, Mistake.PROTOCOL, "de uno en uno"),
            Wrong(_forgets_to_close, Mistake.LEFT_OPEN, "cuando tu función terminó"),
            Wrong(_no_wait_closed_numerar, Mistake.LEFT_OPEN, "no esperaste"),
        ),
        applies=frozenset(
            {
                Mistake.LEFT_OPEN,
                Mistake.PARTIAL_IO,
                Mistake.BLOCKING,
                Mistake.PROTOCOL,
                Mistake.SERVER_FALLS,
            }
        ),
    )
)
