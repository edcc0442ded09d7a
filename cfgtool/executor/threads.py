"""How many threads the BLAS (OpenBLAS/MKL, through numpy) may use for a forward or backward.

OpenBLAS starts one worker per core and, in every matrix product, waits for all of them; its
idle workers spin. When another process keeps a core busy, the worker on that core gets a
slice of it now and then and every product waits for it: measured on 2 cores, yolov4@416 took
1.56 s per forward with one core taken against 0.59 s on one thread (issue 20). So before
each pass the executor asks :class:`Threads` for a count and sets it with threadpoolctl:

- the cores this process may run on: the affinity mask (``os.sched_getaffinity``), capped by
  the cgroup CPU quota (cgroup v2 ``cpu.max``, v1 ``cpu.cfs_quota_us``/``cpu.cfs_period_us``),
  rounded down (a quota of 1.5 CPUs gives 1 thread: a thread that gets half a core makes
  every product wait for it);
- minus the cores other processes keep busy: the machine's busy time from ``/proc/stat`` less
  this process's own CPU time (``os.times``), over the freshest window there is. That is the
  pause since this process's last pass (by any executor) when it lasted at least 20 ms, else
  (passes back to back) the last pass itself: another process keeping a core busy gets at
  least half of it even while our threads run, and a quiet machine shows no one, so the count
  goes back up as soon as the load goes. Before the first pass, and when a pause of more than
  a second looked busy (the load may have ended long before the pass), a fresh 50 ms sample
  decides. Half a core busy or more counts as a core taken;
- at least 1. ``--threads N`` (``Threads(fixed=N)``) skips all of that.

A window from one decision to the next (what this module first did) spans the previous pass
too: a quiet pass right after a busy one still saw the old load and ran on one thread.

The count goes to the BLAS in training passes. An inference forward instead runs the BLAS on
one thread per call and cuts the convolutions' matrix products, copies and transcendental
activations into one part per thread itself (:func:`cfgtool.executor.kernels.split`): those
threads wait for each other by blocking, not spinning, so a core taken after the choice
costs its share (measured on 2 cores with a fixed 2 threads and one core taken: 0.63 s
against OpenBLAS's 2.8-5.9 s), and the elementwise work, single-threaded beside OpenBLAS's
threads, runs on every thread too.

Only Linux has /proc/stat: elsewhere the load is not measured (the affinity/quota still
apply). The choice of the last pass is in :attr:`Threads.used` with the reason.
"""

from __future__ import annotations

import math
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC = Path("/proc")
SAMPLE = 0.05  # seconds of a fresh load sample (before the first pass, or after a long busy pause)
MIN_GAP = 0.02  # a pause between passes at least this long is the evidence; a shorter one, the last pass
STALE = 1.0  # a pause longer than this that looked busy is checked by a fresh sample
TAKEN = 0.5  # cores another process keeps at least this busy count as taken


def affinity_cpus() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def _cgroup_dirs(root: Path, proc: Path) -> list[Path]:
    """The cgroup folders of this process that may hold a CPU quota, innermost first, then
    the root (in a container the process's own cgroup is usually mounted at the root)."""
    dirs: list[Path] = []
    try:
        lines = (proc / "self" / "cgroup").read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, rel = parts
        rel = rel.lstrip("/")
        if controllers == "":  # v2: 0::/path
            bases = [root, root / "unified"]
        elif "cpu" in controllers.split(","):
            bases = [root / controllers, root / "cpu", root / "cpu,cpuacct"]
        else:
            continue
        for base in bases:
            here = base / rel if rel else base
            while True:
                if here not in dirs:
                    dirs.append(here)
                if here == base:
                    break
                here = here.parent
    for base in (root, root / "cpu", root / "cpu,cpuacct"):
        if base not in dirs:
            dirs.append(base)
    return dirs


def cgroup_cpus(root: Path = CGROUP_ROOT, proc: Path = PROC) -> float | None:
    """The CPU quota of this process's cgroups in CPUs (the smallest found), None without one."""
    limits = []
    for folder in _cgroup_dirs(root, proc):
        try:
            quota, period = (folder / "cpu.max").read_text().split()[:2]  # v2: "max 100000" or "150000 100000"
            if quota != "max" and int(period) > 0:
                limits.append(int(quota) / int(period))
            continue
        except (OSError, ValueError):
            pass
        try:
            quota = int((folder / "cpu.cfs_quota_us").read_text())
            period = int((folder / "cpu.cfs_period_us").read_text())
            if quota > 0 and period > 0:
                limits.append(quota / period)
        except (OSError, ValueError):
            pass
    return min(limits) if limits else None


