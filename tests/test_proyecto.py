"""El proyecto final (src/asyncio_avanzado/proyecto): servicio heredado, clientes y servicio."""

import asyncio
import json
import re
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import aiohttp
import pytest
from system_tools import require

from asyncio_avanzado.background import LoopThread
from asyncio_avanzado.postgres import PostgresNotFound, TemporaryPostgres, find_postgres
from asyncio_avanzado.proyecto import (
    BackgroundLegacyPriceServer,
    LegacyError,
    fetch_price,
    fetch_price_async,
    make_items,
    parse_reply,
    prepare,
    price_for,
    simulate_price,
)
from asyncio_avanzado.proyecto.load import load_test
from asyncio_avanzado.proyecto.service import PriceService

SEED = 7

# -- el servicio heredado y sus dos clientes ---------------------------------------------------


def codes_with(legacy, fault: str) -> list[str]:
    return [c for c in (f"X-{i}" for i in range(200)) if legacy.fault(c) == fault]


def test_faults_and_prices_are_deterministic_under_a_seed():
    options = {"seed": SEED, "hang_rate": 0.2, "reset_rate": 0.1}
    with BackgroundLegacyPriceServer(**options) as a, BackgroundLegacyPriceServer(**options) as b:
        codes = [f"X-{i}" for i in range(200)]
        assert [a.fault(c) for c in codes] == [b.fault(c) for c in codes]
        assert a.price("X-1") == b.price("X-1") == price_for(SEED, "X-1")
        faults = [a.fault(c) for c in codes]
        # Una fracción parecida a la pedida, con 200 códigos.
        assert 20 <= faults.count("cuelga") <= 60 and 5 <= faults.count("corta") <= 40
    with BackgroundLegacyPriceServer(seed=SEED + 1, hang_rate=0.2) as c:
        assert [c.fault(x) for x in codes] != faults


def test_blocking_client_gets_the_price_and_honours_its_timeout():
    with BackgroundLegacyPriceServer(seed=SEED, hang_rate=0.2, reset_rate=0.1, hold=2) as legacy:
        good = codes_with(legacy, "bien")[0]
        assert fetch_price(legacy.address, good, timeout=2) == legacy.price(good)
        began = time.perf_counter()
        with pytest.raises(TimeoutError):
            fetch_price(legacy.address, codes_with(legacy, "cuelga")[0], timeout=0.2)
        assert time.perf_counter() - began < 1.5
        with pytest.raises(ConnectionError):
            fetch_price(legacy.address, codes_with(legacy, "corta")[0], timeout=2)
        stats = legacy.legacy_stats
        assert stats.requests == 3 and stats.answered == 1 and stats.resets == 1
        deadline = time.monotonic() + 2
        while legacy.legacy_stats.hung_closed_by_client < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert legacy.legacy_stats.hung_closed_by_client == 1  # el cliente se rindió él


def test_native_client_reads_a_reply_that_arrives_in_pieces():
    async def main(legacy):
        good = codes_with(legacy, "bien")[:5]
        prices = await asyncio.gather(*(fetch_price_async(legacy.address, c, 2) for c in good))
        assert prices == [legacy.price(c) for c in good]
        with pytest.raises(TimeoutError):
            await fetch_price_async(legacy.address, codes_with(legacy, "cuelga")[0], 0.2)
        with pytest.raises(ConnectionError):
            await fetch_price_async(legacy.address, codes_with(legacy, "corta")[0], 2)

    with BackgroundLegacyPriceServer(seed=SEED, hang_rate=0.2, reset_rate=0.1, hold=2) as legacy:
        asyncio.run(main(legacy))
        assert legacy.legacy_stats.peak_in_flight == 5


def test_legacy_protocol_errors_keep_the_connection():
    with BackgroundLegacyPriceServer(seed=SEED) as legacy:
        with socket.create_connection(legacy.address, timeout=2) as sock:
            stream = sock.makefile("rb")
            sock.sendall(b"HOLA\nPRECIO A-1\n")
            assert stream.readline().startswith(b"ERROR ")
            assert parse_reply("A-1", stream.readline()) == legacy.price("A-1")
            stream.close()


def test_parse_reply_rejects_what_is_not_the_protocol():
    assert parse_reply("A", b"OK A 123\n") == 123
    with pytest.raises(ConnectionError):
        parse_reply("A", b"")
    for bad in (b"OK A 12", b"OK B 12\n", b"ERROR no\n", b"OK A doce\n"):
        with pytest.raises(LegacyError):
            parse_reply("A", bad)


def test_simulation_is_deterministic_and_costs_with_rounds():
    assert simulate_price("A-1", 1000, 50) == simulate_price("A-1", 1000, 50)
    assert simulate_price("A-1", 1000, 0) == 1000
    with pytest.raises(ValueError, match="rounds"):
        simulate_price("A-1", 1000, -1)


