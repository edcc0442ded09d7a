"""``cfgtool run`` (an inference forward on an input array) and ``cfgtool smoke`` (a training
forward and backward at a small size, checking every value is finite and every shape right)."""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import click
import numpy as np
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table
from rich.text import Text

from ..executor.network import NETWORK_INPUT, Executor, dump_shape
from ..executor.smoke import SmokeResult
from ..executor.smoke import smoke as run_smoke
from ..fileio import write_atomic
from ..model import Network, build
from ..shapes import Shapes, infer_shapes
from ..weights import read_weights
from .common import DATA_DIR_HELP, EXIT_ERRORS, EXIT_OK, fail, has_errors, print_diagnostics, read_document, \
    refuse_existing, stderr, stdout

THREADS_HELP = ("Threads (the forward's own in inference, the BLAS's in training; default: chosen before each pass "
                "from the usable cores, the cgroup CPU quota and how busy the machine is; the report says how many "
                "were used and why).")


def _network(cfg: str, width: int | None = None, height: int | None = None, time_steps: int | None = None
             ) -> tuple[Network, Shapes]:
    """Parse and infer shapes (``time_steps`` overrides [net]'s: it matters to recurrent layers
    only); print the errors and exit 1 when there are any."""
    doc, diags = read_document(cfg)
    if doc is None or has_errors(diags):
        print_diagnostics(diags)
        sys.exit(EXIT_ERRORS)
    net = build(doc)
    shapes = infer_shapes(net, width, height, time_steps)
    if not shapes.ok:
        print_diagnostics(shapes.diagnostics)
        sys.exit(EXIT_ERRORS)
    return net, shapes






def _stats_table(exe: Executor, outs: dict[int, np.ndarray]) -> Table:
    table = Table(box=None, pad_edge=False, header_style="bold")
    for col, justify in (("layer", "right"), ("type", "left"), ("shape", "left"), ("min", "right"),
                         ("max", "right"), ("mean", "right"), ("std", "right")):
        table.add_column(col, justify=justify, no_wrap=True)
    for i in exe.output_layers:
        step = exe.steps[i]
        out = outs[i].reshape(dump_shape(step.layer, step.shape, exe.batch))
        v = out.astype(np.float64)
        table.add_row(str(i), step.layer.type, str(tuple(out.shape)), f"{v.min():.6g}", f"{v.max():.6g}",
                      f"{v.mean():.6g}", f"{v.std():.6g}")
    return table


def _load_input(path: str, exe: Executor, dtype) -> np.ndarray:
    try:
        x = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        fail(f"{path}: cannot read a .npy array ({exc})")
    want = exe.input_shape
    if x.ndim == 2 and want[2:] == (1, 1):
        x = x.reshape(x.shape + (1, 1))
    if x.ndim != 4 or tuple(x.shape[1:]) != want[1:] or not np.issubdtype(x.dtype, np.number):
        b, c, h, w = want
        fail(f"{path}: the input is {x.dtype}{tuple(x.shape)}; this network takes a float array "
             f"(batch, {c}, {h}, {w}) (channels, height, width of [net]; use --width/--height to run another size)")
    return x.astype(dtype, copy=False)


@click.command()
@click.argument("cfg", type=click.Path(dir_okay=False))
@click.option("--weights", "weights_path", type=click.Path(dir_okay=False), help="Darknet .weights (else random init).")
@click.option("--input", "input_path", type=click.Path(dir_okay=False),
              help="float32 .npy array (batch, channels, height, width); for a recurrent network "
              "(time steps, channels, height, width).")
@click.option("--image", "image_path", type=click.Path(dir_okay=False),
              help="An image file (PNG, JPEG ...; needs Pillow): detect objects like darknet detector test.")
@click.option("--names", "names_path", type=click.Path(dir_okay=False),
              help="With --image: class names, one a line (coco.names); else class numbers are shown.")
@click.option("--thresh", type=click.FloatRange(min=0), default=0.25, show_default=True,
              help="With --image: the smallest class probability shown.")