def usable_cpus(root: Path = CGROUP_ROOT, proc: Path = PROC) -> tuple[int, str]:
    """(cores, why): the affinity mask capped by the cgroup quota (rounded down, at least 1)."""
    cpus = affinity_cpus()
    why = f"{cpus} in the affinity mask"
    quota = cgroup_cpus(root, proc)
    if quota is not None and math.floor(quota) < cpus:
        cpus = max(1, math.floor(quota))
        why += f", cgroup CPU quota {quota:g}"
    return cpus, why


@dataclass(frozen=True)
class Mark:
    """The machine's and this process's CPU time at one moment."""

    busy: float  # busy seconds of all cores since boot (/proc/stat)
    own: float  # this process's CPU seconds (os.times)
    at: float  # time.monotonic()


def mark(proc: Path = PROC) -> Mark | None:
    """A :class:`Mark` now; None where /proc/stat is missing or unreadable."""
    try:
        with open(proc / "stat") as fh:
            fields = fh.readline().split()
        ticks = [int(v) for v in fields[1:9]]
    except (OSError, ValueError):
        return None
    if not fields or fields[0] != "cpu" or len(ticks) < 4:
        return None
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    busy = sum(ticks) - idle  # user nice system idle iowait irq softirq steal (guest is inside user)
    t = os.times()
    return Mark(busy / os.sysconf("SC_CLK_TCK"), t.user + t.system, time.monotonic())


def others_busy(start: Mark, end: Mark) -> float:
    """Cores other processes kept busy on average between two marks."""
    elapsed = end.at - start.at
    if elapsed <= 0:
        return 0.0
    return max(0.0, (end.busy - start.busy) - (end.own - start.own)) / elapsed


# per /proc (tests fake it): the marks at the start and end of this process's last pass, by
# any executor; and threadpoolctl's view of the loaded BLAS libraries
_LAST_PASS: dict[Path, tuple[Mark, Mark]] = {}
_CONTROLLER = None


@dataclass
class Choice:
    threads: int
    why: str


class Threads:
    """Chooses and sets the BLAS thread count for each pass (see the module doc)."""

    def __init__(self, fixed: int | None = None, cgroup_root: Path = CGROUP_ROOT, proc: Path = PROC):
        self.fixed = fixed
        self.proc = proc
        self.cpus, self.cpus_why = usable_cpus(cgroup_root, proc)
        self.used: Choice | None = None

    def _sample(self, now: Mark) -> tuple[float, str] | None:
        time.sleep(SAMPLE)
        later = mark(self.proc)
        return None if later is None else (others_busy(now, later), f"in a {SAMPLE * 1e3:.0f} ms sample")

    def load(self) -> tuple[float, str] | None:
        """(cores other processes keep busy, over which time) from the freshest evidence: the
        pause since this process's last pass when it lasted :data:`MIN_GAP` or more, else
        that pass itself; a fresh sample before the first pass, and when a pause longer than
        :data:`STALE` looked busy (the load may have gone since). None without /proc/stat."""
        now = mark(self.proc)
        if now is None:
            return None
        last = _LAST_PASS.get(self.proc)
        if last is None:
            return self._sample(now)
        start, end = last
        gap = now.at - end.at
        if gap < MIN_GAP:
            return others_busy(start, end), "during the last pass"
        load = others_busy(end, now)
        if load >= TAKEN and gap > STALE:
            return self._sample(now)
        return load, f"in the {gap:.2f} s since the last pass"

    def choose(self) -> Choice:
        if self.fixed is not None:
            return Choice(self.fixed, "--threads")
        seen = self.load() if self.cpus > 1 else None
        if seen is None:
            return Choice(self.cpus, self.cpus_why)
        others, when = seen
        taken = math.floor(others + 1 - TAKEN)  # a core counts as taken from TAKEN busy
        free = max(1, self.cpus - taken)
        return Choice(free, self.cpus_why + f"; other processes kept {others:.1f} core(s) busy {when}")

    @contextmanager
    def limit(self, blas: bool = True):
        """Choose the threads for one pass and give them to the BLAS (``blas``), or leave the
        BLAS one thread (the caller runs its own threads: kernels.split); restored after."""
        global _CONTROLLER
        choice = self.used = self.choose()
        if _CONTROLLER is None:
            from threadpoolctl import ThreadpoolController

            _CONTROLLER = ThreadpoolController()
        with _CONTROLLER.limit(limits=choice.threads if blas else 1, user_api="blas"):
            start = mark(self.proc)
            try:
                yield choice
            finally:
                end = mark(self.proc)
                if start is not None and end is not None:
                    _LAST_PASS[self.proc] = (start, end)
