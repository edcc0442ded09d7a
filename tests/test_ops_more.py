"""[local], [contrastive], binary/XNOR convolutions and anti-aliasing: forward against loops
written from Darknet's C (local_layer.c, softmax_layer.c, convolutional_layer.c,
maxpool_layer.c), float64 gradient checks, the runner and `cfgtool smoke` on the corpus cfgs
that use them, and .weights round trips for cfgs with local/XNOR layers."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest
from click.testing import CliRunner
from opcheck import check_gradients, numeric_gradient, relative_error, tensor_shapes, typed

from cfgtool.cli import main
from cfgtool.diagnostics import CfgError
from cfgtool.executor.network import Executor
from cfgtool.executor.ops import contrastive, convolutional, local, maxpool
from cfgtool.layers.base import LayerShape
from cfgtool.layers.convolutional import Convolutional
from cfgtool.layers.local import Local
from cfgtool.model import build
from cfgtool.shapes import infer_shapes
from cfgtool.syntax import parse, parse_file
from cfgtool.weights import WeightsHeader, layout, read_weights, write_weights
from conftest import CONFORMANCE


def cdiv(a, b):
    return int(a / b)


def leaky(v):
    return v if v > 0 else 0.1 * v


def shapes_of(text, path="t.cfg"):
    net = build(parse(text, path))
    shapes = infer_shapes(net)
    assert shapes.ok, shapes.diagnostics
    return net, shapes


# ------------------------------------------------------------------------------ [local]

def local_ref(x, biases, weights, size, stride, pad):
    """forward_local_layer: im2col padding ``pad`` pixels, one filter matrix per location,
    biases per output value, leaky."""
    b, c, h, w = x.shape
    oh, ow = cdiv(h - (1 if pad else size), stride) + 1, cdiv(w - (1 if pad else size), stride) + 1
    n = weights.shape[1]
    out = np.zeros((b, n, oh, ow))
    for bi, f, i, j in itertools.product(range(b), range(n), range(oh), range(ow)):
        loc = i * ow + j
        s = biases[f * oh * ow + loc]
        for cc, u, v in itertools.product(range(c), range(size), range(size)):
            r, col = i * stride + u - pad, j * stride + v - pad
            if 0 <= r < h and 0 <= col < w:
                s += weights[loc, f, cc, u, v] * x[bi, cc, r, col]
        out[bi, f, i, j] = leaky(s)
    return out


@pytest.mark.parametrize("size, stride, pad, hw", [(3, 1, 1, (5, 4)), (3, 2, 1, (6, 5)), (2, 1, 0, (4, 5)),
                                                   (3, 2, 0, (7, 6)), (1, 1, 0, (3, 3))])
def test_local_forward_and_gradients(size, stride, pad, hw):
    rng = np.random.default_rng(1)
    text = (f"[net]\nwidth={hw[1]}\nheight={hw[0]}\nchannels=2\n\n[local]\nfilters=3\nsize={size}\nstride={stride}\n"
            f"pad={pad}\nactivation=leaky\n")
    _, shapes = shapes_of(text)
    shape = shapes.layers[0]
    p = shape.params
    w = {name: rng.normal(size=d) for name, d in tensor_shapes(Local(), p, shape)}
    x = rng.normal(size=(2, 2) + hw)
    out, _ = local.forward(p, w, [x], False)
    ow, oh, n = shape.output
    assert out.shape == (2, n, oh, ow)
    np.testing.assert_allclose(out, local_ref(x, w["biases"], w["weights"], size, stride, pad), rtol=1e-12, atol=1e-12)
    check_gradients(local, p, w, [x], train=True, learnable=("biases", "weights"))


def test_local_tensors_match_the_weights_file_layout():
    text = "[net]\nwidth=6\nheight=5\nchannels=3\n\n[local]\nfilters=4\nsize=3\nstride=2\npad=1\n"
    net, shapes = shapes_of(text)
    (index, tensors), = layout(net, shapes)
    assert [(t.name, t.shape) for t in tensors] == tensor_shapes(Local(), shapes.layers[0].params, shapes.layers[0])
    # Darknet: biases = l.outputs, weights = c*n*size*size*locations
    assert [t.count for t in tensors] == [4 * 3 * 3, 3 * 4 * 9 * 3 * 3]  # 3x3 locations


def test_local_misaligned_geometry_is_refused():
    p = typed(local, dict(n=2, size=5, stride=1, pad=1, activation="linear", w=6, h=6, c=1))
    assert "misaligned" in local.unsupported(p)
    assert local.unsupported(replace(p, size=3)) is None
    with pytest.raises(ValueError, match="misaligned"):
        local.forward(p, {}, [np.zeros((1, 1, 6, 6))], False)


# ------------------------------------------------------------------------------ [contrastive]

def test_contrastive_output_is_darknets_untouched_buffer():
    """The CPU forward never writes l.output (zeros, l.outputs = inputs); no loss without truth."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 6, 3, 4))
    for train in (False, True):
        out, _ = contrastive.forward(typed(contrastive, {}), {}, [x], train)
        assert out.shape == (2, 72, 1, 1) and not out.any()
    check_gradients(contrastive, {}, {}, [x], train=True)
    (dx,), dws = contrastive.backward(typed(contrastive, {}), {}, np.ones((2, 72, 1, 1)), contrastive.forward(typed(contrastive, {}), {}, [x], True)[1])
    assert dx.shape == x.shape and not dx.any() and dws == {}