# -- el servicio HTTP, con un PostgreSQL de verdad ---------------------------------------------


@pytest.fixture(scope="module")
def stack():
    """PostgreSQL con el catálogo, el servicio heredado y un servicio HTTP en su propio hilo."""
    try:
        found = bool(find_postgres())
    except PostgresNotFound:
        found = False
    require(found, "PostgreSQL (initdb y postgres)", "sudo apt-get install postgresql")
    items = make_items(30, SEED)
    with (
        TemporaryPostgres() as pg,
        BackgroundLegacyPriceServer(
            seed=SEED, delay=0.05, hang_rate=0.15, reset_rate=0.1, hold=2
        ) as legacy,
    ):
        thread = LoopThread("servicio-prueba").start()
        try:
            thread.run(prepare(pg.dsn, items))
            service = PriceService(pg.dsn, legacy.address, deadline=0.4, rounds=100, workers=1)
            thread.run(service.start())
            try:
                # Los hilos del pool nacen con las primeras peticiones: que no cuenten como fugas.
                paths = [f"/articulos/{i.id}" for i in items[:10]]
                thread.run(load_test(service.url, paths, clients=10))
                yield service, legacy, items, thread, pg
            finally:
                thread.run(service.stop())
        finally:
            thread.stop()


async def ask(url, method, path, **options):
    async with aiohttp.ClientSession(url) as session:
        async with session.request(method, path, **options) as response:
            return response.status, await response.json(content_type=None)


def expected_item(item, legacy):
    fault = legacy.fault(item.codigo)
    if fault == "bien":
        return 200, {**item.as_json(), "precio": legacy.price(item.codigo)}
    return (504 if fault == "cuelga" else 502), None


def test_every_answer_of_a_load_test_is_right_and_hangs_answer_504_in_time(stack):
    service, legacy, items, *_ = stack
    paths = [f"/articulos/{i.id}" for i in items]
    result = asyncio.run(load_test(service.url, paths, clients=10))
    by_id = {i.id: i for i in items}
    for answer in result.answers:
        status, body = expected_item(by_id[int(answer.path.rsplit("/", 1)[1])], legacy)
        assert answer.status == status, answer
        if body is not None:
            assert answer.body == body
        else:
            assert "servicio de precios" in answer.body["error"]
        if status == 504:  # dentro del plazo (0.4 s), con margen para una máquina ocupada
            assert answer.latency < 0.4 + 1.0
    assert {504, 502, 200} <= set(result.statuses)


@pytest.mark.parametrize(
    ("method", "path", "options", "status", "says"),
    [
        ("GET", "/articulos/abc", {}, 400, "número entero"),
        ("GET", "/articulos/99999999999", {}, 400, "fuera de rango"),
        ("GET", "/articulos/9999", {}, 404, "ningún artículo"),
        ("GET", "/no-existe", {}, 404, "no existe la ruta"),
        ("DELETE", "/salud", {}, 405, "no admite DELETE"),
        ("POST", "/reservas", {"data": b"{no es json"}, 400, "no es JSON"),
        ("POST", "/reservas", {"data": b"\xff\xfe"}, 400, "UTF-8"),
        ("POST", "/reservas", {"json": [1, 2]}, 400, "objeto JSON"),
        ("POST", "/reservas", {"json": {"id": 1}}, 400, "falta el campo 'cantidad'"),
        ("POST", "/reservas", {"json": {"id": "1", "cantidad": 1}}, 400, "«id»"),
        ("POST", "/reservas", {"json": {"id": 1, "cantidad": True}}, 400, "«cantidad»"),
        ("POST", "/reservas", {"json": {"id": 1, "cantidad": -3}}, 400, "mayor que 0"),
        ("POST", "/reservas", {"json": {"id": 9999, "cantidad": 1}}, 404, "ningún artículo"),
        ("POST", "/reservas", {"json": {"id": 1, "cantidad": 10**6}}, 409, "no hay 1000000"),
        ("POST", "/reservas", {"data": b"x" * 100_000}, 413, "límite de 16384 bytes"),
    ],
)
def test_bad_input_gets_a_spanish_json_error(stack, method, path, options, status, says):
    service = stack[0]
    got_status, body = asyncio.run(ask(service.url, method, path, **options))
    assert got_status == status, body
    assert says in body["error"]


