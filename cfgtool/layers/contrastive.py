"""[contrastive]: parse_contrastive and make_contrastive_layer: contrastive loss on the
previous layer's embeddings. ``yolo_layer`` must name a [yolo] layer (Darknet crashes on 0 or
no value); its embedding_size must equal inputs/(n*h*w). outputs = inputs, output 0x0x0."""

from __future__ import annotations

from dataclasses import dataclass

from .base import FLOAT, INT, LayerShape, LayerSpec, Opt, Params
from .common import cdiv, error, referenced

FLT_MAX = 3.4028234663852886e38


@dataclass(frozen=True, kw_only=True)
class ContrastiveParams(Params):
    classes: int = 1000
    yolo_layer: int = 0
    n: int = 0
    embedding_size: int = 0
    detection: int = 0
    temperature: float = 1.0
    cls_normalizer: float = 1.0
    max_delta: float = FLT_MAX
    contrastive_neg_max: int = 3


class Contrastive(LayerSpec):
    type = "contrastive"
    sections = ("[contrastive]",)
    Params = ContrastiveParams
    is_output = True
    links = {"yolo_layer": "boxes from"}
    classes_key = "classes"
    options = (
        Opt("classes", INT, 1000),
        Opt("yolo_layer", INT, 0, index=True, doc="the [yolo] layer whose boxes pick the embeddings"),
        Opt("temperature", FLOAT, 1.0),
        Opt("cls_normalizer", FLOAT, 1.0),
        Opt("max_delta", FLOAT, FLT_MAX),
        Opt("contrastive_neg_max", INT, 3),
    )
    named = False

    def infer(self, r, ctx):
        r.get("classes")  # read, but Darknet then takes the [yolo] layer's classes
        value = r.get("yolo_layer")
        if value == 0 or value == -ctx.index:
            raise error("bad-reference", "[contrastive] needs yolo_layer= naming a [yolo] layer (Darknet crashes "
                        "without one)", "yolo_layer")
        t, yolo = referenced(ctx, value, "yolo_layer")
        if "embedding_size" not in yolo.params or "total" not in yolo.params:
            raise error("bad-reference-type", f"yolo_layer={value} names layer {t}, which is not a [yolo] layer",
                        "yolo_layer")
        w, h, c = ctx.prev
        inputs = ctx.prev_outputs
        n = yolo.params["n"]
        per = n * h * w
        embedding_size = cdiv(inputs, per) if per else 0
        if embedding_size != yolo.params["embedding_size"]:
            raise error("bad-value", f"[contrastive] embedding size {embedding_size} (inputs {inputs} / ({n}*{h}*{w})) "
                        f"differs from layer {t}'s embedding size {yolo.params['embedding_size']}: both must use "
                        "the same [convolutional] layer", "yolo_layer")
        p = dict(classes=yolo.params["classes"], yolo_layer=t, n=n, embedding_size=embedding_size, detection=1,
                 temperature=r.get("temperature"), cls_normalizer=r.get("cls_normalizer"),
                 max_delta=r.get("max_delta"), contrastive_neg_max=r.get("contrastive_neg_max"))
        return LayerShape((w, h, c), (0, 0, 0), inputs, 0, 0.0, p)
