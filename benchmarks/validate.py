"""Wall time of ``cfgtool validate`` as a user sees it (not a test): one process on
examples/yolov4.cfg (target < 0.3 s), and one process on every corpus cfg (target < 3 s),
plus the in-process time per corpus file split into parse / shapes / rules.

Run: python benchmarks/validate.py [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
YOLOV4 = ROOT / "examples" / "yolov4.cfg"
CORPUS = ROOT.parent / "shared" / "conformance" / "darknet" / "cfg"
CFGTOOL = [sys.executable, "-c", "from cfgtool.cli import main; main()"]


def wall(args: list[str], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(CFGTOOL + args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - start)
    return times


def in_process(files: list[Path]) -> dict[str, float]:
    from cfgtool.lint import RULES
    from cfgtool.lint.base import LintContext
    from cfgtool.lint.targets import get_target
    from cfgtool.model import build
    from cfgtool.shapes import infer_shapes
    from cfgtool.syntax import parse_file

    out = {"parse": 0.0, "shapes": 0.0, "rules": 0.0}
    for f in files:
        t0 = time.perf_counter()
        doc = parse_file(f)
        network = build(doc)
        t1 = time.perf_counter()
        shapes = infer_shapes(network)
        t2 = time.perf_counter()
        ctx = LintContext(doc, network, shapes, get_target("alexeyab"))
        for rule in RULES:
            list(rule().check(ctx))
        t3 = time.perf_counter()
        out["parse"] += t1 - t0
        out["shapes"] += t2 - t1
        out["rules"] += t3 - t2
    return out


def show(label: str, times: list[float]) -> None:
    print(f"{label:<40} median {statistics.median(times):.3f} s  min {min(times):.3f} s  (n={len(times)})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    show("cfgtool validate examples/yolov4.cfg", wall(["validate", str(YOLOV4)], args.repeat))
    show("cfgtool --version (startup only)", wall(["--version"], args.repeat))
    if CORPUS.is_dir():
        files = sorted(CORPUS.glob("*.cfg"))
        show(f"cfgtool validate <{len(files)} corpus cfgs>", wall(["validate", "--format", "concise", *map(str, files)],
                                                                  max(1, args.repeat // 2)))
        parts = in_process(files)
        print("in process, all corpus files: " + ", ".join(f"{k} {v:.3f} s" for k, v in parts.items()))
    else:
        print(f"corpus not found at {CORPUS}: skipping the corpus timings")


if __name__ == "__main__":
    main()
