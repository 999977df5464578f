"""Núcleos utilizables: afinidad y cuota del cgroup (v2 y v1), leídas de archivos de prueba."""

import os

import pytest

from asyncio_avanzado import cores
from asyncio_avanzado.cores import Cores, cgroup_quota, speedup_case, usable_cores


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_cgroup_v2_quota(tmp_path):
    _write(tmp_path / "cg" / "cpu.max", "150000 100000\n")
    _write(tmp_path / "proc", "0::/\n")
    quota, source = cgroup_quota(tmp_path / "cg", tmp_path / "proc")
    assert quota == 1.5
    assert source.endswith("cpu.max")


def test_cgroup_v2_without_quota(tmp_path):
    _write(tmp_path / "cg" / "cpu.max", "max 100000\n")
    _write(tmp_path / "proc", "0::/\n")
    assert cgroup_quota(tmp_path / "cg", tmp_path / "proc") == (None, None)


def test_cgroup_v2_the_smallest_quota_of_the_ancestors_wins(tmp_path):
    _write(tmp_path / "cg" / "cpu.max", "max 100000\n")
    _write(tmp_path / "cg" / "user" / "cpu.max", "100000 100000\n")
    _write(tmp_path / "cg" / "user" / "kernel" / "cpu.max", "300000 100000\n")
    _write(tmp_path / "proc", "0::/user/kernel\n")
    quota, source = cgroup_quota(tmp_path / "cg", tmp_path / "proc")
    assert quota == 1.0
    assert "user" in source and "kernel" not in source


def test_cgroup_v2_path_seen_from_outside_the_container(tmp_path):
    # /proc/self/cgroup da una ruta que no existe dentro: manda el punto de montaje.
    _write(tmp_path / "cg" / "cpu.max", "50000 100000\n")
    _write(tmp_path / "proc", "0::/docker/abc123\n")
    assert cgroup_quota(tmp_path / "cg", tmp_path / "proc")[0] == 0.5


def test_cgroup_v1_quota(tmp_path):
    _write(tmp_path / "cg" / "cpu,cpuacct" / "cpu.cfs_quota_us", "200000\n")
    _write(tmp_path / "cg" / "cpu,cpuacct" / "cpu.cfs_period_us", "100000\n")
    _write(tmp_path / "proc", "4:memory:/x\n3:cpu,cpuacct:/\n0::/\n")
    quota, source = cgroup_quota(tmp_path / "cg", tmp_path / "proc")
    assert quota == 2.0
    assert source.endswith("cpu.cfs_quota_us")


def test_cgroup_v1_without_quota(tmp_path):
    _write(tmp_path / "cg" / "cpu" / "cpu.cfs_quota_us", "-1\n")
    _write(tmp_path / "cg" / "cpu" / "cpu.cfs_period_us", "100000\n")
    _write(tmp_path / "proc", "1:cpu:/\n")
    assert cgroup_quota(tmp_path / "cg", tmp_path / "proc") == (None, None)


def test_unreadable_cgroup_means_no_quota(tmp_path):
    assert cgroup_quota(tmp_path / "nada", tmp_path / "tampoco") == (None, None)
    _write(tmp_path / "proc", "0::/\n")
    _write(tmp_path / "cg" / "cpu.max", "basura\n")
    assert cgroup_quota(tmp_path / "cg", tmp_path / "proc") == (None, None)


@pytest.mark.parametrize(
    ("cores_", "usable", "limit"),
    [
        (Cores(8, 8, None), 8, 8),
        (Cores(8, 1, None), 1, 1),
        (Cores(8, 8, 1.5), 1, 1.5),
        (Cores(8, 4, 2.0), 2, 2),
        (Cores(8, 8, 0.5), 1, 0.5),
        (Cores(None, None, None), 1, 1),
    ],
)
def test_usable_is_the_smallest_limit_rounded_down(cores_, usable, limit):
    assert cores_.usable == usable
    assert cores_.limit == limit


def test_describe_says_where_the_number_comes_from():
    text = Cores(2, 1, None).describe()
    assert text.startswith("1 núcleo utilizable (")
    assert "os.cpu_count() dice 2" in text and "afinidad: 1" in text
    assert "sin cuota de CPU" in text
    quota = Cores(4, 4, 1.5, "/sys/fs/cgroup/cpu.max").describe()
    assert quota.startswith("1 núcleo utilizable")
    assert "cuota de CPU: 1.5 núcleos (/sys/fs/cgroup/cpu.max)" in quota
    assert "cuota de CPU: 2 núcleos" in Cores(4, 4, 2.0, "f").describe()


def test_usable_cores_on_this_machine_follows_the_affinity():
    measured = usable_cores()
    assert measured.cpu_count == os.cpu_count()
    if hasattr(os, "sched_getaffinity"):
        assert measured.affinity == len(os.sched_getaffinity(0))
        assert measured.usable <= measured.affinity


def test_module_exports():
    assert set(cores.__all__) == {"Cores", "cgroup_quota", "speedup_case", "usable_cores"}


def test_speedup_case_one_core():
    assert speedup_case(1, 1.0, 1.0).startswith("1 núcleo utilizable: los trabajos se turnaron")


def test_speedup_case_busy_machine():
    text = speedup_case(2, 1.1, 1.1)
    assert text.startswith("máquina ocupada") and "1.1 a la vez" in text


def test_speedup_case_parallel_as_expected():
    expected = "2 núcleos utilizables: los trabajos ocuparon 1.9 a la vez, ×1.9"
    assert speedup_case(2, 1.9, 1.95) == expected


def test_speedup_case_parallel_but_each_job_cost_more_cpu():
    # 1.7 núcleos ocupados y solo ×1.2: cada trabajo gastó 1.7 / 1.2 = 1.42 veces su CPU en serie
    text = speedup_case(2, 1.2, 1.7)
    assert "ocuparon 1.7 a la vez, ×1.2" in text and "un 42 % más de CPU" in text


def test_speedup_case_uses_the_serial_cores():
    # en serie solo se ocupó 0.85 de núcleo (máquina algo ocupada): ×2 con 1.7 no encarece nada
    assert "más de CPU" not in speedup_case(2, 2.0, 1.7, serial_busy=0.85)
