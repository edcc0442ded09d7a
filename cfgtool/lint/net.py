"""N5xx: the [net] section: learning-rate schedule, batch and the input size."""

from __future__ import annotations

import math

from ..diagnostics import ERROR, WARNING
from ..layers.base import atoi
from ..layers.common import field_count
from ..shapes import infer_shapes
from .base import Rule

PROBE = 2**12 * 3  # an input size every power-of-two (and x3) downsampling divides exactly


class StepsScalesLength(Rule):
    """``policy=steps`` with fewer ``scales`` (or ``seq_scales``) than ``steps``: Darknet reads
    past the end of the list and crashes. Extra scales are ignored.

    Bad:   ``steps=4000,4500`` with ``scales=.1``
    Good:  ``steps=4000,4500`` with ``scales=.1,.1``
    """

    code, name, severity = "N501", "steps-scales-length", ERROR

    def check(self, ctx):
        net = ctx.network.net
        if net is None or net.get("policy", "constant") not in ("steps", "sgdr"):
            return
        steps = net.get("steps")
        if steps is None:
            return
        n = field_count(steps, stop_at_hash=True)
        for key in ("scales", "seq_scales"):
            line = net.option(key)
            if line is None or line.value is None:
                continue
            m = field_count(line.value)
            if m < n:
                yield ctx.diag(self, f"steps has {n} values but {key} only {m}: Darknet reads past the end of "
                               f"{key} and crashes; give one value per step", line.value_span())
            elif m > n:
                yield ctx.diag(self, f"{key} has {m} values but steps only {n}: Darknet ignores the last {m - n}; "
                               "give one value per step", line.value_span(), severity=WARNING)


class BatchSubdivisions(Rule):
    """``batch`` not divisible by ``subdivisions``: Darknet trains on batch/subdivisions
    images per step, rounded down (0 becomes 1).

    Bad:   ``batch=64`` with ``subdivisions=12``
    Good:  ``batch=64`` with ``subdivisions=16``
    """

    code, name, severity = "N502", "batch-subdivisions", WARNING

    def check(self, ctx):
        net = ctx.network.net
        if net is None:
            return
        batch = atoi(net.get("batch", "1"))
        subdivisions = atoi(net.get("subdivisions", "1"))
        if subdivisions > 0 and batch % subdivisions:
            mini = max(batch // subdivisions, 1)
            yield ctx.diag(self, f"batch={batch} is not a multiple of subdivisions={subdivisions}: Darknet trains "
                           f"on {mini} images per step ({mini * subdivisions} per batch); make batch a multiple "
                           "of subdivisions", net.value_span("subdivisions"))


def _factor(shapes, width: int, height: int, double=None) -> tuple[int, bool]:
    """(lcm of the layers' exact downsampling factors, whether every spatial layer was exact).

    With ``double`` (the shapes at twice the size) only layers whose size follows the input
    count: a [crop] or a fixed-size layer does not downsample.
    """
    factor, exact = 1, True
    for i, shape in enumerate(shapes.layers):
        if shape is None:
            continue
        twice = double.layers[i] if double is not None else None
        if double is not None and (twice is None or twice.output[:2] != (2 * shape.output[0], 2 * shape.output[1])):
            continue
        w, h, _ = shape.output
        for size, full in ((w, width), (h, height)):
            if 1 < size < full:
                if full % size:
                    exact = False
                else:
                    factor = math.lcm(factor, full // size)
    return factor, exact


def total_downsampling(ctx) -> int:
    """The least common multiple of every layer's downsampling factor (1 if none). When the
    real input size divides exactly everywhere the real shapes tell; otherwise two probe sizes do."""
    net = ctx.shapes.net
    factor, exact = _factor(ctx.shapes, net.get("width", 0), net.get("height", 0))
    if exact:
        return factor
    probe = infer_shapes(ctx.network, width=PROBE, height=PROBE)
    double = infer_shapes(ctx.network, width=2 * PROBE, height=2 * PROBE)
    return _factor(probe, PROBE, PROBE, double)[0]


class InputSizeMultiple(Rule):
    """``width``/``height`` not a multiple of the network's total downsampling: every strided
    layer rounds down, and routes joining maps of different scales no longer fit.

    Bad:   ``width=600`` for a network that downsamples by 32
    Good:  ``width=608`` (19 * 32)
    """

    code, name, severity = "N503", "input-size-multiple", WARNING

    def check(self, ctx):
        net = ctx.network.net
        if net is None or ctx.shapes is None:
            return
        factor = None
        for key in ("width", "height"):
            size = ctx.shapes.net.get(key, 0)
            if size <= 0:
                continue
            if factor is None:
                factor = total_downsampling(ctx)
            if size % factor:
                lower, upper = size // factor * factor, (size // factor + 1) * factor
                options = f"{lower} or {upper}" if lower else f"{upper}"
                yield ctx.diag(self, f"{key}={size} is not a multiple of {factor}, the network's total downsampling: "
                               f"use {options}", net.value_span(key))


class NoImageLayer(Rule):
    """No layer has an input wider and taller than 1 (only [connected], [rnn], [lstm], [gru] ...
    on ``inputs=``): AlexeyAB Darknet then dies with SIGFPE right after parsing the cfg, when
    parse_network_cfg_custom divides the summed outputs of such layers by their count (0).

    Bad:   ``[net] inputs=256`` followed by [rnn], [connected] and [softmax] layers only
    Good:  the same network in a Darknet that guards that division, or with an image input
    """

    code, name, severity = "N504", "no-image-layer", WARNING

    def check(self, ctx):
        net = ctx.network.net
        if net is None or not ctx.target.divides_by_image_layers or ctx.shapes is None or not ctx.layers:
            return
        if any(s is None for s in ctx.shapes.layers):
            return  # Darknet stops at the broken layer before it gets there
        if not any(s.input[0] > 1 and s.input[1] > 1 for s in ctx.shapes.layers):
            yield ctx.diag(self, "no layer has an input wider and taller than 1: AlexeyAB Darknet exits with SIGFPE "
                           "right after parsing this cfg (parse_network_cfg_custom divides avg_outputs by the number "
                           "of such layers, 0), so it cannot load, train or run it", net.header.span())


RULES = (StepsScalesLength, BatchSubdivisions, InputSizeMultiple, NoImageLayer)
