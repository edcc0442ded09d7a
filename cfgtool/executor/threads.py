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
- minus the cores other processes kept busy since the last pass (or during a short first
  sample): the machine's busy time from ``/proc/stat`` less this process's own CPU time
  (``os.times``), in cores; half a core busy or more counts as a core taken;
- at least 1. ``--threads N`` (``Threads(fixed=N)``) skips all of that.

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
FIRST_SAMPLE = 0.05  # seconds of load sampling before the first pass


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


def _machine_busy(proc: Path) -> tuple[float, float] | None:
    """(busy seconds of all cores since boot, wall time) from /proc/stat's cpu line."""
    try:
        with open(proc / "stat") as fh:
            fields = fh.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    ticks = [int(v) for v in fields[1:]]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    busy = sum(ticks[:8]) - idle  # user nice system idle iowait irq softirq steal (guest is inside user)
    return busy / os.sysconf("SC_CLK_TCK"), time.monotonic()


def _own_cpu() -> float:
    t = os.times()
    return t.user + t.system


# shared by every executor of the process: (machine busy, wall, own CPU) at the last decision
# per /proc, and threadpoolctl's view of the loaded BLAS libraries
_MARKS: dict[Path, tuple[float, float, float]] = {}
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

    def others_busy(self) -> float | None:
        """Cores other processes kept busy since the last call in this process (the first
        samples :data:`FIRST_SAMPLE` seconds); None where /proc/stat is missing."""
        mark = _MARKS.get(self.proc)
        if mark is None:
            first = _machine_busy(self.proc)
            if first is None:
                return None
            mark = (*first, _own_cpu())
            time.sleep(FIRST_SAMPLE)
        now = _machine_busy(self.proc)
        if now is None:
            return None
        busy0, wall0, own0 = mark
        own = _own_cpu()
        _MARKS[self.proc] = (*now, own)
        elapsed = now[1] - wall0
        if elapsed <= 0:
            return 0.0
        return max(0.0, (now[0] - busy0) - (own - own0)) / elapsed

    def choose(self) -> Choice:
        if self.fixed is not None:
            return Choice(self.fixed, "--threads")
        others = self.others_busy() if self.cpus > 1 else None
        if others is None:
            return Choice(self.cpus, self.cpus_why)
        taken = math.floor(others + 0.5)  # a core counts as taken from half busy
        free = max(1, self.cpus - taken)
        why = self.cpus_why + f"; other processes kept {others:.1f} core(s) busy"
        return Choice(free, why)

    @contextmanager
    def limit(self):
        """Set the BLAS threads for one pass (and restore them afterwards)."""
        global _CONTROLLER
        choice = self.used = self.choose()
        if _CONTROLLER is None:
            from threadpoolctl import ThreadpoolController

            _CONTROLLER = ThreadpoolController()
        with _CONTROLLER.limit(limits=choice.threads, user_api="blas"):
            yield choice
