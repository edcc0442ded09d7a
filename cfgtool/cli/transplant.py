"""``cfgtool transplant``: carry a .weights file across a cfg edit; the report renderer that
``add-se``/``add-sam``/``add-cbam --weights`` share."""

from __future__ import annotations

import sys
from itertools import groupby

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..diagnostics import CfgError
from ..transplant import DEVIATION_TARGET, GATE_BIAS, INITS, TransplantReport, transplant_files
from ..layers.base import BN_TENSORS
from .common import EXIT_ERRORS, EXIT_OK, EXIT_USAGE, fail, print_diagnostics, read_editable_document, refuse_existing, \
    stderr, stdout

_HOW = {"gate": "gate (bias {b:g})", "zero": "zero (branch end)", "random": "random",
        "missing": "random (not in the source)"}
_STYLE = {"copied": "green", "initialized": "yellow", "dropped": "red"}


def _tensors(move) -> str:
    """``64x32x3x3 +bn``: the shapes of the weights (other tensors named), batch norm as a mark."""
    def text(t):
        dims = "x".join(map(str, t.shape))
        return dims if t.name == "weights" else f"{t.name} {dims}"

    parts = [text(t) for t in move.tensors if t.name.rsplit(".", 1)[-1] not in ("biases", *BN_TENSORS)]
    parts = parts or [text(t) for t in move.tensors]
    bn = any(t.name.rsplit(".", 1)[-1] == "scales" for t in move.tensors)
    return ", ".join(parts) + (" +bn" if bn else "")


def _how(move, report: TransplantReport) -> str:
    if move.action == "initialized":
        return _HOW[move.how].format(b=report.gate_bias)
    return "not in the source either" if move.how == "missing" else ""


def _rows(report: TransplantReport, compact: bool):
    """Table rows; ``compact`` folds each run of copied layers with one shift into one row."""
    def run_of(move):
        return ("run", move.new - move.old) if compact and move.action == "copied" else ("one", id(move))

    for _, group in groupby(report.moves, run_of):
        run = list(group)
        if len(run) == 1:
            yield _row(run[0], report)
        else:
            first, last = run[0], run[-1]
            yield (f"{first.new}..{last.new}", f"{first.old}..{last.old}", f"{len(run)} layers", "copied",
                   f"{sum(m.values for m in run):,} values", "")


def _row(move, report):
    dash = "-"
    return (dash if move.new is None else str(move.new), dash if move.old is None else str(move.old), move.type,
            move.action, _tensors(move), _how(move, report))


def print_report(console: Console, report: TransplantReport, compact: bool = False) -> None:
    """The transplant report: a table layer by layer (``compact``: runs of copied layers
    folded), totals, the identity claim or why it fails, and what was written."""
    table = Table(title="weights transplant", title_justify="left", show_edge=False, pad_edge=False)
    for name, justify in (("new", "right"), ("old", "right"), ("type", "left"), ("action", "left"),
                          ("tensors", "left"), ("init", "left")):
        table.add_column(name, justify=justify, overflow="fold")
    for row in _rows(report, compact):
        table.add_row(*row, style=_STYLE[row[3]])
    console.print(table)

    def total(action):
        moves = [m for m in report.moves if m.action == action]
        return f"{len(moves)} layer(s) ({sum(m.values for m in moves):,} values)"

    hows = [m.how for m in report.moves if m.action == "initialized"]
    kinds = ", ".join(f"{hows.count(h)} {h}" for h in ("gate", "zero", "random", "missing") if h in hows)
    console.print(Text(f"copied {total('copied')}, initialized {total('initialized')}"
                       + (f" [{kinds}]" if kinds else "") + f", dropped {total('dropped')}"))
    if report.partial:
        console.print(Text(f"partial source: tensors for {report.source_layers} of the old cfg's "
                           f"{report.old_layers} layers with weights; the layers it lacks are random"))
    if report.init == "random":
        console.print(Text("init random: new layers are random, so the edited network computes another "
                           "function until it is trained"))
    elif report.identity:
        k, dev = report.gates_in_series, report.max_deviation
        detail = "exactly" if k == 0 else (f"up to {k} gate(s) in series: the gated feature maps are within a "
                                           f"relative 1 - sigmoid({report.gate_bias:g})^{k} = {dev:.2e} "
                                           "of the old ones")
        console.print(Text(f"identity: the edited network computes the old network's function {detail}"))
    else:
        console.print(Text("identity does not hold:", style="yellow"))
        for why in report.breaks:
            console.print(Text(f"  {why}"))
    if report.output is not None:
        h = report.header
        console.print(Text(f"wrote {report.output} ({report.written:,} bytes; header {h.major}.{h.minor}."
                           f"{h.revision}, seen {h.seen} as in {report.source})"))


