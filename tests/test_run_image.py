"""cfgtool run --image: Darknet's image resize, head decoding and NMS, against a reference
written here loop by loop from Darknet's C (image.c resize_image/letterbox_image,
yolo_layer.c get_yolo_box, region_layer.c get_region_box, box.c do_nms_sort/diounms_sort,
image.c get_actual_detections), on the project's own test image and chosen weights."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest
from conftest import EXAMPLES, invoke


PIL = pytest.importorskip("PIL.Image", reason="run --image needs Pillow (the image extra)")
IMAGE = EXAMPLES / "shapes.png"
f32 = np.float32


def head_cfg(head: str, net_extra: str = "", filters: int = 14, activation: str = "linear") -> str:
    return f"""[net]
width=32
height=32
channels=3
{net_extra}
[convolutional]
filters={filters}
size=1
stride=4
activation={activation}

{head}"""


YOLO = """[yolo]
mask=0,1
anchors=8,8, 16,12
classes=2
num=2
scale_x_y=1.05
"""
GAUSSIAN = """[Gaussian_yolo]
mask=0,1
anchors=8,8, 16,12
classes=2
num=2
scale_x_y=1.05
nms_kind=greedynms
"""
REGION = """[region]
anchors=1,1, 2,1.5
classes=2
coords=4
num=2
softmax=1
"""


def write_weights(path, seed: int, filters: int) -> tuple[np.ndarray, np.ndarray]:
    """A .weights for the 1x1 convolution (3 -> filters): header 0.2.5, biases, then weights."""
    rng = np.random.default_rng(seed)
    bias = rng.normal(0, 1.0, filters).astype(f32)
    weight = rng.normal(0, 2.0, (filters, 3)).astype(f32)
    path.write_bytes(struct.pack("<iiiQ", 0, 2, 5, 0) + bias.tobytes() + weight.tobytes())
    return bias, weight


# -- the reference, loop by loop ---------------------------------------------------------------

def load(path) -> np.ndarray:
    with PIL.open(path) as im:
        return (np.asarray(im.convert("RGB")).transpose(2, 0, 1) / f32(255)).astype(f32)


def resize(im, w, h):
    c, ih, iw = im.shape
    part = np.zeros((c, ih, w), f32)
    w_scale, h_scale = f32(iw - 1) / f32(w - 1), f32(ih - 1) / f32(h - 1)
    for k in range(c):
        for r in range(ih):
            for col in range(w):
                if col == w - 1 or iw == 1:
                    val = im[k, r, iw - 1]
                else:
                    sx = f32(col) * w_scale
                    ix = int(sx)
                    dx = sx - f32(ix)
                    val = (f32(1) - dx) * im[k, r, ix] + dx * im[k, r, ix + 1]
                part[k, r, col] = val
    out = np.zeros((c, h, w), f32)
    for k in range(c):
        for r in range(h):
            sy = f32(r) * h_scale
            iy = int(sy)
            dy = sy - f32(iy)
            for col in range(w):
                out[k, r, col] = (f32(1) - dy) * part[k, iy, col]
            if r == h - 1 or ih == 1:
                continue
            for col in range(w):
                out[k, r, col] += dy * part[k, iy + 1, col]
    return out


def letterbox(im, w, h):
    c, ih, iw = im.shape
    if w / iw < h / ih:
        nw, nh = w, ih * w // iw
    else:
        nw, nh = iw * h // ih, h
    boxed = np.full((c, h, w), 0.5, f32)
    boxed[:, (h - nh) // 2:(h - nh) // 2 + nh, (w - nw) // 2:(w - nw) // 2 + nw] = resize(im, nw, nh)
    return boxed


def logistic(v):
    return f32(1) / (f32(1) + np.exp(-v, dtype=f32))


def conv(x, bias, weight, activation):
    out = np.zeros((len(bias), 8, 8), f32)
    for o in range(len(bias)):
        for y in range(8):
            for xx in range(8):
                out[o, y, xx] = bias[o] + sum(weight[o, c] * x[c, 4 * y, 4 * xx] for c in range(3))
    return logistic(out) if activation == "logistic" else out


def yolo_dets(x, anchors, new_coords, scale, thresh):
    classes, n, lw, lh = 2, 2, 8, 8
    v = x.reshape(n, 5 + classes, lh, lw).copy()
    if not new_coords:
        for e in [0, 1, 4, 5, 6]:
            v[:, e] = logistic(v[:, e])
    v[:, :2] = v[:, :2] * f32(scale) - f32(0.5 * (scale - 1))
    dets = []
    for i in range(lw * lh):
        row, col = divmod(i, lw)
        for a in range(n):
            obj = v[a, 4, row, col]
            if obj <= thresh:
                continue
            tx, ty, tw, th = (float(v[a, e, row, col]) for e in range(4))
            if new_coords:
                bw, bh = tw * tw * 4 * anchors[a][0] / 32, th * th * 4 * anchors[a][1] / 32
            else:
                bw, bh = math.exp(tw) * anchors[a][0] / 32, math.exp(th) * anchors[a][1] / 32
            probs = [obj * v[a, 5 + j, row, col] for j in range(classes)]
            dets.append([[(col + tx) / lw, (row + ty) / lh, bw, bh], obj, [p if p > thresh else 0 for p in probs]])
    return dets


def gaussian_dets(x, anchors, scale, thresh):
    classes, n, lw, lh = 2, 2, 8, 8
    v = x.reshape(n, 9 + classes, lh, lw).copy()
    for e in [0, 1, 2, 3, 5, 7, 8, 9, 10]:
        v[:, e] = logistic(v[:, e])
    for e in (0, 2):
        v[:, e] = v[:, e] * f32(scale) - f32(0.5 * (scale - 1))
    dets = []
    for i in range(lw * lh):
        row, col = divmod(i, lw)
        for a in range(n):
            obj = v[a, 8, row, col]
            if obj <= thresh:
                continue
            box = [(col + float(v[a, 0, row, col])) / lw, (row + float(v[a, 2, row, col])) / lh,
                   math.exp(v[a, 4, row, col]) * anchors[a][0] / 32, math.exp(v[a, 6, row, col]) * anchors[a][1] / 32]
            uc = (v[a, 1, row, col] + v[a, 3, row, col] + v[a, 5, row, col] + v[a, 7, row, col]) / f32(4)
            probs = [obj * v[a, 9 + j, row, col] * (f32(1) - uc) for j in range(classes)]
            dets.append([box, obj, [p if p > thresh else 0 for p in probs]])
    return dets


def region_dets(x, anchors, thresh):
    classes, n, lw, lh = 2, 2, 8, 8
    rec = x.reshape(n * 7, lh * lw).T.reshape(lh * lw * n, 7).copy()  # Darknet's flatten
    dets = []
    for i in range(lw * lh):
        row, col = divmod(i, lw)
        for a in range(n):
            r = rec[i * n + a]
            scale = logistic(r[4])
            e = np.exp(r[5:7] - r[5:7].max(), dtype=f32)
            soft = e / e.sum()
            box = [(col + float(logistic(r[0]))) / lw, (row + float(logistic(r[1]))) / lh,
                   math.exp(r[2]) * anchors[a][0] / lw, math.exp(r[3]) * anchors[a][1] / lh]
            probs = [scale * soft[j] for j in range(classes)]
            dets.append([box, 1.0, [p if p > thresh else 0 for p in probs]])
    return dets


def correct(dets, iw, ih, letter):
    if letter:
        nw, nh = (32, ih * 32 // iw) if 32 / iw < 32 / ih else (iw * 32 // ih, 32)
    else:
        nw, nh = 32, 32
    for d in dets:
        x, y, w, h = d[0]
        d[0] = [(x - (32 - nw) / 2 / 32) / (nw / 32), (y - (32 - nh) / 2 / 32) / (nh / 32), w * 32 / nw, h * 32 / nh]


def iou(a, b):
    def overlap(x1, w1, x2, w2):
        return min(x1 + w1 / 2, x2 + w2 / 2) - max(x1 - w1 / 2, x2 - w2 / 2)

    w, h = overlap(a[0], a[2], b[0], b[2]), overlap(a[1], a[3], b[1], b[3])
    inter = 0 if w < 0 or h < 0 else w * h
    union = a[2] * a[3] + b[2] * b[3] - inter
    return 0 if inter == 0 or union == 0 else inter / union


def diou(a, b, beta):
    cw = max(a[0] + a[2] / 2, b[0] + b[2] / 2) - min(a[0] - a[2] / 2, b[0] - b[2] / 2)
    ch = max(a[1] + a[3] / 2, b[1] + b[3] / 2) - min(a[1] - a[3] / 2, b[1] - b[3] / 2)
    c = cw * cw + ch * ch
    return iou(a, b) if c == 0 else iou(a, b) - (((a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2) / c) ** beta


def nms(dets, kind, beta, thresh=0.45):
    dets = [d for d in dets if d[1] != 0]
    for k in range(2):
        dets.sort(key=lambda d: -d[2][k])
        for i, a in enumerate(dets):
            if a[2][k] == 0:
                continue
            for b in dets[i + 1:]:
                over = iou(a[0], b[0]) if kind == "default" else diou(a[0], b[0], 0.6 if kind == "greedynms" else beta)
                if over > thresh:
                    b[2][k] = 0
    return dets


def table(dets, iw, ih, thresh, names):
    rows = []
    chosen = [d for d in dets if max(d[2]) > thresh]
    chosen.sort(key=lambda d: d[0][0] - d[0][2] / 2)
    for box, _, probs in chosen:
        best = max(range(2), key=lambda j: (probs[j], -j))
        x, y, w, h = (float(f32(v)) for v in box)
        where = [int(math.floor(abs(v) + 0.5) * math.copysign(1, v)) for v in
                 ((x - w / 2) * iw, (y - h / 2) * ih, w * iw, h * ih)]
        for j in [best] + [j for j in range(2) if j != best and probs[j] > thresh]:
            rows.append([names[j], f"{probs[j] * 100:.0f}%", *map(str, where)])
    return rows


def reference(head, letter, bias, weight, thresh, names, activation="linear", new_coords=False, kind="default",
              beta=0.6):
    im = load(IMAGE)
    _, ih, iw = im.shape
    x = conv(letterbox(im, 32, 32) if letter else resize(im, 32, 32), bias, weight, activation)
    if head == "yolo":
        dets = yolo_dets(x, [(8, 8), (16, 12)], new_coords, 1.05, thresh)
    elif head == "gaussian":
        dets = gaussian_dets(x, [(8, 8), (16, 12)], 1.05, thresh)
    else:
        dets = region_dets(x, [(1, 1), (2, 1.5)], thresh)
    correct(dets, iw, ih, letter)
    return table(nms(dets, kind, beta), iw, ih, thresh, names)


CASES = {  # name: (head section, [net] lines, reference settings)
    "yolo": (YOLO, "", dict(head="yolo", letter=False)),
    # new_coords=1: the head applies no logistic, the convolution before it does (Darknet's recipe)
    "yolo-letterbox-new-coords-diounms": (
        YOLO.replace("scale_x_y=1.05", "scale_x_y=1.05\nnew_coords=1\nnms_kind=diounms\nbeta_nms=0.8"),
        "letter_box=1\n", dict(head="yolo", letter=True, new_coords=True, kind="diounms", beta=0.8,
                               activation="logistic")),
    "yolo-greedynms": (YOLO + "nms_kind=greedynms\n", "", dict(head="yolo", letter=False, kind="greedynms")),
    "gaussian-yolo": (GAUSSIAN, "", dict(head="gaussian", letter=False, kind="greedynms")),
    "region": (REGION, "", dict(head="region", letter=False)),
}
NAMES = ["square", "disc"]


@pytest.mark.parametrize("case", list(CASES))
def test_run_image_prints_darknets_detections(tmp_path, case):
    head, net_extra, ref = CASES[case]
    filters = 22 if ref["head"] == "gaussian" else 14
    cfg = tmp_path / "net.cfg"
    cfg.write_text(head_cfg(head, net_extra, filters, ref.get("activation", "linear")))
    bias, weight = write_weights(tmp_path / "net.weights", 3, filters)
    names = tmp_path / "two.names"
    names.write_text("\n".join(NAMES) + "\n")
    out = tmp_path / "out.png"
    result = invoke("run", cfg, "--weights", tmp_path / "net.weights", "--image", IMAGE, "--names", names,
                    "--thresh", "0.3", "-o", out)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["class", "prob", "left", "top", "width", "height"]
    got = [ln.split() for ln in lines[1:] if ln.split()[:1] in (["square"], ["disc"])]
    want = reference(bias=bias, weight=weight, thresh=0.3, names=NAMES, **ref)
    assert got == want
    assert len(want) >= 3, "the case should detect something"
    with PIL.open(out) as im:
        assert im.size == (160, 120) and im.format == "PNG"


def test_an_image_given_as_input_says_use_image(tmp_path):
    cfg = tmp_path / "net.cfg"
    cfg.write_text(head_cfg(YOLO))
    result = invoke("run", cfg, "--input", IMAGE)
    assert result.exit_code == 2 and "for an image use --image" in result.output
    assert "allow_pickle" not in result.output and isinstance(result.exception, SystemExit)


def test_without_pillow_the_image_extra_is_named(tmp_path, monkeypatch):
    cfg = tmp_path / "net.cfg"
    cfg.write_text(head_cfg(YOLO))
    monkeypatch.setitem(__import__("sys").modules, "PIL", None)
    result = invoke("run", cfg, "--image", IMAGE)
    assert result.exit_code == 2 and "pip install 'cfgtool[image]'" in result.output


def test_an_existing_output_image_needs_force(tmp_path):
    cfg = tmp_path / "net.cfg"
    cfg.write_text(head_cfg(YOLO))
    out = tmp_path / "out.png"
    out.write_bytes(b"keep")
    assert invoke("run", cfg, "--image", IMAGE, "-o", out).exit_code == 2
    assert out.read_bytes() == b"keep"
    assert invoke("run", cfg, "--image", IMAGE, "-o", out, "--force").exit_code == 0
    assert out.read_bytes().startswith(b"\x89PNG")


def test_the_bundled_image_is_what_its_script_makes():
    import runpy

    picture = runpy.run_path(str(EXAMPLES / "make_image.py"))["picture"]()
    assert np.array_equal(np.asarray(PIL.open(IMAGE).convert("RGB")), picture)


def test_a_mask_past_the_anchors_is_a_located_error(tmp_path):
    cfg = tmp_path / "net.cfg"
    cfg.write_text(head_cfg(YOLO.replace("mask=0,1", "mask=1,2")))
    result = invoke("run", cfg, "--image", IMAGE)
    assert result.exit_code == 1
    assert "net.cfg:" in result.output and "mask index 2 is outside the 2 anchors" in result.output
