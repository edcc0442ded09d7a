"""yolo / Gaussian_yolo / region / detection / softmax / dropout / crop / cost / local_avgpool /
batchnorm / normalization ops: forward against element loops transcribed from Darknet's C,
gradients against central differences in float64."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from opcheck import check_gradients, tensor_shapes, typed

from cfgtool.executor.ops import (batchnorm, cost, crop, detection, dropout, gaussian_yolo, local_avgpool,
                                  normalization, region, softmax, yolo)
from cfgtool.layers.base import LayerShape
from cfgtool.layers.batchnorm import Batchnorm


def rand(*shape, seed=0, low=-2.0, high=2.0):
    return np.random.default_rng(seed).uniform(low, high, shape)


def logistic(v):
    return 1 / (1 + math.exp(-v))


def softmax_c(buf, start, n, temp=1.0, stride=1):
    """blas.c softmax() in place on buf[start::stride][:n]."""
    vals = [buf[start + i * stride] for i in range(n)]
    largest = max(vals)
    es = [math.exp(v / temp - largest / temp) for v in vals]
    total = sum(es)
    for i, e in enumerate(es):
        buf[start + i * stride] = e / total


# ---------------------------------------------------------------- yolo / Gaussian_yolo

def yolo_ref(x, n, classes, scale_x_y, new_coords):
    """forward_yolo_layer (CPU, inference part)."""
    b_, c, h, w = x.shape
    outputs = h * w * n * (classes + 5)
    out = x.ravel().copy()

    def entry_index(b, location, entry):
        return b * outputs + (location // (w * h)) * w * h * (4 + classes + 1) + entry * w * h + location % (w * h)

    for b in range(b_):
        for a in range(n):
            bbox = entry_index(b, a * w * h, 0)
            if not new_coords:
                for i in range(2 * w * h):
                    out[bbox + i] = logistic(out[bbox + i])
                obj = entry_index(b, a * w * h, 4)
                for i in range((1 + classes) * w * h):
                    out[obj + i] = logistic(out[obj + i])
            for i in range(2 * w * h):
                out[bbox + i] = out[bbox + i] * scale_x_y + -0.5 * (scale_x_y - 1)
    return out


YOLO_CASES = {
    "plain": (3, 2, 1.0, 0),
    "scale_x_y": (2, 3, 1.2, 0),
    "new_coords": (2, 2, 1.0, 1),
    "new_coords_scaled": (3, 1, 2.0, 1),
}


def yolo_setup(case):
    n, classes, scale, new_coords = YOLO_CASES[case]
    p = typed(yolo, {"n": n, "classes": classes, "scale_x_y": scale, "new_coords": new_coords})
    return p, rand(2, n * (classes + 5), 2, 3)


@pytest.mark.parametrize("case", YOLO_CASES)
def test_yolo_forward(case):
    p, x = yolo_setup(case)
    out, _ = yolo.forward(p, {}, [x], False)
    assert out.shape == x.shape
    np.testing.assert_allclose(out.ravel(), yolo_ref(x, p["n"], p["classes"], p["scale_x_y"], p["new_coords"]),
                               rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("case", YOLO_CASES)
def test_yolo_gradient(case):
    p, x = yolo_setup(case)
    check_gradients(yolo, p, {}, [x])


def gaussian_yolo_ref(x, n, classes, scale_x_y):
    """forward_gaussian_yolo_layer (CPU, inference part)."""
    b_, c, h, w = x.shape
    outputs = h * w * n * (classes + 9)
    out = x.ravel().copy()

    def index(b, a, entry):
        return b * outputs + a * w * h * (8 + classes + 1) + entry * w * h

    def act(start, count):
        for i in range(count):
            out[start + i] = logistic(out[start + i])

    def scale(start, count):
        for i in range(count):
            out[start + i] = out[start + i] * scale_x_y + -0.5 * (scale_x_y - 1)

    for b in range(b_):
        for a in range(n):
            act(index(b, a, 0), 2 * w * h)
            scale(index(b, a, 0), w * h)
            act(index(b, a, 2), 2 * w * h)
            scale(index(b, a, 2), w * h)
            act(index(b, a, 5), w * h)
            act(index(b, a, 7), w * h)
            act(index(b, a, 8), (1 + classes) * w * h)
    return out


@pytest.mark.parametrize("scale", [1.0, 1.1])
def test_gaussian_yolo_forward_and_gradient(scale):
    p = typed(gaussian_yolo, {"n": 2, "classes": 2, "scale_x_y": scale})
    x = rand(2, 2 * 11, 2, 2)
    out, _ = gaussian_yolo.forward(p, {}, [x], False)
    np.testing.assert_allclose(out.ravel(), gaussian_yolo_ref(x, 2, 2, scale), rtol=1e-12, atol=1e-15)
    check_gradients(gaussian_yolo, p, {}, [x])


# ---------------------------------------------------------------- region / detection

def region_ref(x, n, classes, coords, use_softmax):
    """forward_region_layer (CPU, inference part): flatten, logistic at 4, softmax from 5."""
    b_, c, h, w = x.shape
    size = coords + classes + 1
    outputs = h * w * c
    src = x.ravel()
    out = np.zeros(x.size)
    layers, spatial = size * n, w * h
    for b, ch, i in itertools.product(range(b_), range(layers), range(spatial)):  # flatten(.., forward=1)
        out[b * layers * spatial + i * layers + ch] = src[b * layers * spatial + ch * spatial + i]
    for b, i in itertools.product(range(b_), range(h * w * n)):
        index = size * i + b * outputs
        out[index + 4] = logistic(out[index + 4])
        if use_softmax:
            softmax_c(out, index + 5, classes)
    return out


REGION_CASES = {"softmax": (2, 3, 4, 1), "no_softmax": (3, 2, 4, 0), "coords5": (2, 2, 5, 1)}


@pytest.mark.parametrize("case", REGION_CASES)
def test_region_forward_and_gradient(case):
    n, classes, coords, use_softmax = REGION_CASES[case]
    p = typed(region, {"n": n, "classes": classes, "coords": coords, "softmax": use_softmax, "tree": None})
    x = rand(2, n * (classes + coords + 1), 2, 3)
    out, _ = region.forward(p, {}, [x], False)
    assert out.shape == x.shape
    np.testing.assert_allclose(out.ravel(), region_ref(x, n, classes, coords, use_softmax), rtol=1e-12)
    check_gradients(region, p, {}, [x])


def test_region_with_fewer_than_4_coords_is_refused():
    assert "coords=3" in region.unsupported(typed(region, {"coords": 3}))


def detection_ref(x, side, classes, use_softmax):
    out = x.ravel().copy()
    inputs = x[0].size
    if use_softmax:
        for b in range(x.shape[0]):
            for i in range(side * side):
                softmax_c(out, b * inputs + i * classes, classes)
    return out


@pytest.mark.parametrize("use_softmax", [0, 1])
def test_detection_forward_and_gradient(use_softmax):
    side, classes, coords, n = 2, 3, 4, 2
    p = typed(detection, {"side": side, "classes": classes, "coords": coords, "n": n, "softmax": use_softmax})
    x = rand(2, side * side * ((1 + coords) * n + classes), 1, 1)
    out, _ = detection.forward(p, {}, [x], False)
    np.testing.assert_allclose(out.ravel(), detection_ref(x, side, classes, use_softmax), rtol=1e-12)
    check_gradients(detection, p, {}, [x])


# ---------------------------------------------------------------- softmax

def softmax_ref(x, groups, temperature, spatial):
    out = x.ravel().copy()
    b_, c, h, w = x.shape
    inputs = x[0].size
    for b in range(b_):
        if spatial:
            for pix in range(h * w):
                softmax_c(out, b * inputs + pix, c, 1.0, h * w)
        else:
            for g in range(groups):  # softmax_cpu(input, inputs/groups, batch, inputs, groups, inputs/groups, 1, t)
                softmax_c(out, b * inputs + g * (inputs // groups), inputs // groups, temperature)
    return out


SOFTMAX_CASES = {"plain": (1, 1.0, 0), "groups": (3, 1.0, 0), "temperature": (2, 3.0, 0), "spatial": (1, 1.0, 1)}


@pytest.mark.parametrize("case", SOFTMAX_CASES)
def test_softmax_forward_and_gradient(case):
    groups, temp, spatial = SOFTMAX_CASES[case]
    p = typed(softmax, {"groups": groups, "temperature": temp, "spatial": spatial})
    x = rand(2, 3, 2, 2)
    out, _ = softmax.forward(p, {}, [x], False)
    np.testing.assert_allclose(out.ravel(), softmax_ref(x, groups, temp, spatial), rtol=1e-12)
    check_gradients(softmax, p, {}, [x])


# ---------------------------------------------------------------- dropout

def test_dropout_inference_is_identity():
    x = rand(2, 3, 2, 2)
    out, cache = dropout.forward(typed(dropout, {"probability": 0.5}), {}, [x], False)
    np.testing.assert_array_equal(out, x)
    np.testing.assert_array_equal(dropout.backward(typed(dropout, {"probability": 0.5}), {}, x, cache)[0][0], x)


def test_dropout_training_mask():
    x = rand(4, 10, 25, 10, low=0.5, high=1.0)
    p = typed(dropout, {"probability": 0.3, "seed": 5})
    out, _ = dropout.forward(p, {}, [x], True)
    dropped = out == 0
    np.testing.assert_allclose(out[~dropped], x[~dropped] / 0.7)
    assert abs(dropped.mean() - 0.3) < 0.02
    np.testing.assert_array_equal(dropout.forward(p, {}, [x], True)[0], out)  # seeded: reproducible
    other, _ = dropout.forward(typed(dropout, {"probability": 0.3, "seed": 6}), {}, [x], True)
    assert not np.array_equal(other, out)
    assert np.array_equal(dropout.forward(typed(dropout, {"probability": 0.0}), {}, [x], True)[0], x)


def test_dropout_rng_from_params():
    x = rand(2, 3, 4, 4, low=0.5, high=1.0)
    a, _ = dropout.forward(typed(dropout, {"probability": 0.5, "rng": np.random.default_rng(1)}), {}, [x], True)
    b, _ = dropout.forward(typed(dropout, {"probability": 0.5, "rng": np.random.default_rng(1)}), {}, [x], True)
    np.testing.assert_array_equal(a, b)


def test_dropout_gradient_with_fixed_mask():
    check_gradients(dropout, {"probability": 0.4, "seed": 3}, {}, [rand(2, 3, 2, 2)], train=True)


# ---------------------------------------------------------------- crop

def crop_ref(x, out_h, out_w, dh, dw, flip, noadjust):
    """forward_crop_layer's copy loop for a given offset and flip."""
    b_, c_, h, w = x.shape
    scale, trans = (1, 0) if noadjust else (2, -1)
    src = x.ravel()
    out = []
    for b, c, i, j in itertools.product(range(b_), range(c_), range(out_h), range(out_w)):
        col = w - dw - j - 1 if flip else j + dw
        row = i + dh
        out.append(src[col + w * (row + h * (c + c_ * b))] * scale + trans)
    return np.array(out)


