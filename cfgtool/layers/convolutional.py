"""[convolutional] / [conv]: parse_convolutional and make_convolutional_layer.

Quirks kept: the output size ignores dilation, ``(w + 2*pad - size) / stride + 1`` with C
integer division; ``pad=1`` means ``size/2`` pixels and overrides ``padding``; ``xnor`` forces
groups=1; with ``antialiasing`` the layer itself has stride 1 and a depthwise blur layer
(3x3, or 2x2 for antialiasing=2) applies the stride: the next layer gets the blur's output.

params deviate from the struct in one way: with antialiasing, ``blur_size``, ``blur_pad``,
``blur_stride_x`` and ``blur_stride_y`` describe Darknet's l.input_layer.
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import (FLOAT, INT, NO_INDEX, STR, STRIDE_WHY, LayerShape, LayerSpec, Opt, Params, TargetIssue, absent,
    atoi, conv_tensors, count_text, nonzero)
from .common import activation, cdiv, dims, error, ftoi, image, referenced


def conv_geometry(w: int, h: int, c: int, n: int, groups: int, size: int, stride_x: int, stride_y: int,
                  padding: int, xnor: int = 0) -> tuple[int, int, int, float]:
    """(out_w, out_h, nweights, bflops) as make_convolutional_layer computes them."""
    nweights = cdiv(c, groups) * n * size * size
    out_h = cdiv(h + 2 * padding - size, stride_y) + 1
    out_w = cdiv(w + 2 * padding - size, stride_x) + 1
    bflops = 2.0 * nweights * out_h * out_w / 1e9
    if xnor:
        bflops /= 32
    return out_w, out_h, nweights, bflops


def strided_geometry(*args) -> tuple[int, int, int, float]:
    """:func:`conv_geometry` with a zero stride as Darknet's division by zero (an S207 error)."""
    try:
        return conv_geometry(*args)
    except ZeroDivisionError:
        raise error("zero-divisor", "stride=0: Darknet divides by the stride; use stride >= 1", "stride") from None


def antialias(antialiasing: int, out: tuple[int, int, int], stride_x: int, stride_y: int, params: dict
              ) -> tuple[int, int, int] | None:
    """What the next layer receives from a layer with ``antialiasing`` (output ``out``):
    Darknet's depthwise blur applies the stride. None without antialiasing; the blur's
    settings go into ``params``."""
    if not antialiasing:
        return None
    blur_size, blur_pad = (2, 0) if antialiasing == 2 else (3, 1)
    w, h, c = out
    bw, bh, _, _ = strided_geometry(w, h, c, c, c, blur_size, stride_x, stride_y, blur_pad)
    params.update(blur_size=blur_size, blur_pad=blur_pad, blur_stride_x=stride_x, blur_stride_y=stride_y)
    return bw, bh, c


# OpenCV reads stride= for both directions (conv and maxpool)
STRIDE_XY_IGNORED = tuple(
    TargetIssue(key, nonzero, "OpenCV ignores stride_x=/stride_y= and uses stride= for both directions",
                rejected=False, severity="warning") for key in ("stride_x", "stride_y"))


@dataclass(frozen=True, kw_only=True)
class ConvolutionalParams(Params):
    n: int = 1  # filters
    groups: int = 1
    size: int = 1
    stride_x: int = 1
    stride_y: int = 1
    dilation: int = 1
    pad: int = 0  # padding in pixels (pad=1 resolved to size/2)
    batch_normalize: int = 0  # 2 with cbn=1
    activation: str = "logistic"
    binary: int = 0
    xnor: int = 0
    use_bin_output: int = 0
    share_index: int | None = None  # the absolute index of the layer whose tensors it uses
    antialiasing: int = 0
    assisted_excitation: int = 0
    sway: int = 0
    rotate: int = 0
    stretch: int = 0
    stretch_sway: int = 0
    flipped: int = 0
    dot: float = 0.0
    angle: float = 15.0
    grad_centr: int = 0
    reverse: float = 0.0
    coordconv: int = 0
    stream: int = -1
    wait_stream_id: int = -1
    # with antialiasing: Darknet's blur layer (l.input_layer)
    blur_size: int | None = None
    blur_pad: int | None = None
    blur_stride_x: int | None = None
    blur_stride_y: int | None = None
    binary_gradient: str = "exact"  # the executor's xnor/binary weight gradient: "exact" or "ste"


