"""Edits of a detector's heads and input size (issue 16): :func:`set_classes`, :func:`resize`
and :func:`set_anchors`.

Each takes a Document and returns an :class:`Edit`: a new Document (the input is not changed)
with every option it changed (:class:`Change`), notes, and the errors the result has that the
input had not (a caller must not write such a result). What a layer type contributes -- which
option holds its classes, what a detection head needs from the layer before it, which option
sets a layer's output channels, whether anchors are in pixels and picked by ``mask=`` -- is
asked of its spec (``classes_key``, ``head(r)``: the head's classes, mask and what it needs from the
layer before it, ``channels_key``, ``per_class_keys``).

The layer that feeds a head is the section before it: Darknet builds every head on
``params.inputs`` of the previous layer (parse_yolo, parse_region, parse_detection ...).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

from .diagnostics import Diagnostic
from .layers.base import Reader
from .layers.common import field_count
from .model import Layer, Network, build
from .rewrite import Mapping, errors, new_errors
from .shapes import Shapes, infer_shapes
from .syntax import Document, Section

NO_CHANGE = Mapping({})  # an edit in place: layer i is layer i


class EditError(Exception):
    """An edit that cannot be made; ``message`` says why, ``diagnostics`` locate input errors."""

    def __init__(self, message: str, diagnostics: list[Diagnostic] | None = None):
        super().__init__(message)
        self.message = message
        self.diagnostics = list(diagnostics or [])


@dataclass
class Change:
    """One option set: ``layer`` None is [net]; ``old`` None: the key was absent (added)."""

    layer: int | None
    section: str
    line: int  # the line in the output (a removed line: in the input)
    key: str
    old: str | None
    new: str | None  # None: the line was removed
    why: str = ""


@dataclass
class Edit:
    doc: Document
    changes: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    errors: list[Diagnostic] = field(default_factory=list)  # errors the result has and the input had not
    input_errors: list[Diagnostic] = field(default_factory=list)
    stride: tuple[int, int] | None = None  # resize: the network's total stride (x, y)
    size: tuple[int, int] | None = None  # resize: the new width and height
    refitted: list[int] = field(default_factory=list)  # layers feeding a head whose output size changed


class _Editor:
    """A copy of the document being edited, with every change recorded."""

    def __init__(self, doc: Document, input_errors: list[Diagnostic] | None = None):
        self.doc = doc
        self.input_errors = input_errors  # the input's errors when the caller has them
        self.network = build(doc)
        # copy on write: a section is copied when an edit first touches it
        self.new = copy.copy(doc)
        self.new.sections = list(doc.sections)
        self._copied: set[int] = set()
        self.changes: list[Change] = []
        self.notes: list[str] = []
        self.refitted: set[int] = set()
        self._shapes: Shapes | None = None

    @property
    def shapes(self) -> Shapes:
        if self._shapes is None:
            self._shapes = infer_shapes(self.network)
        return self._shapes

    def section(self, layer: int | None) -> Section:
        """The edited document's section of ``layer`` (None: [net]), copied before its first edit."""
        k = 0 if layer is None else layer + 1
        if k not in self._copied:
            self.new.sections[k] = copy.deepcopy(self.doc.sections[k])
            self._copied.add(k)
        return self.new.sections[k]

    def set(self, layer: int | None, key: str, value: str, why: str = "") -> bool:
        """Set ``key`` (the line Darknet reads; appended when absent) unless it already reads
        ``value``; True when it changed."""
        section = self.section(layer)
        line = section.option(key)
        old = None if line is None else line.value
        if old == value:
            return False
        if line is None or line.kind != "option":
            section.set(key, value)
        else:
            section.body[next(i for i, ln in enumerate(section.body) if ln is line)] = line.with_value(value)
        self.changes.append(Change(layer, section.name, 0, key, old, value, why))
        return True

    def remove(self, layer: int, key: str, why: str) -> None:
        """Remove every ``key=`` line of the layer."""
        section = self.section(layer)
        line = section.option(key)
        if line is None:
            return
        section.body = [ln for ln in section.body if ln.kind not in ("option", "bare") or ln.key != key]
        self.changes.append(Change(layer, section.name, line.lineno, key, line.value, None, why))

    def fix_filters(self, heads: list[Layer], classes: dict[int, int]) -> None:
        """Give the layer before each head the output it needs for ``classes[head]`` classes
        (mask=, num= ... read from the edited section). Raises EditError where that layer has
        no option that sets its output."""
        problems = []
        for head in heads:
            section = self.section(head.index)
            read = head.spec.head(Reader(section, head.spec))
            if read is None:
                continue
            need = read.need(classes[head.index])
            where = f"{self.network.path or '<cfg>'}:{head.line}: {head.section.name} layer {head.index}"
            if head.index == 0:
                problems.append(f"{where} reads the [net] input: put a [convolutional] layer before it")
                continue
            feeder = self.network.layers[head.index - 1]
            key = feeder.spec.channels_key if feeder.spec is not None else None
            if key is None:
                problems.append(f"{where} reads layer {feeder.index} ({feeder.section.name}), which has no option "
                                f"that sets its output; it needs {need.formula} = "
                                f"{need.channels if need.channels is not None else need.outputs}: end with a "
                                "[convolutional] (or [connected]) layer")
                continue
            value = need.channels
            if value is None:  # a number of values in all: the feeder's channels at its w x h
                shape = self.shapes.layers[feeder.index]
                w, h, _ = (shape.feeds or shape.output) if shape is not None else (1, 1, 0)
                if need.outputs % (w * h):
                    problems.append(f"{where} needs {need.formula} = {need.outputs} values, not a multiple of "
                                    f"layer {feeder.index}'s {w}x{h} positions")
                    continue
                value = need.outputs // (w * h)
            if self.set(feeder.index, key, str(value),
                        f"feeds {head.section.name} layer {head.index}: {need.formula} = {value}"):
                self.refitted.add(feeder.index)
        if problems:
            raise EditError("; ".join(problems))

    def finish(self) -> Edit:
        new = self.new.reparsed()
        lines = {c.layer: new.sections[0 if c.layer is None else c.layer + 1] for c in self.changes}
        for c in self.changes:
            if c.new is not None:
                c.line = lines[c.layer].option(c.key).lineno
        before = self.input_errors if self.input_errors is not None else \
            errors(self.doc, self.shapes if self._shapes is not None else None)
        return Edit(new, self.changes, self.notes, new_errors(before, new, NO_CHANGE), before,
                    refitted=sorted(self.refitted))


