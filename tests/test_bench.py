"""Pruebas del banco de pruebas `asyncio_avanzado.bench` con configuraciones diminutas.

No comprueban ninguna cifra de rendimiento (en una máquina compartida el ruido las mueve
demasiado): que todo corre, que cada servidor devuelve cada byte bajo la carga del
generador, que los resultados y los archivos están bien formados y que lo que no se puede
medir se omite con una explicación.
"""

import csv
import json
import math
import subprocess
import sys

import pytest

from asyncio_avanzado.__main__ import main as course_main
from asyncio_avanzado.bench import (
    BenchError,
    all_servers,
    default_pool_size,
    measure_recv_cost,
    run_benchmark,
    run_scaling,
    runner,
    system,
)
from asyncio_avanzado.bench.load import Meter, Pinger, payloads_for
from asyncio_avanzado.bench.processes import Child
from asyncio_avanzado.bench.stats import merge_quantiles

TINY = {"duration": 0.1, "repetitions": 1, "quick": True}
"""Una medida de 0.1 s (más el calentamiento), una sola vez."""


@pytest.fixture(scope="module")
def every_server():
    """Todos los servidores, con 4 conexiones de las que 3 hacen ping-pong."""
    return run_benchmark(all_servers(), connections=4, active=3, size=3000, **TINY)


def test_every_server_echoes_every_byte_under_load(every_server):
    measured = {s.server for s in every_server.summaries}
    expected = set(all_servers())
    if system.uvloop_unavailable():
        expected = {name for name in expected if not name.endswith("-uvloop")}
    assert measured == expected
    for s in every_server.summaries:
        # El cliente compara cada eco de 3000 bytes (entero, aunque llegue a trozos) con
        # el mensaje que envió: un solo byte distinto contaría como error.
        assert s.echo_ok, f"{s.server}: {s.errors} ecos erróneos, {s.dropped} cortadas"
        assert s.rate > 0 and s.verified_bytes >= 3000, s.server
        assert s.verified_bytes % 3000 == 0


def test_results_are_well_formed(every_server):
    assert every_server.kind == "tabla" and not every_server.skipped
    for run in every_server.runs:
        assert (run.connections, run.active, run.size) == (4, 3, 3000)
        assert run.duration > 0  # la ventana según el reloj del cliente
        assert 0 < run.latency_p50 <= run.latency_p99 < 5 and run.latency_mean > 0
        assert 0 <= run.server_cpu <= 4 and run.client_cpu >= 0
        # Con 4 conexiones la memoria apenas cambia, y puede incluso bajar un poco (el
        # intérprete devuelve memoria que usó al arrancar): solo comprobamos que se midió.
        assert run.server_rss > 1_000_000 and run.server_rss_before > 1_000_000
        assert run.connections_before == 0  # la pendiente, desde cero conexiones
        assert run.pool_threads >= 5 and run.client_cores >= 1
        assert math.isclose(run.mb_per_s, run.rate * 3000 / 1e6)
    for s in every_server.summaries:
        # Un bucle cerrado: la latencia media es la que da la ley de Little.
        assert 0.5 < s.latency_mean / s.little_latency < 1.5, s.server
    table = every_server.table()
    for name in every_server.summaries:
        assert f"\n{name.server} " in table
    assert "EchoServer del curso / start_server desnudo" in table
    assert "Techo del cliente" in table
    assert "1 repetición." in table and "4 conexiones (3 activas)" in table
    assert "(s)" not in table
    assert every_server.ceiling is not None and every_server.ceiling.rate > 0


def test_repetitions_take_turns_without_restarting_the_servers():
    result = run_benchmark(["base", "protocol"], connections=3, duration=0.05, repetitions=3)
    order = [(r.repetition, r.server) for r in result.runs]
    # Cada repetición empieza por un servidor distinto, para repartir el ruido de la máquina.
    assert order == [
        (0, "base"),
        (0, "protocol"),
        (1, "protocol"),
        (1, "base"),
        (2, "base"),
        (2, "protocol"),
    ]
    assert all(s.repetitions == 3 and s.echo_ok for s in result.summaries)
    assert "3 repeticiones" in result.table()


def test_memory_per_connection_is_the_slope_between_two_connection_counts():
    result = run_scaling(["streams"], counts=[5, 25], active=1, duration=0.05, repetitions=1)
    first, second = (result.summary("streams", n) for n in (5, 25))
    assert (first.connections_before, second.connections_before) == (0, 5)
    run = next(r for r in result.runs if r.connections == 25)
    assert math.isclose(run.memory_per_connection, (run.server_rss - run.server_rss_before) / 20)
    table = result.table()
    assert "0→5" in table and "5→25" in table
    assert "búferes de los sockets" in table  # lo que no cuenta