@click.option("-o", "--output", "output_path", type=click.Path(dir_okay=False),
              help="With --image: write the image with the detections drawn on it here.")
@click.option("--force", is_flag=True, help="Overwrite an existing -o file.")
@click.option("--dump", "dump_dir", type=click.Path(file_okay=False), help="Write every layer's output here.")
@click.option("--width", type=click.IntRange(min=1), help="Run at this width instead of [net]'s.")
@click.option("--height", type=click.IntRange(min=1), help="Run at this height instead of [net]'s.")
@click.option("--float64", "use_float64", is_flag=True, help="Compute in float64.")
@click.option("--repeat", type=click.IntRange(min=1), default=1, show_default=True,
              help="Run the forward N times and report the median and minimum time.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random init.")
@click.option("--max-memory", type=click.IntRange(min=1), help="Refuse to run above this many bytes (default: available).")
@click.option("--threads", type=click.IntRange(min=1), help=THREADS_HELP)
@click.option("--data-dir", type=click.Path(file_okay=False), help=DATA_DIR_HELP)
def run(cfg, weights_path, input_path, image_path, names_path, thresh, output_path, force, dump_dir, width, height,
        use_float64, repeat, seed, max_memory, threads, data_dir):
    """Run CFG forward (inference) on an input array or an image.

    --input X.npy: print the output layers' statistics. --dump writes DIR/layer_000.npy ...
    for every layer, (batch, c, h, w) or (batch, n) for vector outputs, and DIR/index.json
    (layer -> type, shape, cfg line).

    --image FILE: what `darknet detector test` does: the image resized to [net]'s size
    (letter_box=1 in [net]: keeping its aspect ratio), the [yolo]/[region] heads decoded,
    Darknet's NMS (the last head's nms_kind, beta_nms; threshold 0.45), then a table of the
    detections above --thresh; -o writes the annotated image. Needs Pillow
    (pip install 'cfgtool[image]').

    Exit 1 for errors in the cfg or the weights, 2 for an unreadable or wrongly shaped input.

    A network with recurrent layers ([rnn], [lstm], [gru], [crnn], [conv_lstm], [history])
    reads the input's first axis as time steps of one image each (Darknet's time_steps, state
    zero before the first step), and every dump has the steps as its first axis.

    \b
    Examples:
      cfgtool run yolov4.cfg --weights yolov4.weights --input x.npy --dump out/
      cfgtool run yolov4-tiny.cfg --weights yolov4-tiny.weights --image dog.jpg --names coco.names -o out.png
    """
    if (input_path is None) == (image_path is None):
        fail("give either --input X.npy or --image FILE")
    if image_path is None and (names_path or output_path):
        fail("--names and -o go with --image")
    if output_path:
        refuse_existing(output_path, force)
    dtype = np.float64 if use_float64 else np.float32
    batch = 1 if image_path else _batch_of(input_path)
    net, shapes = _network(cfg, width, height, time_steps=batch)
    exe = Executor(net, shapes, dtype=dtype, batch=batch, seed=seed, max_memory=max_memory, threads=threads,
                   data_dir=data_dir)
    x = None if image_path else _load_input(input_path, exe, dtype)
    if weights_path:
        exe.load(read_weights(weights_path, net, shapes)[1])
    if image_path:
        _run_image(exe, image_path, names_path, thresh, output_path)
    else:
        _run_array(exe, x, dump_dir, repeat)
    stdout().print(threads_line(exe))
    sys.exit(EXIT_OK)


def threads_line(exe: Executor) -> str:
    used = exe.threads.used
    return f"threads: {used.threads} ({used.why})" if used else "threads: none used"


