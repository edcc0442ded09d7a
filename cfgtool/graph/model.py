"""The network as a graph: one node per layer (and one for the input image), one edge per input
a layer reads, as Darknet wires it.

Edges come from :mod:`cfgtool.model`: ``Layer.inputs`` (the previous layer where Darknet reads
it, every ``layers=`` / ``from=`` reference) are *input* edges; the index-valued options a spec
declares in ``links`` (``share_index``: the layer whose weights a convolution uses) are *link*
edges, drawn apart. Each edge carries the shape of the tensor it moves (the output of the layer
read, from :mod:`cfgtool.shapes`).

``--diff OLD``: the layers are matched the way :func:`cfgtool.transplant.align` matches them
for carrying weights; a new layer without an old counterpart is *inserted*, and a reference
whose written value differs from the matched old layer's is *renumbered*.

``--collapse``: runs of a repeated unit of layers (the same sections, options and relative
wiring, e.g. a residual unit ``conv 1x1, conv 3x3, shortcut from=-3``) whose inner layers no
layer outside the run reads become one node with a count.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..layers.common import dims
from ..model import Layer, Network
from ..shapes import Shapes

INPUT = -1  # the network input's node id (data-from="-1")
MAX_UNIT = 12  # the longest unit --collapse looks for
AUTO_COLLAPSE = 2000  # above this many layers the graph is collapsed unless told otherwise


@dataclass
class Node:
    id: int  # the first layer (INPUT for the network input)
    last: int  # the last layer it stands for (== id except for a collapsed run)
    title: str  # "convolutional", "input", "x8 residual unit"
    detail: str  # the options that define it, as written
    output: str  # "w x h x c" ('?' where shapes failed)
    line: int  # the cfg line of its section header (1 for the input: [net])
    marks: list[str] = field(default_factory=list)  # head, output, backbone-end, inserted, renumbered, error, group
    count: int = 1  # repeats of a collapsed unit
    unit: list[str] = field(default_factory=list)  # the types of a collapsed unit

    @property
    def layers(self) -> range:
        return range(self.id, self.last + 1)


@dataclass
class Edge:
    src: int  # the layer read (INPUT for the network input)
    dst: int  # the reading layer
    kind: str  # "input" | "link"
    label: str  # the tensor's shape, or what a link means
    key: str = ""  # the option (layers, from, share_index...) or "" for the previous layer
    renumbered: str = ""  # "was 85" when --diff found the reference renumbered
    src_node: int = 0  # node ids (the run a collapsed layer belongs to)
    dst_node: int = 0


@dataclass
class Graph:
    name: str
    nodes: list[Node]
    edges: list[Edge]
    notes: list[str] = field(default_factory=list)
    sections: dict[int, tuple[int, str]] = field(default_factory=dict)  # node id -> (first line, text)
    backbone_end: int | None = None
    layer_count: int = 0
    diagnostics: list = field(default_factory=list)  # shape errors (the layers drawn in red)


@dataclass
class Facts:
    """What the graph reads of a layer, read once: references, inputs, option lines."""

    refs: list
    inputs: list[int]
    options: list[tuple[str, str | None]]  # (key, value) as written, in order
    links: dict[str, str]


def layer_facts(network: Network) -> list[Facts]:
    out = []
    for layer in network.layers:
        opts = [(ln.key, ln.value) for ln in layer.section.options]
        out.append(Facts(layer.refs, layer.inputs, opts, layer.spec.links if layer.spec else {}))
    return out


def _dims(shape) -> str:
    return "?" if shape is None else dims(shape.output).replace(" ", "")


def _detail(facts: Facts) -> str:
    """The options as written, references left out (they are the edges)."""
    refs = {r.key for r in facts.refs}
    return " ".join(f"{key}={value}" if value is not None else key
                    for key, value in facts.options if key not in refs and value != "")


def reads_network_input(layer: Layer) -> bool:
    """Layer 0 reads the image when its type reads its previous layer (``[implicit]`` does not)."""
    if layer.index != 0 or layer.spec is None:
        return False
    return 0 in layer.spec.inputs(layer.section, 1)


def _edges(network: Network, facts: list[Facts], shapes: Shapes, net_dims: str) -> list[Edge]:
    out: list[Edge] = []
    n = len(network.layers)

    def label(src: int) -> str:
        if src == INPUT:
            return net_dims
        return _dims(shapes.layers[src]) if 0 <= src < n else "missing"

    for layer in network.layers:
        j = layer.index
        if reads_network_input(layer):
            out.append(Edge(INPUT, 0, "input", net_dims))
        f = facts[j]
        links = f.links
        keyed = [r for r in f.refs if r.key not in links]
        for src in f.inputs:
            ref = next((r for r in keyed if r.target == src), None)
            if ref is not None:
                keyed.remove(ref)
            out.append(Edge(src, j, "input", label(src), ref.key if ref else ""))
        for r in f.refs:
            if r.key in links:
                out.append(Edge(r.target, j, "link", links[r.key], r.key))
    return out


def build_graph(network: Network, shapes: Shapes, name: str = "network", facts: list[Facts] | None = None
                ) -> Graph:
    """The graph of ``network`` with shapes, heads and the backbone end marked."""
    facts = facts if facts is not None else layer_facts(network)
    from ..selection import SelectionError, find_backbone  # noqa: PLC0415 (its cost only here)

    net = shapes.net
    net_dims = f"{net['width']}x{net['height']}x{net['channels']}" if net else "?"
    net_line = network.net.header.lineno if network.net else 1
    nodes = [Node(INPUT, INPUT, "input", "[net] " + net_dims, net_dims, net_line, ["input"])]
    sections = {INPUT: _section_text(network.net)} if network.net else {}
    last = len(network.layers) - 1
    for layer, shape in zip(network.layers, shapes.layers):
        marks = []
        spec = layer.spec
        title = spec.type_name(layer.section.name) if spec else layer.section.name.strip("[]")
        if spec is not None and spec.is_head:
            marks.append("head")
        if layer.index == last:
            marks.append("output")
        if shape is None:
            marks.append("error")
        nodes.append(Node(layer.index, layer.index, title, _detail(facts[layer.index]), _dims(shape), layer.line, marks))
        sections[layer.index] = _section_text(layer.section)
    graph = Graph(name, nodes, _edges(network, facts, shapes, net_dims), sections=sections, layer_count=len(network.layers),
                  diagnostics=list(shapes.diagnostics))
    if shapes.ok and network.layers:
        try:
            graph.backbone_end = find_backbone(network, shapes).end
        except SelectionError:
            graph.backbone_end = None
    if graph.backbone_end is not None:
        nodes[graph.backbone_end + 1].marks.append("backbone-end")
    _index_nodes(graph)
    return graph


def _section_text(section) -> tuple[int, str]:
    lines = section.lines()
    while len(lines) > 1 and lines[-1].kind in ("blank", "comment"):  # comments there lead the next section
        lines = lines[:-1]
    return section.header.lineno, "\n".join(ln.text for ln in lines)


def _index_nodes(graph: Graph) -> None:
    """Point every edge at the nodes that hold its layers."""
    owner: dict[int, int] = {}
    for node in graph.nodes:
        if node.last == node.id:
            owner[node.id] = node.id
        else:
            for k in node.layers:
                owner[k] = node.id
    for e in graph.edges:
        e.src_node = owner.get(e.src, e.src)
        e.dst_node = owner.get(e.dst, e.dst)


# -- --diff ------------------------------------------------------------------------------------


def mark_diff(graph: Graph, old: Network, old_shapes: Shapes, new: Network, new_shapes: Shapes) -> None:
    """Mark the layers an edit inserted and the references it renumbered (see the module doc)."""
    from ..transplant import align  # noqa: PLC0415 (numpy: only for --diff)

    walk = align(old, old_shapes, new, new_shapes)
    new_to_old = {j: o for o, j in walk if o is not None and j is not None}
    inserted = [j for o, j in walk if o is None]
    removed = [o for o, j in walk if j is None]
    by_id = {node.id: node for node in graph.nodes}
    for j in inserted:
        by_id[j].marks.append("inserted")
    renumbered = 0
    edges_in: dict[int, list[Edge]] = {}
    for e in graph.edges:
        edges_in.setdefault(e.dst, []).append(e)
    for j, o in new_to_old.items():
        before = {(r.key, r.position): r.raw for r in old.layers[o].refs}
        for r in new.layers[j].refs:
            was = before.get((r.key, r.position))
            if was is None or was == r.raw:
                continue
            renumbered += 1
            if "renumbered" not in by_id[j].marks:
                by_id[j].marks.append("renumbered")
            edge = next((e for e in edges_in.get(j, []) if e.src == r.target and e.key == r.key and not e.renumbered),
                        None)
            if edge is not None:
                edge.renumbered = f"{r.key}={r.raw} was {was}"
    graph.notes.append(f"diff against {old.path or 'the old cfg'}: {len(inserted)} layer(s) inserted"
                       + (f" ({_ranges(inserted)})" if inserted else "")
                       + f", {len(removed)} removed" + (f" (old {_ranges(removed)})" if removed else "")
                       + f", {renumbered} reference value(s) renumbered")


def _ranges(values: list[int]) -> str:
    out, start = [], None
    for k, v in enumerate(values):
        if start is None:
            start = v
        if k + 1 == len(values) or values[k + 1] != v + 1:
            out.append(str(start) if start == v else f"{start}..{v}")
            start = None
    return ", ".join(out)


# -- --collapse --------------------------------------------------------------------------------


def _signatures(facts: list[Facts]) -> list[tuple]:
    """What makes two layers alike for folding: options as written (references excluded) and
    the inputs and links relative to the layer."""
    out = []
    for j, f in enumerate(facts):
        refs = {r.key for r in f.refs}
        opts = tuple((key, value) for key, value in f.options if key not in refs)
        rel = tuple(j - i for i in f.inputs)
        links = tuple((r.key, j - r.target) for r in f.refs if r.key in f.links)
        out.append((opts, rel, links))
    return out


def find_runs(network: Network, facts: list[Facts] | None = None, min_count: int = 2) -> list[tuple[int, int, int]]:
    """Runs of a repeated unit: (first layer, unit length, count), left to right, not
    overlapping; only runs whose layers other than the last are read inside the run alone."""
    facts = facts if facts is not None else layer_facts(network)
    ids: dict[tuple, int] = {}  # each distinct signature as a small int: fast comparisons
    sig = [ids.setdefault((layer.section.name, *f), len(ids)) for layer, f in zip(network.layers, _signatures(facts))]
    n = len(sig)
    last_reader = [-1] * n  # the last layer reading each layer
    for j, f in enumerate(facts):
        for i in (*f.inputs, *(r.target for r in f.refs)):
            if 0 <= i < n:
                last_reader[i] = max(last_reader[i], j)
    runs, s = [], 0
    while s < n:
        best = None
        for p in range(1, MAX_UNIT + 1):
            if s + p >= n or sig[s + p] != sig[s]:
                continue
            k = 1
            while s + (k + 1) * p <= n and sig[s + k * p: s + (k + 1) * p] == sig[s: s + p]:
                k += 1
            if k < min_count:
                continue
    # the most units such that no layer after the run reads one of its inner layers
            reach, k_ok = -1, 0
            for i in range(s, s + k * p - 1):
                reach = max(reach, last_reader[i])
                if (i - s + 2) % p == 0 and reach <= i + 1:  # i + 1 ends a unit
                    k_ok = (i - s + 2) // p
            k = k_ok
            if k >= min_count and (best is None or k * p > best[1] * best[2]):
                best = (s, p, k)
        if best is None:
            s += 1
            continue
        runs.append(best)
        s += best[1] * best[2]
    return runs


def collapse(graph: Graph, network: Network, runs: list[tuple[int, int, int]]) -> None:
    """Replace each run's layers by one node (the run's first index; marks of its layers kept)."""
    if not runs:
        return
    by_id = {node.id: node for node in graph.nodes}
    drop: set[int] = set()
    for first, p, k in runs:
        last = first + p * k - 1
        unit = [by_id[first + q].title for q in range(p)]
        marks = ["group"] + sorted({m for i in range(first, last + 1) for m in by_id[i].marks if m != "group"})
        what = ", ".join(unit)
        node = Node(first, last, f"x{k} {what}", f"layers {first}..{last}: {k} units of {p} layer(s)",
                    by_id[last].output, by_id[first].line, marks, k, unit)
        graph.sections[first] = (node.line, "\n\n".join(graph.sections[i][1] for i in range(first, first + p))
                                 + f"\n\n# ... repeated {k} times (layers {first}..{last})")
        for i in range(first + 1, last + 1):
            drop.add(i)
            graph.sections.pop(i, None)
        by_id[first] = node
    graph.nodes = [by_id[n.id] for n in graph.nodes if n.id not in drop]
    # edges inside a run are the unit's own wiring: left out
    _index_nodes(graph)
    graph.edges = [e for e in graph.edges if e.src_node != e.dst_node]
    folded = sum(p * k for _, p, k in runs)
    graph.notes.append(f"collapsed {len(runs)} run(s) of repeated units ({folded} layers) into one node each")
