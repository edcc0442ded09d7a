"""route / shortcut / scale_channels / sam / upsample / reorg / reorg_old / empty / implicit ops:
forward against element loops transcribed from Darknet's C, gradients against central
differences in float64."""

from __future__ import annotations

import math

import numpy as np
import pytest
from opcheck import check_gradients, tensor_shapes, typed

from cfgtool.executor.ops import empty, implicit, reorg, reorg_old, route, sam, scale_channels, shortcut, upsample
from cfgtool.layers.base import LayerShape
from cfgtool.layers.implicit import Implicit
from cfgtool.layers.shortcut import Shortcut


def rand(*shape, seed=0, low=-2.0, high=2.0):
    return np.random.default_rng(seed).uniform(low, high, shape)


def act_ref(name, v):
    if name == "linear":
        return v
    if name == "leaky":
        return v if v > 0 else 0.1 * v
    if name == "logistic":
        return 1 / (1 + math.exp(-v))
    raise AssertionError(name)


# ---------------------------------------------------------------- route

def route_ref(xs, groups, group_id):
    """forward_route_layer: per image, copy part group_id of each input buffer."""
    batch = xs[0].shape[0]
    sizes = [x[0].size for x in xs]
    outputs = sum(sizes) // groups
    out = np.zeros(batch * outputs)
    offset = 0
    for x, size in zip(xs, sizes):
        flat, part = x.ravel(), size // groups
        for j in range(batch):
            for k in range(part):
                out[offset + j * outputs + k] = flat[j * size + part * group_id + k]
        offset += part
    return out


ROUTE_CASES = {
    "one": ([(2, 3, 2, 2)], 1, 0),
    "two": ([(2, 3, 2, 2), (2, 2, 2, 2)], 1, 0),
    "three": ([(1, 1, 3, 2), (1, 2, 3, 2), (1, 3, 3, 2)], 1, 0),
    "groups2_id0": ([(2, 4, 2, 2)], 2, 0),
    "groups2_id1": ([(2, 4, 2, 2)], 2, 1),
    "groups2_two_inputs": ([(2, 4, 2, 2), (2, 2, 2, 2)], 2, 1),
    "groups3_id2": ([(1, 6, 2, 3)], 3, 2),
}