def _net(ed: _Editor) -> None:
    if ed.network.net is None:
        raise EditError(f"{ed.network.path or '<cfg>'}: the file has no [net] section")


def set_classes(doc: Document, classes: int, train_schedule: bool = False,
                input_errors: list[Diagnostic] | None = None) -> Edit:
    """``classes=`` in every layer that reads it, and the filters Darknet requires in the layer
    feeding each detection head. ``train_schedule``: [net] max_batches = max(6000, 2000 *
    classes) and steps at 80% and 90% of it (Darknet's README). ``input_errors``: ``doc``'s
    errors when the caller has them (they are computed otherwise), as for every edit here."""
    if classes < 1:
        raise EditError(f"classes must be at least 1, not {classes}")
    ed = _Editor(doc, input_errors)
    readers = [layer for layer in ed.network.layers if layer.spec is not None and layer.spec.classes_key]
    if not readers:
        raise EditError(f"{ed.network.path or '<cfg>'}: no layer reads classes= ([yolo], [Gaussian_yolo], [region], "
                        "[detection] ...): this is not a detector")
    for layer in readers:
        old = Reader(layer.section, layer.spec).get(layer.spec.classes_key)
        ed.set(layer.index, layer.spec.classes_key, str(classes))
        for key in layer.spec.per_class_keys:
            if old != classes:
                ed.remove(layer.index, key, f"it holds one value per class ({old} classes); count them again "
                          f"for the {classes} new classes")
    ed.fix_filters(readers, {layer.index: classes for layer in readers})
    if train_schedule:
        _net(ed)
        _train_schedule(ed, classes)
    return ed.finish()


def _train_schedule(ed: _Editor, classes: int) -> None:
    net = ed.network.net
    max_batches = max(6000, 2000 * classes)
    ed.set(None, "max_batches", str(max_batches), f"max(6000, 2000 * {classes} classes), Darknet's README")
    policy = net.get("policy", "constant").strip()
    if policy not in ("steps", "sgdr"):
        ed.notes.append(f"policy={policy} reads no steps=: only max_batches was set")
        return
    ed.set(None, "steps", f"{max_batches * 8 // 10},{max_batches * 9 // 10}", "80% and 90% of max_batches")
    for key, default in (("scales", ".1,.1"), ("seq_scales", None)):
        value = net.get(key)
        # Darknet reads one value per step and crashes on a list with fewer
        if (value is None and key == "scales") or (value is not None and field_count(value) < 2):
            ed.set(None, key, default or "1,1", f"one value per step (Darknet reads {key} with steps)")


# ---------------------------------------------------------------- resize