def carry_weights(old_doc, new_doc, weights_in, weights_out, init: str = "identity", seed: int = 0,
                  inserted=None, gate_bias: float | None = None, console: Console | None = None,
                  compact: bool = True) -> TransplantReport:
    """The one call ``add-se``/``add-sam``/``add-cbam --weights IN --weights-out OUT`` need:
    transplant IN (for ``old_doc``) onto ``new_doc``, write OUT, print the compact report on
    ``console`` (stdout by default). ``inserted``: the insertion's EditReport. Invalid input (a
    cfg without a weights layout, IN of the wrong size) prints located diagnostics and exits
    1; an I/O error exits 2."""
    try:
        report = transplant_files(old_doc, new_doc, weights_in, weights_out, init, seed, inserted, gate_bias)
    except CfgError as exc:
        print_diagnostics(exc.diagnostics)
        fail(f"{weights_in}: cannot carry the weights over; no weights were written", EXIT_ERRORS)
    except OSError as exc:
        fail(f"{exc.filename or weights_out}: {exc.strerror or exc}", EXIT_USAGE)
    print_report(console or stdout(), report, compact)
    if not report.identity and init == "identity":
        stderr().print(Text("cfgtool: warning: the edited network does not start as the old one (see above)"))
    return report


@click.command()
@click.argument("old_cfg", type=click.Path(dir_okay=False))
@click.argument("old_weights", type=click.Path(dir_okay=False))
@click.argument("new_cfg", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), metavar="NEW.weights",
              help="The .weights file to write (atomically).")
@click.option("--init", type=click.Choice(INITS), default="identity", show_default=True,
              help="How to fill new layers (see above).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random initialization.")
@click.option("--gate-bias", type=float, default=None, metavar="B",
              help=f"Bias of identity-initialized gates: larger is closer to the identity, but learns slower "
                   f"[default: {GATE_BIAS:g}, raised when many gates are in series so that the deviation "
                   f"stays below {DEVIATION_TARGET:g}].")
@click.option("--compact", is_flag=True, help="Fold runs of copied layers into one row.")
@click.option("--force", is_flag=True, help="Overwrite an existing output file; accept cfgs that have errors "
              "(refused without it: nothing is written).")
def transplant(old_cfg, old_weights, new_cfg, output, init, seed, gate_bias, compact, force):
    """Carry OLD.weights (for OLD.cfg) over to NEW.cfg, an edited copy of it.

    \b
    Layers are matched in order by type and tensor shapes, tolerating inserted and removed
    layers and changed filters: matched layers are copied, new ones initialized, old ones
    without a match dropped. A partial OLD.weights (like yolov4.conv.137) is fine.

    \b
    --init identity (default): inserted blocks start as the identity, so NEW computes what
    OLD did until it is fine-tuned: a logistic [convolutional] gating a [scale_channels] or
    [sam] gets weights 0 and bias --gate-bias (the gate is ~1); the last convolution of a
    branch that an inserted [shortcut] adds back gets 0 (batch norm: scales 0), so the
    shortcut passes its input through. Other new layers are random (Darknet-like).
    --init random: every new layer random.

    Exit codes: 0 written, 1 a cfg with errors (unless --force) or weights of the wrong size,
    2 usage or I/O (an existing output file without --force).

    Example: cfgtool transplant yolov4.cfg yolov4.conv.137 yolov4-se.cfg -o yolov4-se.conv.weights
    """
    refuse_existing(output, force)
    old_doc, new_doc = read_editable_document(old_cfg, force)[0], read_editable_document(new_cfg, force)[0]
    carry_weights(old_doc, new_doc, old_weights, output, init, seed, gate_bias=gate_bias, compact=compact)
    sys.exit(EXIT_OK)
