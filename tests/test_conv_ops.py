"""convolutional / connected / maxpool / avgpool / activation ops: forward against naive loops
written from Darknet's C, gradients against central differences in float64."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest

from cfgtool.executor.ops import activation, avgpool, connected, convolutional, maxpool
from cfgtool.layers.base import LayerShape
from cfgtool.layers.connected import Connected
from cfgtool.layers.convolutional import Convolutional
from opcheck import numeric_gradient, tensor_shapes, typed

FLT_MAX = float(np.finfo(np.float32).max)


def cdiv(a, b):
    """C integer division (truncation toward zero), as Darknet sizes its outputs."""
    return int(a / b)


def conv_params(**kw):
    p = dict(n=4, size=3, stride_x=1, stride_y=1, dilation=1, pad=1, groups=1, batch_normalize=0,
             activation="linear")
    p.update(kw)
    return Convolutional.Params(**p)


def random_weights(rng, p, c, dtype=np.float64, shapes=None):
    shape = LayerShape((0, 0, c), (0, 0, p.get("n", 0)), 0)
    w = {}
    for name, dims in shapes or tensor_shapes(Convolutional(), p, shape):
        if name == "rolling_variance":
            w[name] = rng.uniform(0.5, 2.0, dims).astype(dtype)
        elif name == "scales":
            w[name] = rng.uniform(0.5, 1.5, dims).astype(dtype)
        else:
            w[name] = rng.normal(size=dims).astype(dtype)
    return w


def naive_conv(p, w, x, train):
    """Loops over every output element, as forward_convolutional_layer + im2col_cpu_ext compute it."""
    b, c, h, wd = x.shape
    n, k, d, sx, sy, pad, g = p["n"], p["size"], p["dilation"], p["stride_x"], p["stride_y"], p["pad"], p["groups"]
    oh, ow = cdiv(h + 2 * pad - k, sy) + 1, cdiv(wd + 2 * pad - k, sx) + 1
    cg, m = c // g, n // g
    out = np.zeros((b, n, oh, ow))
    for bi, f, i, j in itertools.product(range(b), range(n), range(oh), range(ow)):
        grp = f // m
        s = 0.0
        for cc, u, v in itertools.product(range(cg), range(k), range(k)):
            r, col = i * sy + u * d - pad * d, j * sx + v * d - pad * d
            if 0 <= r < h and 0 <= col < wd:
                s += w["weights"][f, cc, u, v] * x[bi, grp * cg + cc, r, col]
        out[bi, f, i, j] = s
    if p["batch_normalize"]:
        if train:
            mean = out.mean(axis=(0, 2, 3), keepdims=True)
            var = ((out - mean) ** 2).sum(axis=(0, 2, 3), keepdims=True) / (out.size / n - 1)
        else:
            mean = w["rolling_mean"].reshape(1, n, 1, 1)
            var = w["rolling_variance"].reshape(1, n, 1, 1)
        out = (out - mean) / np.sqrt(var + 0.00001) * w["scales"].reshape(1, n, 1, 1)
    return out + w["biases"].reshape(1, n, 1, 1)


CONV_CASES = {
    "plain3x3": conv_params(),
    "1x1": conv_params(size=1, pad=0),
    "1x1_padded": conv_params(size=1, pad=1),
    "groups": conv_params(n=6, groups=3),
    "depthwise": conv_params(n=6, groups=6),
    "dilation2": conv_params(dilation=2),
    "dilation3_nopad": conv_params(dilation=3, pad=0, size=2),
    "stride_2x1": conv_params(stride_x=2, stride_y=1),
    "stride_1x3_k5": conv_params(stride_x=1, stride_y=3, size=5, pad=2),
    "stride2_even_k": conv_params(size=2, pad=0, stride_x=2, stride_y=2),
    "pad0_k3": conv_params(pad=0),
    "bn": conv_params(batch_normalize=1),
    "bn_groups_strided": conv_params(batch_normalize=1, n=6, groups=2, stride_x=2, stride_y=2),
}


@pytest.mark.parametrize("case", CONV_CASES)
@pytest.mark.parametrize("train", [False, True], ids=["inference", "train"])
def test_conv_forward_matches_naive_loops(case, train):
    p = CONV_CASES[case]
    rng = np.random.default_rng(0)
    c = 6
    x = rng.normal(size=(2, c, 7, 8))
    w = random_weights(rng, p, c)
    out, _ = convolutional.forward(p, w, [x], train)
    np.testing.assert_allclose(out, naive_conv(p, w, x, train), rtol=1e-10, atol=1e-10)


def test_conv_inference_float32_and_prepared_weights_agree():
    p = CONV_CASES["bn_groups_strided"]
    rng = np.random.default_rng(1)
    x = rng.normal(size=(1, 6, 9, 9)).astype(np.float32)
    w = random_weights(rng, p, 6, np.float32)
    plain, _ = convolutional.forward(p, w, [x], False)
    prepared, _ = convolutional.forward(p, {**w, "_prepared": convolutional.prepare(p, w)}, [x], False)
    assert plain.dtype == np.float32
    np.testing.assert_array_equal(plain, prepared)
    np.testing.assert_allclose(plain, naive_conv(p, {k: v.astype(np.float64) for k, v in w.items()}, x.astype(np.float64), False),
                               rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("train", [False, True])
def test_windows_running_past_the_image(train):
    """(2 - 3) / 2 + 1 is 1 in C: a 3x3 stride-2 window on a 2x2 image without padding reads
    zeros (convolution) or -FLT_MAX (maxpool) beyond the edge."""
    rng = np.random.default_rng(12)
    x = rng.normal(size=(2, 2, 2, 2))
    p = conv_params(size=3, pad=0, stride_x=2, stride_y=2, n=3)
    w = random_weights(rng, p, 2)
    out = convolutional.forward(p, w, [x], train)[0]
    assert out.shape == (2, 3, 1, 1)
    np.testing.assert_allclose(out, naive_conv(p, w, x, train), rtol=1e-10, atol=1e-10)
    q = pool_params(size=3, pad=0)
    pooled = maxpool.forward(q, {}, [x], train)[0]
    np.testing.assert_array_equal(pooled, x.max(axis=(2, 3), keepdims=True))


def test_conv_activation_applied():
    p = conv_params(activation="leaky")
    rng = np.random.default_rng(2)
    x = rng.normal(size=(1, 6, 5, 5))
    w = random_weights(rng, p, 6)
    z = naive_conv(p, w, x, False)
    np.testing.assert_allclose(convolutional.forward(p, w, [x], False)[0], np.where(z > 0, z, 0.1 * z), rtol=1e-10)


def gradient_check(forward, backward, p, w, xs, rng, skip=()):
    """Max relative error between analytic and central-difference gradients of sum(out * g),
    for every input element and every learnable tensor entry."""
    out, cache = forward(p, w, xs, True)
    g = rng.normal(size=out.shape)
    dxs, dws = backward(p, w, g, cache)

    def loss():
        return float((forward(p, w, xs, True)[0] * g).sum())

    worst = 0.0
    targets = [(x, dx) for x, dx in zip(xs, dxs)] + [(w[k], dws[k]) for k in dws if k not in skip]
    h = 1e-5
    for arr, grad in targets:
        assert grad.shape == arr.shape
        numeric = numeric_gradient(loss, arr, step=h)
        # relative per element; entries far below the tensor's scale are compared at 1e-3 of it
        floor = 1e-3 * max(np.abs(numeric).max(), 1e-12)
        denom = np.maximum(np.maximum(np.abs(numeric), np.abs(grad)), floor)
        worst = max(worst, float((np.abs(numeric - grad) / denom).max()))
    return worst


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv_gradients(case):
    p = replace(CONV_CASES[case], activation="mish")
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 6, 5, 6))
    w = random_weights(rng, p, 6)
    assert gradient_check(convolutional.forward, convolutional.backward, p, w, [x], rng) < 1e-6


def test_conv_gradient_names_and_no_rolling_gradients():
    p = CONV_CASES["bn"]
    rng = np.random.default_rng(4)
    x = rng.normal(size=(2, 6, 4, 4))
    w = random_weights(rng, p, 6)
    out, cache = convolutional.forward(p, w, [x], True)
    _, grads = convolutional.backward(p, w, np.ones_like(out), cache)
    assert set(grads) == {"biases", "scales", "weights"}


def test_conv_param_shapes_in_darknet_order():
    shape = LayerShape((8, 8, 6), (8, 8, 4), 256)
    assert tensor_shapes(Convolutional(), conv_params(batch_normalize=1, groups=2), shape) == [
        ("biases", (4,)), ("scales", (4,)), ("rolling_mean", (4,)), ("rolling_variance", (4,)), ("weights", (4, 3, 3, 3))]
    assert tensor_shapes(Convolutional(), conv_params(), shape) == [("biases", (4,)), ("weights", (4, 6, 3, 3))]
    assert tensor_shapes(Convolutional(), conv_params(share_index=0), shape) == []


# -- maxpool -----------------------------------------------------------------------------

def pool_params(**kw):
    p = dict(size=2, stride_x=2, stride_y=2, pad=1, maxpool_depth=0, out_channels=1, antialiasing=0)
    p.update(kw)
    return typed(maxpool, p)


def naive_maxpool(p, x):
    """forward_maxpool_layer's loops: offset -pad/2, invalid cells -FLT_MAX, first max wins."""
    b, c, h, w = x.shape
    if p["maxpool_depth"]:
        oc = p["out_channels"]
        out = np.full((b, oc, h, w), -FLT_MAX)
        for bi, g, i, j in itertools.product(range(b), range(oc), range(h), range(w)):
            for k in range(g, c, oc):
                out[bi, g, i, j] = max(out[bi, g, i, j], x[bi, k, i, j])
        return out
    k, sx, sy, pad = p["size"], p["stride_x"], p["stride_y"], p["pad"]
    oh, ow = cdiv(h + pad - k, sy) + 1, cdiv(w + pad - k, sx) + 1
    out = np.full((b, c, oh, ow), -FLT_MAX)
    for bi, ch, i, j in itertools.product(range(b), range(c), range(oh), range(ow)):
        for n, m in itertools.product(range(k), range(k)):
            r, col = -(pad // 2) + i * sy + n, -(pad // 2) + j * sx + m
            if 0 <= r < h and 0 <= col < w:
                out[bi, ch, i, j] = max(out[bi, ch, i, j], x[bi, ch, r, col])
    return out


POOL_CASES = {
    "2x2s2_default_pad": pool_params(),
    "2x2s1_yolov3tiny": pool_params(stride_x=1, stride_y=1),
    "3x3s2_pad2": pool_params(size=3, pad=2),
    "spp5": pool_params(size=5, stride_x=1, stride_y=1, pad=4),
    "stride_x2_y1": pool_params(stride_x=2, stride_y=1),
    "no_pad": pool_params(size=3, pad=0, stride_x=1, stride_y=2),
    "odd_pad": pool_params(size=2, pad=3),
    "depth": pool_params(maxpool_depth=1, out_channels=2),
    "depth_uneven": pool_params(maxpool_depth=1, out_channels=4),
}


@pytest.mark.parametrize("case", POOL_CASES)
@pytest.mark.parametrize("train", [False, True], ids=["inference", "train"])
def test_maxpool_forward_matches_loops(case, train):
    p = POOL_CASES[case]
    x = np.random.default_rng(5).normal(size=(2, 6, 7, 9))
    np.testing.assert_array_equal(maxpool.forward(p, {}, [x], train)[0], naive_maxpool(p, x))


@pytest.mark.parametrize("case", POOL_CASES)
def test_maxpool_gradients(case):
    p = POOL_CASES[case]
    rng = np.random.default_rng(6)
    # distinct values (no ties); a size with no window entirely in the padding (-FLT_MAX)
    x = rng.permutation(2 * 6 * 6 * 8).reshape(2, 6, 6, 8) / 10.0
    assert gradient_check(maxpool.forward, maxpool.backward, p, {}, [x], rng) < 1e-6


def test_maxpool_gradient_goes_to_first_maximum_on_ties():
    p = pool_params(size=2, pad=0)
    x = np.ones((1, 1, 2, 2))
    out, cache = maxpool.forward(p, {}, [x], True)
    (dx,), _ = maxpool.backward(p, {}, np.full_like(out, 3.0), cache)
    np.testing.assert_array_equal(dx[0, 0], [[3.0, 0.0], [0.0, 0.0]])


def test_maxpool_float32_preserved():
    x = np.random.default_rng(7).normal(size=(1, 3, 6, 6)).astype(np.float32)
    for train in (False, True):
        assert maxpool.forward(pool_params(), {}, [x], train)[0].dtype == np.float32


# -- avgpool, activation, connected -------------------------------------------------------

def test_avgpool_forward_and_gradient():
    rng = np.random.default_rng(8)
    x = rng.normal(size=(2, 3, 4, 5))
    out, _ = avgpool.forward(typed(avgpool, {}), {}, [x], False)
    assert out.shape == (2, 3, 1, 1)
    for bi, ch in itertools.product(range(2), range(3)):
        assert out[bi, ch, 0, 0] == pytest.approx(sum(x[bi, ch].ravel()) / 20)
    assert gradient_check(avgpool.forward, avgpool.backward, {}, {}, [x], rng) < 1e-6


@pytest.mark.parametrize("name", ["leaky", "mish", "normalize_channels_softmax"])
def test_activation_layer(name):
    rng = np.random.default_rng(9)
    x = rng.normal(size=(2, 3, 4, 4)) + 0.05
    from cfgtool.executor.activations import activate
    np.testing.assert_array_equal(activation.forward(typed(activation, {"activation": name}), {}, [x], False)[0], activate(name, x)[0])
    assert gradient_check(activation.forward, activation.backward, typed(activation, {"activation": name}), {}, [x], rng) < 1e-6


def connected_case(rng, bn, act="tanh"):
    p = Connected.Params(batch_normalize=bn, activation=act, n=5, outputs=5)
    shape = LayerShape((2, 3, 2), (1, 1, 5), 5)
    w = random_weights(rng, p, 2, shapes=tensor_shapes(Connected(), p, shape))
    return p, w, rng.normal(size=(4, 2, 3, 2))


def naive_connected(p, w, x, train):
    b = x.shape[0]
    flat = x.reshape(b, -1)
    out = np.array([[sum(w["weights"][o, i] * flat[bi, i] for i in range(flat.shape[1])) for o in range(5)]
                    for bi in range(b)])
    if p["batch_normalize"]:
        if train:
            mean, var = out.mean(axis=0), ((out - out.mean(axis=0)) ** 2).sum(axis=0) / (b - 1)
        else:
            mean, var = w["rolling_mean"], w["rolling_variance"]
        out = (out - mean) / np.sqrt(var + 0.00001) * w["scales"]
    return np.tanh(out + w["biases"])


@pytest.mark.parametrize("bn", [0, 1])
@pytest.mark.parametrize("train", [False, True])
def test_connected_forward(bn, train):
    p, w, x = connected_case(np.random.default_rng(10), bn)
    out, _ = connected.forward(p, w, [x], train)
    assert out.shape == (4, 5, 1, 1)
    np.testing.assert_allclose(out[:, :, 0, 0], naive_connected(p, w, x, train), rtol=1e-10)


@pytest.mark.parametrize("bn", [0, 1])
def test_connected_gradients(bn):
    rng = np.random.default_rng(11)
    p, w, x = connected_case(rng, bn)
    assert gradient_check(connected.forward, connected.backward, p, w, [x], rng) < 1e-6


def test_connected_param_order_matches_darknet_file_order():
    shape = LayerShape((2, 3, 2), (1, 1, 5), 5)
    assert [n for n, _ in tensor_shapes(Connected(), {"batch_normalize": 1}, shape)] == [
        "biases", "weights", "scales", "rolling_mean", "rolling_variance"]
