"""Milliseconds per parse + model + shape inference of yolov4.cfg (not a test).

Uses the conformance corpus copy when ../shared/conformance exists, else examples/yolov4.cfg.
Run: python benchmarks/parse_shapes.py [CFG] [--repeat N]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from cfgtool.model import build
from cfgtool.shapes import infer_shapes
from cfgtool.syntax import parse

ROOT = Path(__file__).resolve().parents[1]
CANDIDATES = (ROOT.parent / "shared" / "conformance" / "darknet" / "cfg" / "yolov4.cfg", ROOT / "examples" / "yolov4.cfg")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cfg", nargs="?", type=Path, default=next((p for p in CANDIDATES if p.is_file()), None))
    ap.add_argument("--repeat", type=int, default=50)
    args = ap.parse_args()
    if args.cfg is None:
        raise SystemExit("no yolov4.cfg found; pass a cfg path")
    text = args.cfg.read_text(encoding="utf-8")
    for _ in range(3):  # warm up (grammar compile, caches)
        infer_shapes(build(parse(text)))
    times = {"parse": 0.0, "model": 0.0, "shapes": 0.0}
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        doc = parse(text)
        t1 = time.perf_counter()
        network = build(doc)
        t2 = time.perf_counter()
        infer_shapes(network)
        t3 = time.perf_counter()
        times["parse"] += t1 - t0
        times["model"] += t2 - t1
        times["shapes"] += t3 - t2
    per = {k: v / args.repeat * 1000 for k, v in times.items()}
    print(f"{args.cfg} ({len(network.layers)} layers), mean of {args.repeat}:")
    for k, v in per.items():
        print(f"  {k:7s} {v:7.2f} ms")
    print(f"  {'total':7s} {sum(per.values()):7.2f} ms")


if __name__ == "__main__":
    main()
