"""Ejercicios 09.1, 09.2 y 09.3: otras soluciones correctas aprueban y otras erróneas suspenden.

Las pruebas comunes (`test_exercises.py`, `test_mistakes_c.py`) comprueban la solución de
referencia y los errores típicos de cada ejercicio; aquí, que la comprobación no exige la forma
exacta de la referencia, y que suspende (diciendo por qué) soluciones erróneas que no están
entre los errores típicos.
"""

import asyncio
import functools
import threading

import pytest

from asyncio_avanzado import check
from asyncio_avanzado.shutdown import slow_request

# -- 09.1 ----------------------------------------------------------------------------------


async def apagar_contando_cancel(servidor, en_curso, plazo):
    # Cuenta lo que devuelve cancel() y cierra con wait_closed() al final.
    servidor.close()
    pendientes = set(en_curso)
    if pendientes:
        _, pendientes = await asyncio.wait(pendientes, timeout=plazo)
    canceladas = sum(t.cancel() for t in pendientes)
    if pendientes:
        await asyncio.wait(pendientes)
    await servidor.wait_closed()
    return canceladas


async def apagar_con_timeout_at(servidor, en_curso, plazo):
    # Un gather de shields (no cancela al vencer) dentro de asyncio.timeout_at.
    servidor.close()
    tareas = list(en_curso)
    fin = asyncio.get_running_loop().time() + plazo
    try:
        async with asyncio.timeout_at(fin):
            await asyncio.gather(*(asyncio.shield(t) for t in tareas), return_exceptions=True)
    except TimeoutError:
        pass
    quedan = [t for t in tareas if not t.done()]
    for t in quedan:
        t.cancel()
    await asyncio.gather(*quedan, return_exceptions=True)
    return len(quedan)


async def apagar_sondeando(servidor, en_curso, plazo):
    # Mira el conjunto vivo cada 10 ms hasta que se vacía o vence el plazo.
    servidor.close()
    loop = asyncio.get_running_loop()
    fin = loop.time() + plazo
    while en_curso and loop.time() < fin:
        await asyncio.sleep(0.01)
    quedan = list(en_curso)
    for t in quedan:
        t.cancel()
    await asyncio.gather(*quedan, return_exceptions=True)
    return len(quedan)


async def apagar_con_wait_for(servidor, en_curso, plazo):
    # wait_for cancela el gather al vencer, y el gather cancela a sus hijas.
    servidor.close()
    tareas = list(en_curso)
    try:
        await asyncio.wait_for(asyncio.gather(*tareas, return_exceptions=True), plazo)
    except TimeoutError:
        pass
    return sum(t.cancelled() for t in tareas)


# -- 09.2 ----------------------------------------------------------------------------------


async def pedir_con_run_in_executor(direccion, segundos, plazo):
    # Un futuro del ejecutor y asyncio.wait con timeout; al salir espera a que el hilo acabe.
    loop = asyncio.get_running_loop()
    parar = threading.Event()
    peticion = functools.partial(
        slow_request, direccion, segundos, stop=parar, timeout=max(plazo, 5.0) + 1
    )
    futuro = loop.run_in_executor(None, peticion)
    try:
        hecho, _ = await asyncio.wait({futuro}, timeout=plazo)
        if not hecho:
            raise TimeoutError(f"sin respuesta en {plazo} s")
        return futuro.result()
    finally:
        parar.set()
        await asyncio.wait({futuro})
        if not futuro.cancelled():
            futuro.exception()


async def pedir_con_wait_for(direccion, segundos, plazo):
    # wait_for, y el aviso al hilo solo si algo sale mal (vuelve a lanzar lo que sea).
    parar = threading.Event()
    try:
        respuesta = await asyncio.wait_for(
            asyncio.to_thread(slow_request, direccion, segundos, stop=parar), plazo
        )
    except BaseException:
        parar.set()
        raise
    return respuesta


async def pedir_con_timeout_del_socket(direccion, segundos, plazo):
    # El plazo lo cumple el propio slow_request (timeout=plazo); el Event, para la cancelación.
    parar = threading.Event()
    try:
        return await asyncio.to_thread(slow_request, direccion, segundos, stop=parar, timeout=plazo)
    finally:
        parar.set()


# -- 09.3 ----------------------------------------------------------------------------------


async def cerrar_en_orden(trabajos, procesos, bd, plazo):
    pendientes = set(trabajos)
    if pendientes:
        _, pendientes = await asyncio.wait(pendientes, timeout=plazo)
    for t in pendientes:
        t.cancel()
    if pendientes:
        await asyncio.wait(pendientes)
    await bd.close()
    await asyncio.to_thread(procesos.shutdown, wait=True, cancel_futures=True)