# ------------------------------------------------------------------------------ binary / XNOR

def conv_ref(x, weights, stride, pad, groups):
    b, c, h, w = x.shape
    n, cg, k, _ = weights.shape
    oh, ow = cdiv(h + 2 * pad - k, stride) + 1, cdiv(w + 2 * pad - k, stride) + 1
    out = np.zeros((b, n, oh, ow))
    for bi, f, i, j in itertools.product(range(b), range(n), range(oh), range(ow)):
        g = f // (n // groups)
        for cc, u, v in itertools.product(range(cg), range(k), range(k)):
            r, col = i * stride + u - pad, j * stride + v - pad
            if 0 <= r < h and 0 <= col < w:
                out[bi, f, i, j] += weights[f, cc, u, v] * x[bi, g * cg + cc, r, col]
    return out


def binarize_ref(weights):
    """binarize_weights with one filter's size: mean |w| of the filter, sign by w > 0."""
    out = np.empty_like(weights)
    for f in range(weights.shape[0]):
        mean = sum(abs(v) for v in weights[f].ravel()) / weights[f].size
        out[f] = np.where(weights[f] > 0, mean, -mean)
    return out


def binary_params(**kw):
    p = dict(n=4, size=3, stride_x=1, stride_y=1, dilation=1, pad=1, groups=1, batch_normalize=0,
             activation="leaky", binary=0, xnor=0)
    p.update(kw)
    return Convolutional.Params(**p)


def binary_weights(rng, p, c):
    w = {name: rng.normal(size=d) for name, d in
         tensor_shapes(Convolutional(), p, LayerShape((0, 0, c), (0, 0, p["n"]), 0))}
    if "rolling_variance" in w:
        w["rolling_variance"] = rng.uniform(0.5, 2, p["n"])
    return w


@pytest.mark.parametrize("kw", [dict(binary=1), dict(binary=1, groups=2, batch_normalize=1),
                                dict(xnor=1, batch_normalize=1), dict(xnor=1, stride_x=2, stride_y=2)])
def test_binary_and_xnor_forward(kw):
    rng = np.random.default_rng(3)
    p = binary_params(**kw)
    stride = p["stride_x"]
    w = binary_weights(rng, p, 4)
    x = rng.normal(size=(2, 4, 5, 6))
    xin = np.where(x > 0, 1.0, -1.0) if p["xnor"] else x
    z = conv_ref(xin, binarize_ref(w["weights"]), stride, 1, p["groups"])
    if p["batch_normalize"]:
        z = (z - w["rolling_mean"].reshape(-1, 1, 1)) / np.sqrt(w["rolling_variance"].reshape(-1, 1, 1) + 1e-5)
        z = z * w["scales"].reshape(-1, 1, 1)
    expected = np.vectorize(leaky)(z + w["biases"].reshape(-1, 1, 1))
    got, _ = convolutional.forward(p, w, [x], False)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)
    # the runner's path: tensors prepared (binarized, batch norm folded) once
    got, _ = convolutional.forward(p, dict(w, _prepared=convolutional.prepare(p, w)), [x], False)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)
    if not p["batch_normalize"]:
        got, _ = convolutional.forward(p, w, [x], True)
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


# (not with training batch norm: it cancels the per-filter scale, so the weight gradient is ~0)
@pytest.mark.parametrize("kw", [dict(binary=1, stride_x=2, stride_y=2), dict(xnor=1), dict(binary=1, groups=2)])
def test_binary_and_xnor_exact_gradients(kw):
    rng = np.random.default_rng(4)
    p = binary_params(**kw)
    w = binary_weights(rng, p, 4)
    x = rng.normal(size=(2, 4, 4, 5))
    check_gradients(convolutional, p, w, [x], train=True, learnable=("biases", "weights"))
    if p["xnor"]:
        (dx,), _ = convolutional.backward(p, w, np.ones((2, 4, 4, 5)), convolutional.forward(p, w, [x], True)[1])
        assert dx.shape == x.shape and not dx.any()


