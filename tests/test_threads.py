"""The BLAS thread count: affinity mask, cgroup quota, machine load, --threads (issue 20)."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from threadpoolctl import threadpool_info

from cfgtool.cli import main
from cfgtool.executor import threads as th
from cfgtool.executor.network import Executor
from cfgtool.model import build
from cfgtool.shapes import infer_shapes
from cfgtool.syntax import parse

NET = """[net]
width=32
height=32
channels=3

[convolutional]
filters=64
size=3
stride=1
pad=1
activation=leaky

[convolutional]
filters=64
size=3
stride=1
pad=1
activation=mish
"""


def fake_machine(tmp_path, cgroup_line: str, files: dict[str, str]):
    """(cgroup root, proc) folders: /proc/self/cgroup says ``cgroup_line``, ``files`` are
    written below the cgroup root."""
    root, proc = tmp_path / "cgroup", tmp_path / "proc"
    (proc / "self").mkdir(parents=True)
    (proc / "self" / "cgroup").write_text(cgroup_line + "\n")
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root, proc


@pytest.fixture
def four_cpus(monkeypatch):
    monkeypatch.setattr(th.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)


def test_cgroup_v2_quota_caps_the_threads(tmp_path, four_cpus):
    root, proc = fake_machine(tmp_path, "0::/job/step", {"job/step/cpu.max": "250000 100000\n",
                                                         "job/cpu.max": "max 100000\n"})
    assert th.cgroup_cpus(root, proc) == 2.5
    assert th.usable_cpus(root, proc) == (2, "4 in the affinity mask, cgroup CPU quota 2.5")


def test_cgroup_v1_quota_and_no_quota(tmp_path, four_cpus):
    root, proc = fake_machine(tmp_path, "4:cpu,cpuacct:/docker/abc", {
        "cpu,cpuacct/docker/abc/cpu.cfs_quota_us": "150000\n", "cpu,cpuacct/docker/abc/cpu.cfs_period_us": "100000\n"})
    assert th.usable_cpus(root, proc)[0] == 1  # 1.5 CPUs: a thread on half a core would hold every product up
    root, proc = fake_machine(tmp_path / "b", "4:cpu,cpuacct:/", {
        "cpu,cpuacct/cpu.cfs_quota_us": "-1\n", "cpu,cpuacct/cpu.cfs_period_us": "100000\n"})
    assert th.cgroup_cpus(root, proc) is None
    assert th.usable_cpus(root, proc)[0] == 4


def test_affinity_mask_limits_the_threads(tmp_path, monkeypatch):
    monkeypatch.setattr(th.os, "sched_getaffinity", lambda pid: {3}, raising=False)
    root, proc = fake_machine(tmp_path, "0::/", {})
    chooser = th.Threads(cgroup_root=root, proc=proc)
    assert chooser.choose() == th.Choice(1, "1 in the affinity mask")


def test_busy_cores_are_left_to_the_other_processes(tmp_path, four_cpus, monkeypatch):
    root, proc = fake_machine(tmp_path, "0::/", {})
    # machine busy seconds and wall clock, then this process's CPU time, at each sample
    busy = iter([(100.0, 10.0), (101.5, 11.0), (104.0, 12.0), (104.1, 13.0)])
    own = iter([5.0, 5.5, 6.5, 6.6])
    monkeypatch.setattr(th, "_machine_busy", lambda proc: next(busy))
    monkeypatch.setattr(th, "_own_cpu", lambda: next(own))
    monkeypatch.setattr(th.time, "sleep", lambda s: None)
    chooser = th.Threads(cgroup_root=root, proc=proc)
    first = chooser.choose()  # others: 1.5 - 0.5 = 1 core in 1 s
    assert first.threads == 3 and "kept 1.0 core(s) busy" in first.why
    assert chooser.choose().threads == 2  # 2.5 - 1.0 = 1.5 cores: two taken
    assert chooser.choose().threads == 4  # 0.1 - 0.1: quiet again


def test_without_proc_stat_the_usable_cores_are_used(tmp_path, four_cpus):
    root, proc = fake_machine(tmp_path, "0::/", {})  # no proc/stat
    assert th.Threads(cgroup_root=root, proc=proc).choose().threads == 4


def _blas_threads() -> list[int]:
    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]


def test_threads_1_runs_one_blas_thread_and_restores_the_setting():
    if not _blas_threads():
        pytest.skip("numpy's BLAS is not visible to threadpoolctl")
    net = build(parse(NET))
    shapes = infer_shapes(net)
    before = _blas_threads()
    seen: dict[int, list[list[int]]] = {}
    x = np.random.default_rng(0).random((1, 3, 32, 32), dtype=np.float32)
    for n in (1, 2):
        exe = Executor(net, shapes, threads=n)
        seen[n] = []
        exe.forward(x, progress=lambda i: seen[n].append(_blas_threads()))
        assert exe.threads.used == th.Choice(n, "--threads")
        assert _blas_threads() == before
    # every BLAS library loaded (numpy's, and others a test run may have loaded), at each layer
    assert [set(t) for t in seen[1]] == [{1}, {1}]
    assert [set(t) for t in seen[2]] == [{2}, {2}]  # the check sees the setting: 2 is not silently 1


def test_run_and_smoke_report_the_threads(tmp_path):
    cfg = tmp_path / "n.cfg"
    cfg.write_text(NET)
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((1, 3, 32, 32), np.float32))
    runner = CliRunner()
    result = runner.invoke(main, ["run", str(cfg), "--input", str(x), "--threads", "1"])
    assert result.exit_code == 0, result.output
    assert "threads: 1 (--threads)" in result.output
    result = runner.invoke(main, ["smoke", str(cfg), "--size", "32"])
    assert result.exit_code == 0, result.output
    assert "threads: " in result.output and "affinity mask" in result.output
