"""``cfgtool graph``: the network as a picture."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..diagnostics import CfgError
from ..fileio import write_atomic
from ..graph import EXTENSIONS, FORMATS, format_for, make_graph
from .common import EXIT_ERRORS, EXIT_OK, fail, has_errors, print_diagnostics, read_valid_document, stderr

SUFFIX = {"html": ".html", "svg": ".svg", "dot": ".dot", "mermaid": ".mmd"}


@click.command()
@click.argument("cfg", type=click.Path(dir_okay=False))
@click.option("-o", "--output", default=None, metavar="OUT",
              help="Where to write (default: CFG with the format's extension); '-' for stdout.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
              help="html, svg, dot or mermaid (default: from OUT's extension, html when there is no OUT).")
@click.option("--diff", "old", type=click.Path(dir_okay=False), default=None, metavar="OLD.cfg",
              help="Highlight what an edit of OLD.cfg changed: inserted layers, renumbered references.")
@click.option("--collapse/--no-collapse", default=None,
              help="Fold repeated units (residual blocks) into one box with a count "
                   "(default: only above 2,000 layers, with a note).")
def graph(cfg, output, fmt, old, collapse):
    """Draw CFG: one node per layer (index, type, options, output w x h x c, cfg line), one
    edge per input Darknet reads (route layers=, shortcut from=, scale_channels, sam; share_index
    as a dashed link), each labelled with its tensor's shape; detection heads, the [net] input
    and the backbone end (as add-se chooses it) are marked.

    HTML is one file with everything inline (pan, zoom, search, click a node for its cfg
    section; no network access); SVG is the same drawing without the script; DOT and Mermaid
    are text. Nodes carry data-layer="N", edges data-from="A" data-to="B" (-1: the input).

    \b
    Examples:
      cfgtool graph examples/yolov4.cfg                       # writes examples/yolov4.html
      cfgtool add-se examples/yolov4.cfg --style residual
      cfgtool graph examples/yolov4-se.cfg --diff examples/yolov4.cfg -o se.html
      cfgtool graph big.cfg --collapse -o big.svg
      cfgtool graph yolov4-tiny.cfg -o - --format mermaid
    """
    fmt = format_for(output, fmt)
    if fmt is None:
        fail(f"-o {output}: cannot tell the format from the name; use --format ({', '.join(FORMATS)}) "
             f"or one of the extensions {', '.join(EXTENSIONS)}")
    doc = read_valid_document(cfg)
    old_doc = read_valid_document(old) if old else None
    try:
        result = make_graph(doc, fmt, old_doc, collapse)
    except CfgError as exc:
        print_diagnostics(exc.diagnostics)
        fail("--diff needs both cfgs without errors (cfgtool validate)", EXIT_ERRORS)
    err = stderr()
    for note in result.notes:
        err.print(f"note: {note}")
    target = output or str(Path(cfg).with_suffix(SUFFIX[fmt]))
    if target == "-":
        sys.stdout.write(result.text)
    else:
        try:
            write_atomic(target, result.text)
        except OSError as exc:
            fail(f"{target}: {exc.strerror or exc}")
        err.print(f"wrote {target}")
    diags = result.graph.diagnostics
    if diags:
        print_diagnostics(diags)
    sys.exit(EXIT_ERRORS if has_errors(diags) else EXIT_OK)