def test_xnor_straight_through_estimator_is_darknets():
    """binary_gradient="ste": the weight gradient is the plain convolution's w.r.t. the
    binarized weights (fed the binarized input), the input gradient is the plain one through the
    binarized weights, masked to -1 < x < 1 (hardtan's derivative)."""
    rng = np.random.default_rng(5)
    p = binary_params(xnor=1, binary_gradient="ste")
    w = binary_weights(rng, p, 3)
    x = rng.normal(scale=1.5, size=(2, 3, 4, 4))
    out, cache = convolutional.forward(p, w, [x], True)
    r = rng.normal(size=out.shape)
    (dx,), dws = convolutional.backward(p, w, r, cache)

    wb = binarize_ref(w["weights"])
    xb = np.where(x > 0, 1.0, -1.0)
    plain = binary_params()
    xin = xb.copy()

    def loss_w():
        return float((convolutional.forward(plain, dict(w, weights=wb), [xb], False)[0] * r).sum())

    def loss_x():
        return float((convolutional.forward(plain, dict(w, weights=wb), [xin], False)[0] * r).sum())

    assert relative_error(dws["weights"], numeric_gradient(loss_w, wb)) < 1e-6
    expected = numeric_gradient(loss_x, xin) * ((x > -1) & (x < 1))
    assert ((x <= -1) | (x >= 1)).any() and relative_error(dx, expected) < 1e-6


# ------------------------------------------------------------------------------ antialiasing

BLUR3 = [[1, 2, 1], [2, 4, 2], [1, 2, 1]]


def blur_ref(y, size, stride):
    """The blur layer: depthwise, fixed kernel (3x3 /16 padded by 1, or 2x2 /4 unpadded)."""
    b, c, h, w = y.shape
    pad = 1 if size == 3 else 0
    oh, ow = cdiv(h + 2 * pad - size, stride) + 1, cdiv(w + 2 * pad - size, stride) + 1
    out = np.zeros((b, c, oh, ow))
    for bi, ch, i, j in itertools.product(range(b), range(c), range(oh), range(ow)):
        for u, v in itertools.product(range(size), range(size)):
            r, col = i * stride + u - pad, j * stride + v - pad
            if 0 <= r < h and 0 <= col < w:
                k = BLUR3[u][v] / 16 if size == 3 else 1 / 4
                out[bi, ch, i, j] += k * y[bi, ch, r, col]
    return out


CONV_AA = "[net]\nwidth={w}\nheight={h}\nchannels=3\n\n[convolutional]\nfilters=4\nsize=3\nstride={s}\npad=1\n" \
          "antialiasing={aa}\nactivation=leaky\n"
POOL_AA = "[net]\nwidth={w}\nheight={h}\nchannels=3\n\n[maxpool]\nsize={k}\nstride={s}\nantialiasing={aa}\n"


@pytest.mark.parametrize("aa, s, h, w", [(1, 2, 7, 6), (2, 2, 6, 6), (1, 1, 5, 4), (2, 3, 7, 8)])
def test_antialiased_convolution(aa, s, h, w):
    rng = np.random.default_rng(6)
    _, shapes = shapes_of(CONV_AA.format(w=w, h=h, s=s, aa=aa))
    shape = shapes.layers[0]
    p = shape.params
    wts = {name: rng.normal(size=d) for name, d in tensor_shapes(Convolutional(), p, shape)}
    x = rng.normal(size=(2, 3, h, w))
    y = np.vectorize(leaky)(conv_ref(x, wts["weights"], 1, 1, 1) + wts["biases"].reshape(-1, 1, 1))
    out, _ = convolutional.forward(p, wts, [x], False)
    bw, bh, bc = shape.feeds
    assert out.shape == (2, bc, bh, bw)
    np.testing.assert_allclose(out, blur_ref(y, 2 if aa == 2 else 3, s), rtol=1e-12, atol=1e-12)
    check_gradients(convolutional, p, wts, [x], train=True, learnable=("biases", "weights"))


@pytest.mark.parametrize("aa, k, s", [(1, 2, 2), (2, 3, 2), (1, 3, 1)])
def test_antialiased_maxpool(aa, k, s):
    rng = np.random.default_rng(7)
    _, shapes = shapes_of(POOL_AA.format(w=7, h=6, k=k, s=s, aa=aa))
    shape = shapes.layers[0]
    p = shape.params
    x = rng.normal(size=(2, 3, 6, 7))
    pooled, _ = maxpool.forward(replace(p, antialiasing=0), {}, [x], False)
    out, _ = maxpool.forward(p, {}, [x], False)
    assert out.shape[2:] == shape.feeds[1::-1]
    np.testing.assert_allclose(out, blur_ref(pooled, 2 if aa == 2 else 3, s), rtol=1e-12, atol=1e-12)
    check_gradients(maxpool, p, {}, [x], train=True)


