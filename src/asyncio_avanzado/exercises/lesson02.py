"""Ejercicios de la lección 02 (los *streams* nativos de asyncio)."""

import asyncio
import socket
import time
from typing import Any

from ..background import BackgroundEchoServer
from ..chunky import BackgroundChunkyServer, shout
from .core import Exercise, Failure, call_coroutine, expect_equal, register
from .servers import wait_all_closed

__all__: list[str] = []

CLIENTS = 5

# -- 02.1: una conversación por líneas ---------------------------------------------------

QUESTIONS = ["hola, servidor", "¿qué tal, ñandú?", "una pregunta algo más larga " * 20]
ANSWER_TIMEOUT = 4.0


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


async def _check_conversar(candidate: Any) -> None:
    # El retardo hace que una llamada bloqueante congele el bucle de forma visible.
    with BackgroundChunkyServer(pieces=3, pause=0.1, delay=0.3) as server:
        try:
            async with asyncio.timeout(ANSWER_TIMEOUT):
                got = await call_coroutine(candidate, server.address, list(QUESTIONS))
        except TimeoutError:
            raise Failure(
                f"no llegaron las respuestas en {ANSWER_TIMEOUT:.0f} s: el servidor solo contesta "
                'cuando recibe una línea entera, ¿terminaste cada pregunta con "\\n"?'
            ) from None
        expected = [shout(q.encode()).decode().rstrip("\n") for q in QUESTIONS]
        if not isinstance(got, list) or len(got) != len(expected):
            expect_equal(expected, got, "respuestas")
        for n, (question, answer, reply) in enumerate(zip(QUESTIONS, expected, got, strict=True)):
            expect_equal(
                answer, reply, f"respuesta {n} (a una pregunta de {len(question)} caracteres)"
            )
        await wait_all_closed(server)
        connections = server.stats.connections
    if connections != 1:
        raise Failure(
            f"abriste {connections} conexiones para {len(QUESTIONS)} preguntas: haz todas las "
            "preguntas por la misma conexión, una línea detrás de otra"
        )


async def _reads_once(direccion: tuple[str, int], preguntas: list[str]) -> list[str]:
    reader, writer = await asyncio.open_connection(*direccion)
    try:
        respuestas = []
        for pregunta in preguntas:
            writer.write(pregunta.encode() + b"\n")
            await writer.drain()
            respuestas.append((await reader.read(100)).decode().rstrip("\n"))
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
        writer.write(pregunta.encode() + b"\n")
        await writer.drain()
        respuestas.append((await reader.readline()).decode().rstrip("\n"))
        writer.close()
        await writer.wait_closed()
    return respuestas


async def _blocking_conversar(direccion: tuple[str, int], preguntas: list[str]) -> list[str]:
    with socket.create_connection(direccion, timeout=5) as sock, sock.makefile("rwb") as f:
        respuestas = []
        for pregunta in preguntas:
            f.write(pregunta.encode() + b"\n")
            f.flush()
            respuestas.append(f.readline().decode().rstrip("\n"))
        return respuestas


register(
    Exercise(
        key="02.1",
        title="Una conversación por líneas",
        function_name="conversar",
        checker=_check_conversar,
        solution=conversar,
        wrong=(_reads_once, _no_newline, _one_connection_each, _blocking_conversar),
    )
)


# -- 02.2: muchos ecos a la vez ----------------------------------------------------------


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
    # Uno de ~100 KB: su eco llega en varios trozos (el servidor lee de 64 KiB en 64 KiB).
    messages = [f"mensaje {i} ".encode() * (1 + 10_000 * (i == 2)) for i in range(CLIENTS)]
    with BackgroundEchoServer(delay=0.3) as server:
        got = await call_coroutine(candidate, server.address, list(messages))
        if not isinstance(got, list) or len(got) != len(messages):
            expect_equal(messages, got, "una lista con un eco por mensaje")
        for i, (message, echo) in enumerate(zip(messages, got, strict=True)):
            expect_equal(message, echo, f"eco del mensaje {i} ({len(message)} bytes)")
        await wait_all_closed(server)
        peak = server.stats.peak_active
    if peak < CLIENTS:
        raise Failure(
            f"pedimos {CLIENTS} ecos, pero el máximo de conexiones abiertas a la vez fue {peak}: "
            "se pidieron uno detrás de otro (lánzalos como tareas de un TaskGroup)"
        )


async def _sequential_ecos(direccion: tuple[str, int], mensajes: list[bytes]) -> list[bytes]:
    resultados = []
    for mensaje in mensajes:
        reader, writer = await asyncio.open_connection(*direccion)
        writer.write(mensaje)
        await writer.drain()
        resultados.append(await reader.readexactly(len(mensaje)))
        writer.close()
        await writer.wait_closed()
    return resultados


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


async def _blocking_ecos(direccion: tuple[str, int], mensajes: list[bytes]) -> list[bytes]:
    resultados = []
    for mensaje in mensajes:
        with socket.create_connection(direccion, timeout=5) as sock:
            sock.sendall(mensaje)
            sock.shutdown(socket.SHUT_WR)
            datos = b""
            while trozo := sock.recv(65536):
                datos += trozo
            resultados.append(datos)
    return resultados


register(
    Exercise(
        key="02.2",
        title="Muchos ecos a la vez",
        function_name="ecos",
        checker=_check_ecos,
        solution=ecos,
        wrong=(_sequential_ecos, _reads_once_ecos, _blocking_ecos),
    )
)


# -- 02.3: con plazo ------------------------------------------------------------------------

