"""``cfgtool add-se`` / ``add-sam`` / ``add-cbam``: insert attention blocks, references kept right."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.text import Text

from ..rewrite import BlockError, Template, insert_blocks
from ..selection import SelectionError, select
from .common import EXIT_ERRORS, EXIT_OK, EXIT_USAGE, fail, print_diagnostics, read_editable_document, \
    refuse_existing, write_edit

HELP = """Insert {what} after layers of CFG and renumber every layer reference.

\b
Each block is a template: cfgtool/blocks/{files}, or your --block FILE.
{{C}} in it is the channel count of the layer it follows, {{C_r}} = max(1, C // --reduction).
The block's output has the same w x h x C, so the network around it is unchanged.

\b
Renumbering: every layer index in the file (route layers=, shortcut/scale_channels/sam
from=, share_index= ...) is rewritten so each original layer still reads the same
original layer; relative values stay relative, absolute ones absolute. Reads of an
insertion point see the block's output instead: the next layer, and every other
reference to that layer (a neck's layers=85 when the block goes after layer 85).
With --keep-refs only the next layer does; other references keep reading the layer
itself. share_index= (weight sharing, not a read) always keeps the original layer.
References inside a block stay as its template wrote them.

\b
--at SPEC, comma-separated items:
  104 | 23,54,85 | 10-20     after these layers
  shortcut@0-104           after every [shortcut] in layers 0..104 (TYPE alone: all)
  backbone-end             (default) the backbone's last layer, found from the graph
  stages                   the last layer of each downsampling stage of the backbone
  residuals                the layer before each backbone [shortcut] (scales the branch)

\b
A CFG with errors (cfgtool validate's) is refused, with the errors shown, unless --force.
The result is checked before anything is written: if it has errors the input has not,
nothing is written. The input file is only replaced with
--in-place. Output: CFG's stem + "-{suffix}.cfg" beside it unless -o; "-o -" writes to stdout.

\b
--weights IN: the weights of CFG are carried over to the new cfg (written to --weights-out,
default: the new cfg's name with .weights); every original layer's tensors move to its new
position and the inserted layers start as (nearly) the identity (--init identity), so the
edited network computes what the original did before fine-tuning.

Exit codes: 0 done, 1 an input with errors, a bad selection / template or an invalid result,
2 usage or I/O (an existing output file without --force).

Example: cfgtool {name} examples/yolov4.cfg{example}
"""


def _options(f):
    for decorator in reversed([
        click.argument("cfg", type=click.Path(dir_okay=False)),
        click.option("--at", "at", default="backbone-end", show_default=True, metavar="SPEC",
                     help="Where to insert (see above)."),
        click.option("--reduction", type=click.IntRange(min=1), default=16, show_default=True,
                     help="Channel reduction r of the excitation bottleneck: C_r = max(1, C // r)."),
        click.option("--block", "block_file", type=click.Path(dir_okay=False), metavar="FILE",
                     help="Insert your own template (a cfg fragment of layer sections; {C}, {C_r})."),
        click.option("--keep-refs", is_flag=True,
                     help="Only the next layer reads the block; other references keep the original layer."),
        click.option("-o", "--output", metavar="OUT", help="Output file ('-': stdout)."),
        click.option("--in-place", is_flag=True, help="Replace CFG itself (atomically)."),
        click.option("--force", is_flag=True, help="Overwrite an existing output file; edit a CFG that has errors "
                     "(refused without it: nothing is written)."),
        click.option("--dry-run", is_flag=True, help="Print a unified diff of the change; write nothing."),
        click.option("--weights", "weights_in", type=click.Path(dir_okay=False), metavar="IN.weights",
                     help="Carry these weights (for CFG; partial files too) over to the new cfg."),
        click.option("--weights-out", type=click.Path(dir_okay=False), metavar="OUT.weights",
                     help="Where --weights go (default: the output cfg's name with .weights)."),
        click.option("--init", type=click.Choice(["identity", "random"]), default="identity", show_default=True,
                     help="With --weights: identity starts each block as (nearly) the identity, so the new "
                          "network computes what the old one did; random: Darknet-like random init."),
    ]):
        f = decorator(f)
    return f


def _add(cfg, suffix, template_name, at, reduction, block_file, keep_refs, output, in_place, force, dry_run,
         weights_in, weights_out, init):
    if output is not None and in_place:
        fail("use either -o/--output or --in-place", EXIT_USAGE)
    if weights_in is not None and (dry_run or output == "-"):
        fail("--weights writes a weights file beside the new cfg: it does not go with --dry-run or -o -", EXIT_USAGE)
    doc, network, shapes, input_errors = read_editable_document(cfg, force)
    try:
        template = _template(block_file, template_name)
        selection = select(network, shapes, at)
        new, report = insert_blocks(doc, selection.points, template, keep_refs=keep_refs, reduction=reduction,
                                    shapes=shapes, input_errors=input_errors)
    except SelectionError as exc:
        fail(exc.message, EXIT_USAGE if exc.usage else EXIT_ERRORS)
    except BlockError as exc:
        print_diagnostics(exc.diagnostics)
        fail(exc.message, EXIT_ERRORS)

    def carry(dest, console):
        from .transplant import carry_weights  # numpy only when weights are asked for

        weights_dest = Path(weights_out) if weights_out else dest.with_suffix(".weights")
        refuse_existing(weights_dest, force, " or --weights-out")
        carry_weights(doc, new, weights_in, weights_dest, init, inserted=report, console=console)

    console, dest = write_edit(cfg, doc, new, report.errors, output, in_place, force, dry_run, suffix,
                               carry if weights_in is not None else None, report.line_pairs)
    _print_report(console, template, report, selection.notes, dest, keep_refs)
    sys.exit(EXIT_OK)


def _template(block_file, name: str) -> Template:
    """The user's --block template, or the built-in one; an unreadable file exits 2."""
    if block_file is None:
        return Template.builtin(name)
    try:
        return Template.from_file(block_file)
    except OSError as exc:
        fail(f"{block_file}: {exc.strerror or exc}", EXIT_USAGE)


def _print_report(console, template, report, notes, dest, keep_refs):
    size = report.insertions[0].last - report.insertions[0].first + 1
    console.print(Text(f"inserted {template.name} ({size} layers) at {len(report.insertions)} point(s), "
                       "layer index before -> after:"))
    for ins in report.insertions:
        console.print(Text(f"  after layer {ins.point} -> {ins.layer} ({ins.channels} channels): block = layers "
                           f"{ins.first}..{ins.last}, output lines {ins.lines[0]}-{ins.lines[1]}"))
    for note in notes:
        console.print(Text(f"  {note}"))
    redirected = [c for c in report.changes if c.redirected]
    console.print(Text(f"renumbered {len(report.changes)} reference value(s); {len(redirected)} now read a block"
                       + (" (--keep-refs: only next layers read the blocks)" if keep_refs else "")))
    for c in report.changes:
        why = f"reads the block after layer {c.target}" if c.redirected else f"still reads layer {c.target}"
        console.print(Text(f"  layer {c.layer} -> {c.layer_after}: {c.key}= field {c.position + 1}: {c.old} -> {c.new} "
                           f"({why})"))
    if report.input_errors:
        console.print(Text(f"note: the input already has {len(report.input_errors)} error(s); the result keeps "
                           "them (see cfgtool validate)"))
    if dest is not None:
        console.print(Text(f"wrote {dest}"))


def _make(name: str, suffix: str, what: str, files: str, example: str, styles: dict[str, str] | None):
    def command(cfg, at, reduction, block_file, keep_refs, output, in_place, force, dry_run, weights_in,
                weights_out, init, style=None):
        template = styles[style] if styles else suffix
        _add(cfg, suffix, template, at, reduction, block_file, keep_refs, output, in_place, force, dry_run,
             weights_in, weights_out, init)

    command.__doc__ = HELP.format(what=what, files=files, suffix=suffix, name=name, example=example)
    command = _options(command)
    if styles:
        command = click.option("--style", type=click.Choice(list(styles)), default="plain", show_default=True,
                               help="plain: avgpool, 2 convs, scale_channels; residual: 2 convs, SE, "
                                    "shortcut back to the block input.")(command)
    return click.command(name=name)(command)


add_se = _make("add-se", "se", "squeeze-and-excitation blocks", "se_plain.cfg, se_residual.cfg",
               " --style residual", {"plain": "se_plain", "residual": "se_residual"})
add_sam = _make("add-sam", "sam", "spatial attention (YOLOv4's SAM) blocks", "sam.cfg", " --at stages", None)
add_cbam = _make("add-cbam", "cbam", "CBAM blocks (channel, then spatial attention)", "cbam.cfg", " --at 85",
                 None)