def test_runner_passes_the_blurred_output_on(tmp_path):
    text = (CONV_AA.format(w=12, h=12, s=2, aa=1) + "\n[maxpool]\nsize=2\nstride=2\nantialiasing=2\n"
            "\n[convolutional]\nfilters=2\nsize=1\nactivation=linear\n")
    net, shapes = shapes_of(text)
    exe = Executor(net, shapes, dtype=np.float64, batch=2)
    outs = exe.forward(np.random.default_rng(8).normal(size=exe.input_shape), train=True, keep="all")
    assert [tuple(outs[i].shape) for i in range(3)] == [(2, 4, 6, 6), (2, 4, 3, 3), (2, 2, 3, 3)]
    cfg = tmp_path / "aa.cfg"
    cfg.write_text(text)
    result = CliRunner().invoke(main, ["smoke", str(cfg), "--size", "12", "--grad-check"])
    assert result.exit_code == 0, result.output
    np.save(tmp_path / "x.npy", np.ones((1, 3, 12, 12), np.float32))
    result = CliRunner().invoke(main, ["run", str(cfg), "--input", str(tmp_path / "x.npy"),
                                       "--dump", str(tmp_path / "d")])
    assert result.exit_code == 0, result.output
    assert np.load(tmp_path / "d" / "layer_001.npy").shape == (1, 4, 3, 3)


# ------------------------------------------------------------------------------ the corpus

SMOKE = ["yolov1__yolo", "yolov1__xyolo.test", "tiny-yolo_xnor", "yolov3-tiny_xnor", "darknet53_448_xnor",
         "yolov4-tiny_contrastive"]


def corpus_cfg(name):
    cfg = CONFORMANCE / "darknet" / "cfg" / f"{name}.cfg"
    if not cfg.is_file():
        pytest.skip(f"conformance corpus not found at {CONFORMANCE}")
    return cfg


@pytest.mark.parametrize("name", SMOKE)
def test_smoke_runs_corpus_cfgs_with_these_layers(name):
    result = CliRunner().invoke(main, ["smoke", str(corpus_cfg(name)), "--size", "64"])
    assert result.exit_code == 0, result.output


def test_tree_region_without_its_tree_file_is_located_at_tree():
    """yolo9000's region reads tree=data/9k.tree, which is not here (Darknet's data/ folder): a
    located diagnostic saying where it was looked for."""
    cfg = corpus_cfg("yolo9000")
    net = build(parse_file(cfg))
    with pytest.raises(CfgError) as exc:
        Executor(net, infer_shapes(net, 64, 64))
    (d,) = exc.value.diagnostics
    layer = net.layers[d.layer]
    assert d.code == "X006" and layer.type == "region" and layer.section.option("tree").lineno == d.span.line
    assert "tree=data/9k.tree: no such file" in d.message


LOCAL_NET = ("[net]\nwidth=16\nheight=16\nchannels=3\n\n[convolutional]\nbatch_normalize=1\nfilters=4\nsize=3\n"
             "stride=2\npad=1\nactivation=leaky\n\n[local]\nfilters=5\nsize=3\nstride=1\npad=1\nactivation=leaky\n\n"
             "[connected]\noutput=7\nactivation=linear\n")


@pytest.mark.parametrize("name", ["local", "yolov3-tiny_xnor"])
def test_weights_round_trip_with_local_and_xnor_layers(name, tmp_path):
    """A .weights file written for the cfg reads back byte-identical and loads into the
    executor, whose tensors then run (local/XNOR tensors are where Darknet puts them).
    (The corpus' [local] cfgs are yolov1's, 250 MB of weights even at 64x64: a small one stands in.)"""
    net = build(parse(LOCAL_NET, "local.cfg") if name == "local" else parse_file(corpus_cfg(name)))
    shapes = infer_shapes(net, 64, 64) if name != "local" else infer_shapes(net)
    rng = np.random.default_rng(9)

    def tensor(t):
        a = rng.normal(scale=0.1, size=t.shape)
        return (np.abs(a) if t.name == "rolling_variance" else a).astype(np.float32)

    tensors = {i: {t.name: tensor(t) for t in ts} for i, ts in layout(net, shapes)}
    path = tmp_path / "a.weights"
    write_weights(path, WeightsHeader(), tensors, net, shapes)
    header, back = read_weights(path, net, shapes)
    write_weights(tmp_path / "b.weights", header, back, net, shapes)
    assert path.read_bytes() == (tmp_path / "b.weights").read_bytes()
    exe = Executor(net, shapes)
    assert sorted(exe.load(back)) == sorted(back)
    assert any(net.layers[i].type == "local" or net.layers[i].section.get("xnor") == "1" for i in back)
    outs = exe.forward(rng.normal(size=exe.input_shape).astype(np.float32))
    assert all(np.isfinite(o).all() for o in outs.values())
