"""What the layer modules share: C arithmetic, the options every layer section reads,
activation names, reference resolution and the shape-error catalogue."""

from __future__ import annotations

from .base import COMMON, Context, LayerShape, Reader, ShapeError, atoi


# struct field names for the common options (learning_rate is stored as learning_rate_scale)
COMMON_FIELDS = {"learning_rate": "learning_rate_scale"}


def read_common(r: Reader) -> dict:
    return {COMMON_FIELDS.get(o.key, o.key): r.get(o.key) for o in COMMON}


# get_activation's names (src/activations.c); anything else becomes relu
ACTIVATIONS = (
    "logistic", "swish", "mish", "hard_mish", "normalize_channels", "normalize_channels_softmax",
    "normalize_channels_softmax_maxval", "loggy", "relu", "relu6", "elu", "selu", "gelu", "relie",
    "plse", "hardtan", "lhtan", "linear", "ramp", "revleaky", "leaky", "tanh", "stair",
)
_ACTIVATION_SET = frozenset(ACTIVATIONS)


def activation(name: str) -> str:
    """Darknet's reading of an activation name: unknown names fall back to relu."""
    return name if name in _ACTIVATION_SET else "relu"


# code and kebab-case name of every shape error
CODES = {
    "shape-error": "S200",
    "not-an-image": "S201",  # the layer needs a w x h x c input and the previous layer is not one
    "bad-reference": "S202",  # a layer index out of range, to itself or to a later layer
    "route-size-mismatch": "S203",  # [route] inputs of different w x h
    "shortcut-size-mismatch": "S204",  # [shortcut] from a layer of different w x h
    "scale-channels-shape": "S205",  # [scale_channels] inputs that do not fit
    "sam-shape-mismatch": "S206",  # [sam] inputs of different shapes
    "zero-divisor": "S207",  # stride=0, groups=0 ...: Darknet divides by zero
    "empty-output": "S208",  # the layer's output has no elements (kernel bigger than the input ...)
    "detector-input-mismatch": "S209",  # yolo/region/detection: filters= of the previous layer do not fit
    "bad-value": "S210",  # a value Darknet rejects with an error
    "share-mismatch": "S211",  # share_index layer of another size
    "no-input-size": "S212",  # [net] has no width/height/channels or inputs
    "groups-mismatch": "S213",  # groups= does not divide the channels
    # S214 is not used: a yolo mask index >= num is no parse error in Darknet (cspx-p7-mish.cfg
    # has mask=16 with num=16 and parses; it reads past the anchors): lint's H402 reports it
    "bad-reference-type": "S215",  # a reference to a layer of the wrong kind
}


def error(name: str, message: str, key: str | None = None) -> ShapeError:
    return ShapeError(message, key, code=CODES[name], name=name)


def cdiv(a: int, b: int) -> int:
    """C integer division (truncates toward zero); ZeroDivisionError for b == 0."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def dims(shape) -> str:
    """``WxHxC`` (or ``WxH``)."""
    return "x".join(map(str, shape))


def ftoi(x: float) -> int:
    """C's (int) cast of a float on x86: truncation; NaN, infinities and values out of int's
    range give INT_MIN."""
    if x != x or not -2**31 - 1 < x < 2**31:
        return -2**31
    return int(x)


def source(ctx: Context) -> str:
    """What the layer reads as its input, for messages: the previous layer or the [net] input."""
    return "the [net] input" if ctx.index == 0 else f"layer {ctx.index - 1}"


def image(ctx: Context, what: str) -> tuple[int, int, int]:
    """The previous output as params.w/h/c, which must all be nonzero (Darknet: 'must output image')."""
    w, h, c = ctx.prev
    if not (w and h and c):
        raise error("not-an-image",
                    f"{what} needs an image input but {source(ctx)} is {dims((w, h, c))}; "
                    "put it after a layer with a w x h x c output")
    return w, h, c


def required(r: Reader, key: str, what: str):
    """The value of ``key``, which Darknet cannot do without (it exits or crashes when absent)."""
    value = r.get(key)
    if value is None:
        raise error("bad-value", f"{what} needs {key}=...", None)
    return value


def target(ctx: Context, value: int, key: str) -> int:
    """Absolute index of a reference (negative: relative); an earlier layer or an error."""
    t = ctx.index + value if value < 0 else value
    if not 0 <= t < ctx.index:
        if t == ctx.index:
            why = "this layer itself"
        elif t > ctx.index:
            why = "a later layer"
        else:
            why = "before the first layer"
        raise error("bad-reference",
                    f"{key}={value} refers to layer {t}, {why}: it must name an earlier layer "
                    f"(0..{ctx.index - 1}, or -1..-{ctx.index})", key)
    return t


def referenced(ctx: Context, value: int, key: str) -> tuple[int, LayerShape]:
    t = target(ctx, value, key)
    return t, ctx.layer(t)


def field_count(text: str, stop_at_hash: bool = False) -> int:
    """How many fields Darknet's parse loops count in a list: one per comma (before the first
    '#' where the loop stops there)."""
    cut = text.find("#") if stop_at_hash else -1
    return text.count(",", 0, cut if cut >= 0 else len(text)) + 1


def darknet_list(text: str, conv=atoi, stop_at_hash: bool = False) -> list:
    """A comma-separated list read like Darknet's parse loops (:func:`field_count` fields),
    each read with atoi/atof."""
    return [conv(part) for part in text.split(",")[: field_count(text, stop_at_hash)]]