@pytest.mark.parametrize("case", ROUTE_CASES)
def test_route_forward(case):
    shapes, groups, gid = ROUTE_CASES[case]
    xs = [rand(*s, seed=i) for i, s in enumerate(shapes)]
    out, _ = route.forward(typed(route, {"groups": groups, "group_id": gid}), {}, xs, False)
    b, _, h, w = shapes[0]
    assert out.shape == (b, sum(s[1] for s in shapes) // groups, h, w)
    np.testing.assert_array_equal(out.ravel(), route_ref(xs, groups, gid))


@pytest.mark.parametrize("case", ROUTE_CASES)
def test_route_gradient(case):
    shapes, groups, gid = ROUTE_CASES[case]
    check_gradients(route, {"groups": groups, "group_id": gid}, {}, [rand(*s, seed=i) for i, s in enumerate(shapes)])


def test_route_groups_not_dividing_channels_slices_the_flat_buffer():
    x = rand(1, 3, 2, 2)
    out, _ = route.forward(typed(route, {"groups": 2, "group_id": 1}), {}, [x], False)
    np.testing.assert_array_equal(out.ravel(), route_ref([x], 2, 1))


VIEW_NET = """[net]
width=8
height=8
channels=3

[convolutional]
filters=4
size=3
pad=1
activation=leaky

[route]
layers=-1

[convolutional]
filters=4
size=1
activation=leaky

[convolutional]
filters=4
size=1
activation=leaky

[route]
layers=-4

[convolutional]
filters=4
size=3
pad=1
activation=leaky

[route]
layers=-1,-3
"""


def test_route_of_one_contiguous_input_is_a_view_the_runner_keeps_alive():
    x = rand(2, 3, 2, 2)
    out, _ = route.forward(typed(route, {"groups": 1, "group_id": 0}), {}, [x], False)
    assert np.shares_memory(out, x)
    out, _ = route.forward(typed(route, {"groups": 2, "group_id": 1}), {}, [rand(2, 4, 2, 2)], False)
    assert out.flags.c_contiguous  # two images' halves: copied into one buffer
    from cfgtool.executor.network import Executor
    from cfgtool.model import build
    from cfgtool.shapes import infer_shapes
    from cfgtool.syntax import parse

    net = build(parse(VIEW_NET))
    exe = Executor(net, infer_shapes(net), seed=1)
    image = np.random.default_rng(2).normal(size=(1, 3, 8, 8)).astype(np.float32)
    every = {i: o.copy() for i, o in exe.forward(image, keep="all").items()}  # nothing released
    kept = exe.forward(image, keep=[0, 1])
    assert np.shares_memory(kept[1], kept[0])  # the one-input route is its input's buffer
    for _ in range(2):  # buffers released and reused: the views' buffer is kept while they are read
        np.testing.assert_array_equal(exe.forward(image)[6], every[6])


# ---------------------------------------------------------------- shortcut

NORM_CODES = {"none": 0, "relu": 1, "softmax": 2}


def shortcut_ref(x0, froms, weights, normalization, activation):
    """shortcut_multilayer_cpu followed by the activation, one output value at a time."""
    batch, src_outputs = x0.shape[0], x0[0].size
    n = len(froms)
    inp, adds, sizes = x0.ravel(), [f.ravel() for f in froms], [f[0].size for f in froms]
    wts = None if weights is None else weights.ravel()
    nweights = 0 if wts is None else wts.size
    layer_step = nweights // (n + 1)
    step = src_outputs // layer_step if nweights else 0
    norm = NORM_CODES[normalization]
    out = np.zeros(batch * src_outputs)
    for idx in range(batch * src_outputs):
        src_i, src_b = idx % src_outputs, idx // src_outputs
        total, max_val = 1.0, -math.inf
        if wts is not None and norm:
            if norm == 2:
                for i in range(n + 1):
                    max_val = max(max_val, wts[src_i // step + i * layer_step])
            total = 0.0001
            for i in range(n + 1):
                v = wts[src_i // step + i * layer_step]
                total += max(v, 0.0) if norm == 1 else math.exp(v - max_val)

        def coef(i):
            v = wts[src_i // step + i * layer_step]
            if norm == 1:
                return max(v, 0.0) / total
            if norm == 2:
                return math.exp(v - max_val) / total
            return v

        out[idx] = inp[idx] * coef(0) if wts is not None else inp[idx]
        for i in range(n):
            if src_i < sizes[i]:
                add = adds[i][sizes[i] * src_b + src_i]
                out[idx] += add * coef(i + 1) if wts is not None else add
    return np.array([act_ref(activation, v) for v in out])


SHORTCUT_CASES = {
    "plain": ((2, 3, 2, 2), [(2, 3, 2, 2)], "none", "none", "linear"),
    "two_from_leaky": ((2, 3, 2, 2), [(2, 3, 2, 2), (2, 3, 2, 2)], "none", "none", "leaky"),
    "from_fewer_channels": ((2, 4, 2, 2), [(2, 2, 2, 2)], "none", "none", "linear"),
    "from_more_channels": ((2, 2, 2, 2), [(2, 5, 2, 2)], "none", "none", "logistic"),
    "per_feature": ((2, 3, 2, 2), [(2, 3, 2, 2)], "per_feature", "none", "linear"),
    "per_feature_relu": ((2, 3, 2, 2), [(2, 3, 2, 2), (2, 3, 2, 2)], "per_feature", "relu", "linear"),
    "per_feature_softmax": ((2, 3, 2, 2), [(2, 3, 2, 2), (2, 3, 2, 2)], "per_feature", "softmax", "leaky"),
    "per_channel": ((2, 3, 2, 2), [(2, 3, 2, 2)], "per_channel", "none", "linear"),
    "per_channel_relu": ((2, 3, 2, 2), [(2, 3, 2, 2), (2, 3, 2, 2)], "per_channel", "relu", "logistic"),
    "per_channel_softmax": ((2, 3, 2, 2), [(2, 3, 2, 2)], "per_channel", "softmax", "linear"),
    "per_channel_softmax_mismatched": ((2, 3, 2, 2), [(2, 2, 2, 2), (2, 4, 2, 2)], "per_channel", "softmax",
                                       "leaky"),
    "per_feature_relu_mismatched": ((1, 4, 3, 2), [(1, 1, 3, 2)], "per_feature", "relu", "linear"),
}


def shortcut_setup(case, dtype=np.float64):
    prev, froms, wtype, wnorm, act = SHORTCUT_CASES[case]
    p = Shortcut.Params(input_layers=list(range(len(froms))), n=len(froms), weights_type=wtype,
                        weights_normalization=wnorm, activation=act)
    xs = [rand(*s, seed=i).astype(dtype) for i, s in enumerate([prev] + froms)]
    shape = LayerShape(prev[:0:-1], prev[:0:-1], int(np.prod(prev[1:])))
    w = {}
    for name, dims in tensor_shapes(Shortcut(), p, shape):
        # magnitudes away from 0 (relu's kink), some negative, no ties for the softmax maximum
        mags = np.linspace(0.3, 1.5, int(np.prod(dims)))
        signs = np.where(np.arange(mags.size) % 3 == 1, -1.0, 1.0)
        w[name] = np.random.default_rng(7).permutation(mags * signs).reshape(dims).astype(dtype)
    return p, w, xs


def test_shortcut_param_shapes():
    p, w, xs = shortcut_setup("per_channel_softmax_mismatched")
    assert [(k, v.shape) for k, v in w.items()] == [("weights", (3, 3))]
    p, w, xs = shortcut_setup("per_feature_relu")
    assert [(k, v.shape) for k, v in w.items()] == [("weights", (3,))]
    assert shortcut_setup("plain")[1] == {}


@pytest.mark.parametrize("case", SHORTCUT_CASES)
def test_shortcut_forward(case):
    p, w, xs = shortcut_setup(case)
    out, _ = shortcut.forward(p, w, xs, False)
    assert out.shape == xs[0].shape
    expected = shortcut_ref(xs[0], xs[1:], w.get("weights"), p["weights_normalization"], p["activation"])
    np.testing.assert_allclose(out.ravel(), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", SHORTCUT_CASES)
def test_shortcut_gradient(case):
    p, w, xs = shortcut_setup(case)
    check_gradients(shortcut, p, w, xs, learnable=list(w))


def test_shortcut_float32():
    p64, w64, xs64 = shortcut_setup("per_channel_softmax_mismatched")
    p, w, xs = shortcut_setup("per_channel_softmax_mismatched", np.float32)
    out, cache = shortcut.forward(p, w, xs, False)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, shortcut.forward(p64, w64, xs64, False)[0], rtol=1e-5, atol=1e-6)
    dxs, dws = shortcut.backward(p, w, np.ones_like(out), cache)
    assert all(d.dtype == np.float32 for d in dxs) and dws["weights"].dtype == np.float32


# ---------------------------------------------------------------- scale_channels / sam

def scale_channels_ref(s, x, scale_wh, activation):
    """forward_scale_channels_layer: the output has the from-layer's (x's) shape."""
    b, c, h, w = x.shape
    channel_size, batch_size = w * h, c * w * h
    sf, xf = s.ravel(), x.ravel()
    out = np.zeros(x.size)
    for i in range(x.size):
        if scale_wh:
            out[i] = sf[i % channel_size + (i // batch_size) * channel_size] * xf[i]
        else:
            out[i] = sf[i // channel_size] * xf[i]
    return np.array([act_ref(activation, v) for v in out])


SCALE_CASES = {
    "se_linear": (0, (2, 3, 1, 1), (2, 3, 2, 3), "linear"),
    "se_logistic": (0, (2, 4, 1, 1), (2, 4, 3, 2), "logistic"),
    "wh_linear": (1, (2, 1, 2, 3), (2, 3, 2, 3), "linear"),
    "wh_leaky": (1, (1, 1, 3, 3), (1, 2, 3, 3), "leaky"),
}


@pytest.mark.parametrize("case", SCALE_CASES)
def test_scale_channels_forward(case):
    wh, s_shape, x_shape, act = SCALE_CASES[case]
    s, x = rand(*s_shape, seed=1), rand(*x_shape, seed=2)
    out, _ = scale_channels.forward(typed(scale_channels, {"scale_wh": wh, "activation": act}), {}, [s, x], False)
    assert out.shape == x.shape
    np.testing.assert_allclose(out.ravel(), scale_channels_ref(s, x, wh, act), rtol=1e-12)


@pytest.mark.parametrize("case", SCALE_CASES)
def test_scale_channels_gradient(case):
    wh, s_shape, x_shape, act = SCALE_CASES[case]
    check_gradients(scale_channels, {"scale_wh": wh, "activation": act}, {},
                    [rand(*s_shape, seed=1), rand(*x_shape, seed=2)])


@pytest.mark.parametrize("act", ["linear", "logistic", "leaky"])
def test_sam_forward_and_gradient(act):
    s, x = rand(2, 3, 2, 2, seed=1), rand(2, 3, 2, 2, seed=2)
    out, _ = sam.forward(typed(sam, {"activation": act}), {}, [s, x], False)
    expected = np.array([act_ref(act, a * b) for a, b in zip(s.ravel(), x.ravel())])
    np.testing.assert_allclose(out.ravel(), expected, rtol=1e-12)
    check_gradients(sam, {"activation": act}, {}, [s, x])


# ---------------------------------------------------------------- upsample

def upsample_cpu(inp, w, h, c, batch, stride, forward, scale, out):
    for b in range(batch):
        for k in range(c):
            for j in range(h * stride):
                for i in range(w * stride):
                    in_index = b * w * h * c + k * w * h + (j // stride) * w + i // stride
                    out_index = b * w * h * c * stride * stride + k * w * h * stride * stride + j * w * stride + i
                    if forward:
                        out[out_index] = scale * inp[in_index]
                    else:
                        inp[in_index] += scale * out[out_index]


def upsample_ref(x, stride, scale):
    """forward_upsample_layer; a negative stride (reverse) downsamples."""
    b, c, h, w = x.shape
    if stride > 0:
        out = np.zeros(b * c * h * stride * w * stride)
        upsample_cpu(x.ravel(), w, h, c, b, stride, 1, scale, out)
        return out
    s = -stride
    out = np.zeros(b * c * (h // s) * (w // s))
    upsample_cpu(out, w // s, h // s, c, b, s, 0, scale, x.ravel())
    return out


UPSAMPLE_CASES = {
    "x2": (2, 1.0, (2, 2, 2, 3)),
    "x3_scaled": (3, 0.5, (1, 2, 2, 2)),
    "down2": (-2, 1.0, (2, 2, 4, 4)),
    "down2_scaled_ragged": (-2, 0.25, (2, 2, 5, 5)),
    "down3": (-3, 1.0, (1, 1, 6, 3)),
}


def upsample_params(stride, scale):
    return typed(upsample, {"stride": abs(stride), "reverse": int(stride < 0), "scale": scale})


@pytest.mark.parametrize("case", UPSAMPLE_CASES)
def test_upsample_forward(case):
    stride, scale, shape = UPSAMPLE_CASES[case]
    x = rand(*shape)
    out, _ = upsample.forward(upsample_params(stride, scale), {}, [x], False)
    b, c, h, w = shape
    s = abs(stride)
    assert out.shape == ((b, c, h * s, w * s) if stride > 0 else (b, c, h // s, w // s))
    np.testing.assert_allclose(out.ravel(), upsample_ref(x, stride, scale), rtol=1e-12)


def test_upsample_negative_stride_in_params_means_reverse():
    x = rand(1, 2, 4, 4)
    out, _ = upsample.forward(typed(upsample, {"stride": -2, "scale": 1.0}), {}, [x], False)
    np.testing.assert_allclose(out.ravel(), upsample_ref(x, -2, 1.0))


@pytest.mark.parametrize("case", UPSAMPLE_CASES)
def test_upsample_gradient(case):
    stride, scale, shape = UPSAMPLE_CASES[case]
    check_gradients(upsample, upsample_params(stride, scale), {}, [rand(*shape)])


# ---------------------------------------------------------------- reorg / reorg_old

def reorg_cpu(x, w, h, c, batch, stride, forward, out):
    in_c = c // (stride * stride)
    for b in range(batch):
        for k in range(c):
            for j in range(h):
                for i in range(w):
                    in_index = i + w * (j + h * (k + c * b))
                    c2, offset = k % in_c, k // in_c
                    w2, h2 = i * stride + offset % stride, j * stride + offset // stride
                    out_index = w2 + w * stride * (h2 + h * stride * (c2 + in_c * b))
                    if forward:
                        out[out_index] = x[in_index]
                    else:
                        out[in_index] = x[out_index]


def reorg3d_ref(x, stride, reverse):
    """forward_reorg_layer: reorg_cpu with the OUTPUT dims, forward = reverse."""
    b, c, h, w = x.shape
    if reverse:
        ow, oh, oc = w * stride, h * stride, c // (stride * stride)
    else:
        ow, oh, oc = w // stride, h // stride, c * stride * stride
    out = np.zeros(b * oc * oh * ow)
    reorg_cpu(x.ravel(), ow, oh, oc, b, stride, reverse, out)
    return out, (b, oc, oh, ow)


def reorg_old_ref(x, stride, reverse):
    """forward_reorg_old_layer: reorg_cpu with the INPUT dims, forward = reverse."""
    b, c, h, w = x.shape
    out = np.zeros(x.size)
    reorg_cpu(x.ravel(), w, h, c, b, stride, reverse, out)
    return out


REORG_CASES = {
    "s2": (2, 0, (2, 2, 4, 4)),
    "s2_ragged": (2, 0, (2, 1, 5, 4)),
    "s3": (3, 0, (1, 2, 3, 6)),
    "s2_reverse": (2, 1, (2, 16, 2, 1)),
    "s2_reverse_not_a_permutation": (2, 1, (1, 24, 2, 2)),
}


@pytest.mark.parametrize("case", REORG_CASES)
def test_reorg3d_forward(case):
    stride, reverse, shape = REORG_CASES[case]
    x = rand(*shape)
    out, _ = reorg.forward(typed(reorg, {"stride": stride, "reverse": reverse}), {}, [x], False)
    expected, out_shape = reorg3d_ref(x, stride, reverse)
    assert out.shape == out_shape
    np.testing.assert_array_equal(out.ravel(), expected)


def test_reorg3d_is_space_to_depth():
    x = rand(1, 2, 4, 6)
    out, _ = reorg.forward(typed(reorg, {"stride": 2, "reverse": 0}), {}, [x], False)
    for c, y, xx, dy, dx in np.ndindex(2, 2, 3, 2, 2):
        assert out[0, (dy * 2 + dx) * 2 + c, y, xx] == x[0, c, y * 2 + dy, xx * 2 + dx]


@pytest.mark.parametrize("case", REORG_CASES)
def test_reorg3d_gradient(case):
    stride, reverse, shape = REORG_CASES[case]
    check_gradients(reorg, {"stride": stride, "reverse": reverse}, {}, [rand(*shape)])


def test_reorg3d_reverse_with_too_few_channels_is_an_error():
    # Darknet's reorg_cpu divides by out_c/(stride*stride) = 0 here
    with pytest.raises(ValueError, match="stride"):
        reorg.forward(typed(reorg, {"stride": 2, "reverse": 1}), {}, [rand(1, 8, 2, 2)], False)


REORG_OLD_CASES = {
    "s2": (2, 0, (2, 4, 4, 4)),
    "s2_reverse": (2, 1, (2, 4, 2, 3)),
    "s3": (3, 0, (1, 9, 3, 3)),
}


@pytest.mark.parametrize("case", REORG_OLD_CASES)
def test_reorg_old_forward(case):
    stride, reverse, shape = REORG_OLD_CASES[case]
    x = rand(*shape)
    out, _ = reorg_old.forward(typed(reorg_old, {"stride": stride, "reverse": reverse}), {}, [x], False)
    b, c, h, w = shape
    s2 = stride * stride
    assert out.shape == ((b, c // s2, h * stride, w * stride) if reverse else (b, c * s2, h // stride, w // stride))
    np.testing.assert_array_equal(out.ravel(), reorg_old_ref(x, stride, reverse))


@pytest.mark.parametrize("case", REORG_OLD_CASES)
def test_reorg_old_gradient(case):
    stride, reverse, shape = REORG_OLD_CASES[case]
    check_gradients(reorg_old, {"stride": stride, "reverse": reverse}, {}, [rand(*shape)])


# ---------------------------------------------------------------- empty / implicit

def test_empty_is_identity():
    x = rand(2, 3, 2, 2)
    out, _ = empty.forward(typed(empty, {}), {}, [x], False)
    np.testing.assert_array_equal(out, x)
    check_gradients(empty, {}, {}, [x])


def test_implicit_forward_and_gradient():
    shape = LayerShape((1, 1, 1), (1, 3, 4), 12, 12)
    assert tensor_shapes(Implicit(), {}, shape) == [("weights", (4, 3, 1))]
    w = {"weights": rand(4, 3, 1)}
    x = rand(2, 5, 2, 2)
    out, _ = implicit.forward(typed(implicit, {}), w, [x], False)
    assert out.shape == (2, 4, 3, 1)
    flat = w["weights"].ravel()
    for i, v in enumerate(out.ravel()):  # forward_implicit_layer: output[i] = weights[i % nweights]
        assert v == flat[i % flat.size]
    check_gradients(implicit, {}, w, [x], learnable=["weights"])
    out, cache = implicit.forward(typed(implicit, {"batch": 3}), w, [], False)
    assert out.shape == (3, 4, 3, 1)
    grads, dws = implicit.backward(typed(implicit, {}), w, np.ones_like(out), cache)
    assert grads == [] and np.array_equal(dws["weights"], np.full((4, 3, 1), 3.0))
