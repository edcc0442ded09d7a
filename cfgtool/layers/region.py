"""[region]: parse_region and make_region_layer (YOLOv2): c = num*(classes+coords+1) on the
previous layer's w x h; Darknet errors when that differs from the previous layer's outputs.
``tree``/``map`` name files Darknet reads at parse time; here they are only recorded."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..hierarchy import with_tree
from .base import FLOAT, FLOATS, INT, STR, Head, LayerShape, LayerSpec, Opt, Params, TargetIssue, atof, atoi
from .common import darknet_list
from .yolo import ANCHORS_NEEDED, NUM_WHY, check_detector_input, read_anchors


class RegionHead(Head):
    """[region]: num * (classes + coords + 1) channels, no mask."""

    def formula(self, classes=None):
        return f"{self.num} * ({self.classes if classes is None else classes} + {self.coords} + 1)"


@dataclass(frozen=True, kw_only=True)
class RegionParams(Params):
    coords: int = 4
    classes: int = 20
    n: int = 1
    max_boxes: int = 200
    log: int = 0
    sqrt: int = 0
    softmax: int = 0
    focal_loss: int = 0
    jitter: float = 0.2
    resize: float = 1.0
    rescore: int = 0
    thresh: float = 0.5
    classfix: int = 0
    absolute: int = 0
    random: float = 0.0
    coord_scale: float = 1.0
    object_scale: float = 1.0
    noobject_scale: float = 1.0
    mask_scale: float = 1.0
    class_scale: float = 1.0
    bias_match: int = 0
    tree: str | None = None
    map: str | None = None
    anchors: list[float] = field(default_factory=list)
    hierarchy: Any = field(default=None, compare=False, repr=False)  # the tree= file, read by the executor


class Region(LayerSpec):
    type = "region"
    sections = ("[region]",)
    Params = RegionParams
    is_head = is_output = True
    targets = {"opencv": ("[region]",)}
    target_issues = {"opencv": (
        ANCHORS_NEEDED,
        TargetIssue("softmax", lambda v, get: v is None or atoi(v) == 0,
                    "OpenCV's Region layer needs softmax=1 (it fails on the first forward pass otherwise)"),
    )}
    classes_key = "classes"
    options = (
        Opt("coords", INT, 4),
        Opt("classes", INT, 20),
        Opt("num", INT, 1, minimum=1, why=NUM_WHY),
        Opt("max", INT, 200),
        Opt("log", INT, 0),
        Opt("sqrt", INT, 0),
        Opt("softmax", INT, 0),
        Opt("focal_loss", INT, 0),
        Opt("jitter", FLOAT, 0.2),
        Opt("resize", FLOAT, 1.0),
        Opt("rescore", INT, 0),
        Opt("thresh", FLOAT, 0.5),
        Opt("classfix", INT, 0),
        Opt("absolute", INT, 0),
        Opt("random", FLOAT, 0.0),
        Opt("coord_scale", FLOAT, 1.0),
        Opt("object_scale", FLOAT, 1.0),
        Opt("noobject_scale", FLOAT, 1.0),
        Opt("mask_scale", FLOAT, 1.0),
        Opt("class_scale", FLOAT, 1.0),
        Opt("bias_match", INT, 0),
        Opt("tree", STR, None, doc="softmax tree file"),
        Opt("map", STR, None, doc="class map file"),
        Opt("anchors", FLOATS, None),
    )

    def head(self, r):
        coords, classes, num = r.get("coords"), r.get("classes"), r.get("num")
        raw = r.raw("anchors")
        anchors = () if raw is None else tuple(darknet_list(raw, atof))
        return RegionHead(classes, num, None, anchors, coords + 1, coords)

    def read_files(self, shape, read):
        classes = shape.params.classes
        return with_tree(shape.params, read, lambda tree: None if tree.n == classes else (
            f"{tree.n} nodes for classes={classes}: give one node per class (Darknet's softmax over the "
            "tree's groups would read past each record's classes, its decoding past the tree)"))

    def infer(self, r, ctx):
        coords = r.get("coords")
        classes = r.get("classes")
        num = r.get("num")
        p = dict(coords=coords, classes=classes, n=num, max_boxes=r.get("max"))
        w, h, _ = ctx.prev
        c = num * (classes + coords + 1)
        outputs = w * h * c
        check_detector_input(ctx, "[region]", outputs, f"{w}x{h}x{num}*({classes}+{coords}+1)", "classes")
        for key in ("log", "sqrt", "softmax", "focal_loss", "jitter", "resize", "rescore", "thresh", "classfix",
                    "absolute", "random", "coord_scale", "object_scale", "noobject_scale", "mask_scale",
                    "class_scale", "bias_match", "tree", "map"):
            p[key] = r.get(key)
        p["anchors"] = read_anchors(r, num, num * 2, False)
        return LayerShape((w, h, c), (w, h, c), outputs, 0, 0.0, p)
