"""``cfgtool summary``: the layer table Darknet prints when it loads a network."""

from __future__ import annotations

import json
import sys

import click

from ..model import Layer, build
from ..report import as_dict
from ..shapes import Shapes, infer_shapes
from ..syntax import printable
from .common import EXIT_ERRORS, EXIT_OK, has_errors, print_diagnostics, read_document, stdout

NET_FIELDS = ("width", "height", "channels", "inputs")


def _dims(shape) -> str:
    return "" if shape is None else f"{shape[0]:>4} x{shape[1]:>4} x{shape[2]:>5}"


def layer_records(layers: list[Layer], shapes: Shapes) -> list[dict]:
    """One JSON-ready record per layer (shape fields None where inference failed)."""
    out = []
    for layer, shape in zip(layers, shapes.layers):
        rec = {
            "index": layer.index,
            "type": layer.spec.type_name(layer.section.name) if layer.spec else layer.section.name.strip("[]"),
            "section": layer.section.name,
            "input": list(shape.input) if shape else None,
            "output": list(shape.output) if shape else None,
            "outputs": shape.outputs if shape else None,
            "nweights": shape.nweights if shape else None,
            "bflops": shape.bflops if shape else None,
            "line": layer.line,
            "inputs": layer.inputs,
        }
        out.append(rec)
    return out


COLUMNS = (("layer", "right"), ("type", "left"), ("filters", "right"), ("size/strd(dil)", "left"), ("input", "right"),
           ("", "left"), ("output", "right"), ("BFLOPs", "right"), ("params", "right"), ("line", "right"))


def table_rows(layers: list[Layer], shapes: Shapes) -> tuple[list[tuple[str, ...]], tuple[str, ...]]:
    """The table's rows (cells as text; a layer without a shape has "?" dimensions) and its
    footer (the totals)."""
    rows = []
    for layer, shape in zip(layers, shapes.layers):
        name = printable(layer.spec.type_name(layer.section.name) if layer.spec else layer.section.name)
        if shape is None:
            rows.append((str(layer.index), name, "", "", "?", "->", "?", "", "", str(layer.line)))
            continue
        p = shape.params
        rows.append((str(layer.index), name, layer.spec.filters_text(p), layer.spec.size_text(p), _dims(shape.input),
                     "->", _dims(shape.output), f"{shape.bflops:.3f}" if shape.bflops else "",
                     f"{shape.nweights:,}" if shape.nweights else "", str(layer.line)))
    footer = ("", "total", "", "", "", "", "", f"{shapes.total_bflops:.3f}", f"{shapes.total_weights:,}", "")
    return rows, footer


def plain_table(rows: list[tuple[str, ...]], footer: tuple[str, ...]) -> str:
    """The table as aligned plain text (for a pipe: one line per row, never wrapped; rich is
    not imported), laid out like the terminal's."""
    every = [tuple(h for h, _ in COLUMNS), *rows, footer]
    widths = [max(len(row[i]) for row in every) for i in range(len(COLUMNS))]
    lines = []
    for row in every:
        cells = [cell.rjust(w) if justify == "right" else cell.ljust(w)
                 for cell, w, (_, justify) in zip(row, widths, COLUMNS)]
        lines.append("  ".join(cells).rstrip() + "\n")
    return "".join(lines)


def rich_table(rows: list[tuple[str, ...]], footer: tuple[str, ...], failed: list[bool]):
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, pad_edge=False, show_footer=True, header_style="bold")
    for (header, justify), foot in zip(COLUMNS, footer):
        table.add_column(header, justify=justify, footer=foot, no_wrap=True)
    for row, bad in zip(rows, failed):
        table.add_row(*(Text(cell) for cell in row), style="red" if bad else None)
    return table


@click.command()
@click.argument("cfg", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True,
              help="A table like Darknet's printout, or JSON.")
@click.option("--width", type=click.IntRange(min=1), default=None, help="Override [net] width=.")
@click.option("--height", type=click.IntRange(min=1), default=None, help="Override [net] height=.")
def summary(cfg, fmt, width, height):
    """Print every layer of CFG with its input and output size, BFLOPs and weights, exactly as
    Darknet computes them, plus the totals.

    Errors (a route of maps of different sizes, a shortcut Darknet would abort on, ...) are
    printed to stderr with the line to fix (with --format json they are also the
    "diagnostics" list of the JSON); the layers that could be inferred are still shown and the
    exit code is 1.

    Example: cfgtool summary yolov4.cfg --width 416 --height 416
    """
    doc, diags = read_document(cfg)
    if doc is None:
        if fmt == "json":
            sys.stdout.write(json.dumps({"net": None, "layers": [], "total_bflops": None, "total_weights": None,
                                         "diagnostics": [as_dict(d) for d in diags]}, indent=1) + "\n")
        print_diagnostics(diags)
        sys.exit(EXIT_ERRORS)
    network = build(doc)
    shapes = infer_shapes(network, width, height)
    diags = diags + shapes.diagnostics
    records = layer_records(network.layers, shapes)
    if fmt == "json":
        net = {key: shapes.net.get(key) for key in NET_FIELDS}
        payload = {"net": net, "layers": records, "total_bflops": shapes.total_bflops,
                   "total_weights": shapes.total_weights, "diagnostics": [as_dict(d) for d in diags]}
        sys.stdout.write(json.dumps(payload, indent=1) + "\n")
    else:
        net = shapes.net
        title = (printable(f"{cfg}: input {net.get('width')} x {net.get('height')} x {net.get('channels')}, "
                           f"{len(network.layers)} layers") + "\n") if net else ""
        rows, footer = table_rows(network.layers, shapes)
        if sys.stdout.isatty():
            out = stdout()
            if title:
                out.print(title.rstrip("\n"), markup=False, highlight=False)
            out.print(rich_table(rows, footer, [shape is None for shape in shapes.layers]))
        else:
            sys.stdout.write(title + plain_table(rows, footer))
    if diags:
        print_diagnostics(diags)
    sys.exit(EXIT_ERRORS if has_errors(diags) else EXIT_OK)
