"""Where to insert a block: ``--at`` specs, the backbone presets and the checks on a point.

A point is the index of the layer a block goes after. ``--at`` takes a comma-separated list
of items:

- ``104``, ``23,54,85``: explicit layer indices; ``10-20``: every layer of a range;
- ``TYPE@RANGE`` (``shortcut@0-104``, ``convolutional@7``): after every layer of that
  section type in the range; ``TYPE`` alone: every such layer;
- ``backbone-end`` (the default), ``stages``, ``residuals``: presets computed from the graph
  (see :func:`find_backbone`).

The backbone is found like this. The *head* starts at the first layer that is an output or
loss layer ([yolo], [region], [softmax] ...), has no known shape, starts the part of the
network without image outputs (1x1 from there on: a classifier's global pooling, not an SE
block's), makes its single input larger ([upsample], [deconvolutional]) or is an SPP
pooling branch (a stride-1 [maxpool] whose input is read again further on). Before the
head, each layer with a smaller output than the one before it starts a *stage*; a *merge*
is a layer with two or more inputs ([shortcut], a [route] of several layers ...). The
backbone ends where its last stage ends: that stage's last merge, plus as many layers as the
stage before it has between its last merge and its end (YOLOv4's CSP stages end with one
1x1 convolution after the concatenating [route]), but never at a linear 1x1 convolution
right before the head (the prediction layer). A last stage without a merge is left to the
head (the backbone ends with the stage before it); a network without any merge ends at the
last layer of its last stage with the most channels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .layers import TABLE
from .layers.base import LayerShape
from .layers.common import dims
from .model import Network
from .shapes import Shapes

PRESETS = ("backbone-end", "stages", "residuals")


class SelectionError(Exception):
    """A selection that cannot be used; ``usage`` marks a malformed spec (exit 2) rather
    than a well-formed one that does not fit the network (exit 1)."""

    def __init__(self, message: str, usage: bool = False):
        super().__init__(message)
        self.message = message
        self.usage = usage


@dataclass
class Backbone:
    end: int  # the last backbone layer
    head: int  # the first layer of the head (len(layers) when there is none)
    stages: list[int]  # layers that start a stage (output smaller than their input)
    reason: str


@dataclass
class Selection:
    points: list[int]
    notes: list[str] = field(default_factory=list)


def _type(layer) -> str:
    return layer.type.lower()


def _names(layer) -> set[str]:
    """What a layer goes by, lower case: its type and its section's name."""
    return {_type(layer), layer.section.name.strip("[]").lower()}


def is_output(layer) -> bool:
    """Its output is a result (a detection head, softmax, a loss), not a feature map."""
    return layer.spec is not None and layer.spec.is_output


def _fed(shape: LayerShape) -> tuple[int, int, int]:
    """What the next layer receives from this one."""
    return shape.feeds or shape.output


def _is_image(shape: LayerShape | None) -> bool:
    """An output of more than one position (1x1 vectors and Darknet's 0x0x0 outputs are not)."""
    if shape is None:
        return False
    w, h, c = _fed(shape)
    return min(w, h, c) >= 1 and w * h > 1


def point_problem(network: Network, shapes: Shapes, point: int) -> str | None:
    """Why a block cannot go after layer ``point`` (None: it can)."""
    n = len(network.layers)
    if not 0 <= point < n:
        return f"layer {point} does not exist (the network has layers 0..{n - 1})"
    layer = network.layers[point]
    if is_output(layer):
        return f"layer {point} is a [{layer.section.name.strip('[]')}] output layer: nothing may follow it but the head"
    shape = shapes.layers[point]
    if shape is None:
        return f"layer {point} ({layer.section.name}) has no known shape (fix the errors before it first)"
    if not _is_image(shape):
        return (f"layer {point} ({layer.section.name}) outputs {dims(_fed(shape))}, not an image: "
                "attention needs a w x h x c feature map")
    return None


def _inputs(layer) -> list[int]:
    return sorted(set(layer.inputs))


