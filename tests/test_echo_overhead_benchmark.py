"""Prueba de humo de `benchmarks/echo_overhead.py`: corre con --quick y su tabla está completa.

No comprueba los cocientes: en una máquina compartida el ruido los mueve demasiado.
"""

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "echo_overhead.py"
SERVERS = ["base", "EchoServer", "BackgroundEchoServer", "ThreadedEchoServer"]


def test_quick_run_lists_every_server_with_a_positive_rate():
    # subprocess.run cierra las tuberías y, si vence el plazo, mata el proceso.
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    for name in SERVERS:
        row = re.search(rf"^{name} +(\d+) +(\d+\.\d) +(\d+\.\d\d) ", result.stdout, re.MULTILINE)
        assert row, f"falta la fila de {name} en:\n{result.stdout}"
        rate, mib, ratio = (float(g) for g in row.groups())
        assert rate > 0 and mib > 0 and ratio > 0
    assert re.search(r"^Veredicto: EchoServer \d+\.\d\d×", result.stdout, re.MULTILINE)


def test_unknown_server_name_is_rejected():
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--servidores", "nginx"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "nginx" in result.stderr
