"""Where each node and edge goes, computed in Python (no Graphviz).

Darknet's layers are already in topological order, so the drawing is a column read top to
bottom by layer index:

- *rows*: a node goes one row below every node it reads, and never above the node before it;
  a node that does not read the one before it may share that one's row (branches side by
  side: an SPP block's pooling branches, a detection head beside the rest of the neck);
- *lanes*: a node takes the lane of the node it reads first when that lane is free at its
  row, else the leftmost free lane;
- *edges*: a straight line when the layer read is the one just above in the same lane;
  every other edge (a skip) runs on a vertical track in the gutter right of the left one of
  its two lanes, leaving its source on the lower half of the node's side and entering its
  target on the upper half. Tracks are given shortest edges first, each the innermost track
  free over its rows, so short skips hug the column and long ones run outside them.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from .model import Graph

NODE_W, NODE_H = 320, 52
ROW_H = 78
GUTTER, TRACK = 26, 12
MARGIN_X, TOP = 40, 70


@dataclass
class Box:
    x: float
    y: float
    w: float = NODE_W
    h: float = NODE_H


@dataclass
class Route:
    points: list[tuple[float, float]]
    label_at: tuple[float, float]
    skip: bool


@dataclass
class Layout:
    boxes: dict[int, Box]
    routes: list[Route]  # one per graph edge, same order
    width: float
    height: float
    rows: dict[int, int] = field(default_factory=dict)
    lanes: dict[int, int] = field(default_factory=dict)


class _Tracks:
    """The vertical tracks of one gutter: per track, the row intervals it carries (sorted)."""

    def __init__(self):
        self.starts: list[list[int]] = []
        self.ends: list[list[int]] = []

    def place(self, lo: int, hi: int) -> int:
        for t, (starts, ends) in enumerate(zip(self.starts, self.ends)):
            k = bisect.bisect_left(starts, lo)
            if (k == 0 or ends[k - 1] < lo) and (k == len(starts) or starts[k] > hi):
                starts.insert(k, lo)
                ends.insert(k, hi)
                return t
        self.starts.append([lo])
        self.ends.append([hi])
        return len(self.starts) - 1


def layout(graph: Graph) -> Layout:
    nodes = graph.nodes
    ids = [n.id for n in nodes]
    position = {nid: k for k, nid in enumerate(ids)}
    reads: dict[int, list[int]] = {nid: [] for nid in ids}
    for e in graph.edges:
        if e.kind == "input" and e.src_node in position and e.dst_node in position:
            reads[e.dst_node].append(e.src_node)
    rows: dict[int, int] = {}
    lanes: dict[int, int] = {}
    lane_last: list[int] = []  # the last row each lane holds
    prev_row = -1
    prev_id = None
    for nid in ids:
        srcs = [s for s in reads[nid] if s in rows]
        row = max([prev_row, *(rows[s] + 1 for s in srcs)]) if srcs else prev_row + 1
        if prev_id is not None and prev_id in srcs:
            row = max(row, rows[prev_id] + 1)
        want = lanes[srcs[0]] if srcs else 0
        if want < len(lane_last) and lane_last[want] < row:
            lane = want
        else:
            lane = next((k for k, last in enumerate(lane_last) if last < row), len(lane_last))
        if lane == len(lane_last):
            lane_last.append(row)
        lane_last[lane] = row
        rows[nid], lanes[nid] = row, lane
        prev_row, prev_id = row, nid

    # which edges are straight; the others get a track in a gutter
    occupied: dict[int, list[int]] = {}  # lane -> rows it holds (increasing)
    for nid in ids:
        occupied.setdefault(lanes[nid], []).append(rows[nid])

    def straight(a: int, b: int) -> bool:
        if lanes[a] != lanes[b]:
            return False
        held = occupied[lanes[a]]
        k = bisect.bisect_right(held, rows[a])
        return k == len(held) or held[k] >= rows[b]

    n_lanes = max(len(lane_last), 1)
    gutters = [_Tracks() for _ in range(n_lanes)]
    plan: list[tuple[str, int, int]] = []  # per edge: ("line"|"skip"|"none", gutter, track)
    order = sorted(range(len(graph.edges)),
                   key=lambda k: rows.get(graph.edges[k].dst_node, 0) - rows.get(graph.edges[k].src_node, 0))
    plan = [("none", 0, 0)] * len(graph.edges)
    for k in order:
        e = graph.edges[k]
        a, b = e.src_node, e.dst_node
        if a not in rows or b not in rows:
            plan[k] = ("stub", 0, 0) if b in rows else plan[k]  # a reference to no layer: a stub into b
            continue
        if e.kind == "input" and straight(a, b):
            plan[k] = ("line", 0, 0)
            continue
        g = min(lanes[a], lanes[b])
        lo, hi = sorted((rows[a], rows[b]))
        plan[k] = ("skip", g, gutters[g].place(lo, hi))

    # x of each lane: node width plus the gutter's tracks
    lane_x, x = [], MARGIN_X
    for g in range(n_lanes):
        lane_x.append(x)
        x += NODE_W + GUTTER + TRACK * len(gutters[g].starts)
    width = x + MARGIN_X
    boxes = {nid: Box(lane_x[lanes[nid]], TOP + rows[nid] * ROW_H) for nid in ids}
    height = TOP + (max(rows.values(), default=0) + 1) * ROW_H + 40

    # ports: spread the skip edges leaving (lower half) and entering (upper half) each side
    ports_out: dict[tuple[int, str], list[int]] = {}
    ports_in: dict[tuple[int, str], list[int]] = {}
    for k, (kind, g, _) in enumerate(plan):
        if kind != "skip":
            continue
        e = graph.edges[k]
        ports_out.setdefault((e.src_node, "r" if lanes[e.src_node] == g else "l"), []).append(k)
        ports_in.setdefault((e.dst_node, "r" if lanes[e.dst_node] == g else "l"), []).append(k)
    y_out, y_in = {}, {}
    for table, store, lo in ((ports_out, y_out, 0.55), (ports_in, y_in, 0.1)):
        for (nid, _), ks in table.items():
            box = boxes[nid]
            for q, k in enumerate(sorted(ks, key=lambda k: plan[k][2])):
                store[k] = box.y + box.h * (lo + 0.35 * (q + 1) / (len(ks) + 1))

    routes = []
    for k, e in enumerate(graph.edges):
        kind, g, t = plan[k]
        if kind == "none":
            routes.append(Route([], (0, 0), False))
            continue
        sb = boxes[e.dst_node]
        if kind == "stub":
            yb = sb.y + sb.h / 2
            routes.append(Route([(sb.x - 40, yb), (sb.x, yb)], (sb.x - 40, yb - 4), False))
            continue
        sa = boxes[e.src_node]
        if kind == "line":
            cx = sa.x + NODE_W / 2
            routes.append(Route([(cx, sa.y + sa.h), (cx, sb.y)], (cx + 4, (sa.y + sa.h + sb.y) / 2 + 3), False))
            continue
        tx = lane_x[g] + NODE_W + GUTTER / 2 + TRACK * t
        xa = sa.x + NODE_W if lanes[e.src_node] == g else sa.x
        xb = sb.x + NODE_W if lanes[e.dst_node] == g else sb.x
        ya, yb = y_out[k], y_in[k]
        routes.append(Route([(xa, ya), (tx, ya), (tx, yb), (xb, yb)], (tx + 3, (ya + yb) / 2), True))
    return Layout(boxes, routes, width, height, rows, lanes)