def _head_start(network: Network, shapes: Shapes) -> tuple[int, str]:
    layers, out = network.layers, shapes.layers
    readers: dict[int, list[int]] = {}
    for layer in layers:
        for t in _inputs(layer):
            readers.setdefault(t, []).append(layer.index)
    net = shapes.net
    prev = (net.get("width", 0), net.get("height", 0), net.get("channels", 0))
    # image_after[j]: some layer after j outputs an image again (an SE squeeze is not the head)
    image_after, seen = [False] * len(layers), False
    for j in range(len(layers) - 1, -1, -1):
        image_after[j] = seen
        seen = seen or _is_image(out[j])
    for layer in layers:
        j, shape = layer.index, out[layer.index]
        name = layer.section.name
        if is_output(layer):
            return j, f"layer {j} is the first output layer ({name})"
        if shape is None:
            return j, f"layer {j} ({name}) has no known shape"
        w, h, _ = _fed(shape)
        if not _is_image(shape) and not image_after[j]:
            return j, f"layer {j} ({name}) starts the part without image outputs ({dims(shape.output)})"
        if _inputs(layer) == [j - 1] and layer.spec.combine != "concat" and 0 < prev[0] * prev[1] < w * h:
            return j, (f"layer {j} ({name}) is the first to make the feature map larger "
                       f"({dims(prev[:2])} -> {dims((w, h))})")
        if layer.spec.pooling == "max" and shape.output[:2] == shape.input[:2] and j > 0 \
                and any(r > j for r in readers.get(j - 1, [])):
            return j, (f"layer {j} ({name}) is the first SPP pooling branch (a stride-1 maxpool whose input, "
                       f"layer {j - 1}, is read again further on)")
        prev = _fed(shape)
    return len(layers), "the network has no output layer"


def find_backbone(network: Network, shapes: Shapes) -> Backbone:
    """The backbone's stages and last layer (see the module docstring); SelectionError when
    the network has none."""
    head, head_why = _head_start(network, shapes)
    if head == 0:
        raise SelectionError(f"no backbone found: {head_why}; choose points with --at")
    layers, out = network.layers, shapes.layers
    net = shapes.net
    prev = (net.get("width", 0), net.get("height", 0))
    stages: list[int] = []
    for j in range(head):
        w, h, _ = _fed(out[j])
        if w * h < prev[0] * prev[1]:
            stages.append(j)
        prev = (w, h)
    bounds = [0, *stages] if not stages or stages[0] != 0 else stages
    spans = [(start, (bounds[k + 1] - 1) if k + 1 < len(bounds) else head - 1) for k, start in enumerate(bounds)]
    spans = [(a, b) for a, b in spans if a <= b]
    merges = [j for j in range(head) if len(_inputs(layers[j])) >= 2]

    def last_merge(span):
        inside = [m for m in merges if span[0] <= m <= span[1]]
        return inside[-1] if inside else None

    last = spans[-1]
    where = f"the head starts at layer {head}: {head_why}"
    limit = head - 1
    pred = layers[head - 1].section
    if head < len(layers) and layers[head - 1].spec.is_conv and pred.get("activation") == "linear" \
            and pred.get("size", "1") == "1" and limit > 0:
        limit -= 1  # a linear 1x1 convolution straight before the head makes the predictions
    m = last_merge(last)
    if m is not None:
        offset, template = 0, "no earlier stage has a merge"
        for span in reversed(spans[:-1]):
            pm = last_merge(span)
            if pm is not None:
                offset = span[1] - pm
                template = (f"the stage before it ({span[0]}..{span[1]}) ends {offset} layer(s) after its last "
                            f"merge (layer {pm})")
                break
        end = min(m + offset, limit)
        if end < m + offset:
            template += f" (but layer {limit + 1} is the head's linear 1x1 prediction convolution)"
        reason = (f"{where}; the last stage starts at layer {last[0]} and its last merge is layer {m} "
                  f"({layers[m].section.name}); {template}, so the backbone ends at layer {end}")
    elif merges:
        prior = [s for s in spans[:-1] if last_merge(s) is not None][-1]
        end = prior[1]
        reason = (f"{where}; the last stage ({last[0]}..{last[1]}) has no merge (no residual or CSP block) "
                  f"and is left to the head, so the backbone ends at layer {end}, the end of the stage before it")
    else:
        candidates = range(last[0], max(last[0], min(last[1], limit)) + 1)
        widest = max(_fed(out[j])[2] for j in candidates)
        end = max(j for j in candidates if _fed(out[j])[2] == widest)
        reason = (f"{where}; the network has no merge layers: the backbone ends at layer {end}, the last layer "
                  f"of the last stage ({last[0]}..{last[1]}) with the most channels ({widest})")
    return Backbone(end, head, stages, reason)


def _shown(text: str) -> str:
    return text if len(text) <= 40 else f"{text[:10]}...{text[-6:]} ({len(text)} characters)"


