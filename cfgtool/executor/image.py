"""Images as ``darknet detector test`` feeds them to a network, and the annotated result.

Darknet loads an image as float RGB planes in [0, 1] (``load_image``: byte / 255), then
resizes it to the network's size with its own ``resize_image`` (a separable bilinear
interpolation with corners aligned: x scale ``(w_in - 1) / (w_out - 1)``, the last column and
row copied, computed in float32), or with ``letter_box=1`` keeps the aspect ratio
(``letterbox_image``: resized to fit, centred on a 0.5 grey canvas).

Reading and writing image files needs Pillow (the optional extra ``cfgtool[image]``); it is
imported only by :func:`load_image` and :func:`annotated`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

class PillowMissing(RuntimeError):
    """The optional extra for images is not installed."""


def _pillow():
    try:
        from PIL import Image, ImageDraw
    except ImportError:
        raise PillowMissing("reading images needs Pillow: pip install 'cfgtool[image]' (or pip install Pillow)") from None
    return Image, ImageDraw


def load_image(path: str | Path, channels: int = 3) -> np.ndarray:
    """``(channels, h, w)`` float32 in [0, 1]: RGB for 3 channels, grey for 1. OSError and
    Pillow's UnidentifiedImageError (an OSError) propagate; PillowMissing without Pillow."""
    Image, _ = _pillow()
    with Image.open(path) as im:
        mode = {1: "L", 3: "RGB"}.get(channels)
        if mode is None:
            raise ValueError(f"an image gives 1 or 3 channels; this network takes channels={channels}")
        data = np.asarray(im.convert(mode), dtype=np.uint8)
    if data.ndim == 2:
        data = data[:, :, None]
    return (data.transpose(2, 0, 1).astype(np.float32) / np.float32(255.0))


def resize_image(im: np.ndarray, w: int, h: int) -> np.ndarray:
    """Darknet's ``resize_image`` of a ``(c, h, w)`` float32 image, in float32 like the C code."""
    c, ih, iw = im.shape
    if (iw, ih) == (w, h):
        return im.copy()
    f = np.float32
    im = im.astype(np.float32, copy=False)
    part = np.empty((c, ih, w), np.float32)
    if iw == 1 or w == 1:
        part[:] = im[:, :, iw - 1:iw]
    else:
        sx = np.arange(w, dtype=np.float32) * (f(iw - 1) / f(w - 1))
        ix = np.minimum(sx.astype(np.int64), iw - 2)
        dx = sx - ix.astype(np.float32)
        part[:] = (f(1) - dx) * im[:, :, ix] + dx * im[:, :, ix + 1]
        part[:, :, w - 1] = im[:, :, iw - 1]
    if h == 1:  # Darknet's h_scale would divide by zero: the first row (its r == h-1 branch)
        return (part[:, :1, :]).copy()
    sy = np.arange(h, dtype=np.float32) * (f(ih - 1) / f(h - 1))
    iy = np.minimum(sy.astype(np.int64), ih - 1)
    dy = sy - iy.astype(np.float32)
    out = (f(1) - dy)[None, :, None] * part[:, iy, :]
    if ih > 1:
        rows = np.arange(h - 1)  # the last row gets no second term
        out[:, rows, :] += dy[rows][None, :, None] * part[:, np.minimum(iy[rows] + 1, ih - 1), :]
    return out


def letterbox_image(im: np.ndarray, w: int, h: int) -> np.ndarray:
    """Darknet's ``letterbox_image``: resized to fit ``w x h`` keeping the aspect ratio,
    centred on a 0.5 grey canvas."""
    c, ih, iw = im.shape
    if w / iw < h / ih:
        new_w, new_h = w, (ih * w) // iw
    else:
        new_w, new_h = (iw * h) // ih, h
    resized = resize_image(im, new_w, new_h)
    boxed = np.full((c, h, w), 0.5, np.float32)
    dx, dy = (w - new_w) // 2, (h - new_h) // 2
    boxed[:, dy:dy + new_h, dx:dx + new_w] = resized
    return boxed


def network_input(im: np.ndarray, w: int, h: int, letter: bool) -> np.ndarray:
    """The ``(1, c, h, w)`` array test_detector gives the network."""
    sized = letterbox_image(im, w, h) if letter else resize_image(im, w, h)
    return sized[None]


def class_color(k: int, classes: int) -> tuple[int, int, int]:
    """Darknet's box colour for class ``k`` (``get_color`` at draw_detections_v3's offset), 0-255 RGB."""
    colors = ((1, 0, 1), (0, 0, 1), (0, 1, 1), (0, 1, 0), (1, 1, 0), (1, 0, 0))
    classes = max(classes, 1)
    ratio = (k * 123457 % classes) / classes * 5
    i, j = int(np.floor(ratio)), int(np.ceil(ratio))
    ratio -= i
    return tuple(int(round(255 * ((1 - ratio) * colors[i][c] + ratio * colors[j][c]))) for c in (2, 1, 0))


def annotated(source: str | Path, detections, names: list[str], classes: int, suffix: str) -> bytes:
    """The source image with a box and a label per detection (the highest probability drawn
    last, as Darknet does), encoded in the format of the file suffix ``suffix`` (``.png``)."""
    import io

    Image, ImageDraw = _pillow()
    fmt = Image.registered_extensions().get(suffix.lower())
    if fmt is None:
        raise ValueError(f"unknown image file suffix {suffix!r}: use .png or .jpg")
    with Image.open(source) as im:
        canvas = im.convert("RGB")
    draw = ImageDraw.Draw(canvas)
    width = max(1, int(canvas.height * 0.002))
    for d in sorted(detections, key=lambda d: d.classes[0][1]):
        x, y, w, h = d.xywh
        left, right = max(0, int((x - w / 2) * canvas.width)), min(canvas.width - 1, int((x + w / 2) * canvas.width))
        top, bot = max(0, int((y - h / 2) * canvas.height)), min(canvas.height - 1, int((y + h / 2) * canvas.height))
        if right < left or bot < top:
            continue
        color = class_color(d.best, classes)
        draw.rectangle([left, top, right, bot], outline=color, width=width)
        label = ", ".join(names[k] if k < len(names) else str(k) for k, _ in d.classes)
        draw.text((left + 2, max(0, top - 11)), label, fill=color)
    buf = io.BytesIO()
    canvas.save(buf, format=fmt)
    return buf.getvalue()
