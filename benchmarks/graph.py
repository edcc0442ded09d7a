"""``cfgtool graph`` against its targets, in one run (not a test).

Measures, on this machine and in this order, whole processes (the median of a few):
- ``cfgtool graph examples/yolov4.cfg -o yolov4.html`` (target < 1 s), with ``cfgtool summary``
  of the same file as the peer measured in the same run (both parse and infer shapes; the
  difference is the drawing);
- the same on a 20,000-layer file (``benchmarks/bigcfg.py``: residual stages, CSP routes,
  YOLO heads; folded automatically above 2,000 layers), target < 5 s;
and in process, on that file, the drawing alone (graph model, collapse, layout,
HTML) apart from parsing and shape inference (which ``validate``/``summary`` share).

Run: python benchmarks/graph.py [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bigcfg import make_cfg  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
YOLOV4 = ROOT / "examples" / "yolov4.cfg"
_script = Path(sys.executable).with_name("cfgtool")
CFGTOOL = [str(_script)] if _script.is_file() else [sys.executable, "-c", "from cfgtool.cli import main; main()"]

def process(cmd: list[str], repeat: int) -> tuple[float, float]:
    """(wall, CPU) seconds of ``cmd``: medians over ``repeat`` runs. The CPU time (user + system,
    from the children's rusage) moves less than the wall time when the machine is loaded."""
    walls, cpus = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def in_process(cfg: Path) -> tuple[float, float]:
    """(parse + model + shapes, the drawing) seconds for ``cfg`` as HTML."""
    from cfgtool.graph.layout import layout
    from cfgtool.graph.model import build_graph, collapse, find_runs, layer_facts
    from cfgtool.graph.svg import render_html
    from cfgtool.model import build
    from cfgtool.shapes import infer_shapes
    from cfgtool.syntax import parse_file

    start = time.perf_counter()
    network = build(parse_file(cfg))
    shapes = infer_shapes(network)
    middle = time.perf_counter()
    facts = layer_facts(network)
    graph = build_graph(network, shapes, cfg.name, facts)
    collapse(graph, network, find_runs(network, facts))
    render_html(graph, layout(graph))
    return middle - start, time.perf_counter() - middle


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        deep = Path(tmp) / "big20k.cfg"
        deep.write_text(make_cfg(20000))
        for name, cfg, target in (("yolov4.cfg (162 layers)", YOLOV4, 1.0), ("big20k.cfg (bigcfg.py 20000)", deep, 5.0)):
            peer, peer_cpu = process([*CFGTOOL, "summary", str(cfg)], args.repeat)
            graph, cpu = process([*CFGTOOL, "graph", str(cfg), "-o", str(Path(tmp) / "out.html")], args.repeat)
            rows.append((f"graph {name} as HTML, whole process", f"{graph:.2f} s (CPU {cpu:.2f} s)",
                         f"{graph / peer:.2f}x `summary` ({peer:.2f} s, CPU {peer_cpu:.2f} s)", f"< {target:g} s",
                         "PASS" if graph < target else "MISS"))
        read, draw = in_process(deep)
        rows.append(("big20k.cfg in process: parse + shapes | the drawing", f"{read:.2f} s | {draw:.2f} s",
                     f"drawing {draw / read:.2f}x parse + shapes", "", ""))
    print(f"load average {' '.join(f'{v:.1f}' for v in os.getloadavg())} on {os.cpu_count()} cores")
    print("| measurement | time | against the peer in the same run | target | |")
    print("| --- | --- | --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
