"""H4xx: detection heads ([yolo], [Gaussian_yolo], [region], [detection]) and the conv feeding them."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..diagnostics import ERROR, WARNING
from ..layers.base import INT_MAX, Reader, atof
from ..layers.common import darknet_list
from ..layers.yolo import read_mask
from .base import Rule

HEADS = ("yolo", "Gaussian_yolo", "region", "detection")
ANCHOR_HEADS = ("yolo", "Gaussian_yolo", "region")
_MISSING_COMMA = re.compile(r"(\d+)[ \t]+(\d+)")


@dataclass
class Head:
    layer: object
    classes: int
    num: int
    mask: list[int] | None  # None for [region]
    anchors_used: int  # len(mask), or num without one
    per_anchor: int  # channels per anchor: classes + 5, + 9 (Gaussian) or + coords + 1 (region)
    formula: str


def heads(ctx) -> list[Head]:
    """The anchor-based heads with the values Darknet reads (defaults included)."""
    if "heads" in ctx.cache:
        return ctx.cache["heads"]
    out = []
    for layer in ctx.layers:
        if layer.spec is None or layer.spec.type not in ANCHOR_HEADS:
            continue
        r = Reader(layer.section, layer.spec)
        classes, num = r.get("classes"), r.get("num")
        if layer.spec.type == "region":
            coords = r.get("coords")
            out.append(Head(layer, classes, num, None, num, classes + coords + 1,
                            f"{num} * ({classes} + {coords} + 1)"))
            continue
        mask, n = read_mask(r, num)
        mask = None if isinstance(mask, range) else mask  # no mask=: every index is in range
        extra = 9 if layer.spec.type == "Gaussian_yolo" else 5
        out.append(Head(layer, classes, num, mask, n, classes + extra, f"({classes} + {extra}) * {n}"))
    ctx.cache["heads"] = out
    return out


class HeadFilters(Rule):
    """The layer feeding a detection head has the wrong number of filters: [yolo] needs
    (classes + 5) * len(mask), [Gaussian_yolo] (classes + 9) * len(mask), [region]
    num * (classes + coords + 1). Darknet exits.

    Bad:   ``filters=255`` before ``[yolo]`` with ``classes=2`` and ``mask=0,1,2``
    Good:  ``filters=21``
    """

    code, name, severity = "H401", "head-filters", ERROR

    def check(self, ctx):
        for head in heads(ctx):
            index = head.layer.index
            if index == 0:
                continue
            need = head.per_anchor * head.anchors_used
            feeder = ctx.layers[index - 1]
            shape = ctx.shape(index - 1)
            have = (shape.feeds or shape.output)[2] if shape is not None else None
            if feeder.type == "convolutional":
                if have is None:
                    have = Reader(feeder.section, feeder.spec).get("filters")
                if have == need:
                    continue
                ctx.explain("S209", index)
                fix = f"set filters={need}" if need <= INT_MAX else "no filters= can: C's int stops at 2147483647, lower num or classes"
                yield ctx.diag(self, f"filters={have} feeds the {head.layer.section.name} layer {index}, which needs "
                               f"{head.formula} = {need}; {fix}", feeder.section.value_span("filters"),
                               feeder.index)
            elif have is not None and have != need:
                ctx.explain("S209", index)
                yield ctx.diag(self, f"layer {index - 1} outputs {have} channels but the {head.layer.section.name} "
                               f"needs {head.formula} = {need}; end with a [convolutional] of filters={need}",
                               head.layer.section.header.span(), index)


class MaskIndexOutOfRange(Rule):
    """A mask index outside 0..num-1: Darknet allocates ``biases`` for ``num`` anchors
    (calloc(total * 2) with total = num) and reads ``biases[2 * mask]`` past its end,
    undefined behaviour that happens to run (Darknet's own cspx-p7-mish.cfg does it).

    Bad:   ``mask=6,7,9`` with ``num=9``
    Good:  ``mask=6,7,8`` (or ``num=10`` with 20 anchor values)
    """

    code, name, severity = "H402", "mask-index-out-of-range", ERROR

    def check(self, ctx):
        for head in heads(ctx):
            bad = [m for m in head.mask or () if not 0 <= m < head.num]
            if bad:
                ctx.explain("S214", head.layer.index)
                top = max(head.mask)
                fix = f"num={top + 1} (with {2 * (top + 1)} anchor values)" if top >= head.num else "a mask >= 0"
                yield ctx.diag(self, f"mask index {', '.join(map(str, bad))} is outside 0..{head.num - 1}: Darknet "
                               f"allocates biases = calloc(num*2) = {2 * head.num} floats for num={head.num} and "
                               f"reads biases[{2 * min(bad)}..{2 * max(bad) + 1}], outside that buffer (undefined "
                               f"behaviour: not your anchors); set {fix} or fix mask=",
                               head.layer.section.value_span("mask"), head.layer.index)


def _anchor_count(ctx, head) -> tuple[object, int] | None:
    """(the anchors= line, how many values Darknet counts in it), or None without one."""
    line = head.layer.section.option("anchors")
    if line is None or line.value is None:
        return None
    return line, len(darknet_list(line.value, atof, stop_at_hash=head.layer.spec.type == "yolo"))


class AnchorsCount(Rule):
    """``anchors=`` holds fewer than 2 * num values: Darknet initialises every bias to 0.5 and
    reads only what is there, so the missing anchors are 0.5-pixel boxes.

    Bad:   ``num=9`` with 16 anchor values
    Good:  ``num=9`` with 18 values (9 width,height pairs)
    """

    code, name, severity = "H403", "anchors-count", ERROR

    def check(self, ctx):
        for head in heads(ctx):
            found = _anchor_count(ctx, head)
            if found is None or found[1] >= 2 * head.num:
                continue
            line, count = found
            ctx.explain("S210", head.layer.index, line.lineno)
            gap = _MISSING_COMMA.search(line.raw_value or "")
            hint = (f" ('{gap[0]}' lacks a comma: Darknet drops the blanks and reads "
                    f"{gap[1]}{gap[2]} as one value)" if gap else "")
            yield ctx.diag(self, f"anchors has {count} values but num={head.num} needs {2 * head.num} "
                           f"(width,height per anchor){hint}: Darknet leaves the missing ones at 0.5, a 0.5-pixel "
                           f"box; add the missing anchors or set num={count // 2}", line.value_span(), head.layer.index)


class UnusedAnchors(Rule):
    """``anchors=`` holds more than 2 * num values: Darknet reads the first 2 * num and
    ignores the rest. ([Gaussian_yolo] writes past its buffer instead: an S210 error.)

    Bad:   ``num=3`` with 8 anchor values
    Good:  ``num=3`` with 6 values, or ``num=4``
    """

    code, name, severity = "H405", "unused-anchors", WARNING

    def check(self, ctx):
        for head in heads(ctx):
            found = _anchor_count(ctx, head)
            if found is None or found[1] <= 2 * head.num or ctx.shape(head.layer.index) is None:
                continue  # no shape: the layer failed (Gaussian_yolo's overflow is S210's)
            line, count = found
            yield ctx.diag(self, f"anchors has {count} values but num={head.num} reads only {2 * head.num} "
                           f"(width,height per anchor): the extra ones are not used; remove them or set "
                           f"num={count // 2}", line.value_span(), head.layer.index)


class ClassesMismatch(Rule):
    """Detection heads with different ``classes=``: one network predicts one set of classes.

    Bad:   ``classes=80`` in the first [yolo], ``classes=20`` in the second
    Good:  the same ``classes=`` in every head
    """

    code, name, severity = "H404", "classes-mismatch", WARNING

    def check(self, ctx):
        found = []
        for layer in ctx.layers:
            if layer.spec is not None and layer.spec.type in HEADS:
                found.append((layer, Reader(layer.section, layer.spec).get("classes")))
        if not found:
            return
        first, classes = found[0]
        for layer, other in found[1:]:
            if other != classes:
                yield ctx.diag(self, f"classes={other} here but classes={classes} in the {first.section.name} layer "
                               f"{first.index} (line {first.line}); use the same number in every head",
                               layer.section.value_span("classes"), layer.index)


RULES = (HeadFilters, MaskIndexOutOfRange, AnchorsCount, ClassesMismatch, UnusedAnchors)
