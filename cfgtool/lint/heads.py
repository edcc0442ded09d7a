"""H4xx: detection heads (the layers whose spec ``is_head``) and the conv feeding them."""

from __future__ import annotations

from ..diagnostics import ERROR, WARNING
from ..layers.base import Head, Reader
from .base import Rule


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
                yield ctx.diag(self, f"filters={have} feeds the {layer.section.name} layer {index}, which needs "
                               f"{head.formula()} = {need}; set filters={need}", feeder.section.value_span("filters"),
                               feeder.index)
            elif have is not None and have != need:
                ctx.explain("S209", index)
                yield ctx.diag(self, f"layer {index - 1} outputs {have} channels but the {layer.section.name} "
                               f"needs {head.formula()} = {need}; end with a [convolutional] of filters={need}",
                               layer.section.header.span(), index)


class MaskIndexOutOfRange(Rule):
    """A mask index outside 0..num-1: Darknet reads an anchor past the anchors list (garbage).

    Bad:   ``mask=6,7,9`` with ``num=9``
    Good:  ``mask=6,7,8``
    """

    code, name, severity = "H402", "mask-index-out-of-range", WARNING

    def check(self, ctx):
        for layer, head in heads(ctx):
            bad = [m for m in head.mask or () if not 0 <= m < head.num]
            if bad:
                ctx.explain("S214", layer.index)
                yield ctx.diag(self, f"mask index {', '.join(map(str, bad))} is outside 0..{head.num - 1} (num={head.num}): "
                               "Darknet reads anchors past the list; fix mask= or num=",
                               layer.section.value_span("mask"), layer.index)


class AnchorsCount(Rule):
    """``anchors=`` does not hold 2 * num values: missing anchors stay 0.5, extra ones are
    ignored ([Gaussian_yolo] writes past its buffer).

    Bad:   ``num=9`` with 16 anchor values
    Good:  ``num=9`` with 18 values (9 width,height pairs)
    """

    code, name, severity = "H403", "anchors-count", WARNING

    def check(self, ctx):
        for layer, head in heads(ctx):
            line = layer.section.option("anchors")
            if line is None or line.value is None:
                continue
            count = len(head.anchors)
            if count == 2 * head.num:
                continue
            ctx.explain("S210", layer.index, line.lineno)
            what = "the missing ones stay 0.5" if count < 2 * head.num else "the extra ones are not used"
            yield ctx.diag(self, f"anchors has {count} values but num={head.num} needs {2 * head.num} "
                           f"(width,height per anchor): {what}; fix anchors= or num=", line.value_span(),
                           layer.index)


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


RULES = (HeadFilters, MaskIndexOutOfRange, AnchorsCount, ClassesMismatch)
