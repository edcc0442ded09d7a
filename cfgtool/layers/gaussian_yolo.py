"""[Gaussian_yolo]: parse_gaussian_yolo and make_gaussian_yolo_layer (Gaussian YOLOv3).

Like [yolo] with c = n*(classes+9) (4 box means, 4 box variances, objectness). Anchors are
read without the '#' stop and without the total*2 bound (more values than num*2 overflow
Darknet's biases: an error here).
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import FLOAT, FLOATS, INT, INTS, STR, Choice, LayerShape, LayerSpec, Opt
from .yolo import FLT_MAX, NMS_KINDS, NUM_WHY, Yolo, YoloHeadParams, read_anchor_head, read_anchors, read_head

GAUSSIAN_NMS_KINDS = (*NMS_KINDS, "cornersnms")
YOLO_POINTS = ("center", "left_top", "right_bottom")


@dataclass(frozen=True, kw_only=True)
class GaussianYoloParams(YoloHeadParams):
    uc_normalizer: float = 1.0
    yolo_point: str = "center"


class GaussianYolo(LayerSpec):
    choices = {**Yolo.choices, "nms_kind": Choice(GAUSSIAN_NMS_KINDS, "uses default"),
               "yolo_point": Choice(YOLO_POINTS, "uses center")}
    type = "Gaussian_yolo"
    sections = ("[Gaussian_yolo]",)
    Params = GaussianYoloParams
    is_head = is_output = True
    classes_key = "classes"
    per_class_keys = ("counters_per_class",)
    options = (
        Opt("classes", INT, 20),
        Opt("max", INT, 200),
        Opt("num", INT, 1, minimum=1, why=NUM_WHY),
        Opt("mask", INTS, None),
        Opt("max_delta", FLOAT, FLT_MAX),
        Opt("counters_per_class", INTS, None),
        Opt("label_smooth_eps", FLOAT, 0.0),
        Opt("scale_x_y", FLOAT, 1.0),
        Opt("objectness_smooth", INT, 0),
        Opt("uc_normalizer", FLOAT, 1.0),
        Opt("iou_normalizer", FLOAT, 0.75),
        Opt("obj_normalizer", FLOAT, 1.0),
        Opt("cls_normalizer", FLOAT, 1.0),
        Opt("delta_normalizer", FLOAT, 1.0),
        Opt("iou_loss", STR, "mse"),
        Opt("iou_thresh_kind", STR, "iou"),
        Opt("beta_nms", FLOAT, 0.6),
        Opt("nms_kind", STR, "default"),
        Opt("yolo_point", STR, "center", doc="center, left_top or right_bottom"),
        Opt("jitter", FLOAT, 0.2),
        Opt("resize", FLOAT, 1.0),
        Opt("ignore_thresh", FLOAT, 0.5),
        Opt("truth_thresh", FLOAT, 1.0),
        Opt("iou_thresh", FLOAT, 1.0),
        Opt("random", FLOAT, 0.0),
        Opt("map", STR, None),
        Opt("anchors", FLOATS, None),
    )

    def head(self, r):
        return read_anchor_head(r, 9, False)

    def infer(self, r, ctx):
        p, shape = read_head(r, ctx, "[Gaussian_yolo]", 9, ("max_delta", "label_smooth_eps", "scale_x_y",
                             "objectness_smooth", "uc_normalizer", "iou_normalizer", "obj_normalizer",
                             "cls_normalizer", "delta_normalizer"), GAUSSIAN_NMS_KINDS)
        point = r.get("yolo_point")
        p["yolo_point"] = point if point in YOLO_POINTS else "center"
        for key in ("jitter", "resize", "ignore_thresh", "truth_thresh", "iou_thresh", "random", "map"):
            p[key] = r.get(key)
        p["anchors"] = read_anchors(r, p["total"], None, False)
        w, h, c = shape
        return LayerShape(shape, shape, w * h * c, 0, 0.0, p)
