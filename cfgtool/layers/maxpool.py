"""[maxpool] / [max]: parse_maxpool and make_maxpool_layer (also used by [local_avgpool]).

``padding`` (struct field ``pad``) is the total padding, default size-1; the output is
``(w + padding - size) / stride + 1``. With ``maxpool_depth`` the pooling runs across channels:
output w x h x out_channels. With ``antialiasing`` the layer has stride 1 and a depthwise blur
applies the stride; the next layer gets the blur's output. bflops counts size*size*c*out_h*out_w
with c the *input* channels. params adds blur_size/blur_pad/blur_stride_x/blur_stride_y for
antialiasing (Darknet's l.input_layer).
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import INT, STRIDE_WHY, LayerShape, LayerSpec, Opt, Params, TargetIssue, absent, atoi, nonzero
from .common import cdiv, dims, error, image
from .convolutional import STRIDE_XY_IGNORED, antialias

POOL_OPTIONS = (
    Opt("stride", INT, 1, minimum=1, why=STRIDE_WHY),
    Opt("stride_x", INT, None, doc="default: stride"),
    Opt("stride_y", INT, None, doc="default: stride"),
    Opt("size", INT, None, doc="default: stride", minimum=1, why="the pooling window must be at least 1x1"),
    Opt("padding", INT, None, doc="total padding, default: size-1"),
)


def pool(r, ctx, what: str, depth: bool, avgpool: int) -> LayerShape:
    stride = r.get("stride")
    stride_x = r.get("stride_x", stride)
    stride_y = r.get("stride_y", stride)
    size = r.get("size", stride)
    padding = r.get("padding", size - 1)
    maxpool_depth, out_channels, antialiasing = 0, 1, 0
    if depth:
        maxpool_depth = r.get("maxpool_depth")
        out_channels = r.get("out_channels")
        antialiasing = r.get("antialiasing")
    w, h, c = image(ctx, what)
    sx, sy = (1, 1) if antialiasing else (stride_x, stride_y)
    if maxpool_depth:
        out = (w, h, out_channels)
    else:
        try:
            out = (cdiv(w + padding - size, sx) + 1, cdiv(h + padding - size, sy) + 1, c)
        except ZeroDivisionError:
            raise error("zero-divisor", "stride=0: Darknet divides by the stride; use stride >= 1", "stride") from None
    if min(out) <= 0:
        raise error("empty-output", f"{what} size={size} stride={stride_x}x{stride_y} padding={padding} on input "
                    f"{dims((w, h, c))} gives output {dims(out)}", "size")
    ow, oh, oc = out
    bflops = size * size * c * oh * ow / 1e9
    params = dict(size=size, stride=sx, stride_x=sx, stride_y=sy, pad=padding, maxpool_depth=maxpool_depth,
                  out_channels=out_channels, antialiasing=antialiasing, avgpool=avgpool)
    feeds = antialias(antialiasing, out, stride_x, stride_y, params)
    return LayerShape((w, h, c), out, ow * oh * oc, 0, bflops, params, feeds)


@dataclass(frozen=True, kw_only=True)
class PoolParams(Params):
    """What make_maxpool_layer holds (also [local_avgpool]'s)."""

    size: int = 1
    stride: int = 1
    stride_x: int | None = None  # None: stride
    stride_y: int | None = None  # None: stride
    pad: int = 0
    maxpool_depth: int = 0
    out_channels: int = 1
    antialiasing: int = 0
    avgpool: int = 0


@dataclass(frozen=True, kw_only=True)
class MaxpoolParams(PoolParams):
    maxpool_zero_nonmax: int = 0
    # with antialiasing: Darknet's blur layer (l.input_layer)
    blur_size: int | None = None
    blur_pad: int | None = None
    blur_stride_x: int | None = None
    blur_stride_y: int | None = None


class Maxpool(LayerSpec):
    type = "maxpool"
    sections = ("[maxpool]", "[max]")
    Params = MaxpoolParams
    pooling = "max"
    keeps_zero = True
    targets = {"opencv": ("[maxpool]",)}
    target_issues = {"opencv": (
        TargetIssue("stride", absent, "OpenCV's default stride is 2, Darknet's 1: write stride= explicitly",
                    rejected=False),
        TargetIssue("size", lambda v, get: v is None and atoi(get("stride", "1")) != 2,
                    "OpenCV's default size is 2, Darknet's is the stride: write size= explicitly", rejected=False),
        *STRIDE_XY_IGNORED,
        TargetIssue("maxpool_depth", nonzero, "OpenCV ignores maxpool_depth= (pooling across channels)",
                    rejected=False, severity="warning"),
    )}
    options = POOL_OPTIONS + (
        Opt("maxpool_depth", INT, 0, doc="1: pool across channels"),
        Opt("out_channels", INT, 1, doc="output channels with maxpool_depth"),
        Opt("antialiasing", INT, 0),
        Opt("maxpool_zero_nonmax", INT, 0),
    )

    def infer(self, r, ctx):
        shape = pool(r, ctx, "[maxpool]", True, 0)
        shape.params["maxpool_zero_nonmax"] = r.get("maxpool_zero_nonmax")
        return shape
