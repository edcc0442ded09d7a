"""[shortcut]: parse_shortcut and make_shortcut_layer.

The output is the previous layer's w x h x c; every ``from`` layer must have the same w x h
(Darknet asserts), channels may differ. Quirk kept: with a weights_type other than none,
weights_normalization must be relu, avg_relu or softmax (Darknet rejects even "none").
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .base import INTS, STR, Choice, LayerShape, LayerSpec, Opt, Params, TargetIssue, Tensor
from .common import activation, dims, error, referenced, required, source

WEIGHTS_TYPES = {"none": "none", "per_feature": "per_feature", "per_layer": "per_feature", "per_channel": "per_channel"}
NORMALIZATIONS = {"relu": "relu", "avg_relu": "relu", "softmax": "softmax"}


@dataclass(frozen=True, kw_only=True)
class ShortcutParams(Params):
    input_layers: list[int] = field(default_factory=list)
    input_sizes: list[int] = field(default_factory=list)
    n: int = 0
    index: int = 0
    weights_type: str = "none"  # none, per_feature or per_channel
    weights_normalization: str = "none"  # none, relu or softmax
    activation: str = "linear"


class Shortcut(LayerSpec):
    type = "shortcut"
    sections = ("[shortcut]",)
    Params = ShortcutParams
    combine = "sum"
    targets = {"opencv": ("[shortcut]",)}
    choices = {"weights_type": Choice(tuple(WEIGHTS_TYPES), "exits with an error", "error")}
    target_issues = {"opencv": (
        TargetIssue("weights_type", lambda v, get: v is not None and v != "none",
                    "OpenCV ignores shortcut weights, so every weight after this layer is read from the wrong "
                    "offset of the .weights file; use weights_type=none for OpenCV", rejected=False),
    )}
    options = (
        Opt("activation", STR, "linear"),
        Opt("weights_type", STR, "none", doc="none, per_feature (per_layer) or per_channel"),
        Opt("weights_normalization", STR, "none", doc="none, relu (avg_relu) or softmax"),
        Opt("from", INTS, None, required=True, index=True, doc="layers to add to the previous one"),
    )

    def inputs(self, section, index):
        targets = [ref.target for ref in self.references(section, index)]
        return [index - 1, *targets] if index > 0 else targets

    def sources(self, p, index):
        return [index - 1, *p["input_layers"]]

    def tensors(self, shape):
        p = shape.params
        kind, n = WEIGHTS_TYPES[p.get("weights_type", "none")], len(p["input_layers"]) + 1
        if kind == "per_feature":
            return [Tensor("weights", (n,), init="ones")]
        if kind == "per_channel":
            return [Tensor("weights", (n, shape.output[2]), init="ones")]
        return []

    def infer(self, r, ctx):
        act = activation(r.get("activation"))
        wt_raw = r.get("weights_type")
        if wt_raw not in WEIGHTS_TYPES:
            raise error("bad-value", f"weights_type={wt_raw}: use none, per_feature or per_channel", "weights_type")
        weights_type = WEIGHTS_TYPES[wt_raw]
        wn_raw = r.get("weights_normalization")
        weights_normalization = NORMALIZATIONS.get(wn_raw, "none")
        if wn_raw not in NORMALIZATIONS and wt_raw != "none":
            raise error("bad-value", f"weights_normalization={wn_raw} with weights_type={wt_raw}: "
                        "Darknet accepts only relu, avg_relu or softmax here", "weights_normalization")
        refs = [referenced(ctx, v, "from") for v in required(r, "from", "[shortcut]")]
        w, h, c = ctx.prev
        for t, shape in refs:
            fw, fh, fc = shape.output
            if (fw, fh) != (w, h):
                raise error("shortcut-size-mismatch",
                            f"[shortcut] adds layer {t} ({dims(shape.output)}) to {source(ctx)} ({dims((w, h, c))}): "
                            "width and height must be equal; point from= at a layer of the same size", "from")
        n = len(refs)
        nweights = {"none": 0, "per_feature": n + 1, "per_channel": (n + 1) * c}[weights_type]
        bflops = w * h * c * n / 1e9
        if weights_type != "none":
            bflops *= 2
        params = dict(input_layers=[t for t, _ in refs], input_sizes=[s.outputs for _, s in refs], n=n,
                      index=refs[0][0], weights_type=weights_type, weights_normalization=weights_normalization,
                      activation=act)
        return LayerShape((w, h, c), (w, h, c), w * h * c, nweights, bflops, params)
