"""[yolo]: parse_yolo and make_yolo_layer.

Input and output are the previous layer's w x h with c = n*(classes+5), n = len(mask) (or num
when there is no mask); Darknet errors when that differs from the previous layer's outputs.
``mask`` counting stops at '#', as in parse_yolo_mask (without a mask, ``range(num)``, never
materialised); Darknet does not check that mask indices are below ``num`` (cspx-p7-mish.cfg has
mask=16 with num=16: it reads past the anchors), so neither does this module (lint's H402 error).
``anchors`` are read up to total*2 values (params keep those; Darknet's other biases stay 0.5).
params: the loss/NMS settings by their struct names, iou_loss / iou_thresh_kind / nms_kind as the
names Darknet resolves them to (mse, iou, giou, diou, ciou; default, greedynms, diounms).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .base import (FLOAT, FLOATS, INT, INTS, STR, Choice, EveryAnchor, Head, LayerShape, LayerSpec, Opt, Params,
    TargetIssue, absent, atof)
from .common import cdiv, darknet_list, dims, error, referenced, source

FLT_MAX = 3.4028234663852886e38
NO_EMBEDDING = 999999  # embedding_layer's "none"
# the names Darknet compares against; anything else: iou, iou (with a warning), default
IOU_LOSSES = ("mse", "iou", "giou", "diou", "ciou")
IOU_KINDS = ("iou", "giou", "diou", "ciou")
NMS_KINDS = ("default", "greedynms", "diounms")
NUM_WHY = "a head needs at least one anchor"


def read_mask(r, total: int) -> tuple[list[int] | range, int]:
    """(mask, n): parse_yolo_mask, or range(total) without a mask (a range: ``num`` may be
    1e9, nothing is allocated for it)."""
    raw = r.raw("mask")
    if raw is None:
        return range(max(total, 0)), total
    mask = darknet_list(raw, stop_at_hash=True)
    return mask, len(mask)


def read_anchor_head(r, box: int, stop_at_hash: bool) -> Head:
    """The Head of a [yolo]-like layer: mask (EveryAnchor(num) without one, like Darknet), anchors= as
    read (up to '#' when ``stop_at_hash``), ``box`` channels per anchor besides the classes."""
    classes, num = r.get("classes"), r.get("num")
    mask, _ = read_mask(r, num)
    raw = r.raw("anchors")
    anchors = () if raw is None else tuple(darknet_list(raw, atof, stop_at_hash))
    return Head(classes, num, EveryAnchor(num) if isinstance(mask, range) else tuple(mask), anchors, box)


def check_detector_input(ctx, what: str, outputs: int, expected: str, key: str) -> None:
    have = ctx.prev_outputs
    if outputs != have:
        raise error("detector-input-mismatch",
                    f"{what} expects {outputs} inputs ({expected}) but {source(ctx)} outputs {have} "
                    f"({dims(ctx.prev)}); set filters= of the [convolutional] before it to match", key)


def classes_multipliers(r, classes: int, key: str = "counters_per_class") -> None:
    raw = r.raw(key)
    if raw is not None:
        counts = darknet_list(raw, stop_at_hash=True)
        if len(counts) != classes:
            raise error("bad-value", f"counters_per_class has {len(counts)} values but classes={classes}", key)


def read_anchors(r, total: int, limit: int | None, stop_at_hash: bool) -> list[float]:
    """The anchor values Darknet stores in ``biases`` (at most ``limit``). Darknet's buffer
    holds ``total * 2`` floats, the ones not given stay 0.5; only the given ones are kept here
    (bounded by the file, whatever ``num`` says)."""
    raw = r.raw("anchors")
    if raw is None:
        return []
    values = darknet_list(raw, atof, stop_at_hash)
    if limit is not None:
        values = values[:limit]
    if len(values) > total * 2:
        raise error("bad-value", f"anchors has {len(values)} values but num={total} anchors take {total * 2}",
                    "anchors")
    return values


def anchor_boxes(anchors, mask, total: int) -> list[tuple[float, float]]:
    """Darknet's ``(biases[2*m], biases[2*m+1])`` for each anchor index ``m`` of ``mask``: the
    anchors= values, 0.5 past them (make_yolo_layer and make_region_layer set every bias to .5).
    ValueError for an index outside 0..total-1 (Darknet reads past its buffer: H402)."""
    bad = [m for m in mask if not 0 <= m < total]
    if bad:
        raise ValueError(f"mask index {bad[0]} is outside the {total} anchors (num={total}): Darknet reads past "
                         "its anchors there; fix mask= or num=")
    bias = (lambda i: anchors[i] if i < len(anchors) else 0.5)
    return [(bias(2 * m), bias(2 * m + 1)) for m in mask]


def read_head(r, ctx, what: str, box: int, keys: tuple[str, ...], nms_kinds: tuple[str, ...]
              ) -> tuple[dict, tuple[int, int, int]]:
    """What parse_yolo and parse_gaussian_yolo share: (params up to nms_kind, the head's
    w x h x c with c = n*(classes+box), checked against the previous layer). ``keys`` are
    the plain values read before iou_loss."""
    classes = r.get("classes")
    total = r.get("num")
    mask, n = read_mask(r, total)
    w, h, _ = ctx.prev
    c = n * (classes + box)
    check_detector_input(ctx, what, w * h * c, f"{w}x{h}x{n}*({classes}+{box})", "classes")
    p = dict(classes=classes, n=n, total=total, mask=mask, max_boxes=r.get("max"))
    classes_multipliers(r, classes)
    for key in keys:
        p[key] = r.get(key)
    loss = r.get("iou_loss")
    p["iou_loss"] = loss if loss in IOU_LOSSES else "iou"
    kind = r.get("iou_thresh_kind")
    p["iou_thresh_kind"] = kind if kind in IOU_KINDS else "iou"
    p["beta_nms"] = r.get("beta_nms")
    nms = r.get("nms_kind")
    p["nms_kind"] = nms if nms in nms_kinds else "default"
    return p, (w, h, c)


ANCHORS_NEEDED = TargetIssue("anchors", absent, "OpenCV needs anchors= in this head")


@dataclass(frozen=True, kw_only=True)
class YoloHeadParams(Params):
    """What parse_yolo and parse_gaussian_yolo both read."""

    classes: int = 20
    n: int = 1  # anchors this head predicts (len(mask))
    total: int = 1  # num=
    mask: list[int] = field(default_factory=list)
    max_boxes: int = 200
    max_delta: float = FLT_MAX
    label_smooth_eps: float = 0.0
    scale_x_y: float = 1.0
    objectness_smooth: int = 0
    iou_normalizer: float = 0.75
    obj_normalizer: float = 1.0
    cls_normalizer: float = 1.0
    delta_normalizer: float = 1.0
    iou_loss: str = "mse"
    iou_thresh_kind: str = "iou"
    beta_nms: float = 0.6
    nms_kind: str = "default"
    jitter: float = 0.2
    resize: float = 1.0
    ignore_thresh: float = 0.5
    truth_thresh: float = 1.0
    iou_thresh: float = 1.0
    random: float = 0.0
    map: str | None = None
    anchors: list[float] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class YoloParams(YoloHeadParams):
    show_details: int = 1
    new_coords: int = 0
    focal_loss: int = 0
    track_history_size: int = 5
    sim_thresh: float = 0.8
    dets_for_track: int = 1
    dets_for_show: int = 1
    track_ciou_norm: float = 0.01
    embedding_layer_id: int | None = None
    embedding_size: int = 0


class Yolo(LayerSpec):
    type = "yolo"
    sections = ("[yolo]",)
    Params = YoloParams
    is_head = is_output = True
    targets = {"opencv": ("[yolo]",)}
    choices = {"iou_loss": Choice(IOU_LOSSES, "uses iou"), "iou_thresh_kind": Choice(IOU_KINDS, "uses iou"),
               "nms_kind": Choice(NMS_KINDS, "uses default")}
    target_issues = {"opencv": (
        TargetIssue("mask", absent, "OpenCV needs mask= in [yolo]; write the anchor indices this head uses"),
        ANCHORS_NEEDED,
    )}
    links = {"embedding_layer": "embeddings"}
    classes_key = "classes"
    per_class_keys = ("counters_per_class",)
    options = (
        Opt("classes", INT, 20),
        Opt("num", INT, 1, doc="total number of anchors", minimum=1, why=NUM_WHY),
        Opt("mask", INTS, None, doc="anchor indices this layer uses"),
        Opt("max", INT, 200),
        Opt("show_details", INT, 1),
        Opt("max_delta", FLOAT, FLT_MAX),
        Opt("counters_per_class", INTS, None),
        Opt("label_smooth_eps", FLOAT, 0.0),
        Opt("scale_x_y", FLOAT, 1.0),
        Opt("objectness_smooth", INT, 0),
        Opt("new_coords", INT, 0),
        Opt("iou_normalizer", FLOAT, 0.75),
        Opt("obj_normalizer", FLOAT, 1.0),
        Opt("cls_normalizer", FLOAT, 1.0),
        Opt("delta_normalizer", FLOAT, 1.0),
        Opt("iou_loss", STR, "mse"),
        Opt("iou_thresh_kind", STR, "iou"),
        Opt("beta_nms", FLOAT, 0.6),
        Opt("nms_kind", STR, "default"),
        Opt("jitter", FLOAT, 0.2),
        Opt("resize", FLOAT, 1.0),
        Opt("focal_loss", INT, 0),
        Opt("ignore_thresh", FLOAT, 0.5),
        Opt("truth_thresh", FLOAT, 1.0),
        Opt("iou_thresh", FLOAT, 1.0),
        Opt("random", FLOAT, 0.0),
        Opt("track_history_size", INT, 5),
        Opt("sim_thresh", FLOAT, 0.8),
        Opt("dets_for_track", INT, 1),
        Opt("dets_for_show", INT, 1),
        Opt("track_ciou_norm", FLOAT, 0.01),
        Opt("embedding_layer", INT, NO_EMBEDDING, index=True, doc="layer with the embeddings", none=NO_EMBEDDING),
        Opt("map", STR, None, doc="class map file"),
        Opt("anchors", FLOATS, None),
    )

    def head(self, r):
        return read_anchor_head(r, 5, True)

    def infer(self, r, ctx):
        p, shape = read_head(r, ctx, "[yolo]", 5, ("show_details", "max_delta", "label_smooth_eps", "scale_x_y",
                             "objectness_smooth", "new_coords", "iou_normalizer", "obj_normalizer", "cls_normalizer",
                             "delta_normalizer"), NMS_KINDS)
        n, total = p["n"], p["total"]
        for key in ("jitter", "resize", "focal_loss", "ignore_thresh", "truth_thresh", "iou_thresh", "random",
                    "track_history_size", "sim_thresh", "dets_for_track", "dets_for_show", "track_ciou_norm"):
            p[key] = r.get(key)
        emb = r.get("embedding_layer")
        p["embedding_layer_id"] = None
        p["embedding_size"] = 0
        if emb != NO_EMBEDDING:
            t, le = referenced(ctx, emb, "embedding_layer")
            p["embedding_layer_id"] = t
            p["embedding_size"] = cdiv(le.params.get("n", 0), n)
        p["map"] = r.get("map")
        p["anchors"] = read_anchors(r, total, total * 2, True)
        w, h, c = shape
        return LayerShape(shape, shape, w * h * c, 0, 0.0, p)