def total_stride(network: Network, shapes: Shapes) -> tuple[int, int]:
    """(x, y): the factor the input size must be a multiple of for every join (a layer that
    reads two or more layers: route, shortcut ...) to align. It is the least common multiple
    of input size / output size over every layer a join depends on, from the shape pass at
    the network's own size (a map downsampled to 19 and upsampled back to 38 counts as 32)."""
    width, height = shapes.net["width"], shapes.net["height"]
    todo = [i for layer in network.layers if len(layer.inputs) >= 2 for i in layer.inputs]
    seen: set[int] = set()
    sx = sy = 1
    while todo:
        j = todo.pop()
        if j in seen or not 0 <= j < len(network.layers):
            continue
        seen.add(j)
        todo.extend(network.layers[j].inputs)
        shape = shapes.layers[j]
        if shape is None:
            continue
        w, h, _ = shape.feeds or shape.output
        if 0 < w < width:
            sx = math.lcm(sx, round(width / w))
        if 0 < h < height:
            sy = math.lcm(sy, round(height / h))
    return sx, sy


def _fits(network: Network, width: int, height: int) -> bool:
    return infer_shapes(network, width, height).ok


def _nearest(network: Network, axis: str, value: int, stride: int, other: int) -> str:
    """``width 576, 608``: the valid sizes next to ``value`` on ``axis``."""
    return f"{axis} {', '.join(map(str, nearest_sizes(network, value, stride, axis, other)))}"