def _int(text: str, spec: str, n: int) -> int:
    """A layer index as written, or ``n`` (past the last layer) for anything larger: a
    5,000-digit index is never converted."""
    if not (text.isascii() and text.isdigit()):
        raise SelectionError(f"--at {_shown(spec)}: '{_shown(text)}' is not a layer index (a number >= 0)",
                             usage=True)
    digits = text.lstrip("0") or "0"
    return n if len(digits) > len(str(n)) else min(int(digits), n)


def _range(text: str, spec: str, n: int) -> range:
    """The layers of ``LOW-HIGH`` or ``INDEX``; every one must exist (0..n-1). A range object:
    nothing is materialised."""
    lo_text, dash, hi_text = text.partition("-")
    lo = _int(lo_text, spec, n)
    hi = _int(hi_text, spec, n) if dash else lo
    if dash and lo > hi:
        raise SelectionError(f"--at {_shown(spec)}: range {_shown(text)} is empty (write LOW-HIGH)", usage=True)
    if hi >= n:
        past = _shown(hi_text if dash else lo_text)
        raise SelectionError(f"--at {_shown(spec)}: layer {past} does not exist (the network has layers 0..{n - 1})")
    return range(lo, hi + 1)


def _type_matches(layer, name: str) -> bool:
    return name.strip("[]").lower() in _names(layer)


def select(network: Network, shapes: Shapes, spec: str = "backbone-end") -> Selection:
    """The insertion points ``spec`` selects (sorted, without duplicates), each checked with
    :func:`point_problem`; notes say how presets chose theirs."""
    spec = spec.strip()
    items = [item.strip() for item in spec.split(",")]
    if not spec or any(not item for item in items):
        raise SelectionError(f"--at '{_shown(spec)}': empty item (write e.g. 104, 23,54,85, 10-20, shortcut@0-104 "
                             f"or one of {', '.join(PRESETS)})", usage=True)
    points: set[int] = set()
    notes: list[str] = []
    backbone: Backbone | None = None
    n = len(network.layers)

    def get_backbone() -> Backbone:
        nonlocal backbone
        if backbone is None:
            backbone = find_backbone(network, shapes)
        return backbone

    for item in items:
        if item in PRESETS:
            bb = get_backbone()
            why = f"backbone-end = layer {bb.end}: {bb.reason}"
            if why not in notes:
                notes.append(why)
            if item == "backbone-end":
                points.add(bb.end)
            elif item == "stages":
                ends = [s - 1 for s in bb.stages if 0 < s <= bb.end] + [bb.end]
                points.update(ends)
                notes.append(f"stages = layers {', '.join(map(str, sorted(set(ends))))}: the layer before each "
                             f"downsampling layer up to the backbone end ({bb.end})")
            else:
                found = [j - 1 for j in range(1, bb.end + 1) if network.layers[j].spec.combine == "sum"]
                if not found:
                    raise SelectionError(f"--at residuals: the backbone (layers 0..{bb.end}) has no [shortcut] layer")
                points.update(found)
                notes.append(f"residuals = layers {', '.join(map(str, found))}: the layer before each [shortcut] "
                             f"of the backbone (0..{bb.end}), so the block scales each residual branch")
        elif "@" in item:
            name, _, where = item.partition("@")
            if not name:
                raise SelectionError(f"--at {_shown(item)}: no layer type before '@'", usage=True)
            chosen = [j for j in _range(where, item, n) if _type_matches(network.layers[j], name)]
            if not chosen:
                raise SelectionError(f"--at {_shown(item)}: no [{_shown(name)}] layer in layers {_shown(where)}")
            points.update(chosen)
        elif item[0].isdigit():
            points.update(_range(item, spec, n))
        elif item.replace("_", "").isalpha():
            chosen = [layer.index for layer in network.layers if _type_matches(layer, item)]
            if not chosen and _known_type(item):
                raise SelectionError(f"--at {_shown(item)}: the network has no [{_shown(item)}] layer")
            if not chosen:
                raise SelectionError(f"--at {_shown(item)}: unknown preset or layer type "
                                     f"(presets: {', '.join(PRESETS)})",
                                     usage=True)
            points.update(chosen)
        else:
            raise SelectionError(f"--at {_shown(item)}: not an index, range, TYPE@RANGE or preset "
                                 f"({', '.join(PRESETS)})", usage=True)
    problems = [p for p in (point_problem(network, shapes, j) for j in sorted(points)) if p]
    if problems:
        raise SelectionError("cannot insert there: " + "; ".join(problems))
    return Selection(sorted(points), notes)


def _known_type(name: str) -> bool:
    return f"[{name.strip('[]').lower()}]" in TABLE