SLOW_DELAY = 1.0
"""Lo que tarda el servidor lento: bastante más que el plazo, para que no haya duda."""
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
        return await call_coroutine(candidate, address, message, deadline)
    except TimeoutError:
        # Las comprobaciones tienen su propio límite y lo notifican con TimeoutError: que el
        # del alumno no se confunda con él.
        raise Failure(
            "tu función dejó escapar TimeoutError: captúralo y devuelve None cuando venza el plazo"
        ) from None


async def _check_eco_con_plazo(candidate: Any) -> None:
    message = "¿llegas a tiempo?".encode()
    with BackgroundEchoServer(delay=0.3) as fast:
        got = await _call_with_deadline(candidate, fast.address, message, 3.0)
        expect_equal(message, got, "con un servidor que tarda 0.3 s y un plazo de 3 s")
        await wait_all_closed(fast)
    with BackgroundEchoServer(delay=SLOW_DELAY) as slow:
        got = await _call_with_deadline(candidate, slow.address, message, SHORT_DEADLINE)
        expect_equal(
            None,
            got,
            f"con un servidor que tarda {SLOW_DELAY:.0f} s y un plazo de {SHORT_DEADLINE} s",
        )
        # El servidor lento se entera del cierre cuando por fin contesta.
        await wait_all_closed(slow, timeout=SLOW_DELAY + 2)


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


register(
    Exercise(
        key="02.3",
        title="Con plazo",
        function_name="eco_con_plazo",
        checker=_check_eco_con_plazo,
        solution=eco_con_plazo,
        wrong=(_ignores_deadline, _lets_timeout_escape, _blocking_eco_con_plazo),
    )
)


# -- 02.4: tu propio servidor ---------------------------------------------------------------

WORK = 0.3
"""Lo que tarda el servidor en preparar cada respuesta, en segundos."""
LINES = ["primera", "¿segunda?", "tercera"]


async def numerar(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Responde cada línea con «n: línea» (n cuenta desde 1 en cada conexión) y cierra al final."""
    n = 0
    while linea := await reader.readline():
        n += 1
        await asyncio.sleep(0.3)  # «preparar» la respuesta, sin congelar el bucle
        writer.write(f"{n}: ".encode() + linea)
        await writer.drain()
    # readline() devolvió b"": el cliente ya no enviará más. Cerramos nuestra mitad.
    writer.close()
    await writer.wait_closed()


async def _check_numerar(candidate: Any) -> None:
    errors: list[BaseException] = []
    handlers: set[asyncio.Task[Any]] = set()
    left_open = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal left_open
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        try:
            await call_coroutine(candidate, reader, writer)
            if not writer.is_closing():
                left_open += 1
        except asyncio.CancelledError:
            pass  # en 3.11, propagarla haría que asyncio imprimiera una traza en la celda
        except Exception as error:  # se informa luego, sin que asyncio lo imprima en la celda
            errors.append(error)
        finally:
            handlers.discard(task)
            if not writer.is_closing():
                writer.close()  # cerramos por el alumno para que el cliente reciba lo enviado

    async def client(i: int) -> bytes:
        reader, writer = await asyncio.open_connection(*address)
        try:
            # Todas las líneas de golpe: el servidor debe separarlas él solo.
            writer.write("".join(f"{line} {i}\n" for line in LINES).encode())
            writer.write_eof()
            await writer.drain()
            return await reader.read()
        except ConnectionResetError:
            return b""
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except ConnectionResetError:
                pass

    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    async with server:
        address = server.sockets[0].getsockname()[:2]
        try:
            async with asyncio.timeout(len(LINES) * WORK * CLIENTS + 5):
                async with asyncio.TaskGroup() as tg:
                    tasks = [tg.create_task(client(i)) for i in range(CLIENTS)]
        except TimeoutError:
            raise Failure(
                "los clientes enviaron sus líneas y cerraron su mitad de escritura, pero la "
                "conexión no terminó: cuando readline() devuelva b'', cierra con writer.close() "
                "y await writer.wait_closed()"
            ) from None
        finally:
            # Un servidor que no termina no debe quedarse en el bucle del cuaderno.
            for task in list(handlers):
                task.cancel()
            await asyncio.gather(*handlers, return_exceptions=True)
    if errors:
        raise errors[0]
    for i, task in enumerate(tasks):
        expected = "".join(f"{n}: {line} {i}\n" for n, line in enumerate(LINES, 1)).encode()
        expect_equal(expected, task.result(), f"respuestas al cliente {i}")
    if left_open:
        raise Failure(
            f"{left_open} conexiones seguían abiertas cuando tu función terminó: ciérralas con "
            "writer.close() y await writer.wait_closed()"
        )


async def _blocking_numerar(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    n = 0
    while linea := await reader.readline():
        n += 1
        time.sleep(WORK)  # congela el bucle: los demás clientes esperan
        writer.write(f"{n}: ".encode() + linea)
        await writer.drain()
    writer.close()
    await writer.wait_closed()


async def _reads_chunks(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    n = 0
    while datos := await reader.read(100):
        n += 1
        await asyncio.sleep(WORK)
        writer.write(f"{n}: ".encode() + datos)
        await writer.drain()
    writer.close()
    await writer.wait_closed()


async def _forgets_to_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    n = 0
    while linea := await reader.readline():
        n += 1
        await asyncio.sleep(WORK)
        writer.write(f"{n}: ".encode() + linea)
        await writer.drain()


register(
    Exercise(
        key="02.4",
        title="Tu propio servidor",
        function_name="numerar",
        checker=_check_numerar,
        solution=numerar,
        wrong=(_blocking_numerar, _reads_chunks, _forgets_to_close),
    )
)
