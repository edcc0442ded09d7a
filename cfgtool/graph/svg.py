"""SVG and the self-contained HTML page (the SVG, a stylesheet and a script, all inline).

Every layer node is a ``<g class="node ..." data-layer="N">`` (a collapsed run also carries
``data-last``), every edge a ``<g class="edge ..." data-from="A" data-to="B">`` with A the
layer read (-1: the network input) and B the reading layer, as in :mod:`cfgtool.graph.model`.
"""

from __future__ import annotations

import json
from html import escape
from importlib import resources

from .layout import NODE_W, Layout, layout
from .model import INPUT, Graph, Node

CHAR_W = 6.6  # monospace 11px
LEGEND = (
    ("node", "a layer: index, type, output w x h x c, options as written, cfg line"),
    ("node input", "the network input ([net] width x height x channels)"),
    ("node head", "detection head"),
    ("node backbone-end", "backbone end (where add-se --at backbone-end inserts)"),
    ("node group", "repeated units folded into one box (--collapse)"),
    ("node inserted", "inserted by the edit (--diff)"),
    ("node renumbered", "a reference renumbered by the edit (--diff)"),
    ("edge", "input: the tensor a layer reads (label: its shape)"),
    ("edge link", "share_index and other links (weights, not data)"),
    ("edge renumbered", "a renumbered reference (--diff)"),
)

STYLE = """
svg.cfggraph{font-family:ui-monospace,Menlo,Consolas,'DejaVu Sans Mono',monospace;font-size:11px}
.node rect{fill:#f5f7fa;stroke:#7b8794;stroke-width:1}
.node .t{font-weight:bold;fill:#1f2933}.node .d{fill:#52606d}.node .o{font-weight:bold;fill:#1c5d99}
.node .l{fill:#9aa5b1}
.node.input rect{fill:#e4f0fb;stroke:#1c5d99}
.node.head rect{fill:#fff1d6;stroke:#c47f00;stroke-width:2}
.node.output rect{stroke-width:2}
.node.group rect{fill:#eef2f7;stroke-dasharray:6 3;stroke-width:1.5}
.node.inserted rect{fill:#ddf5e3;stroke:#1f9d55;stroke-width:2.5}
.node.renumbered rect{stroke:#d9480f;stroke-width:2.5}
.node.error rect{fill:#fde8e8;stroke:#c81e1e}
.node.match rect{stroke:#7c3aed;stroke-width:3}
.node.selected rect{stroke:#111;stroke-width:3}
.node.backbone-end rect{stroke:#7c3aed;stroke-width:2.5}
.bbe line{stroke:#7c3aed;stroke-width:1.5;stroke-dasharray:8 4}.bbe text{fill:#7c3aed;font-weight:bold}
.edge path{fill:none;stroke:#9aa5b1;stroke-width:1.2}
.edge.skip path{stroke:#3e7cb1}
.edge text{fill:#7b8794;font-size:9px}
.edge.link path{stroke:#8e44ad;stroke-dasharray:3 3}
.edge.renumbered path{stroke:#d9480f;stroke-width:2.5}.edge.renumbered text{fill:#d9480f;font-weight:bold}
.edge.broken path{stroke:#c81e1e}
.edge.hl path{stroke:#7c3aed;stroke-width:2.5}
.note{fill:#52606d;font-size:12px}.title{font-size:15px;font-weight:bold;fill:#1f2933}
"""


def _fit(text: str, width: float) -> str:
    n = max(int(width / CHAR_W), 4)
    return text if len(text) <= n else text[: n - 1] + "\u2026"


def _node(node: Node, box) -> str:
    classes = " ".join(["node", *node.marks])
    label = node.title if node.id == INPUT else f"{node.id} {node.title}"
    if node.last != node.id:
        label = f"{node.id}..{node.last} {node.title}"
    out = node.output
    line = f"line {node.line}"
    detail = node.detail
    tip = f"{label}\n{out}\n{detail}\n{line}"
    extra = f' data-last="{node.last}" data-count="{node.count}"' if node.last != node.id else ""
    x, y = box.x, box.y
    room = NODE_W - 20 - len(out) * CHAR_W
    return (
        f'<g class="{classes}" data-layer="{node.id}"{extra} data-type="{escape(node.title)}" '
        f'data-line="{node.line}"><title>{escape(tip)}</title>'
        f'<rect x="{x:.0f}" y="{y:.0f}" width="{box.w:.0f}" height="{box.h:.0f}" rx="5"/>'
        f'<text x="{x + 7:.0f}" y="{y + 16:.0f}"><tspan class="t">{escape(_fit(label, room - 70))}</tspan>'
        f'<tspan class="l"> \u00b7 {line}</tspan></text>'
        f'<text class="o" x="{x + box.w - 7:.0f}" y="{y + 16:.0f}" text-anchor="end">{escape(out)}</text>'
        + "".join(f'<text class="d" x="{x + 7:.0f}" y="{y + 31 + 14 * k:.0f}">{escape(text)}</text>'
                  for k, text in enumerate(_wrap(detail, NODE_W - 14, 2)))
        + "</g>"
    )