class Convolutional(LayerSpec):
    type = "convolutional"
    sections = ("[convolutional]", "[conv]")
    Params = ConvolutionalParams
    is_conv = True
    cpu_ignored = ("sway", "rotate", "stretch", "stretch_sway", "coordconv")
    targets = {"opencv": ("[convolutional]",)}
    target_issues = {"opencv": (
        TargetIssue("size", absent,
                    "OpenCV has no default for size= (Darknet uses 1) and refuses to load; write size=1"),
        TargetIssue("filters", absent,
                    "OpenCV has no default for filters= (Darknet uses 1) and refuses to load; write filters=1"),
        TargetIssue("flipped", nonzero, "OpenCV does not implement flipped=1 (transposed weights); remove it"),
        TargetIssue("dilation", lambda v, get: v is not None and atoi(v) > 1,
                    "OpenCV ignores dilation= and computes an undilated convolution", rejected=False,
                    severity="warning"),
        *STRIDE_XY_IGNORED,
        TargetIssue("antialiasing", nonzero, "OpenCV ignores antialiasing= (Darknet's blur after the strided conv)",
                    rejected=False, severity="warning"),
        TargetIssue("xnor", nonzero, "OpenCV ignores xnor=1 and computes a float convolution", rejected=False,
                    severity="warning"),
        TargetIssue("binary", nonzero, "OpenCV ignores binary=1 and computes with float weights", rejected=False,
                    severity="warning"),
    )}
    links = {"share_index": "shares weights"}
    channels_key = "filters"
    options = (
        Opt("filters", INT, 1, doc="number of output channels", minimum=1, why="a layer without filters has no output"),
        Opt("groups", INT, 1, minimum=1, why="Darknet divides the channels by groups"),
        Opt("size", INT, 1, minimum=1, why="the kernel must be at least 1x1"),
        Opt("stride_x", INT, -1),
        Opt("stride_y", INT, -1),
        Opt("stride", INT, 1, minimum=1, why=STRIDE_WHY),
        Opt("dilation", INT, 1),
        Opt("antialiasing", INT, 0),
        Opt("pad", INT, 0, doc="1: padding = size/2"),
        Opt("padding", INT, 0),
        Opt("activation", STR, "logistic"),
        Opt("assisted_excitation", FLOAT, 0.0),
        Opt("share_index", INT, NO_INDEX, index=True, doc="share weights with this layer", none=NO_INDEX),
        Opt("batch_normalize", INT, 0),
        Opt("cbn", INT, 0),
        Opt("binary", INT, 0),
        Opt("xnor", INT, 0),
        Opt("bin_output", INT, 0),
        Opt("sway", INT, 0),
        Opt("rotate", INT, 0),
        Opt("stretch", INT, 0),
        Opt("stretch_sway", INT, 0),
        Opt("flipped", INT, 0),
        Opt("dot", FLOAT, 0.0),
        Opt("angle", FLOAT, 15.0),
        Opt("grad_centr", INT, 0),
        Opt("reverse", FLOAT, 0.0),
        Opt("coordconv", INT, 0),
        Opt("stream", INT, -1),
        Opt("wait_stream", INT, -1),
    )

    def tensors(self, shape):
        p = shape.params
        if p.get("share_index") is not None:
            return []  # the weights of layer share_index are used (and are not in .weights again)
        return conv_tensors("", shape.input[2], p["n"], p["size"], p.get("groups", 1), p.get("batch_normalize"),
                            scales=True, flipped=bool(p.flipped))

    def filters_text(self, p):
        return count_text(p)

    def infer(self, r, ctx):
        n = r.get("filters")
        groups = r.get("groups")
        size = r.get("size")
        stride_x = r.get("stride_x")
        stride_y = r.get("stride_y")
        stride = r.get("stride")  # read in both of Darknet's branches
        if stride_x < 1:
            stride_x = stride
        if stride_y < 1:
            stride_y = stride
        dilation = r.get("dilation")
        antialiasing = r.get("antialiasing")
        if size == 1:
            dilation = 1
        padding = r.get("padding")
        if r.get("pad"):
            padding = cdiv(size, 2)
        act = activation(r.get("activation"))
        assisted_excitation = ftoi(r.get("assisted_excitation"))
        share_raw = r.get("share_index")
        w, h, c = image(ctx, "[convolutional]")
        batch_normalize = r.get("batch_normalize")
        if r.get("cbn"):
            batch_normalize = 2
        binary = r.get("binary")
        xnor = r.get("xnor")
        use_bin_output = r.get("bin_output")
        deform = {k: r.get(k) for k in ("sway", "rotate", "stretch", "stretch_sway")}
        if sum(deform.values()) > 1:
            raise error("bad-value", "use only one of sway=1, rotate=1, stretch=1, stretch_sway=1 in a [convolutional] layer",
                        next(k for k, v in deform.items() if v))
        if any(deform.values()) and size == 1:
            raise error("bad-value", "sway/rotate/stretch need size >= 3", "size")

        if xnor or groups < 1:
            groups = 1
        if n <= 0:
            raise error("empty-output", f"filters={n}: a [convolutional] layer needs at least one filter", "filters")
        if c % groups or n % groups:
            raise error("groups-mismatch",
                        f"groups={groups} must divide both the input channels ({c}, input {dims((w, h, c))}) "
                        f"and filters ({n})", "groups")
        host_sx, host_sy = (1, 1) if antialiasing else (stride_x, stride_y)
        out_w, out_h, nweights, bflops = strided_geometry(w, h, c, n, groups, size, host_sx, host_sy, padding, xnor)
        if out_w <= 0 or out_h <= 0:
            raise error("empty-output",
                        f"a {size}x{size} kernel with padding {padding} and stride {stride_x}x{stride_y} on input "
                        f"{dims((w, h, c))} gives output {dims((out_w, out_h, n))}; lower size= or add pad=1",
                        "size")

        share = None
        if share_raw != NO_INDEX:
            share, other = referenced(ctx, share_raw, "share_index")
            mine = (size, nweights, c, n)
            theirs = (other.params.get("size", 0), other.nweights, other.input[2], other.params.get("n", 0))
            if mine != theirs:
                raise error("share-mismatch",
                            f"share_index={share_raw} names layer {share} (size {theirs[0]}, {theirs[3]} filters, input "
                            f"{dims(other.input)}) but this layer has size {size}, {n} filters, input {dims((w, h, c))}: "
                            "size, weights, channels and filters must match", "share_index")

        params = dict(
            n=n, groups=groups, size=size, stride_x=host_sx, stride_y=host_sy, dilation=dilation, pad=padding,
            batch_normalize=batch_normalize, activation=act, binary=binary, xnor=xnor,
            use_bin_output=use_bin_output, share_index=share, antialiasing=antialiasing,
            assisted_excitation=assisted_excitation, **deform,
            flipped=r.get("flipped"), dot=r.get("dot"), angle=r.get("angle"), grad_centr=r.get("grad_centr"),
            reverse=r.get("reverse"), coordconv=r.get("coordconv"), stream=r.get("stream"),
            wait_stream_id=r.get("wait_stream"),
        )
        feeds = antialias(antialiasing, (out_w, out_h, n), stride_x, stride_y, params)
        return LayerShape((w, h, c), (out_w, out_h, n), out_w * out_h * n, nweights, bflops, params, feeds)
