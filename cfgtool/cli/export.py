"""``cfgtool export``: the network as an ONNX graph (optionally checked in onnxruntime)."""

from __future__ import annotations

import sys

import click
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table

from .common import DATA_DIR_HELP, EXIT_ERRORS, EXIT_OK, fail, stderr, stdout


def _check_table(report) -> Table:
    table = Table(box=None, pad_edge=False, header_style="bold")
    for col, justify in (("output", "left"), ("max abs diff", "right"), ("max rel diff", "right"), ("", "left")):
        table.add_column(col, justify=justify, no_wrap=True)
    for d in report.check:
        table.add_row(d.name, f"{d.max_abs:.3g}", f"{d.max_rel:.3g}", "ok" if d.ok else "FAIL")
    return table


@click.command()
@click.argument("cfg", type=click.Path(dir_okay=False))
@click.option("-o", "--output", "out", required=True, type=click.Path(dir_okay=False), help="The .onnx file to write.")
@click.option("--weights", "weights_path", type=click.Path(dir_okay=False),
              help="Darknet .weights (else the executor's deterministic random init, --seed).")
@click.option("--outputs", type=click.Choice(["heads", "all"]), default="heads", show_default=True,
              help="heads: the layers Darknet returns as outputs; all: every layer too (layer_NNN).")
@click.option("--opset", type=int, help="ONNX opset (default 17).")
@click.option("--dynamic-batch", is_flag=True, help="A symbolic batch dimension N instead of 1.")
@click.option("--decode", is_flag=True,
              help="Add outputs boxes (N, B, 4: x1, y1, x2, y2 in input pixels) and scores (N, B, classes): "
                   "Darknet's yolo box decoding of every head.")
@click.option("--check", "do_check", is_flag=True,
              help="Run the graph in onnxruntime and the executor on one random input; exit 1 beyond --tolerance.")
@click.option("--tolerance", type=float, default=1e-4, show_default=True,
              help="--check bound on |onnx - executor| / max(1, |executor|).")
@click.option("--width", type=click.IntRange(min=1), help="Export at this width instead of [net]'s.")
@click.option("--height", type=click.IntRange(min=1), help="Export at this height instead of [net]'s.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random init (without --weights).")
@click.option("--data-dir", type=click.Path(file_okay=False), help=DATA_DIR_HELP)
def export(cfg, out, weights_path, outputs, opset, dynamic_batch, decode, do_check, tolerance, width, height, seed,
           data_dir):
    """Export CFG as an ONNX graph whose outputs equal Darknet's layer outputs.

    One input `input` (float32, batch x channels x height x width of [net]); outputs named
    layer_NNN (the layer index), shaped as `cfgtool run --dump` writes them. Batch norm is folded
    into the convolutions, binary/xnor weights are binarized. Recurrent layers are unrolled over
    [net] time_steps: the batch is the time steps, one image each. A layer that cannot be exported is
    an error located at its header and nothing is written. Needs `pip install 'cfgtool[onnx]'`;
    --check also needs onnxruntime.

    \b
    Exit codes: 0 written (and --check within tolerance); 1 errors in the cfg or weights, a
    layer that cannot be exported, or a --check beyond tolerance; 2 usage or I/O problems.

    \b
    Examples:
      cfgtool export yolov4.cfg --weights yolov4.weights -o yolov4.onnx --check
      cfgtool export yolov4-tiny.cfg -o tiny.onnx --outputs all --dynamic-batch
      cfgtool export yolov4.cfg --weights yolov4.weights -o yolov4-boxes.onnx --decode
    """
    from ..export import export_file

    err = stderr()
    bar = Progress(TextColumn("lowering layers"), BarColumn(), TextColumn("{task.completed}"), console=err,
                   transient=True, disable=not err.is_terminal)
    try:
        with bar:
            task = bar.add_task("export", total=None)
            report = export_file(cfg, out, weights_path, outputs, opset, dynamic_batch, do_check, tolerance, seed,
                                 width, height, progress=lambda i: bar.advance(task), decode=decode,
                                 data_dir=data_dir)
    except ModuleNotFoundError as exc:
        if exc.name not in ("onnx", "onnxruntime"):
            raise
        fail(str(exc))
    except ValueError as exc:  # an opset out of range
        fail(str(exc))
    except OSError as exc:
        fail(f"{exc.filename or out}: {exc.strerror or exc}")
    if report.random_init:
        err.print(f"no --weights: the graph holds the executor's deterministic random initialisation (seed {report.seed})")
    if report.check is not None:
        stdout().print(_check_table(report))
        if "boxes" in report.outputs and "boxes" not in {d.name for d in report.check}:
            err.print("boxes, scores: not checked (no reference decode for these heads)")
    heads = ", ".join(report.outputs) if len(report.outputs) <= 6 else f"{len(report.outputs)} outputs"
    err.print(f"wrote {report.path} ({report.nodes} nodes, {report.bytes:,} bytes; outputs {heads}) "
              f"in {report.seconds:.2f} s")
    if not report.ok:
        bad = [d.name for d in report.check if not d.ok]
        err.print(f"check failed: {', '.join(bad)} differ from the executor by more than {report.tolerance:g} "
                  "(relative to max(1, |value|))")
        sys.exit(EXIT_ERRORS)
    sys.exit(EXIT_OK)
