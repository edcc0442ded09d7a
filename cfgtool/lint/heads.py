"""H4xx: detection heads (the layers whose spec ``is_head``) and the conv feeding them."""

from __future__ import annotations

import re

from ..diagnostics import ERROR, WARNING
from ..layers.base import INT_MAX, EveryAnchor, Head, Reader
from .base import Rule

_MISSING_COMMA = re.compile(r"(\d+)[ \t]+(\d+)")


def all_heads(ctx) -> list[tuple[object, Head]]:
    """(layer, Head) for every detection head, with the values Darknet reads (defaults included)."""
    if "heads" not in ctx.cache:
        ctx.cache["heads"] = [(layer, layer.spec.head(Reader(layer.section, layer.spec)))
                              for layer in ctx.layers if layer.spec is not None and layer.spec.is_head]
    return ctx.cache["heads"]


def heads(ctx) -> list[tuple[object, Head]]:
    """The anchor-based heads."""
    return [(layer, head) for layer, head in all_heads(ctx) if head.anchored]


class HeadFilters(Rule):
    """The layer feeding a detection head has the wrong number of filters: [yolo] needs
    (classes + 5) * len(mask), [Gaussian_yolo] (classes + 9) * len(mask), [region]
    num * (classes + coords + 1). Darknet exits.

    Bad:   ``filters=255`` before ``[yolo]`` with ``classes=2`` and ``mask=0,1,2``
    Good:  ``filters=21``
    """

    code, name, severity = "H401", "head-filters", ERROR

    def check(self, ctx):
        for layer, head in heads(ctx):
            index = layer.index
            if index == 0:
                continue
            need = head.filters()
            feeder = ctx.layers[index - 1]
            shape = ctx.shape(index - 1)
            have = (shape.feeds or shape.output)[2] if shape is not None else None
            if feeder.spec is not None and feeder.spec.is_conv:
                if have is None:
                    have = Reader(feeder.section, feeder.spec).get("filters")
                if have == need:
                    continue
                ctx.explain("S209", index)
                fix = (f"set filters={need}" if need <= INT_MAX
                       else "no filters= can: C's int stops at 2147483647, lower num or classes")
                yield ctx.diag(self, f"filters={have} feeds the {layer.section.name} layer {index}, which needs "
                               f"{head.formula()} = {need}; {fix}", feeder.section.value_span("filters"),
                               feeder.index)
            elif have is not None and have != need:
                ctx.explain("S209", index)
                yield ctx.diag(self, f"layer {index - 1} outputs {have} channels but the {layer.section.name} "
                               f"needs {head.formula()} = {need}; end with a [convolutional] of filters={need}",
                               layer.section.header.span(), index)


class MaskIndexOutOfRange(Rule):
    """A mask index outside 0..num-1: Darknet allocates ``biases`` for ``num`` anchors
    (calloc(total * 2) with total = num) and reads ``biases[2 * mask]`` past its end,
    undefined behaviour that happens to run (Darknet's own cspx-p7-mish.cfg does it).

    Bad:   ``mask=6,7,9`` with ``num=9``
    Good:  ``mask=6,7,8`` (or ``num=10`` with 20 anchor values)
    """

    code, name, severity = "H402", "mask-index-out-of-range", ERROR

    def check(self, ctx):
        for layer, head in heads(ctx):
            if head.mask is None or isinstance(head.mask, EveryAnchor):
                continue  # no mask=: range(num), every index in range (num may be 1e9: never iterated)
            bad = [m for m in head.mask if not 0 <= m < head.num]
            if bad:
                ctx.explain("S214", layer.index)
                top = max(head.mask)
                fix = f"num={top + 1} (with {2 * (top + 1)} anchor values)" if top >= head.num else "a mask >= 0"
                yield ctx.diag(self, f"mask index {', '.join(map(str, bad))} is outside 0..{head.num - 1}: Darknet "
                               f"allocates biases = calloc(num*2) = {2 * head.num} floats for num={head.num} and "
                               f"reads biases[{2 * min(bad)}..{2 * max(bad) + 1}], outside that buffer (undefined "
                               f"behaviour: not your anchors); set {fix} or fix mask=",
                               layer.section.value_span("mask"), layer.index)


def _anchors_line(layer):
    line = layer.section.option("anchors")
    return None if line is None or line.value is None else line


class AnchorsCount(Rule):
    """``anchors=`` holds fewer than 2 * num values: Darknet initialises every bias to 0.5 and
    reads only what is there, so the missing anchors are 0.5-pixel boxes.

    Bad:   ``num=9`` with 16 anchor values
    Good:  ``num=9`` with 18 values (9 width,height pairs)
    """

    code, name, severity = "H403", "anchors-count", ERROR

    def check(self, ctx):
        for layer, head in heads(ctx):
            line = _anchors_line(layer)
            count = len(head.anchors)
            if line is None or count >= 2 * head.num:
                continue
            ctx.explain("S210", layer.index, line.lineno)
            gap = _MISSING_COMMA.search(line.raw_value or "")
            hint = (f" ('{gap[0]}' lacks a comma: Darknet drops the blanks and reads "
                    f"{gap[1]}{gap[2]} as one value)" if gap else "")
            yield ctx.diag(self, f"anchors has {count} values but num={head.num} needs {2 * head.num} "
                           f"(width,height per anchor){hint}: Darknet leaves the missing ones at 0.5, a 0.5-pixel "
                           f"box; add the missing anchors or set num={count // 2}", line.value_span(), layer.index)


class UnusedAnchors(Rule):
    """``anchors=`` holds more than 2 * num values: Darknet reads the first 2 * num and
    ignores the rest. ([Gaussian_yolo] writes past its buffer instead: an S210 error.)

    Bad:   ``num=3`` with 8 anchor values
    Good:  ``num=3`` with 6 values, or ``num=4``
    """

    code, name, severity = "H405", "unused-anchors", WARNING

    def check(self, ctx):
        for layer, head in heads(ctx):
            line = _anchors_line(layer)
            count = len(head.anchors)
            if line is None or count <= 2 * head.num or ctx.shape(layer.index) is None:
                continue  # no shape: the layer failed (Gaussian_yolo's overflow is S210's)
            yield ctx.diag(self, f"anchors has {count} values but num={head.num} reads only {2 * head.num} "
                           f"(width,height per anchor): the extra ones are not used; remove them or set "
                           f"num={count // 2}", line.value_span(), layer.index)


class ClassesMismatch(Rule):
    """Detection heads with different ``classes=``: one network predicts one set of classes.

    Bad:   ``classes=80`` in the first [yolo], ``classes=20`` in the second
    Good:  the same ``classes=`` in every head
    """

    code, name, severity = "H404", "classes-mismatch", WARNING

    def check(self, ctx):
        found = [(layer, head.classes) for layer, head in all_heads(ctx)]
        if not found:
            return
        first, classes = found[0]
        for layer, other in found[1:]:
            if other != classes:
                yield ctx.diag(self, f"classes={other} here but classes={classes} in the {first.section.name} layer "
                               f"{first.index} (line {first.line}); use the same number in every head",
                               layer.section.value_span("classes"), layer.index)


RULES = (HeadFilters, MaskIndexOutOfRange, AnchorsCount, ClassesMismatch, UnusedAnchors)
