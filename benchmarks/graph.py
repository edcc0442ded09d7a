"""``cfgtool graph`` against its targets, in one run (not a test).

Measures, on this machine and in this order, whole processes (the median of a few):
- ``cfgtool graph examples/yolov4.cfg -o yolov4.html`` (target < 1 s), with ``cfgtool summary``
  of the same file as the peer measured in the same run (both parse and infer shapes; the
  difference is the drawing);
- the same on a 20,000-layer file (a stem, 6,666 residual units ``conv 1x1, conv 3x3,
  shortcut from=-3``, a classifier: folded automatically), target < 5 s;
and in process, on the 20,000-layer file, the drawing alone (graph model, collapse, layout,
HTML) apart from parsing and shape inference (which ``validate``/``summary`` share).

Run: python benchmarks/graph.py [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
YOLOV4 = ROOT / "examples" / "yolov4.cfg"
_script = Path(sys.executable).with_name("cfgtool")
CFGTOOL = [str(_script)] if _script.is_file() else [sys.executable, "-c", "from cfgtool.cli import main; main()"]

UNIT = ("[convolutional]\nbatch_normalize=1\nfilters=64\nsize=1\nstride=1\npad=1\nactivation=leaky\n\n"
        "[convolutional]\nbatch_normalize=1\nfilters=64\nsize=3\nstride=1\npad=1\nactivation=leaky\n\n"
        "[shortcut]\nfrom=-3\nactivation=linear\n\n")


def deep_cfg(units: int = 6666) -> str:
    """A residual network of 3 * units + 3 layers."""
    return ("[net]\nwidth=64\nheight=64\nchannels=3\n\n[convolutional]\nbatch_normalize=1\nfilters=64\nsize=3\n"
            "stride=1\npad=1\nactivation=leaky\n\n" + UNIT * units + "[avgpool]\n\n[connected]\noutput=10\n"
            "activation=linear\n\n[softmax]\n")


def process(cmd: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


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
        deep = Path(tmp) / "deep20k.cfg"
        deep.write_text(deep_cfg())
        for name, cfg, target in (("yolov4.cfg (162 layers)", YOLOV4, 1.0), ("deep20k.cfg (20,001 layers)", deep, 5.0)):
            peer = process([*CFGTOOL, "summary", str(cfg)], args.repeat)
            graph = process([*CFGTOOL, "graph", str(cfg), "-o", str(Path(tmp) / "out.html")], args.repeat)
            rows.append((f"graph {name} as HTML, whole process", f"{graph:.2f} s",
                         f"{graph / peer:.2f}x `summary` ({peer:.2f} s)", f"< {target:g} s",
                         "PASS" if graph < target else "MISS"))
        read, draw = in_process(deep)
        rows.append(("deep20k.cfg in process: parse + shapes | the drawing", f"{read:.2f} s | {draw:.2f} s",
                     f"drawing {draw / read:.2f}x parse + shapes", "", ""))
    print("| measurement | time | against the peer in the same run | target | |")
    print("| --- | --- | --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
