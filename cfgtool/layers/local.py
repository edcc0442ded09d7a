"""[local]: parse_local and make_local_layer: a convolution with separate weights per output
position. Quirks kept: ``pad`` is a flag, output = (h - (pad ? 1 : size)) / stride + 1, and
the struct's ``pad`` is that flag (im2col then pads by 1 pixel); l.nweights and l.bflops are
never set (0; the weights are c*n*size*size*out_h*out_w)."""

from __future__ import annotations

from dataclasses import dataclass

from .base import INT, STR, LayerShape, LayerSpec, Opt, Params, Tensor, count_text, stride_text
from .common import activation, cdiv, dims, error, image


@dataclass(frozen=True, kw_only=True)
class LocalParams(Params):
    n: int = 1
    size: int = 1
    stride: int = 1
    pad: int = 0  # the pad flag (im2col pads by 1 pixel)
    activation: str = "logistic"
    w: int | None = None  # the input size
    h: int | None = None
    c: int | None = None


class Local(LayerSpec):
    type = "local"
    sections = ("[local]",)
    Params = LocalParams
    options = (
        Opt("filters", INT, 1),
        Opt("size", INT, 1),
        Opt("stride", INT, 1),
        Opt("pad", INT, 0),
        Opt("activation", STR, "logistic"),
    )

    def tensors(self, shape):
        ow, oh, n = shape.output
        c, k = shape.input[2], shape.params["size"]
        return [Tensor("biases", (shape.outputs,)), Tensor("weights", (ow * oh, n, c, k, k))]

    def filters_text(self, p):
        return count_text(p)

    def size_text(self, p):
        return super().size_text(p) or stride_text(p)

    def infer(self, r, ctx):
        n, size, stride, pad = (r.get(k) for k in ("filters", "size", "stride", "pad"))
        act = activation(r.get("activation"))
        w, h, c = image(ctx, "[local]")
        if stride == 0:
            raise error("zero-divisor", "[local] stride=0: Darknet divides by the stride", "stride")
        k = 1 if pad else size
        out = (cdiv(w - k, stride) + 1, cdiv(h - k, stride) + 1, n)
        if min(out) <= 0:
            raise error("empty-output", f"[local] size={size} on input {dims((w, h, c))} gives output {dims(out)}",
                        "size")
        ow, oh, _ = out
        p = dict(n=n, size=size, stride=stride, pad=pad, activation=act, w=w, h=h, c=c)
        return LayerShape((w, h, c), out, ow * oh * n, 0, 0.0, p)