def test_a_busy_machine_is_warned_about(monkeypatch):
    monkeypatch.setattr(runner.os, "getloadavg", lambda: (9.5, 3.0, 1.0))
    monkeypatch.setattr(system, "usable_cores", lambda: 2)
    result = run_benchmark(["base"], connections=2, **TINY)
    text = " ".join(result.table().split())  # sin los saltos de línea del párrafo
    assert "⚠ La máquina ya estaba ocupada al empezar: carga media de 9.5" in text
    assert "con 2 núcleos utilizables" in text
    assert system.load_warning([0.5, 0.5, 0.5], 1) is None
    assert system.load_warning(None, 1) is None


def test_a_child_that_fails_explains_why():
    child = Child("servidor inventado", "serve", "no-existe", False, None, 100)
    with pytest.raises(BenchError, match="servidor inventado falló:(.|\n)*KeyError"):
        child.expect(10)
    child.close()


def test_the_client_checks_each_echo_byte_by_byte():
    class Transport:
        def __init__(self):
            self.sent, self.closed = [], False

        def write(self, data):
            self.sent.append(data)

        def close(self):
            self.closed = True

    meter = Meter()
    meter.running = True
    payloads = payloads_for(7, 100)
    assert payloads[0] != payloads[1] and payloads[0] != payloads_for(8, 100)[0]
    pinger = Pinger(meter, payloads)
    transport = Transport()
    pinger.connection_made(transport)
    pinger.send()
    pinger.data_received(payloads[0][:30])  # el eco puede llegar a trozos
    pinger.data_received(payloads[0][30:])
    assert (meter.requests, meter.errors, transport.sent[-1]) == (1, 0, payloads[1])
    pinger.data_received(payloads[0])  # el mensaje anterior otra vez: no vale
    assert (meter.requests, meter.errors, transport.closed) == (1, 1, True)


def test_executor_blocks_when_quiet_connections_take_every_pool_thread():
    pool = default_pool_size()
    result = run_benchmark(["executor"], connections=pool + 1, active=1, **TINY)
    s = result.summary("executor")
    assert s.rate == 0 and s.echo_ok
    assert "bloqueado" in result.table()


