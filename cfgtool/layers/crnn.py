"""[crnn]: parse_crnn and make_crnn_layer: a convolutional RNN of three convolutions
(input c->hidden, self hidden->hidden, output hidden->output) with the same size, stride,
dilation and padding (pad=1: size/2). Darknet asserts that the input and self convolutions
give the same size and that the output convolution reads it, so only size-preserving
settings work. nweights stays 0 (never set); bflops is the sum of the three convolutions.
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import INT, RECURRENT, STR, LayerShape, LayerSpec, Opt, Params, conv_tensors, count_text, stride_text
from .common import activation, cdiv, dims, error, image
from .convolutional import conv_geometry

RECURRENT_CONV_OPTIONS = (
    Opt("size", INT, 3),
    Opt("stride", INT, 1),
    Opt("dilation", INT, 1),
    Opt("pad", INT, 0),
    Opt("padding", INT, 0),
)


def conv(what, w, h, c, n, groups, size, stride, padding, xnor):
    try:
        ow, oh, nweights, bflops = conv_geometry(w, h, c, n, groups, size, stride, stride, padding, xnor)
    except ZeroDivisionError:
        raise error("zero-divisor", f"{what} stride=0: Darknet divides by the stride", "stride") from None
    if ow <= 0 or oh <= 0:
        raise error("empty-output", f"{what} size={size} on input {dims((w, h, c))} gives {dims((ow, oh, n))}",
                    "size")
    return ow, oh, nweights, bflops


def read_geometry(r):
    size, stride, dilation = r.get("size"), r.get("stride"), r.get("dilation")
    padding = r.get("padding")
    if r.get("pad"):
        padding = cdiv(size, 2)
    return size, stride, dilation, padding


@dataclass(frozen=True, kw_only=True)
class CrnnParams(Params):
    size: int = 3
    stride: int = 1
    dilation: int = 1
    pad: int = 0
    n: int = 1
    hidden: int = 1
    groups: int = 1
    activation: str = "logistic"
    batch_normalize: int = 0
    xnor: int = 0
    shortcut: int = 0


class Crnn(LayerSpec):
    type = "crnn"
    sections = ("[crnn]",)
    Params = CrnnParams
    recurrent = True
    cannot_run = RECURRENT
    options = RECURRENT_CONV_OPTIONS + (
        Opt("output", INT, 1),
        Opt("hidden", INT, 1),
        Opt("groups", INT, 1),
        Opt("activation", STR, "logistic"),
        Opt("batch_normalize", INT, 0),
        Opt("xnor", INT, 0),
        Opt("shortcut", INT, 0),
    )

    def tensors(self, shape):
        p = shape.params
        bn, c, size, groups, hidden = bool(p.get("batch_normalize")), shape.input[2], p["size"], p.get("groups", 1), p["hidden"]
        return (conv_tensors("input.", c, hidden, size, groups, bn) + conv_tensors("self.", hidden, hidden, size, groups, bn)
                + conv_tensors("output.", hidden, p["n"], size, groups, bn))

    def filters_text(self, p):
        return count_text(p)

    def size_text(self, p):
        return super().size_text(p) or stride_text(p)

    def infer(self, r, ctx):
        size, stride, dilation, padding = read_geometry(r)
        output, hidden, groups = r.get("output"), r.get("hidden"), r.get("groups")
        act = activation(r.get("activation"))
        batch_normalize, xnor = r.get("batch_normalize"), r.get("xnor")
        w, h, c = image(ctx, "[crnn]")
        groups = 1 if xnor or groups < 1 else groups
        iw, ih, _, b1 = conv("[crnn]", w, h, c, hidden, groups, size, stride, padding, xnor)
        sw, sh, _, b2 = conv("[crnn]", w, h, hidden, hidden, groups, size, stride, padding, xnor)
        ow, oh, _, b3 = conv("[crnn]", w, h, hidden, output, groups, size, stride, padding, xnor)
        if (iw, ih) != (w, h):
            raise error("bad-value", f"[crnn] convolutions must keep the size: input {dims((w, h, c))} becomes "
                        f"{dims((iw, ih, hidden))}; use stride=1 and pad=1", "stride" if stride != 1 else "size")
        p = dict(size=size, stride=stride, dilation=dilation, pad=padding, n=output, hidden=hidden, groups=groups,
                 activation=act, batch_normalize=batch_normalize, xnor=xnor, shortcut=r.get("shortcut"))
        return LayerShape((w, h, c), (ow, oh, output), ow * oh * output, 0, b1 + b2 + b3, p)