async def cerrar_los_pools_a_la_vez(trabajos, procesos, bd, plazo):
    # Plazo con timeout y shields; luego los dos pools a la vez (bd, con terminate de reserva).
    tareas = list(trabajos)
    try:
        async with asyncio.timeout(plazo):
            await asyncio.gather(*(asyncio.shield(t) for t in tareas), return_exceptions=True)
    except TimeoutError:
        pass
    quedan = [t for t in tareas if not t.done()]
    for t in quedan:
        t.cancel()
    await asyncio.gather(*quedan, return_exceptions=True)

    async def cerrar_bd():
        try:
            await asyncio.wait_for(bd.close(), 2)
        except TimeoutError:
            bd.terminate()

    loop = asyncio.get_running_loop()
    cerrar_procesos = functools.partial(procesos.shutdown, wait=True, cancel_futures=True)
    await asyncio.gather(cerrar_bd(), loop.run_in_executor(None, cerrar_procesos))


async def cerrar_con_terminate(trabajos, procesos, bd, plazo):
    # Con todos los trabajos terminados, terminate() no corta nada a medias.
    pendientes = set(trabajos)
    if pendientes:
        _, pendientes = await asyncio.wait(pendientes, timeout=plazo)
    for t in pendientes:
        t.cancel()
    if pendientes:
        await asyncio.wait(pendientes)
    bd.terminate()
    await asyncio.to_thread(procesos.shutdown, wait=True, cancel_futures=True)


RIGHT = [
    ("09.1", apagar_contando_cancel),
    ("09.1", apagar_con_timeout_at),
    ("09.1", apagar_sondeando),
    ("09.1", apagar_con_wait_for),
    ("09.2", pedir_con_run_in_executor),
    ("09.2", pedir_con_wait_for),
    ("09.2", pedir_con_timeout_del_socket),
    ("09.3", cerrar_en_orden),
    ("09.3", cerrar_los_pools_a_la_vez),
    ("09.3", cerrar_con_terminate),
]


@pytest.mark.parametrize(("key", "solution"), RIGHT, ids=[f.__name__ for _, f in RIGHT])
def test_another_right_solution_passes(key, solution, postgres):
    result = asyncio.run(check(key, solution))
    assert result.passed, result.problems


# -- soluciones erróneas que no están entre los errores típicos ------------------------------


async def apagar_sin_hacer_nada(servidor, en_curso, plazo):
    servidor.close()
    return 1


async def apagar_con_un_plazo_por_tarea(servidor, en_curso, plazo):
    # Un plazo para cada tarea, por turno: la segunda lenta se cancela a los dos plazos.
    servidor.close()
    canceladas = 0
    for t in list(en_curso):
        try:
            await asyncio.wait_for(asyncio.shield(t), plazo)
        except TimeoutError:
            t.cancel()
            await asyncio.wait({t})
            canceladas += 1
        except BaseException:
            pass
    return canceladas


async def pedir_sin_plazo(direccion, segundos, plazo):
    parar = threading.Event()
    try:
        return await asyncio.to_thread(slow_request, direccion, segundos, stop=parar)
    finally:
        parar.set()


async def pedir_con_el_cuadruple(direccion, segundos, plazo):
    parar = threading.Event()
    try:
        async with asyncio.timeout(plazo * 4):
            return await asyncio.to_thread(slow_request, direccion, segundos, stop=parar)
    finally:
        parar.set()


async def cerrar_sin_el_pool_de_procesos(trabajos, procesos, bd, plazo):
    pendientes = set(trabajos)
    if pendientes:
        _, pendientes = await asyncio.wait(pendientes, timeout=plazo)
    for t in pendientes:
        t.cancel()
    if pendientes:
        await asyncio.wait(pendientes)
    await bd.close()


async def cerrar_con_dos_shutdown(trabajos, procesos, bd, plazo):
    # shutdown(wait=False) y luego otro shutdown en un hilo: el segundo ya no espera a nada.
    tareas = list(trabajos)
    try:
        async with asyncio.timeout(plazo):
            await asyncio.gather(*(asyncio.shield(t) for t in tareas), return_exceptions=True)
    except TimeoutError:
        pass
    quedan = [t for t in tareas if not t.done()]
    for t in quedan:
        t.cancel()
    await asyncio.gather(*quedan, return_exceptions=True)
    await bd.close()
    procesos.shutdown(wait=False, cancel_futures=True)
    await asyncio.to_thread(procesos.shutdown)


WRONG = [
    ("09.1", apagar_sin_hacer_nada, "nadie las había cancelado"),
    ("09.1", apagar_con_un_plazo_por_tarea, "pasado el plazo"),
    ("09.2", pedir_sin_plazo, "no cumple el plazo"),
    ("09.2", pedir_con_el_cuadruple, "no cumple el plazo"),
    ("09.3", cerrar_sin_el_pool_de_procesos, "no cerraste el pool de procesos"),
    ("09.3", cerrar_con_dos_shutdown, "esa segunda llamada ya no espera a nada"),
]


@pytest.mark.parametrize(("key", "solution", "says"), WRONG, ids=[f.__name__ for _, f, _ in WRONG])
def test_another_wrong_solution_fails_saying_why(key, solution, says, postgres):
    result = asyncio.run(check(key, solution))
    assert not result.passed, f"{solution.__name__} aprobó"
    assert says in "\n".join(result.problems), result.problems