def _batch_of(input_path: str) -> int:
    try:
        with open(input_path, "rb") as fh:
            magic = fh.read(6)
    except OSError as exc:
        fail(f"{input_path}: {exc.strerror or exc}")
    if magic != b"\x93NUMPY":
        fail(f"{input_path}: not a .npy array; for an image use --image {input_path}")
    try:
        x_peek = np.load(input_path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        fail(f"{input_path}: cannot read a .npy array ({exc})")
    return int(x_peek.shape[0]) if x_peek.ndim >= 1 else 1


def _run_array(exe: Executor, x: np.ndarray, dump_dir: str | None, repeat: int) -> None:
    times = []
    outs = {}
    for k in range(repeat):
        t0 = time.perf_counter()
        result = exe.forward(x, keep="all" if dump_dir and k == 0 else ())
        times.append(time.perf_counter() - t0)
        if k == 0:
            outs = result
    if dump_dir:
        _dump(Path(dump_dir), exe, outs)
    out = stdout()
    out.print(_stats_table(exe, outs))
    if repeat > 1:
        out.print(f"forward x{repeat}: median {statistics.median(times) * 1e3:.1f} ms, min {min(times) * 1e3:.1f} ms")
    else:
        out.print(f"forward: {times[0] * 1e3:.1f} ms")


def _names(path: str | None) -> list[str]:
    if path is None:
        return []
    return [ln.strip() for ln in Path(path).read_text(encoding="utf-8", errors="replace").splitlines()]


def _run_image(exe: Executor, image_path: str, names_path: str | None, thresh: float, output_path: str | None) -> None:
    from ..executor.detections import detect_image
    from ..executor.image import PillowMissing, annotated

    names = _names(names_path)
    try:
        result = detect_image(exe, image_path, thresh)
    except PillowMissing as exc:
        fail(str(exc))
    except (OSError, ValueError) as exc:
        fail(f"{image_path}: {getattr(exc, 'strerror', None) or exc}")
    classes = max((s.params.get("classes", 0) for s in exe.steps if hasattr(s.op, "decode")), default=0)
    if names and len(names) != classes:
        stderr().print(Text(f"warning: {names_path} has {len(names)} names but the network has classes={classes}"))
    out = stdout()
    out.print(_detections_table(result, names))
    w, h = result.image_size
    out.print(f"{len(result.detections)} detection(s) above {thresh:g} in {image_path} ({w}x{h}"
              f"{', letterboxed' if result.letter else ''}); forward {result.seconds * 1e3:.1f} ms")
    if output_path:
        try:
            write_atomic(output_path, annotated(image_path, result.detections, names, classes, Path(output_path).suffix))
        except (OSError, ValueError) as exc:
            fail(f"{output_path}: {getattr(exc, 'strerror', None) or exc}")
        out.print(f"wrote {output_path}")


def _detections_table(result, names: list[str]) -> Table:
    table = Table(box=None, pad_edge=False, header_style="bold")
    for col, justify in (("class", "left"), ("prob", "right"), ("left", "right"), ("top", "right"),
                         ("width", "right"), ("height", "right")):
        table.add_column(col, justify=justify, no_wrap=True)
    w, h = result.image_size
    for d in result.detections:
        box = [str(v) for v in d.pixels(w, h)]
        for k, prob in d.classes:
            table.add_row(names[k] if k < len(names) else str(k), f"{prob * 100:.0f}%", *box)
    return table


def _dump(folder: Path, exe: Executor, outs: dict[int, np.ndarray]) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        index = {}
        for step in exe.steps:
            i = step.layer.index
            arr = outs[i].reshape(dump_shape(step.layer, step.shape, exe.batch))
            np.save(folder / f"layer_{i:03d}.npy", arr)
            index[str(i)] = {"type": step.layer.type, "section": step.layer.section.name,
                             "shape": list(arr.shape), "line": step.layer.line, "file": f"layer_{i:03d}.npy"}
        write_atomic(folder / "index.json", json.dumps(index, indent=1) + "\n")
    except OSError as exc:
        fail(f"{folder}: {exc.strerror or exc}")


# -- smoke ------------------------------------------------------------------------------------

@click.command()
@click.argument("cfg", type=click.Path(dir_okay=False))
@click.option("--size", type=click.IntRange(min=1), help="Square input size (default: the smallest multiple of the "
              "network's total stride >= 64).")
@click.option("--batch", type=click.IntRange(min=1), default=2, show_default=True,
              help="Images per batch (batch-norm statistics need more than one value per channel).")
@click.option("--time-steps", type=click.IntRange(min=1), help="Time steps of a recurrent network (default: "
              "[net] time_steps); the input is that many steps of --batch images.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the init, input and cotangents.")
@click.option("--grad-check", is_flag=True, help="float64 at a tiny size: compare analytic and numeric gradients "
              "(input and sampled parameters); fail above 1e-4 relative error.")
@click.option("--samples", type=click.IntRange(min=1), default=24, show_default=True,
              help="Parameter entries the gradient check samples (plus a third as many input entries).")
@click.option("--max-memory", type=click.IntRange(min=1), help="Refuse to run above this many bytes (default: available).")
@click.option("--threads", type=click.IntRange(min=1), help=THREADS_HELP)
@click.option("--data-dir", type=click.Path(file_okay=False), help=DATA_DIR_HELP)
def smoke(cfg, size, batch, time_steps, seed, grad_check, samples, max_memory, threads, data_dir):
    """Run CFG forward (training mode) and backward on random data at a small size.

    Checks that every layer's output and gradient is finite and has the expected shape and
    prints a per-layer table. Exit 0 when all is well, 1 naming the first bad layer.

    \b
    Example:
      cfgtool smoke yolov4.cfg --size 96
      cfgtool smoke yolov4-tiny.cfg --grad-check
    """
    net, shapes = _network(cfg)
    err = stderr()
    progress = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                        console=err, transient=True)
    tasks = []

    def phase(name: str, total: int) -> None:
        tasks.append(progress.add_task(name, total=total))

    def started(at: int, dtype) -> None:
        err.print(f"smoke: {cfg} at {at}x{at}, batch {batch}, {dtype.name}")  # per time step

    with progress:  # a CfgError stops the bar on its way out, then exits 1 (cli.common.exit_for)
        result = run_smoke(net, shapes, size, batch, seed, samples if grad_check else None, max_memory, threads,
                           phase, lambda: progress.advance(tasks[-1]), started, time_steps, data_dir)
    _render_smoke(result, cfg, stdout())
    sys.exit(EXIT_OK if result.ok else EXIT_ERRORS)


