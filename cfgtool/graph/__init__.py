"""``cfgtool graph``: the network as a picture (SVG, a self-contained HTML page, DOT, Mermaid).

:func:`make_graph` is the whole pipeline: the graph model (:mod:`.model`: every input Darknet
reads, shapes, heads, the backbone end; ``--diff`` and ``--collapse``), the layout computed
here (:mod:`.layout`) and a renderer (:mod:`.svg`, :mod:`.text`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..diagnostics import ERROR, CfgError
from ..model import build
from ..shapes import infer_shapes
from ..syntax import Document
from .model import AUTO_COLLAPSE, Graph, build_graph, collapse, find_runs, layer_facts, mark_diff

FORMATS = ("html", "svg", "dot", "mermaid")
EXTENSIONS = {".html": "html", ".htm": "html", ".svg": "svg", ".dot": "dot", ".gv": "dot", ".mmd": "mermaid",
              ".mermaid": "mermaid"}


@dataclass
class Result:
    text: str
    graph: Graph
    notes: list[str]


def format_for(path: str | None, fmt: str | None) -> str | None:
    """The format: ``fmt`` when given, else from the output's extension (None: unknown)."""
    if fmt:
        return fmt
    if path is None or path == "-":
        return "html" if path is None else None
    return EXTENSIONS.get(Path(path).suffix.lower())


def make_graph(doc: Document, fmt: str = "html", old: Document | None = None, collapse_runs: bool | None = None
               ) -> Result:
    """The picture of ``doc`` in ``fmt``. ``old``: the cfg before an edit (``--diff``).
    ``collapse_runs``: True folds repeated units, False never, None folds above AUTO_COLLAPSE
    layers (with a note). Raises CfgError when --diff needs shapes a cfg does not have."""
    network = build(doc)
    shapes = infer_shapes(network)
    facts = layer_facts(network)
    graph = build_graph(network, shapes, Path(doc.path).name if doc.path else "network", facts)
    if old is not None:
        old_net = build(old)
        old_shapes = infer_shapes(old_net)
        errors = [d for d in shapes.diagnostics + old_shapes.diagnostics if d.severity == ERROR]
        if errors:
            raise CfgError(errors)
        mark_diff(graph, old_net, old_shapes, network, shapes)
    auto = collapse_runs is None and len(network.layers) > AUTO_COLLAPSE
    if collapse_runs or auto:
        collapse(graph, network, find_runs(network, facts))
        if auto:
            graph.notes[-1] += f" automatically (more than {AUTO_COLLAPSE} layers; --no-collapse to draw every layer)"
    if fmt in ("svg", "html"):
        from .svg import render_html, render_svg

        text = render_html(graph) if fmt == "html" else render_svg(graph)
    else:
        from .text import render_dot, render_mermaid

        text = render_dot(graph) if fmt == "dot" else render_mermaid(graph)
    return Result(text, graph, graph.notes)
