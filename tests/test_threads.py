"""The BLAS thread count: affinity mask, cgroup quota, machine load, --threads (issue 20)."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest
from click.testing import CliRunner
from threadpoolctl import threadpool_info

from cfgtool.cli import main
from cfgtool.executor import activations, kernels
from cfgtool.executor import threads as th
from cfgtool.executor.ops import _fastconv
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


class FakeMachine:
    """A fake /proc/stat, clock and CPU time of this process: ``spend(seconds, others, own)``
    lets time pass with ``others`` cores busy in other processes and ``own`` in this one;
    ``time.sleep`` passes time with the current ``others``."""

    def __init__(self, proc, monkeypatch):
        self.proc, self.at, self.busy, self.own, self.others = proc, 1000.0, 5000.0, 10.0, 0.0
        monkeypatch.setattr(th.time, "monotonic", lambda: self.at)
        monkeypatch.setattr(th.time, "sleep", lambda s: self.spend(s, self.others))
        monkeypatch.setattr(th.os, "times", lambda: os.times_result((self.own, 0.0, 0.0, 0.0, self.at)))
        self.write()

    def write(self):
        ticks = round(self.busy * os.sysconf("SC_CLK_TCK"))
        (self.proc / "stat").write_text(f"cpu  {ticks - 7} 0 7 123456 0 0 0 0 0 0\ncpu0 1 2 3 4\n")

    def spend(self, seconds, others, own=0.0):
        self.others = others
        self.at += seconds
        self.own += own * seconds
        self.busy += (others + own) * seconds
        self.write()


def test_threads_follow_the_freshest_load(tmp_path, four_cpus, monkeypatch):
    root, proc = fake_machine(tmp_path, "0::/", {})
    m = FakeMachine(proc, monkeypatch)
    chooser = th.Threads(cgroup_root=root, proc=proc)

    def run_pass(seconds, others):
        with chooser.limit() as choice:
            m.spend(seconds, others, own=choice.threads)
        return choice

    m.others = 1.0  # another process holds a core: the first pass samples 50 ms
    first = run_pass(2.0, 1.0)
    assert first.threads == 3 and "kept 1.0 core(s) busy in a 50 ms sample" in first.why
    m.spend(0.25, 0.0)  # it stops; a quarter of a second later the machine is quiet
    quiet = run_pass(0.5, 0.0)
    assert quiet.threads == 4, quiet.why  # not the load of the busy pass before
    assert "in the 0.25 s since the last pass" in quiet.why
    assert run_pass(0.5, 1.6).threads == 4  # back to back: judged by the last pass, which was quiet
    busy = run_pass(0.5, 0.0)
    assert busy.threads == 2 and "kept 1.6 core(s) busy during the last pass" in busy.why
    assert run_pass(0.5, 0.0).threads == 4  # the load went during the pass before
    m.spend(0.1, 0.6)
    assert run_pass(0.5, 0.0).threads == 3  # 0.6 of a core counts as taken
    m.spend(0.1, 0.4)
    assert run_pass(0.5, 0.0).threads == 4  # 0.4 does not


def test_a_long_busy_pause_is_checked_by_a_fresh_sample(tmp_path, four_cpus, monkeypatch):
    root, proc = fake_machine(tmp_path, "0::/", {})
    m = FakeMachine(proc, monkeypatch)
    chooser = th.Threads(cgroup_root=root, proc=proc)
    with chooser.limit():
        m.spend(0.5, 0.0, own=4)
    m.spend(4.0, 1.0)
    m.spend(1.0, 0.0)  # 0.8 cores busy on average over the pause, none now
    choice = chooser.choose()
    assert choice.threads == 4 and "in a 50 ms sample" in choice.why
    m.spend(4.0, 1.0)  # busy over the pause and still busy
    assert chooser.choose().threads == 3


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
    seen: dict[tuple[int, bool], list[tuple[set[int], int]]] = {}
    x = np.random.default_rng(0).random((1, 3, 32, 32), dtype=np.float32)
    for n in (1, 2):
        exe = Executor(net, shapes, threads=n)
        for train in (False, True):
            got = seen[n, train] = []
            exe.forward(x, train=train, progress=lambda i: got.append((set(_blas_threads()), kernels._WORKERS.get())))
            assert exe.threads.used == th.Choice(n, "--threads")
            assert _blas_threads() == before
    # every BLAS library loaded (numpy's, and others a test run may have loaded), at each layer
    assert seen[1, False] == seen[1, True] == [({1}, 1)] * 2
    # inference: the kernels split their work over 2 threads, each BLAS call runs on one
    assert seen[2, False] == [({1}, 2)] * 2
    assert seen[2, True] == [({2}, 1)] * 2  # training: the BLAS gets both (2 is not silently 1)


SPLIT_NET = NET.replace("[convolutional]\nfilters=64\nsize=3\nstride=1\npad=1\nactivation=mish\n", """[convolutional]
filters=64
size=3
stride=1
pad=1
activation=mish

[convolutional]
filters=16
size=3
stride=2
pad=1
activation=swish

[convolutional]
filters=24
size=1
stride=1
pad=0
activation=logistic

[convolutional]
filters=24
size=3
stride=1
pad=2
dilation=2
activation=mish

[convolutional]
filters=24
size=3
stride=1
pad=1
activation=mish

[connected]
output=10
activation=leaky
""")


def test_split_kernels_give_the_one_thread_result(monkeypatch):
    # parts this small would not pay on real inputs: lowered so a 32x32 net splits everything
    monkeypatch.setattr(kernels, "SPLIT_FLOPS", 1000)
    monkeypatch.setattr(_fastconv, "SPLIT_VALUES", 64)
    monkeypatch.setattr(activations, "SPLIT_CHUNK", 64)
    net = build(parse(SPLIT_NET))
    shapes = infer_shapes(net)
    x = np.random.default_rng(0).normal(size=(2, 3, 32, 32)).astype(np.float32)
    parts = []
    real = kernels.split

    def counting(fn, total, *args, **kwargs):
        real(lambda i, j: (parts.append(threading.current_thread().name), fn(i, j)), total, *args, **kwargs)

    monkeypatch.setattr(kernels, "split", counting)
    outs = {}
    for n in (1, 2):
        exe = Executor(net, shapes, batch=2, threads=n, seed=3)
        outs[n] = exe.forward(x, keep="all")
        assert (n == 1) == all(name == threading.current_thread().name for name in parts)
        parts.clear()
    assert outs[1].keys() == outs[2].keys()
    for i in outs[1]:  # the same products; the BLAS may sum a part of another shape in another order
        np.testing.assert_allclose(outs[1][i], outs[2][i], rtol=1e-5, atol=1e-6, err_msg=f"layer {i}")


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


def _split_in_child() -> None:
    seen = []
    with kernels.workers(2):
        kernels.split(lambda i, j: seen.append((i, j)), 2)
    os._exit(0 if sorted(seen) == [(0, 1), (1, 2)] else 3)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_split_runs_in_a_forked_child():
    import multiprocessing

    with kernels.workers(2):
        kernels.split(lambda i, j: None, 2)  # this process has its pool threads now
    child = multiprocessing.get_context("fork").Process(target=_split_in_child)
    child.start()
    child.join(30)
    hung = child.is_alive()
    if hung:
        child.kill()
    assert not hung and child.exitcode == 0  # the child's split did not wait for the parent's threads
