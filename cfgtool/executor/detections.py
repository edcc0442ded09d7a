"""Detections from a network's output, as ``darknet detector test`` finds them.

For every layer whose kernel module has a ``decode`` function (the detection heads: see
``decode`` in ``ops/yolo.py``, ``ops/gaussian_yolo.py``, ``ops/region.py``), in layer order:
the decoded boxes, corrected for letterboxing (``correct_yolo_boxes``), then Darknet's NMS
over all of them (``do_nms_sort`` or ``diounms_sort`` with the ``nms_kind`` and ``beta_nms``
of the last head, as test_detector does), then the detections that have a class above the
threshold (``get_actual_detections``), ordered by their left edge as Darknet prints them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .network import layer_error

NMS_THRESH = 0.45  # test_detector's nms
HIER_THRESH = 0.5


@dataclass
class Boxes:
    """Candidate detections: centre x, y and size w, h relative to the image (float32), the
    objectness and ``objectness * class`` probabilities (0 where not above the threshold)."""

    xywh: np.ndarray  # (N, 4)
    objectness: np.ndarray  # (N,)
    probs: np.ndarray  # (N, classes)

    def __len__(self) -> int:
        return len(self.xywh)

    def take(self, index) -> Boxes:
        return Boxes(self.xywh[index], self.objectness[index], self.probs[index])


@dataclass(frozen=True)
class Detection:
    """One printed detection: its best class (the highest probability above the threshold),
    every class above the threshold, and its box in image pixels (Darknet's rounding)."""

    best: int
    classes: tuple[tuple[int, float], ...]  # (class, probability), best first, then by class index
    xywh: tuple[float, float, float, float]  # relative centre and size

    def pixels(self, width: int, height: int) -> tuple[int, int, int, int]:
        """(left, top, width, height) rounded as ``-ext_output`` prints them."""
        x, y, w, h = (float(np.float32(v)) for v in self.xywh)
        return (round_half_away((x - w / 2) * width), round_half_away((y - h / 2) * height),
                round_half_away(w * width), round_half_away(h * height))


def round_half_away(v: float) -> int:
    """C's round(): halves away from zero."""
    return int(np.floor(abs(v) + 0.5) * np.sign(v))


def correct_boxes(xywh: np.ndarray, image_w: int, image_h: int, net_w: int, net_h: int, letter: bool) -> np.ndarray:
    """``correct_yolo_boxes`` with relative=1: boxes relative to the network input -> relative
    to the image; only a letterboxed input (``letter_box=1``) changes them."""
    if letter:
        if net_w / image_w < net_h / image_h:
            new_w, new_h = net_w, (image_h * net_w) // image_w
        else:
            new_w, new_h = (image_w * net_h) // image_h, net_h
    else:
        new_w, new_h = net_w, net_h
    f = np.float32
    deltaw, deltah = f(net_w - new_w), f(net_h - new_h)
    ratiow, ratioh = f(new_w) / f(net_w), f(new_h) / f(net_h)
    b = xywh.astype(np.float64)
    out = np.empty_like(xywh, dtype=np.float32)
    out[:, 0] = (b[:, 0] - deltaw / 2.0 / net_w) / ratiow
    out[:, 1] = (b[:, 1] - deltah / 2.0 / net_h) / ratioh
    out[:, 2] = b[:, 2] * (f(1) / ratiow)
    out[:, 3] = b[:, 3] * (f(1) / ratioh)
    return out


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of box ``a`` (4,) with each row of ``b`` (N, 4), centre/size boxes (``box_iou``)."""
    w = np.minimum(a[0] + a[2] / 2, b[:, 0] + b[:, 2] / 2) - np.maximum(a[0] - a[2] / 2, b[:, 0] - b[:, 2] / 2)
    h = np.minimum(a[1] + a[3] / 2, b[:, 1] + b[:, 3] / 2) - np.maximum(a[1] - a[3] / 2, b[:, 1] - b[:, 3] / 2)
    inter = np.where((w < 0) | (h < 0), 0, w * h)
    union = a[2] * a[3] + b[:, 2] * b[:, 3] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((inter == 0) | (union == 0), 0, inter / union)


def box_diou(a: np.ndarray, b: np.ndarray, beta: float) -> np.ndarray:
    """``box_diounms``: IoU minus (centre distance^2 / enclosing diagonal^2) ** beta
    (``box_diou``, used by greedynms, is the same with beta 0.6)."""
    iou = box_iou(a, b)
    cw = np.maximum(a[0] + a[2] / 2, b[:, 0] + b[:, 2] / 2) - np.minimum(a[0] - a[2] / 2, b[:, 0] - b[:, 2] / 2)
    ch = np.maximum(a[1] + a[3] / 2, b[:, 1] + b[:, 3] / 2) - np.minimum(a[1] - a[3] / 2, b[:, 1] - b[:, 3] / 2)
    c = cw * cw + ch * ch
    d = (a[0] - b[:, 0]) ** 2 + (a[1] - b[:, 1]) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(c == 0, iou, iou - (d / c) ** beta)


def nms(boxes: Boxes, thresh: float = NMS_THRESH, kind: str = "default", beta: float = 0.6) -> Boxes:
    """Darknet's ``do_nms_sort`` (kind ``default``) or ``diounms_sort`` (``greedynms``: DIoU
    with exponent 0.6, ``diounms``: DIoU with exponent ``beta``, ``cornersnms``: IoU), per
    class: boxes sorted by that class's probability, each box with a non-zero probability
    zeroes that class in every later box that overlaps it by more than ``thresh``. Boxes
    with objectness 0 are dropped first. Returns the remaining boxes with the suppressed
    probabilities zeroed, in the order Darknet's array is left in (the last class's sort)."""
    boxes = boxes.take(np.nonzero(boxes.objectness != 0)[0])
    probs = boxes.probs.copy()
    xywh = boxes.xywh.astype(np.float64)
    order = np.arange(len(probs))
    for k in range(probs.shape[1]):
        # Darknet sorts the array itself, class after class: equal probabilities keep the
        # order the previous class's sort left (glibc's qsort is a stable merge sort)
        order = order[np.argsort(-probs[order, k], kind="stable")]
        for pos, i in enumerate(order):
            if probs[i, k] == 0:
                continue
            later = order[pos + 1:]
            if kind == "default" or kind == "cornersnms":
                overlap = box_iou(xywh[i], xywh[later])
            else:
                overlap = box_diou(xywh[i], xywh[later], 0.6 if kind == "greedynms" else beta)
            probs[later[overlap > thresh], k] = 0
    return Boxes(boxes.xywh[order], boxes.objectness[order], probs[order])


def select(boxes: Boxes, thresh: float) -> list[Detection]:
    """``get_actual_detections`` then ``compare_by_lefts``: every box with a class above
    ``thresh``, its best class first, ordered by left edge (equal edges in NMS order)."""
    out = []
    for i in range(len(boxes)):
        above = [(k, float(p)) for k, p in enumerate(boxes.probs[i]) if p > thresh]
        if not above:
            continue
        best = max(above, key=lambda kp: kp[1])  # the first of equal maxima, like Darknet's strict >
        rest = [kp for kp in above if kp[0] != best[0]]
        out.append(Detection(best[0], (best, *rest), tuple(float(v) for v in boxes.xywh[i])))
    out.sort(key=lambda d: np.float32(d.xywh[0]) - np.float32(d.xywh[2]) / np.float32(2))
    return out


def heads(exe):
    """The executor steps whose kernel decodes detections."""
    return [s for s in exe.steps if hasattr(s.op, "decode")]


def detect(exe, outs: dict[int, np.ndarray], image_size: tuple[int, int], thresh: float = 0.25,
           letter: bool = False, nms_thresh: float = NMS_THRESH, batch_index: int = 0) -> list[Detection]:
    """The detections ``darknet detector test`` prints for one image: ``outs`` are the
    executor's outputs (every head kept), ``image_size`` the original (width, height). A head
    that cannot be decoded raises CfgError located at its section."""
    found = heads(exe)
    if not found:
        raise ValueError("the network has no detection layer whose output cfgtool can decode into boxes")
    net_w, net_h = exe.input_shape[3], exe.input_shape[2]
    parts = []
    for step in found:
        try:
            xywh, obj, probs = step.op.decode(step.params, outs[step.layer.index][batch_index], net_w, net_h, thresh)
        except ValueError as exc:  # what Darknet would misread (a mask past the anchors ...)
            raise layer_error(exe.network, step.layer, "X004", str(exc)) from None
        parts.append(Boxes(correct_boxes(xywh, *image_size, net_w, net_h, letter), obj, probs))
    classes = max(p.probs.shape[1] for p in parts)
    boxes = Boxes(np.concatenate([p.xywh for p in parts]), np.concatenate([p.objectness for p in parts]),
                  np.concatenate([np.pad(p.probs, ((0, 0), (0, classes - p.probs.shape[1]))) for p in parts]))
    last = found[-1].params
    boxes = nms(boxes, nms_thresh, last.get("nms_kind", "default"), last.get("beta_nms", 0.6))
    return select(boxes, thresh)


@dataclass
class ImageResult:
    detections: list[Detection]
    image_size: tuple[int, int]  # (width, height) of the original image
    seconds: float  # the forward pass
    letter: bool


def detect_image(exe, path, thresh: float = 0.25, letter: bool | None = None) -> ImageResult:
    """``darknet detector test`` on one image file: load it, resize it to the network's input
    (``letter_box`` of [net] unless ``letter`` says otherwise), run ``exe`` (batch 1) and return
    the detections. Image errors raise OSError / ValueError; PillowMissing without Pillow;
    CfgError for a head that cannot be decoded."""
    import time

    from .image import load_image, network_input

    if letter is None:
        letter = bool(exe.shapes.net.get("letter_box", 0))
    _, c, h, w = exe.input_shape
    im = load_image(path, c)
    x = network_input(im, w, h, letter).astype(exe.dtype, copy=False)
    t0 = time.perf_counter()
    outs = exe.forward(x, keep=[s.layer.index for s in heads(exe)])
    seconds = time.perf_counter() - t0
    size = (im.shape[2], im.shape[1])
    return ImageResult(detect(exe, outs, size, thresh, letter), size, seconds, letter)