def test_cli_writes_csv_and_json(tmp_path, capsys):
    csv_path, json_path = tmp_path / "r.csv", tmp_path / "r.json"
    code = course_main(
        ["bench", "--servidores", "base", "streams", "--conexiones", "3", "--activas", "2"]
        + ["--duracion", "0.2", "--rapido", "--csv", str(csv_path), "--json", str(json_path)]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "✔ Todos los servidores devolvieron cada byte" in out
    with open(csv_path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["server"] for r in rows] == ["base", "streams"]
    assert all(float(r["rate"]) > 0 and r["echo_ok"] == "True" for r in rows)
    data = json.loads(json_path.read_text(encoding="utf-8"))
    assert data["tipo"] == "tabla" and len(data["medidas"]) == 2 * 3  # 3 repeticiones
    assert data["resumenes"][1]["ratio_base"] > 0
    assert {"python", "reparto", "carga_inicial"} <= data["maquina"].keys()


def test_missing_uvloop_is_skipped_with_an_explanation(monkeypatch):
    reason = "uvloop no está instalado (simulado)."
    monkeypatch.setattr(system, "uvloop_unavailable", lambda: reason)
    result = run_benchmark(["base", "base-uvloop"], connections=2, **TINY)
    assert [s.server for s in result.summaries] == ["base"]
    assert result.machine["cliente_con_uvloop"] is False
    assert [s.reason for s in result.skipped] == [f"base-uvloop: {reason}"]
    assert f"Omitido: base-uvloop: {reason}" in result.table()


def test_a_connection_count_that_does_not_fit_is_skipped(monkeypatch):
    def limit(needed):
        return "demasiados descriptores (simulado)" if needed > 1000 else None

    monkeypatch.setattr(system, "fd_limit_problem", limit)
    result = run_scaling(["base"], counts=[10, 5000], **TINY)
    assert [(s.connections, s.active) for s in result.summaries] == [(10, 1)]
    assert result.skipped[0].connections == 5000
    assert "se omiten 5000 conexiones: demasiados descriptores" in result.skipped[0].reason
    table = result.table()
    assert "Ecos por segundo" in table and "Memoria por conexión" in table


def test_a_failed_measurement_is_reported_and_the_rest_goes_on(monkeypatch, capsys):
    real = runner._Fleet.measure

    def flaky(self, server, *args, **kwargs):
        if server.name == "streams":
            raise BenchError("el proceso servidor streams terminó antes de tiempo (simulado)")
        return real(self, server, *args, **kwargs)

    monkeypatch.setattr(runner._Fleet, "measure", flaky)
    code = course_main(
        ["bench", "--servidores", "base", "streams", "--conexiones", "2", "--duracion", "0.2"]
        + ["--rapido"]
    )
    out = capsys.readouterr().out
    assert code == 1
    assert "Omitido: streams con 2 conexiones: el proceso servidor streams terminó" in out


def test_a_server_that_dies_mid_series_does_not_confuse_the_others(monkeypatch):
    real_ask = Child.ask

    def ask(self, message, timeout):
        if self.label == "servidor streams" and message["cmd"] == "cpu":
            self.kill()  # muere a media medida, con sus clientes enviando
        return real_ask(self, message, timeout)

    monkeypatch.setattr(Child, "ask", ask)
    result = run_benchmark(["base", "streams"], connections=3, duration=0.05, repetitions=3)
    # Las respuestas de los clientes a la medida rota no se cuelan en las siguientes.
    assert [r.server for r in result.runs] == ["base"] * 3
    assert all(r.echo_ok and r.requests > 0 for r in result.runs)
    assert [s.server for s in result.skipped if s.failure] == ["streams"]


def test_fd_limit_that_cannot_be_raised_is_explained():
    problem = system.fd_limit_problem(10**9)
    if problem is not None:  # sin RLIMIT_NOFILE (Windows) no hay nada que explicar
        assert "descriptores de archivo" in problem and "ulimit -Hn" in problem


def test_merge_quantiles_weights_each_client_by_its_echoes():
    fast = [0.001] * 1001
    slow = [0.010] * 1001
    assert merge_quantiles([(fast, 99), (slow, 1)], [0.5, 0.99, 0.995]) == [0.001, 0.001, 0.01]
    assert merge_quantiles([(fast, 50), (slow, 50)], [0.25, 0.75]) == [0.001, 0.010]
    assert merge_quantiles([([], 0)], [0.5]) == [None]


def test_help_is_in_spanish(capsys):
    with pytest.raises(SystemExit) as exit_info:
        course_main(["bench", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for spanish in ("uso: python -m asyncio_avanzado bench", "opciones:", "muestra esta ayuda"):
        assert spanish in text
    for english in ("usage:", "options:", "show this help", "default"):
        assert english not in text
    for option in ("--servidores", "--tamano", "--conexiones", "--activas", "--duracion"):
        assert option in text
    for option in ("--repeticiones", "--csv", "--json", "--escalado", "--rapido"):
        assert option in text


def test_bad_arguments_are_rejected(capsys):
    with pytest.raises(SystemExit) as exit_info:
        course_main(["bench", "--servidores", "nginx"])
    assert exit_info.value.code == 2
    assert "nginx" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        course_main(["bench", "--activas", "0%"])
    assert "porcentaje" in capsys.readouterr().err
    with pytest.raises(ValueError, match="desconocido"):
        run_benchmark(["nginx"])
    with pytest.raises(ValueError, match="activas"):
        run_benchmark(["base"], connections=3, active=4)


def test_recv_cost_is_measured_in_a_fresh_interpreter():
    # Solo la forma del resultado: cuánto cuesta cada lectura depende del asignador de memoria
    # del sistema (la lección 08 lo explica) y no es algo que una prueba pueda fijar.
    for free_big_block in (False, True):
        cost = measure_recv_cost(reads=200, free_big_block=free_big_block)
        assert cost.free_big_block is free_big_block
        assert 0 < cost.recv_big < 0.01 and 0 < cost.recv_into < 0.01
        assert cost.ratio == cost.recv_big / cost.recv_into


def test_closing_the_zygote_leaves_no_file_open():
    # El proceso que crea los hijos vive mientras el intérprete; al cerrarlo (atexit) no debe
    # quedar abierta su salida de errores, o Python avisa al salir con un ResourceWarning.
    code = (
        "from asyncio_avanzado.bench import processes\n"
        "zygote = processes._the_zygote()\n"
        "processes._close_zygote()\n"
        "print(zygote.proc.stderr.closed, zygote.proc.stdin.closed)\n"
    )
    done = subprocess.run(
        [sys.executable, "-X", "dev", "-c", code], capture_output=True, text=True, timeout=60
    )
    assert done.stdout.split() == ["True", "True"], done.stderr
    assert "ResourceWarning" not in done.stderr, done.stderr
