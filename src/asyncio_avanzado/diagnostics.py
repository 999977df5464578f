"""Lectura de lo que escriben las herramientas de diagnóstico: depuración, ``-X dev``, faulthandler.

La lección 06 ejecuta esas herramientas y enseña solo lo que importa de su salida. Estas
funciones hacen el recorte, para que el cuaderno muestre la herramienta y no el análisis del
texto. Todas reciben texto (el stderr de un proceso, los mensajes de un *logger*, un volcado) y
devuelven listas de líneas cortas, en el orden en que aparecieron.
"""

import re

from .lag import format_duration

__all__ = ["dev_mode_findings", "faulthandler_stack", "slow_steps"]

# «Executing <Task pending name='Task-1' coro=<main() running at ...> ...> took 0.201 seconds»
_SLOW_TASK = re.compile(r"Executing <Task .*?name='(.*?)' coro=<(\w+)\(\).*took (\d+\.\d+) seconds")
# «Executing <Handle _SelectorSocketTransport._read_ready() created at ...> took 0.200 seconds»
_SLOW_HANDLE = re.compile(r"Executing (<Handle [\w.]+\(\)).* took (\d+\.\d+) seconds")
# Un marco de un volcado de faulthandler: «  File "<string>", line 5 in auxiliar».
_DUMP_FRAME = re.compile(r"line \d+ in (\S+)")
# El encabezado de cada hilo del volcado: «Current thread 0x7f... (most recent call first):».
_DUMP_THREAD = re.compile(r"^(?:Current thread|Thread) (0x[0-9a-f]+)", re.M)


def slow_steps(text: str) -> list[str]:
    """Resume los avisos de pasos lentos del modo de depuración de asyncio que hay en `text`.

    Devuelve una línea por aviso, sin los detalles de la tarea: para una tarea,
    ``Executing <Task Task-1 coro=main()> took 201 ms``; para un *callback* suelto,
    ``Executing <Handle _SelectorSocketTransport._read_ready()> took 200 ms``.
    """
    steps = []
    for line in text.splitlines():
        if task := _SLOW_TASK.search(line):
            name, coroutine, seconds = task[1], task[2], float(task[3])
            steps.append(
                f"Executing <Task {name} coro={coroutine}()> took {format_duration(seconds)}"
            )
        elif handle := _SLOW_HANDLE.search(line):
            steps.append(f"Executing {handle[1]}> took {format_duration(float(handle[2]))}")
    return steps


def dev_mode_findings(stderr: str) -> list[str]:
    """Resume el stderr de un *script* ejecutado con ``python -c``: qué avisos de recursos salieron.

    Devuelve, si aparecen y en este orden: la excepción de una tarea que nadie recogió, dónde
    se creó esa tarea (solo lo dice el modo de depuración, con su ``source_traceback``) y el
    ``ResourceWarning`` de un *socket* sin cerrar (solo lo muestra ``-X dev``).
    """
    findings = []
    if "Task exception was never retrieved" in stderr:
        findings.append("Task exception was never retrieved")
    if "source_traceback" in stderr:
        origin = stderr.split("source_traceback")[1].split("Traceback")[0]
        frames = re.findall(r'File "<string>", line (\d+), in (\w+)', origin)
        if frames:
            line, function = frames[-1]  # el último marco: la llamada a create_task
            findings.append(f"la tarea se creó en {function}(), línea {line}")
    if unclosed := re.search(r"ResourceWarning: unclosed <socket\.socket", stderr):
        findings.append(unclosed[0] + " ...>")
    return findings


def faulthandler_stack(dump: str, thread_id: int) -> list[str]:
    """Busca el hilo `thread_id` en un volcado de ``faulthandler`` y devuelve sus funciones.

    Van de la más interna (la que se estaba ejecutando) a la más externa, como las escribe
    faulthandler. Devuelve una lista vacía si el hilo no está en el volcado.
    """
    parts = _DUMP_THREAD.split(dump)
    for ident, block in zip(parts[1::2], parts[2::2], strict=True):
        if int(ident, 16) == thread_id:
            return _DUMP_FRAME.findall(block)
    return []