def test_with_the_blocking_library_in_threads_a_hang_answers_504_in_time(stack):
    _, legacy, items, thread, pg = stack
    hung = next(i for i in items if legacy.fault(i.codigo) == "cuelga")
    good = [i for i in items if legacy.fault(i.codigo) == "bien"][:3]
    # Sin simulación en esta prueba: un ejecutor que nadie usa, en vez de otro pool de procesos.
    unused = ThreadPoolExecutor(1)
    service = PriceService(
        pg.dsn, legacy.address, client="hilos", deadline=0.4, threads=4, processes=unused
    )
    thread.run(service.start())
    try:
        paths = [f"/articulos/{i.id}" for i in [hung, *good]]
        result = thread.run(load_test(service.url, paths, clients=4))
    finally:
        thread.run(service.stop())
    by_path = {a.path: a for a in result.answers}
    assert by_path[paths[0]].status == 504 and by_path[paths[0]].latency < 1.4
    for item in good:
        assert (by_path[f"/articulos/{item.id}"].status, by_path[f"/articulos/{item.id}"].body) == (
            expected_item(item, legacy)
        )
    # El hilo colgado se rindió solo, con el plazo de su socket.
    deadline = time.monotonic() + 2
    while legacy.legacy_stats.hung_closed_by_client < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert legacy.legacy_stats.hung_closed_by_client >= 1


def test_a_reservation_updates_the_database(stack):
    service, _, items, *_ = stack
    item = next(i for i in items if i.stock >= 2)
    status, body = asyncio.run(
        ask(service.url, "POST", "/reservas", json={"id": item.id, "cantidad": 2})
    )
    assert (status, body) == (200, {"id": item.id, "cantidad": 2, "stock": item.stock - 2})
    status, body = asyncio.run(
        ask(service.url, "POST", "/reservas", json={"id": item.id, "cantidad": -2})
    )
    assert status == 400


def test_simulation_runs_in_the_process_pool(stack):
    service, legacy, items, *_ = stack
    item = next(i for i in items if legacy.fault(i.codigo) == "bien")
    status, body = asyncio.run(ask(service.url, "GET", f"/articulos/{item.id}/simulacion"))
    price = legacy.price(item.codigo)
    assert status == 200
    assert body == {
        "id": item.id,
        "codigo": item.codigo,
        "precio": price,
        "p95": simulate_price(item.codigo, price, 100),
    }


def test_health_reports_the_loop_lag(stack):
    status, body = asyncio.run(ask(stack[0].url, "GET", "/salud"))
    assert status == 200 and body["estado"] == "bien"
    assert body["latidos"] > 0 and body["retraso_max_ms"] >= 0


def test_a_client_that_vanishes_mid_request_does_not_hurt_the_others(stack):
    service, legacy, items, *_ = stack
    host, port = service.address
    hung = next(i for i in items if legacy.fault(i.codigo) == "cuelga")
    good = next(i for i in items if legacy.fault(i.codigo) == "bien")
    # Uno corta a mitad de las cabeceras; otro espera un precio colgado y se va (RST).
    with socket.create_connection((host, port), timeout=2) as half:
        half.sendall(b"GET /articulos/1 HTTP/1.1\r\nHost: x\r\n")
    with socket.create_connection((host, port), timeout=2) as gone:
        gone.sendall(f"GET /articulos/{hung.id} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        gone.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    with socket.create_connection((host, port), timeout=2) as body_cut:
        body_cut.sendall(b"POST /reservas HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
    status, body = asyncio.run(ask(service.url, "GET", f"/articulos/{good.id}"))
    assert (status, body) == expected_item(good, legacy)


# -- la orden de terminal ------------------------------------------------------------------------


def read_until(proc, text):
    while line := proc.stdout.readline():
        if text in line:
            return line
    raise AssertionError(f"la orden terminó sin escribir {text!r}")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_the_command_serves_and_stops_in_order(signum):
    try:
        found = bool(find_postgres())
    except PostgresNotFound:
        found = False
    require(found, "PostgreSQL (initdb y postgres)", "sudo apt-get install postgresql")
    command = [sys.executable, "-m", "asyncio_avanzado", "proyecto", "--port", "0"]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        try:
            line = read_until(proc, "Servicio escuchando en")
            url = re.search(r"http://127\.0\.0\.1:\d+", line)[0]
            read_until(proc, "Ctrl-C")
            status, body = asyncio.run(ask(url, "GET", "/salud"))
            assert status == 200 and body["estado"] == "bien"
            status, body = asyncio.run(ask(url, "GET", "/articulos/1"))
            assert status in (200, 502, 504) and body
            proc.send_signal(signum)
            out, err = proc.communicate(timeout=20)
        finally:
            proc.kill()
    assert proc.returncode == 0, err
    assert "Traceback" not in out + err
    assert "servicio detenido" in out and out.rstrip().endswith("Servicio detenido.")
    json.dumps(out)  # texto, sin bytes sueltos
