"""``cfgtool set-classes`` / ``resize`` / ``anchors``: the head and input-size edits."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.table import Table
from rich.text import Text

from ..heads import EditError, resize as resize_cfg, set_classes as set_classes_cfg
from .common import EXIT_ERRORS, EXIT_OK, EXIT_USAGE, fail, print_diagnostics, read_editable_document, \
    refuse_existing, stderr, stdout, write_edit

WRITING = """\b
    A CFG with errors (cfgtool validate's) is refused, with the errors shown, unless --force.
    The result is checked (cfgtool validate's rules) before anything is written: if it has
    errors the input has not, nothing is written. The input file is only replaced with
    --in-place. Output: CFG's stem + "-{suffix}.cfg" beside it unless -o; "-o -" writes to
    stdout; --dry-run prints a unified diff.
"""


def _doc(text: str, suffix: str):
    """Set a command's help: ``text`` with the paragraph on writing (``{writing}``) filled in."""
    def decorate(f):
        f.__doc__ = text.replace("{writing}", WRITING.format(suffix=suffix))
        return f
    return decorate


def _output_options(f):
    for decorator in reversed([
        click.option("-o", "--output", metavar="OUT", help="Output file ('-': stdout)."),
        click.option("--in-place", is_flag=True, help="Replace CFG itself (atomically)."),
        click.option("--force", is_flag=True, help="Overwrite an existing output file; edit a CFG that has errors "
                     "(refused without it: nothing is written)."),
        click.option("--dry-run", is_flag=True, help="Print a unified diff of the change; write nothing."),
    ]):
        f = decorator(f)
    return f


def _edit_failed(exc: EditError):
    print_diagnostics(exc.diagnostics)
    fail(exc.message, EXIT_ERRORS)


def _edited(cfg, force, function, *args):
    """(CFG's document, ``function(document, *args)``); a CFG with errors is refused unless
    ``force``; an EditError is printed, exit 1."""
    doc, _, _, found = read_editable_document(cfg, force)
    try:
        return doc, function(doc, *args, input_errors=found)
    except EditError as exc:
        _edit_failed(exc)


def _short(value: str | None, width: int = 40) -> str:
    if value is None:
        return "(absent)"
    return value if len(value) <= width else value[: width - 3] + "..."


def print_changes(console, edit, dest) -> None:
    """One line per changed option, then the notes and what was written."""
    console.print(Text(f"changed {len(edit.changes)} option(s):"))
    for c in edit.changes:
        where = "[net]" if c.layer is None else f"layer {c.layer} {c.section}"
        what = "removed" if c.new is None else f"{_short(c.old)} -> {_short(c.new)}"
        console.print(Text(f"  {where} line {c.line}: {c.key}: {what}" + (f" ({c.why})" if c.why else "")))
    for note in edit.notes:
        console.print(Text(f"note: {note}"))
    if edit.input_errors:
        console.print(Text(f"note: the input already has {len(edit.input_errors)} error(s); the result keeps them "
                           "(see cfgtool validate)"))
    if dest is not None:
        console.print(Text(f"wrote {dest}"))


@click.command(name="set-classes")
@click.argument("classes", type=click.IntRange(min=1), metavar="N")
@click.argument("cfg", type=click.Path(dir_okay=False))
@_output_options
@click.option("--train-schedule", is_flag=True,
              help="Also set [net] max_batches = max(6000, 2000 * N) and steps = 80%, 90% of it.")
@click.option("--weights", "weights_in", type=click.Path(dir_okay=False), metavar="IN.weights",
              help="Carry these weights (for CFG) over: unchanged layers byte-identical, the head convolutions "
                   "whose filters change get a fresh deterministic init.")
@click.option("--weights-out", type=click.Path(dir_okay=False), metavar="OUT.weights",
              help="Where --weights go (default: the output cfg's name with .weights).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the heads' fresh init.")
@_doc("""Make CFG detect N classes: classes=N in every layer that reads it, and the filters
    Darknet requires in the layer feeding each head.

    \b
    [yolo]           filters = (N + 5) * len(mask)
    [Gaussian_yolo]  filters = (N + 9) * len(mask)
    [region]         filters = num * (N + coords + 1)
    [detection]      output  = side * side * ((1 + coords) * num + N)   (a [connected] before it)
    ([contrastive] reads classes= too and gets N.) The layer feeding a head is the section
    before it; when that layer has no filters=/output= nothing is written. A head's
    counters_per_class= (one count per class) is removed: count it again for the new classes.

    {writing}
    --weights IN: every layer whose tensors do not change is copied byte for byte; the
    layers whose filters change start from a fresh deterministic (--seed) initialisation.

    Exit codes: 0 done, 1 cannot be done or invalid result, 2 usage or I/O.

    Example: cfgtool set-classes 3 examples/yolov4-tiny.cfg --train-schedule -o my-tiny.cfg
    """, "classesN")
def set_classes(classes, cfg, output, in_place, force, dry_run, train_schedule, weights_in, weights_out, seed):
    if weights_in is not None and (dry_run or output == "-"):
        fail("--weights writes a weights file beside the new cfg: it does not go with --dry-run or -o -", EXIT_USAGE)
    doc, edit = _edited(cfg, force, set_classes_cfg, classes, train_schedule)

    def carry(dest, console):
        from .transplant import carry_weights  # numpy only when weights are asked for

        target = Path(weights_out) if weights_out else dest.with_suffix(".weights")
        refuse_existing(target, force, " or --weights-out")
        carry_weights(doc, edit.doc, weights_in, target, "random", seed, console=console)
        console.print(Text(f"fresh init (seed {seed}) of the layer(s) whose filters changed: "
                           f"{', '.join(map(str, edit.refitted)) or 'none'}; every other layer copied"))

    console, dest = write_edit(cfg, doc, edit.doc, edit.errors, output, in_place, force, dry_run,
                               f"classes{classes}", carry if weights_in is not None else None)
    print_changes(console, edit, dest)
    sys.exit(EXIT_OK)


@click.command()
@click.argument("cfg", type=click.Path(dir_okay=False))
@click.option("--width", type=click.IntRange(min=1), help="New [net] width.")
@click.option("--height", type=click.IntRange(min=1), help="New [net] height.")
@_output_options
@_doc("""Set the [net] input size of CFG after checking it.

    \b
    The size must be a multiple of the network's total stride: the factor at which every
    route and shortcut still aligns, found from the shape pass (32 for YOLOv4, 64 for P6,
    128 for P7), and the network must infer at the new size. A network whose weights depend
    on the input size ([connected], [local]) is refused. The error names the nearest valid
    sizes.

    {writing}
    Exit codes: 0 done, 1 invalid size or result, 2 usage or I/O.

    Example: cfgtool resize examples/yolov4.cfg --width 640 --height 640 -o yolov4-640.cfg
    """, "WxH")
def resize(cfg, width, height, output, in_place, force, dry_run):
    if width is None and height is None:
        fail("give --width and/or --height", EXIT_USAGE)
    doc, edit = _edited(cfg, force, resize_cfg, width, height)
    console, dest = write_edit(cfg, doc, edit.doc, edit.errors, output, in_place, force, dry_run,
                               "x".join(map(str, edit.size)))
    console.print(Text(f"total stride {edit.stride[0]}x{edit.stride[1]}"))
    print_changes(console, edit, dest)
    sys.exit(EXIT_OK)


def _progress(console):
    """A rich progress bar over the label files on a terminal, when there are many."""
    from rich.progress import Progress

    state = {}

    def update(done, total):
        if total < 2000 or not console.is_terminal:
            return
        if "bar" not in state:
            state["bar"] = Progress(console=console, transient=True)
            state["bar"].start()
            state["task"] = state["bar"].add_task("reading labels", total=total)
        state["bar"].update(state["task"], completed=done)
        if done == total:
            state["bar"].stop()

    return update


def _anchor_table(console, result) -> None:
    c = result.clusters
    masks = {}
    for head in result.heads:
        for i in head.mask:
            masks.setdefault(i, []).append(f"layer {head.layer} (stride {head.stride})")
    rows = [(str(i), f"{w:g}", f"{h:g}", f"{w * h:g}", str(n), ", ".join(masks.get(i, [])))
            for i, ((w, h), n) in enumerate(zip(c.anchors.tolist(), c.counts))]
    head = ("#", "width", "height", "area", "boxes", "head" if result.heads else "")
    if console.is_terminal:
        table = Table(title=f"{len(rows)} anchors at {result.width}x{result.height}", title_justify="left")
        for name in head:
            table.add_column(name, justify="left" if name == "head" else "right")
        for row in rows:
            table.add_row(*row)
        console.print(table)
    else:
        console.print(Text(f"{len(rows)} anchors at {result.width}x{result.height}:"))
        for row in rows:
            console.print(Text("  " + "  ".join(f"{k} {v}" for k, v in zip(head[1:], row[1:]) if k)))
    console.print(Text(f"anchors={', '.join(f'{w:g},{h:g}' for w, h in c.anchors.tolist())}"))
    console.print(Text(f"average IoU of the {c.boxes} boxes with their best anchor: {c.avg_iou:.4f}"
                       f" ({result.labels.files} label file(s))"))


@click.command()
@click.argument("cfg", required=False, type=click.Path(dir_okay=False))
@click.option("--labels", "labels", multiple=True, required=True, type=click.Path(), metavar="PATH",
              help="Label files, directories (every *.txt below) or Darknet image lists (train.txt); repeatable.")
@click.option("--num", "k", type=click.IntRange(min=1), default=9, show_default=True, help="Number of anchors.")
@click.option("--width", type=click.IntRange(min=1), help="Network width (default: CFG's [net] width).")
@click.option("--height", type=click.IntRange(min=1), help="Network height (default: CFG's [net] height).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the k-means++ seeding.")
@click.option("--restarts", type=click.IntRange(min=1), default=10, show_default=True,
              help="k-means runs; the best wins.")
@click.option("--strict", is_flag=True, help="Refuse malformed label lines instead of skipping them.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@_output_options
@_doc("""Compute anchors from YOLO label files (class cx cy w h, normalised), and write
    them into CFG's heads when CFG is given.

    \b
    Box sizes are scaled to the network size and clustered by k-means on 1 - IoU (boxes
    aligned at their centres, as darknet detector calc_anchors), seeded by k-means++,
    --restarts runs (on a 20,000-box sample for larger sets, the best refined on all boxes),
    deterministic for --seed. Malformed label lines are reported
    (file:line) and skipped, or refused with --strict. The anchors are rounded to whole
    pixels and listed by area with the boxes each serves and the average IoU of every box
    with its best anchor. --format json prints {"anchors": [[w, h], ...], "avg_iou": x,
    "counts": [...], "boxes": n}.

    \b
    With CFG: anchors= and num= go into every [yolo]/[Gaussian_yolo] head and mask= is
    redistributed by stride: the largest anchors to the coarsest head (yolov4-tiny with
    --num 6: mask=3,4,5 on the 13x13 head, 0,1,2 on the 26x26 one); the filters feeding each
    head follow ((classes + 5) * len(mask)).

    {writing}
    Exit codes: 0 done, 1 bad labels (--strict), cannot be done or invalid result, 2 usage or I/O.

    Example: cfgtool anchors --labels data/obj/ --num 6 examples/yolov4-tiny.cfg -o tiny-anchors.cfg
    """, "anchors")
def anchors(cfg, labels, k, width, height, seed, restarts, strict, fmt, output, in_place, force, dry_run):
    from ..anchors import anchors as compute  # numpy only here

    if cfg is None and (output or in_place or dry_run):
        fail("-o, --in-place and --dry-run need a CFG to write the anchors into", EXIT_USAGE)
    if fmt == "json" and (output == "-" or dry_run):
        fail("--format json prints to stdout: it does not go with -o - or --dry-run", EXIT_USAGE)
    doc, _, _, found = read_editable_document(cfg, force) if cfg is not None else (None, None, None, None)
    try:
        result = compute(labels, k, width, height, seed, doc, restarts, _progress(stderr()), found)
    except EditError as exc:
        _edit_failed(exc)
    except ValueError as exc:
        fail(str(exc), EXIT_USAGE if "size" in str(exc) else EXIT_ERRORS)
    print_diagnostics(result.labels.diagnostics)
    problems = [d for d in result.labels.diagnostics if d.severity == "error"]  # L003 (no labels) is a warning
    if strict and problems:
        fail(f"{len(problems)} problem(s) in the labels (--strict); nothing was written", EXIT_ERRORS)
    if problems:
        stderr().print(Text(f"cfgtool: skipped {len(problems)} label line(s) with problems (--strict refuses them)"))
    console, dest = stdout(), None
    if doc is not None:
        console, dest = write_edit(cfg, doc, result.edit.doc, result.edit.errors, output, in_place, force, dry_run,
                                   "anchors")
    if fmt == "json":
        c = result.clusters
        sys.stdout.write(json.dumps({"anchors": c.anchors.tolist(), "avg_iou": c.avg_iou, "counts": c.counts,
                                     "boxes": c.boxes}) + "\n")
    else:
        _anchor_table(console, result)
    if doc is not None:
        print_changes(stderr() if fmt == "json" else console, result.edit, dest)
    sys.exit(EXIT_OK)
