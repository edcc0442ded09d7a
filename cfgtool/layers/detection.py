"""[detection]: parse_detection and make_detection_layer (YOLOv1).

Darknet asserts side*side*((1+coords)*num + classes) == the previous layer's outputs. Quirk
kept: the struct holds w = h = side, c = 0 and no output shape (0x0x0); outputs = inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import FLOAT, INT, Head, HeadNeed, LayerShape, LayerSpec, Opt, Params
from .yolo import check_detector_input


@dataclass(frozen=True)
class DetectionHead(Head):
    """[detection] (YOLOv1): no anchor boxes; the feeding layer outputs
    side*side*((1+coords)*num + classes) values."""

    side: int = 7

    def filters(self, classes=None):
        return self.side * self.side * ((1 + self.coords) * self.num + (self.classes if classes is None else classes))

    def formula(self, classes=None):
        c = self.classes if classes is None else classes
        return f"{self.side} * {self.side} * ((1 + {self.coords}) * {self.num} + {c})"

    def need(self, classes=None):
        return HeadNeed(None, self.filters(classes), self.formula(classes))


@dataclass(frozen=True, kw_only=True)
class DetectionParams(Params):
    coords: int = 1
    classes: int = 1
    rescore: int = 0
    n: int = 1
    side: int = 7
    max_boxes: int = 200
    softmax: int = 0
    sqrt: int = 0
    coord_scale: float = 1.0
    forced: int = 0
    object_scale: float = 1.0
    noobject_scale: float = 1.0
    class_scale: float = 1.0
    jitter: float = 0.2
    resize: float = 1.0
    random: float = 0.0
    reorg: int = 0


class Detection(LayerSpec):
    type = "detection"
    sections = ("[detection]",)
    Params = DetectionParams
    is_head = is_output = True
    classes_key = "classes"
    options = (
        Opt("coords", INT, 1),
        Opt("classes", INT, 1),
        Opt("rescore", INT, 0),
        Opt("num", INT, 1),
        Opt("side", INT, 7),
        Opt("softmax", INT, 0),
        Opt("sqrt", INT, 0),
        Opt("max", INT, 200),
        Opt("coord_scale", FLOAT, 1.0),
        Opt("forced", INT, 0),
        Opt("object_scale", FLOAT, 1.0),
        Opt("noobject_scale", FLOAT, 1.0),
        Opt("class_scale", FLOAT, 1.0),
        Opt("jitter", FLOAT, 0.2),
        Opt("resize", FLOAT, 1.0),
        Opt("random", FLOAT, 0.0),
        Opt("reorg", INT, 0),
    )

    def head(self, r):
        coords, classes, num, side = (r.get(k) for k in ("coords", "classes", "num", "side"))
        return DetectionHead(classes, num, None, (), 0, coords, anchored=False, side=side)

    def infer(self, r, ctx):
        p = {k: r.get(k) for k in ("coords", "classes", "rescore")}
        p["n"] = r.get("num")
        side = p["side"] = r.get("side")
        inputs = side * side * ((1 + p["coords"]) * p["n"] + p["classes"])
        check_detector_input(ctx, "[detection]", inputs,
                             f"side {side}: {side}*{side}*((1+{p['coords']})*{p['n']}+{p['classes']})", "side")
        p["max_boxes"] = None
        for key in ("softmax", "sqrt", "max", "coord_scale", "forced", "object_scale", "noobject_scale",
                    "class_scale", "jitter", "resize", "random", "reorg"):
            p[key] = r.get(key)
        p["max_boxes"] = p.pop("max")
        return LayerShape((side, side, 0), (0, 0, 0), inputs, 0, 0.0, p)