def nearest_sizes(network: Network, value: int, stride: int, axis: str, other: int) -> list[int]:
    """The valid sizes next to ``value`` on ``axis`` (multiples of ``stride`` at which the
    shape pass succeeds, the other axis at ``other``): the nearest below and above."""
    def ok(v):
        return _fits(network, v, other) if axis == "width" else _fits(network, other, v)

    below = next((v for v in range((value - 1) // stride * stride, 0, -stride) if ok(v)), None)
    above = next((v for v in range(value // stride * stride + stride, value + 64 * stride, stride) if ok(v)), None)
    return [v for v in (below, above) if v is not None]


def resize(doc: Document, width: int | None, height: int | None,
           input_errors: list[Diagnostic] | None = None) -> Edit:
    """[net] width/height set after checking the size against the network's total stride, the
    shape pass at the new size, and that no layer's tensors change with the size. Raises
    EditError naming the nearest valid sizes."""
    ed = _Editor(doc, input_errors)
    _net(ed)
    network, shapes = ed.network, ed.shapes
    if not shapes.ok:
        raise EditError(f"{network.path or '<cfg>'} has shape errors at its own size; fix them first "
                        "(cfgtool validate)", [d for d in shapes.diagnostics if d.severity == "error"])
    old = (shapes.net["width"], shapes.net["height"])
    new = (width or old[0], height or old[1])
    stride = total_stride(network, shapes)
    after = _size_problems(network, shapes, old, new, stride)
    for key, value, before in zip(("width", "height"), new, old):
        if value != before:
            ed.set(None, key, str(value), f"total stride {stride[0]}x{stride[1]}")
    edit = ed.finish()
    edit.stride, edit.size = stride, new
    for layer in network.layers:
        a, b = shapes.layers[layer.index], after.layers[layer.index]
        if layer.spec is not None and layer.spec.is_head and a is not None and a.input[:2] != b.input[:2]:
            edit.notes.append(f"layer {layer.index} {layer.section.name}: grid {a.input[0]}x{a.input[1]} -> "
                              f"{b.input[0]}x{b.input[1]}")
    return edit


def _size_problems(network: Network, shapes: Shapes, old, new, stride) -> Shapes:
    """The shapes at ``new`` (width, height); EditError when it is not a multiple of ``stride``,
    the shape pass fails there or a layer's tensors change with the size."""
    axes = ("width", "height")
    bad = [i for i in (0, 1) if new[i] % stride[i]]
    if bad:
        other = [new[1 - i] if new[1 - i] % stride[1 - i] == 0 else old[1 - i] for i in (0, 1)]
        raise EditError(" and ".join(f"{axes[i]}={new[i]}" for i in bad)
                        + f" not a multiple of the network's total stride {stride[0]}x{stride[1]} (the size at "
                        "which every route and shortcut aligns); nearest valid sizes: "
                        + "; ".join(_nearest(network, axes[i], new[i], stride[i], other[i]) for i in bad))
    after = infer_shapes(network, *new)
    if not after.ok:
        first = next(d for d in after.diagnostics if d.severity == "error")
        near = "; ".join(_nearest(network, axes[i], new[i], stride[i], new[1 - i]) for i in (0, 1))
        raise EditError(f"at {new[0]}x{new[1]} layer {first.layer} fails: {first.message}; nearest valid sizes: {near}")
    problems = _size_dependent(network, shapes, after, old, new)
    if problems:
        raise EditError("; ".join(problems))
    return after


def _size_dependent(network, shapes, after, old, new) -> list[str]:
    """Layers whose tensors change with the input size ([connected], [local] ...): a .weights
    file is then tied to one size."""
    from .weights import layout  # numpy: only here

    before = dict(layout(network, shapes))
    out = []
    for index, tensors in layout(network, after):
        if [t.shape for t in tensors] != [t.shape for t in before.get(index, [])]:
            layer = network.layers[index]
            size = sum(t.count for t in before.get(index, []))
            out.append(f"layer {index} {layer.section.name} (line {layer.line}) has {size:,} weights at "
                       f"{old[0]}x{old[1]} but {sum(t.count for t in tensors):,} at {new[0]}x{new[1]}: its weights "
                       "depend on the input size, so this network cannot be resized")
    return out


# ---------------------------------------------------------------- anchors


@dataclass
class HeadAnchors:
    layer: int
    stride: int
    mask: list[int]


def assign_masks(strides: dict[int, int], k: int) -> dict[int, list[int]]:
    """Anchor indices (sorted by area) per head: the heads grouped by stride, coarsest first;
    the largest anchors go to the coarsest group, each group as many as k allows (the
    remainder to the coarsest groups). Heads with one stride share their anchors."""
    groups = sorted(set(strides.values()), reverse=True)
    if k < len(groups):
        raise EditError(f"{k} anchors cannot serve {len(groups)} head scales (strides "
                        f"{', '.join(map(str, groups))}): use --num {len(groups)} or more")
    sizes = [k // len(groups) + (1 if g < k % len(groups) else 0) for g in range(len(groups))]
    masks, end = {}, k
    for stride, size in zip(groups, sizes):
        masks[stride] = list(range(end - size, end))
        end -= size
    return {layer: masks[s] for layer, s in strides.items()}


def format_anchors(anchors) -> str:
    return ", ".join(f"{w:g},{h:g}" for w, h in anchors)


def set_anchors(doc: Document, anchors: list[tuple[float, float]], input_errors: list[Diagnostic] | None = None
                ) -> tuple[Edit, list[HeadAnchors]]:
    """``anchors=`` (sorted by area), ``num=`` and ``mask=`` in every head whose anchors are
    pixels picked by mask ([yolo], [Gaussian_yolo]), the masks by stride (the largest anchors
    to the coarsest head), then the filters of the layer feeding each head."""
    ed = _Editor(doc, input_errors)
    _net(ed)
    network, shapes = ed.network, ed.shapes
    read = {layer.index: layer.spec.head(Reader(layer.section, layer.spec)) for layer in network.layers
            if layer.spec is not None and layer.spec.is_head}
    # anchors in input pixels, picked by mask= ([yolo], [Gaussian_yolo]; [region]'s are grid cells)
    pixels = [i for i, head in read.items() if head.anchored and head.mask is not None]
    heads = [network.layers[i] for i in pixels]
    if not heads:
        raise EditError(f"{network.path or '<cfg>'}: no head takes anchors in pixels with a mask= ([yolo], "
                        "[Gaussian_yolo])")
    others = [network.layers[i] for i in read if i not in pixels]
    if others:
        layer = others[0]
        raise EditError(f"{network.path or '<cfg>'}:{layer.line}: layer {layer.index} {layer.section.name} is a "
                        "detection head whose anchors are not pixels picked by mask=; only [yolo]/[Gaussian_yolo] "
                        "heads are written")
    missing = [layer.index for layer in heads if shapes.layers[layer.index] is None]
    if missing:
        raise EditError(f"{network.path or '<cfg>'}: layer(s) {', '.join(map(str, missing))} have no shape; fix the "
                        "errors first (cfgtool validate)", [d for d in shapes.diagnostics if d.severity == "error"])
    width = shapes.net["width"]
    strides = {layer.index: round(width / shapes.layers[layer.index].input[0]) for layer in heads}
    masks = assign_masks(strides, len(anchors))
    text = format_anchors(anchors)
    for layer in heads:
        ed.set(layer.index, "anchors", text, "k-means anchors, sorted by area")
        ed.set(layer.index, "num", str(len(anchors)))
        ed.set(layer.index, "mask", ",".join(map(str, masks[layer.index])), f"stride {strides[layer.index]}")
    ed.fix_filters(heads, {i: read[i].classes for i in pixels})
    return ed.finish(), [HeadAnchors(layer.index, strides[layer.index], masks[layer.index]) for layer in heads]


def net_size(doc: Document) -> tuple[int, int]:
    """The [net] width and height Darknet reads (EditError when there is no [net] or size)."""
    ed = _Editor(doc)
    _net(ed)
    if not ed.shapes.net:
        raise EditError(f"{ed.network.path or '<cfg>'}: [net] has no usable width/height",
                        [d for d in ed.shapes.diagnostics if d.severity == "error"])
    return ed.shapes.net["width"], ed.shapes.net["height"]
