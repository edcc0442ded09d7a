"""DOT and Mermaid text of a graph, for people who already draw with those tools."""

from __future__ import annotations

from .model import INPUT, Graph, Node

# node marks -> fill, stroke (the same meaning as the SVG's legend)
COLORS = {"input": ("#e4f0fb", "#1c5d99"), "head": ("#fff1d6", "#c47f00"), "group": ("#eef2f7", "#7b8794"),
          "backbone-end": ("#f3ecff", "#7c3aed"), "renumbered": ("#fff4e6", "#d9480f"),
          "inserted": ("#ddf5e3", "#1f9d55"), "error": ("#fde8e8", "#c81e1e")}


def _name(node_id: int) -> str:
    return "input" if node_id == INPUT else f"L{node_id}"


def _label_lines(node: Node) -> list[str]:
    first = node.title if node.id == INPUT else (
        f"{node.id} {node.title}" if node.last == node.id else f"{node.id}..{node.last} {node.title}")
    detail = node.detail if len(node.detail) <= 60 else node.detail[:59] + "\u2026"
    return [f"{first}  {node.output}", detail, f"line {node.line}"]


def _mark(node: Node) -> str | None:
    """The mark that colours a node (the last one of COLORS' order it has)."""
    marks = [m for m in COLORS if m in node.marks]
    return marks[-1] if marks else None


def _dot_str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def render_dot(graph: Graph) -> str:
    out = [f"digraph {_dot_str(graph.name)} {{", "  rankdir=TB;",
           '  node [shape=box, style="rounded,filled", fillcolor="#f5f7fa", fontname="monospace", fontsize=10];',
           '  edge [fontname="monospace", fontsize=8, color="#7b8794"];']
    for note in graph.notes:
        out.append(f"  // {note}")
    for node in graph.nodes:
        attrs = [f"label={_dot_str(chr(10).join(_label_lines(node)))}"]
        mark = _mark(node)
        if mark:
            fill, stroke = COLORS[mark]
            attrs.append(f'fillcolor="{fill}", color="{stroke}", penwidth=2')
        out.append(f"  {_name(node.id)} [{', '.join(attrs)}];")
    for e in graph.edges:
        attrs = [f"label={_dot_str(e.renumbered or (e.label if e.kind == 'input' else f'{e.key}: {e.label}'))}"]
        if e.kind == "link":
            attrs.append('style=dashed, color="#8e44ad"')
        if e.renumbered:
            attrs.append('color="#d9480f", penwidth=2')
        if e.src_node == e.dst_node - 1 or e.src_node == INPUT:
            attrs.append("weight=4")
        out.append(f"  {_name(e.src_node)} -> {_name(e.dst_node)} [{', '.join(attrs)}];")
    out.append("}")
    return "\n".join(out) + "\n"


def _mermaid_text(text: str) -> str:
    """A label inside Mermaid's double quotes: quotes and markup as entity codes."""
    return (text.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")
            .replace("|", "#124;"))


def render_mermaid(graph: Graph) -> str:
    out = ["flowchart TD"]
    for note in graph.notes:
        out.append(f"  %% {note}")
    for node in graph.nodes:
        label = "<br/>".join(_mermaid_text(t) for t in _label_lines(node) if t)
        out.append(f'  {_name(node.id)}["{label}"]')
    for e in graph.edges:
        text = _mermaid_text(e.renumbered or (e.label if e.kind == "input" else f"{e.key}: {e.label}"))
        arrow = "-.->" if e.kind == "link" else ("==>" if e.renumbered else "-->")
        out.append(f'  {_name(e.src_node)} {arrow}|"{text}"| {_name(e.dst_node)}')
    used = {}
    for node in graph.nodes:
        mark = _mark(node)
        if mark:
            used.setdefault(mark, []).append(_name(node.id))
    for mark, names in used.items():
        fill, stroke = COLORS[mark]
        cls = mark.replace("-", "_")
        out.append(f"  classDef {cls} fill:{fill},stroke:{stroke},stroke-width:2px")
        out.append(f"  class {','.join(names)} {cls}")
    return "\n".join(out) + "\n"