@pytest.mark.parametrize("noadjust", [0, 1])
@pytest.mark.parametrize("size", [(3, 2), (4, 5), (2, 2)])
def test_crop_inference_is_centred(size, noadjust):
    oh, ow = size
    p = typed(crop, {"crop_height": oh, "crop_width": ow, "flip": 1, "noadjust": noadjust})
    x = rand(2, 2, 4, 5)
    out, _ = crop.forward(p, {}, [x], False)
    assert out.shape == (2, 2, oh, ow)
    np.testing.assert_allclose(out.ravel(), crop_ref(x, oh, ow, (4 - oh) // 2, (5 - ow) // 2, False, noadjust))
    check_gradients(crop, p, {}, [x])


def test_crop_training_draws_a_window_and_flip():
    x = rand(1, 2, 5, 6)
    seen = set()
    for seed in range(40):
        p = typed(crop, {"crop_height": 3, "crop_width": 3, "flip": 1, "noadjust": 0, "seed": seed})
        out, _ = crop.forward(p, {}, [x], True)
        matches = [(dh, dw, f) for dh, dw, f in itertools.product(range(3), range(4), (0, 1))
                   if np.allclose(out.ravel(), crop_ref(x, 3, 3, dh, dw, f, 0))]
        assert len(matches) == 1
        seen.add(matches[0])
    assert {f for _, _, f in seen} == {0, 1} and len(seen) > 6
    check_gradients(crop, {"crop_height": 3, "crop_width": 3, "flip": 1, "noadjust": 0, "seed": 2}, {}, [x], train=True)


def test_crop_larger_than_input_is_an_error():
    with pytest.raises(ValueError, match="larger"):
        crop.forward(typed(crop, {"crop_height": 5, "crop_width": 2}), {}, [rand(1, 1, 4, 4)], False)


# ---------------------------------------------------------------- cost

def test_cost_output_is_darknets_untouched_buffer():
    x = rand(2, 5, 1, 1)
    out, cache = cost.forward(typed(cost, {"cost_type": "sse", "scale": 1.0}), {}, [x], False)
    assert out.shape == x.shape and not out.any()
    check_gradients(cost, {}, {}, [x])


# ---------------------------------------------------------------- local_avgpool

def local_avgpool_ref(x, size, stride_x, stride_y, pad):
    """forward_local_avgpool_layer."""
    b_, c, h, w = x.shape
    out_h, out_w = (h + pad - size) // stride_y + 1, (w + pad - size) // stride_x + 1
    off = -(pad // 2)
    src = x.ravel()
    out = np.zeros(b_ * c * out_h * out_w)
    for b, k, i, j in itertools.product(range(b_), range(c), range(out_h), range(out_w)):
        total, counter = 0.0, 0
        for n, m in itertools.product(range(size), range(size)):
            cur_h, cur_w = off + i * stride_y + n, off + j * stride_x + m
            if 0 <= cur_h < h and 0 <= cur_w < w:
                counter += 1
                total += src[cur_w + w * (cur_h + h * (k + b * c))]
        out[j + out_w * (i + out_h * (k + c * b))] = total / counter
    return out, (b_, c, out_h, out_w)


POOL_CASES = {
    "k2s2_default_pad": (2, 2, 2, 1, (2, 2, 4, 5)),
    "k3s1_pad2": (3, 1, 1, 2, (1, 2, 4, 4)),
    "k4s4": (4, 4, 4, 3, (1, 2, 8, 8)),
    "k3_stride_2x1": (3, 2, 1, 2, (1, 1, 5, 4)),
    "k2_nopad": (2, 1, 1, 0, (2, 1, 3, 3)),
    "k3_pad4": (3, 2, 2, 4, (1, 1, 4, 4)),
}


@pytest.mark.parametrize("case", POOL_CASES)
def test_local_avgpool_forward_and_gradient(case):
    size, sx, sy, pad, shape = POOL_CASES[case]
    p = typed(local_avgpool, {"size": size, "stride": sx, "stride_x": sx, "stride_y": sy, "pad": pad})
    x = rand(*shape)
    out, _ = local_avgpool.forward(p, {}, [x], False)
    expected, out_shape = local_avgpool_ref(x, size, sx, sy, pad)
    assert out.shape == out_shape
    np.testing.assert_allclose(out.ravel(), expected, rtol=1e-12)
    check_gradients(local_avgpool, p, {}, [x])


def test_local_avgpool_window_of_padding_only_is_nan():
    # size 3, stride 2, pad 5 on 4x4: the last window row/column lies wholly in the padding;
    # Darknet divides 0 by a zero count there
    out, _ = local_avgpool.forward(typed(local_avgpool, {"size": 3, "stride_x": 2, "stride_y": 2, "pad": 5}), {}, [rand(1, 1, 4, 4)], False)
    assert out.shape == (1, 1, 4, 4)
    assert np.isnan(out[0, 0, 3]).all() and np.isnan(out[0, 0, :, 3]).all()
    assert not np.isnan(out[0, 0, :3, :3]).any()


# ---------------------------------------------------------------- batchnorm

def batchnorm_ref(x, w, train):
    """forward_batchnorm_layer: mean_cpu, variance_cpu (/(N-1)), normalize_cpu, scale_bias, add_bias."""
    b_, c, h, wd = x.shape
    spatial = h * wd
    src = x.ravel()
    out = np.zeros(x.size)
    for f in range(c):
        idx = [bb * c * spatial + f * spatial + i for bb in range(b_) for i in range(spatial)]
        if train:
            mean = sum(src[i] for i in idx) / (b_ * spatial)
            var = sum((src[i] - mean) ** 2 for i in idx) / (b_ * spatial - 1)
        else:
            mean, var = w["rolling_mean"][f], w["rolling_variance"][f]
        for i in idx:
            out[i] = (src[i] - mean) / math.sqrt(var + 0.00001) * w["scales"][f] + w["biases"][f]
    return out


def batchnorm_weights(c, dtype=np.float64):
    g = np.random.default_rng(4)
    shape = LayerShape((3, 2, c), (3, 2, c), 6 * c)
    w = {name: g.uniform(0.5, 1.5, dims).astype(dtype) for name, dims in tensor_shapes(Batchnorm(), {}, shape)}
    w["biases"] -= 1
    return w


def test_batchnorm_param_order():
    shape = LayerShape((3, 2, 4), (3, 2, 4), 24)
    assert tensor_shapes(Batchnorm(), {}, shape) == [("biases", (4,)), ("scales", (4,)), ("rolling_mean", (4,)),
                                                 ("rolling_variance", (4,))]


@pytest.mark.parametrize("train", [False, True])
def test_batchnorm_forward_and_gradient(train):
    x = rand(2, 3, 2, 3)
    w = batchnorm_weights(3)
    before = {k: v.copy() for k, v in w.items()}
    out, _ = batchnorm.forward(typed(batchnorm, {}), w, [x], train)
    np.testing.assert_allclose(out.ravel(), batchnorm_ref(x, w, train), rtol=1e-12)
    assert all(np.array_equal(w[k], before[k]) for k in w)
    check_gradients(batchnorm, {}, w, [x], train=train, learnable=["biases", "scales"])


def test_batchnorm_float32():
    x = rand(2, 3, 2, 3)
    w64, w32 = batchnorm_weights(3), batchnorm_weights(3, np.float32)
    for train in (False, True):
        out, cache = batchnorm.forward(typed(batchnorm, {}), w32, [x.astype(np.float32)], train)
        assert out.dtype == np.float32
        assert batchnorm.backward(typed(batchnorm, {}), w32, np.ones_like(out), cache)[0][0].dtype == np.float32
        np.testing.assert_allclose(out, batchnorm.forward(typed(batchnorm, {}), w64, [x], train)[0], rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- normalization (lrn)

def lrn_ref(x, size, alpha, beta, kappa):
    """forward_normalization_layer with its running window sum, as written."""
    b_, c, h, w = x.shape
    src = x.reshape(b_, c, h * w)
    out = np.zeros_like(src)
    for b in range(b_):
        squared = src[b] ** 2
        norms = np.zeros((c, h * w))
        norms[0] = kappa
        for k in range(size // 2):
            norms[0] += alpha * squared[k]
        for k in range(1, c):
            norms[k] = norms[k - 1]
            prev, nxt = k - (size - 1) // 2 - 1, k + size // 2
            if prev >= 0:
                norms[k] -= alpha * squared[prev]
            if nxt < c:
                norms[k] += alpha * squared[nxt]
        out[b] = src[b] * norms ** -beta
    return out.ravel()


LRN_CASES = {"size5_c7": (5, 7), "size3_c4": (3, 4), "size4_c6": (4, 6), "size5_c2": (5, 2), "size1_c3": (1, 3)}


@pytest.mark.parametrize("case", LRN_CASES)
def test_normalization_forward_and_gradient(case):
    size, c = LRN_CASES[case]
    p = typed(normalization, {"size": size, "alpha": 0.1, "beta": 0.75, "kappa": 2.0})
    x = rand(2, c, 2, 2, low=-1, high=1)
    out, _ = normalization.forward(p, {}, [x], False)
    np.testing.assert_allclose(out.ravel(), lrn_ref(x, size, 0.1, 0.75, 2.0), rtol=1e-12)
    check_gradients(normalization, p, {}, [x])


# ---------------------------------------------------------------- dtype

FLOAT32_CASES = {
    "yolo": (yolo, {"n": 1, "classes": 2, "scale_x_y": 1.05, "new_coords": 0}, (1, 7, 2, 2)),
    "gaussian_yolo": (gaussian_yolo, {"n": 1, "classes": 1, "scale_x_y": 1.1}, (1, 10, 2, 2)),
    "region": (region, {"n": 1, "classes": 2, "coords": 4, "softmax": 1}, (1, 7, 2, 2)),
    "softmax": (softmax, {"groups": 2, "temperature": 2.0}, (2, 4, 1, 1)),
    "local_avgpool": (local_avgpool, {"size": 2, "stride_x": 1, "stride_y": 1, "pad": 1}, (1, 2, 3, 3)),
    "normalization": (normalization, {"size": 3, "alpha": 0.1, "beta": 0.75, "kappa": 2.0}, (1, 4, 2, 2)),
    "crop": (crop, {"crop_height": 2, "crop_width": 2}, (1, 2, 3, 3)),
}


@pytest.mark.parametrize("case", FLOAT32_CASES)
def test_float32_matches_float64(case):
    op, p, shape = FLOAT32_CASES[case]
    p = typed(op, p)
    x = rand(*shape)
    out32, cache = op.forward(p, {}, [x.astype(np.float32)], False)
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32, op.forward(p, {}, [x], False)[0], rtol=1e-5, atol=1e-6)
    (dx,), _ = op.backward(p, {}, np.ones_like(out32), cache)
    assert dx.dtype == np.float32
