"""La lectura de la salida de las herramientas de diagnóstico, con salidas de verdad."""

import faulthandler
import subprocess
import sys
import tempfile
import textwrap
import threading

from asyncio_avanzado.diagnostics import dev_mode_findings, faulthandler_stack, slow_steps


def run_script(code: str, *options: str) -> str:
    """Ejecuta `code` en other intérprete y devuelve su stderr."""
    command = [sys.executable, *options, "-c", textwrap.dedent(code)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60).stderr


def test_a_slow_task_is_summarised_with_its_name_coroutine_and_duration():
    stderr = run_script(
        """\
        import asyncio, time

        async def main():
            await asyncio.sleep(0.01)
            time.sleep(0.15)

        asyncio.run(main(), debug=True)
        """
    )
    [step] = slow_steps(stderr)
    assert step.startswith("Executing <Task Task-1 coro=main()> took 1")
    assert step.endswith(" ms")


def test_a_slow_callback_is_summarised_with_its_handle():
    line = (
        "Executing <Handle _SelectorSocketTransport._read_ready() created at "
        "/usr/lib/python3.11/asyncio/selector_events.py:1012> took 0.201 seconds"
    )
    assert slow_steps(f"otra cosa\n{line}\n") == [
        "Executing <Handle _SelectorSocketTransport._read_ready()> took 201 ms"
    ]


def test_text_without_warnings_gives_nothing():
    assert slow_steps("") == []
    assert slow_steps("Traceback (most recent call last):\n  ...\n") == []
    assert dev_mode_findings("") == []


FORGETFUL = """\
import asyncio, socket

async def falla():
    raise ValueError("nadie me espera")

async def main():
    sock = socket.socket()
    asyncio.create_task(falla())
    await asyncio.sleep(0.01)

asyncio.run(main())
"""


def test_without_dev_mode_only_the_lost_exception_shows():
    assert dev_mode_findings(run_script(FORGETFUL)) == ["Task exception was never retrieved"]


def test_dev_mode_says_where_the_task_was_created_and_shows_the_open_socket():
    assert dev_mode_findings(run_script(FORGETFUL, "-X", "dev")) == [
        "Task exception was never retrieved",
        "la tarea se creó en main(), línea 8",
        "ResourceWarning: unclosed <socket.socket ...>",
    ]


def innermost_function(file) -> None:
    faulthandler.dump_traceback(file=file, all_threads=True)


def test_the_stack_of_one_thread_from_a_faulthandler_dump():
    stop = threading.Event()
    other = threading.Thread(target=stop.wait, args=(10,))
    other.start()
    try:
        with tempfile.TemporaryFile("w+") as dump_file:
            innermost_function(dump_file)
            dump_file.seek(0)
            dump = dump_file.read()
    finally:
        stop.set()
        other.join()
    here = faulthandler_stack(dump, threading.get_ident())
    assert here[:2] == [
        "innermost_function",
        "test_the_stack_of_one_thread_from_a_faulthandler_dump",
    ]
    assert "wait" in faulthandler_stack(dump, other.ident)
    assert faulthandler_stack(dump, 12345) == []
