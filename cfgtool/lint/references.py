"""R1xx: layer references (``layers=``, ``from=``, ``share_index=`` ...) that name no earlier layer."""

from __future__ import annotations

from ..diagnostics import ERROR, Span
from ..syntax import Line
from .base import Rule


def item_span(line: Line, position: int) -> Span:
    """Span of the ``position``-th comma-separated item of the line's value (blanks excluded)."""
    raw = line.raw_value
    if raw is None:
        return line.key_span()
    start = line.value_col
    for i, part in enumerate(raw.split(",")):
        if i == position:
            lead = len(part) - len(part.lstrip(" \t"))
            body = part.strip(" \t") or part
            return line.span(start + lead, start + lead + len(body))
        start += len(part) + 1
    return line.value_span()


def _valid(index: int) -> str:
    if index == 0:
        return "none: the first layer has no earlier layer"
    return "0 or -1" if index == 1 else f"0..{index - 1} or -1..-{index}"


class MissingReference(Rule):
    """[route] without ``layers=`` or [shortcut]/[scale_channels]/[sam] without ``from=``:
    Darknet exits (route) or dereferences a null pointer (the others).

    Bad:   ``[shortcut]`` with only ``activation=linear``
    Good:  ``[shortcut]`` with ``from=-3``
    """

    code, name, severity = "R101", "missing-reference", ERROR

    def check(self, ctx):
        for layer in ctx.layers:
            if layer.spec is None:
                continue
            for opt in layer.spec.options:
                if opt.required and opt.index and layer.section.option(opt.key) is None:
                    ctx.explain("S210", layer.index)
                    yield ctx.diag(self, f"{layer.section.name} needs {opt.key}=: add the layers it reads, "
                                   f"e.g. {opt.key}=-1 (valid here: {_valid(layer.index)})",
                                   layer.section.header.span(), layer.index)


class ReferenceOutOfRange(Rule):
    """A layer reference outside the network: before layer 0 or past the last layer.

    Bad:   ``layers=-9`` in layer 4 (points before the first layer)
    Good:  ``layers=-4`` (layer 0)
    """

    code, name, severity = "R102", "reference-out-of-range", ERROR

    def check(self, ctx):
        n = len(ctx.layers)
        for layer in ctx.layers:
            for ref in layer.refs:
                if 0 <= ref.target < n:
                    continue
                line = layer.section.option(ref.key)
                where = "before the first layer" if ref.target < 0 else f"past the last layer ({n - 1})"
                ctx.explain("S202", layer.index)
                yield ctx.diag(self, f"{ref.key}={ref.raw} in layer {layer.index} refers to layer {ref.target}, "
                               f"{where}; use an earlier layer ({_valid(layer.index)})",
                               item_span(line, ref.position), layer.index)


class ReferenceNotEarlier(Rule):
    """A layer reference to the layer itself or to a later one: Darknet reads a layer that
    is not built yet (zeros or garbage).

    Bad:   ``from=3`` in layer 3, or ``layers=5`` in layer 3
    Good:  ``from=-3`` (layer 0)
    """

    code, name, severity = "R103", "reference-not-earlier", ERROR

    def check(self, ctx):
        n = len(ctx.layers)
        for layer in ctx.layers:
            for ref in layer.refs:
                if not layer.index <= ref.target < n:
                    continue
                what = "this layer itself" if ref.target == layer.index else f"the later layer {ref.target}"
                line = layer.section.option(ref.key)
                ctx.explain("S202", layer.index)
                yield ctx.diag(self, f"{ref.key}={ref.raw} in layer {layer.index} refers to {what}: a layer can only "
                               f"read earlier layers ({_valid(layer.index)})", item_span(line, ref.position),
                               layer.index)


RULES = (MissingReference, ReferenceOutOfRange, ReferenceNotEarlier)
