"""Las funciones de CPU de la lección 05: resultados correctos y utilizables en procesos."""

import hashlib
import pickle
from concurrent.futures import ProcessPoolExecutor

import pytest

from asyncio_avanzado import cpu


def test_count_primes_small_values():
    assert [cpu.count_primes(n) for n in (0, 2, 3, 10, 100)] == [0, 0, 1, 4, 25]


def test_count_primes_rejects_negative():
    with pytest.raises(ValueError, match="limit"):
        cpu.count_primes(-1)


def test_hash_buffer_matches_hashlib():
    assert cpu.hash_buffer(5000, 3) == hashlib.sha256(bytes(5000)).hexdigest()


def test_sha256_hex_is_the_hash_of_the_repeated_data_and_is_recorded():
    cpu._take_calls()
    assert cpu.sha256_hex(b"abc", 3) == hashlib.sha256(b"abcabcabc").hexdigest()
    assert len(cpu._take_calls()) == 1
    assert cpu._take_calls() == []


def test_functions_pickle_by_reference():
    for fn in (cpu.count_primes, cpu.hash_buffer, cpu.payload_size, cpu.sha256_hex):
        assert b"asyncio_avanzado.cpu" in pickle.dumps(fn)


def test_functions_run_in_a_process_pool():
    with ProcessPoolExecutor(max_workers=1) as pool:
        assert pool.submit(cpu.count_primes, 100).result() == 25
        assert pool.submit(cpu.payload_size, b"x" * 10).result() == 10
        assert pool.submit(cpu.hash_buffer, 10, 1).result() == hashlib.sha256(bytes(10)).hexdigest()


def test_warm_up_returns_the_pid_of_whoever_runs_it():
    import os

    assert cpu.warm_up() == os.getpid()
    with ProcessPoolExecutor(max_workers=2) as pool:
        pids = {f.result() for f in [pool.submit(cpu.warm_up, 0.2) for _ in range(2)]}
    assert len(pids) == 2 and os.getpid() not in pids


def test_cpu_time_counts_the_cpu_of_the_thread_that_runs_it():
    import time

    result, spent = cpu.cpu_time(cpu.count_primes, 20_000)
    assert result == 2262 and spent > 0
    _, slept = cpu.cpu_time(time.sleep, 0.05)
    assert slept < 0.02  # dormir no gasta CPU
    with ProcessPoolExecutor(max_workers=1) as pool:
        assert pool.submit(cpu.cpu_time, cpu.count_primes, 100).result()[0] == 25