def _wrap(text: str, width: float, lines: int) -> list[str]:
    """``text`` in at most ``lines`` lines of ``width`` pixels, broken between words."""
    n = max(int(width / CHAR_W), 4)
    out, words = [], text.split(" ")
    while words and len(out) < lines:
        line = words.pop(0)
        while words and len(line) + 1 + len(words[0]) <= n:
            line += " " + words.pop(0)
        out.append(line)
    if words:
        out[-1] = _fit(out[-1] + " " + " ".join(words), width)
    return [_fit(t, width) for t in out]


def _edge(e, route) -> str:
    classes = ["edge", e.kind]
    if route.skip:
        classes.append("skip")
    if e.renumbered:
        classes.append("renumbered")
    if e.label == "missing":
        classes.append("broken")
    label = e.renumbered or (e.label if e.kind == "input" else f"{e.key}: {e.label}")
    key = f" ({e.key})" if e.key else ""
    tip = f"{e.src} -> {e.dst}{key}: {label}"
    head = f'<g class="{" ".join(classes)}" data-from="{e.src}" data-to="{e.dst}"><title>{escape(tip)}</title>'
    if not route.points:
        return head + "</g>"
    d = "M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in route.points)
    lx, ly = route.label_at
    text = (f'<text x="{lx:.0f}" y="{ly:.0f}" transform="rotate(90 {lx:.0f} {ly:.0f})" text-anchor="middle" dy="-2">'
            if route.skip else f'<text x="{lx:.0f}" y="{ly:.0f}">')
    return head + f'<path d="{d}" marker-end="url(#arrow)"/>' + text + escape(label) + "</text></g>"


def _backbone_mark(graph: Graph, lay: Layout) -> str:
    if graph.backbone_end is None:
        return ""
    nid = next((n.id for n in graph.nodes if n.id <= graph.backbone_end <= n.last), None)
    if nid is None:
        return ""
    box = lay.boxes[nid]
    y = box.y + box.h + 8
    return (f'<g class="bbe"><line x1="10" y1="{y:.0f}" x2="{lay.width - 10:.0f}" y2="{y:.0f}"/>'
            f'<text x="14" y="{y - 4:.0f}">backbone ends at layer '
            f'{graph.backbone_end} (add-se --at backbone-end)</text></g>')


def render_svg(graph: Graph, lay: Layout | None = None) -> str:
    lay = lay or layout(graph)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="cfggraph" width="{lay.width:.0f}" height="{lay.height:.0f}" '
        f'viewBox="0 0 {lay.width:.0f} {lay.height:.0f}">',
        f"<style>{STYLE}</style>",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" '
        'markerUnits="userSpaceOnUse" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#7b8794"/></marker></defs>',
        '<g id="viewport">',
        f'<text class="title" x="20" y="24">{escape(graph.name)}: {graph.layer_count} layers</text>',
    ]
    for k, note in enumerate(graph.notes):
        parts.append(f'<text class="note" x="20" y="{42 + 15 * k}">{escape(note)}</text>')
    parts.append(_backbone_mark(graph, lay))
    parts.append('<g class="edges">')
    parts.extend(_edge(e, r) for e, r in zip(graph.edges, lay.routes))
    parts.append('</g><g class="nodes">')
    parts.extend(_node(n, lay.boxes[n.id]) for n in graph.nodes)
    parts.append("</g></g></svg>")
    return "\n".join(parts) + "\n"


def _script_json(value) -> str:
    """JSON safe inside a <script> element."""
    return json.dumps(value, separators=(",", ":")).replace("</", "<\\/").replace("<!--", "<\\!--")


def _legend() -> str:
    rows = []
    for cls, text in LEGEND:
        if cls.startswith("node"):
            sample = f'<svg class="cfggraph" width="34" height="18"><g class="{cls}"><rect x="1" y="1" width="32" height="16" rx="3"/></g></svg>'
        else:
            sample = (f'<svg class="cfggraph" width="34" height="18"><g class="{cls}"><path d="M2,9 L32,9"/>'
                      "</g></svg>")
        rows.append(f"<li>{sample}<span>{escape(text)}</span></li>")
    return "<ul>" + "".join(rows) + "</ul>"


def render_html(graph: Graph, lay: Layout | None = None) -> str:
    svg = render_svg(graph, lay)
    data = {str(k): v for k, v in graph.sections.items()}
    files = resources.files(__package__)
    css = (files / "viewer.css").read_text(encoding="utf-8")
    js = (files / "viewer.js").read_text(encoding="utf-8")
    title = escape(f"{graph.name}: {graph.layer_count} layers")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{title}</title><style>{css}</style></head><body>\n"
        '<header><b>' + title + '</b><input id="search" type="search" placeholder="layer index or type, Enter: next" '
        'autocomplete="off"><span id="found"></span><button id="fit" type="button">fit</button>'
        '<button id="legend-toggle" type="button">legend</button></header>\n'
        f'<aside id="legend">{_legend()}</aside>\n'
        f'<main id="canvas">{svg}</main>\n'
        '<aside id="panel" hidden><button id="close" type="button">\u00d7</button><h2 id="panel-title"></h2>'
        '<pre id="section"></pre></aside>\n'
        f'<script type="application/json" id="sections">{_script_json(data)}</script>\n'
        f"<script>{js}</script></body></html>\n"
    )
