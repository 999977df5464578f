"""Ejercicios 03.x y 04.x: otras soluciones correctas también aprueban, y los espías se retiran.

`test_exercises.py` prueba la solución de referencia y los errores típicos; aquí van formas
distintas de resolver bien cada ejercicio (otra API, otro orden), para que una comprobación
más estricta no suspenda por accidente a quien lo hizo bien de otra manera.
"""

import asyncio
import functools
import socket
from concurrent.futures import ThreadPoolExecutor

import pytest

from asyncio_avanzado import check
from asyncio_avanzado.blocking import blocking_echo
from asyncio_avanzado.exercises.lesson03 import spy_sock_calls
from asyncio_avanzado.exercises.lesson04 import spy_thread_pools


async def eco_con_recv_into(direccion: tuple[str, int], mensaje: bytes) -> bytes:
    loop = asyncio.get_running_loop()
    with socket.socket() as sock:
        sock.setblocking(False)
        async with asyncio.timeout(10):
            await loop.sock_connect(sock, direccion)
            await loop.sock_sendall(sock, mensaje)
            eco = bytearray(len(mensaje))
            vista = memoryview(eco)
            leidos = 0
            while leidos < len(mensaje):
                n = await loop.sock_recv_into(sock, vista[leidos:])
                if not n:
                    raise ConnectionError("el servidor cerró antes de tiempo")
                leidos += n
            vista.release()
        return bytes(eco)


async def servidor_con_conjunto_de_tareas(escucha: socket.socket) -> None:
    # Sin TaskGroup: un conjunto de tareas, cada una atrapa sus errores de conexión.
    loop = asyncio.get_running_loop()
    tareas: set[asyncio.Task[None]] = set()

    async def atender(cliente: socket.socket) -> None:
        with cliente:
            pendiente = bytearray()
            try:
                while trozo := await loop.sock_recv(cliente, 4096):
                    pendiente += trozo
                    while (fin := pendiente.find(b"\n")) != -1:
                        await loop.sock_sendall(cliente, f"{fin}\n".encode())
                        del pendiente[: fin + 1]
            except ConnectionError:
                pass

    try:
        while True:
            cliente, _ = await loop.sock_accept(escucha)
            tarea = asyncio.create_task(atender(cliente))
            tareas.add(tarea)
            tarea.add_done_callback(tareas.discard)
    finally:
        for tarea in tareas:
            tarea.cancel()
        await asyncio.gather(*tareas, return_exceptions=True)


async def adoptar_leyendo_a_trozos(sock: socket.socket, mensaje: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(sock=sock)
    try:
        writer.write(mensaje)
        await writer.drain()
        writer.write_eof()
        partes = []
        while parte := await reader.read(65536):
            partes.append(parte)
        return b"".join(partes)
    finally:
        writer.close()
        await writer.wait_closed()


async def ecos_con_run_in_executor(direccion, mensajes):
    loop = asyncio.get_running_loop()
    return await asyncio.gather(
        *(loop.run_in_executor(None, blocking_echo, direccion, m) for m in mensajes)
    )


async def ecos_con_pool_en_with(direccion, mensajes):
    # Todo se espera dentro del with: al salir, los hilos ya no tienen trabajo.
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(max_workers=len(mensajes)) as pool:
        return await asyncio.gather(
            *(loop.run_in_executor(pool, blocking_echo, direccion, m) for m in mensajes)
        )


async def ecos_con_semaforo(direccion, mensajes, limite):
    semaforo = asyncio.Semaphore(limite)

    async def uno(mensaje: bytes) -> bytes:
        async with semaforo:
            return await asyncio.to_thread(blocking_echo, direccion, mensaje)

    return await asyncio.gather(*(uno(m) for m in mensajes))


async def plazo_con_partial(direccion, mensaje, plazo):
    loop = asyncio.get_running_loop()
    llamada = functools.partial(blocking_echo, direccion, mensaje, timeout=plazo)
    try:
        return await loop.run_in_executor(None, llamada)
    except OSError:  # TimeoutError es un OSError; también un servidor que corta
        return None


ALTERNATIVES = [
    ("03.1", eco_con_recv_into),
    ("03.2", servidor_con_conjunto_de_tareas),
    ("03.3", adoptar_leyendo_a_trozos),
    ("04.1", ecos_con_run_in_executor),
    ("04.1", ecos_con_pool_en_with),
    ("04.2", ecos_con_semaforo),
    ("04.3", plazo_con_partial),
]


@pytest.mark.parametrize(
    ("key", "solution"), ALTERNATIVES, ids=[f"{k}-{f.__name__}" for k, f in ALTERNATIVES]
)
def test_another_right_answer_passes(key, solution):
    result = asyncio.run(check(key, solution))
    assert result.passed, repr(result)


def test_the_sock_spy_counts_and_leaves_the_loop_as_it_was():
    async def main():
        loop = asyncio.get_running_loop()
        left, right = socket.socketpair()
        with left, right:
            left.setblocking(False)
            right.setblocking(False)
            with spy_sock_calls() as spy:
                await loop.sock_sendall(left, b"hola")
                assert await loop.sock_recv(right, 10) == b"hola"
            assert spy.calls["sock_sendall"] == 1 and spy.reads == 1
            assert "sock_recv" not in vars(loop)  # el método vuelve a ser el de la clase

    asyncio.run(main())


def test_the_pool_spy_sees_pools_left_open_and_restores_the_class():
    async def main():
        with spy_thread_pools() as left:
            olvidado = ThreadPoolExecutor(max_workers=1)
            with ThreadPoolExecutor(max_workers=1) as cerrado:
                cerrado.submit(int).result()
        assert left == [olvidado]
        olvidado.shutdown()
        assert "__init__" not in vars(ThreadPoolExecutor) or (
            ThreadPoolExecutor.__init__.__qualname__ == "ThreadPoolExecutor.__init__"
        )

    asyncio.run(main())