def _render_smoke(result: SmokeResult, cfg: str, out) -> None:
    exe = result.executor
    out.print(_layer_table(exe))
    if result.problem is not None:
        phase, i, why = result.problem.phase, result.problem.layer, result.problem.why
        if i == NETWORK_INPUT:
            out.print(Text(f"FAIL ({phase}): {why}", style="bold red"))
        else:
            layer = exe.steps[i].layer
            out.print(Text(f"FAIL ({phase}): layer {i} [{layer.type}] at {cfg}:{layer.line}: {why}", style="bold red"))
    else:
        fwd = sum(s.seconds for s in exe.stats) * 1e3
        bwd = sum(s.backward_seconds for s in exe.stats) * 1e3
        out.print(f"ok: {len(exe.steps)} layers, forward {fwd:.1f} ms, backward {bwd:.1f} ms, every value finite")
    out.print(threads_line(exe))
    check = result.grad
    if check is not None:
        line = (f"gradient check: max relative error {check.worst:.3g} (differences under the rounding noise "
                f"{check.noise:.2g} ignored)")
        if check.where:
            what, idx = check.where
            line += f" (at {what} {list(idx)})" if idx else f" ({what})"
        if check.ok:
            out.print(line + " <= 1e-4: ok")
        else:
            out.print(Text(line + " > 1e-4: FAIL", style="bold red"))


def _layer_table(exe: Executor) -> Table:
    table = Table(box=None, pad_edge=False, header_style="bold")
    for col, justify in (("layer", "right"), ("type", "left"), ("line", "right"), ("output", "left"),
                         ("fwd ms", "right"), ("bwd ms", "right"), ("bytes", "right")):
        table.add_column(col, justify=justify, no_wrap=True)
    for s in exe.stats:
        table.add_row(str(s.index), s.type, str(s.line), str(s.shape), f"{s.seconds * 1e3:.2f}",
                      f"{s.backward_seconds * 1e3:.2f}", f"{s.bytes:,}")
    return table

