"""The executor's fast paths: Winograd convolution (forward, input and weight gradients),
im2col and activations through the buffer pool, and the runner freeing activations /
recomputing on repeat.

The references are the naive loops of tests/test_conv_ops.py and central differences; the
cases have enough channels (>= MIN_CHANNELS) for the Winograd route to be taken, which a
test checks by counting its calls."""

from __future__ import annotations

from collections import Counter

from dataclasses import replace

import numpy as np
import pytest
from click.testing import CliRunner

from cfgtool.cli import main
from cfgtool.executor import activations, kernels
from cfgtool.executor.network import Executor
from cfgtool.executor.ops import _fastconv, convolutional, maxpool, route, shortcut, upsample
from cfgtool.model import build
from cfgtool.shapes import infer_shapes
from cfgtool.syntax import parse
from opcheck import check_gradients
from test_conv_ops import conv_params, naive_conv, random_weights

C = _fastconv.MIN_CHANNELS


def counted(monkeypatch, module, name):
    calls = []
    original = getattr(module, name)

    def wrapper(*args, **kw):
        calls.append(name)
        return original(*args, **kw)

    monkeypatch.setattr(module, name, wrapper)
    return calls


# even and odd output sizes (odd ones crop the last tile), padding 0, 1 and 2, batch 2
WINOGRAD_CASES = {
    "pad1_even": (conv_params(n=9, activation="leaky"), (2, C, 6, 8)),
    "pad1_odd": (conv_params(n=9, activation="mish", batch_normalize=1), (2, C + 1, 7, 5)),
    "pad0": (conv_params(n=10, pad=0, activation="logistic"), (1, C, 7, 6)),
    "pad2": (conv_params(n=8, pad=2), (2, C, 5, 5)),
    "normalize_channels": (conv_params(n=8, activation="normalize_channels_softmax"), (1, C, 4, 5)),
}


@pytest.mark.parametrize("case", WINOGRAD_CASES)
@pytest.mark.parametrize("train", [False, True], ids=["inference", "train"])
def test_winograd_forward_matches_naive_loops(case, train, monkeypatch):
    p, shape = WINOGRAD_CASES[case]
    rng = np.random.default_rng(3)
    x = rng.normal(size=shape)
    w = random_weights(rng, p, shape[1])
    calls = counted(monkeypatch, _fastconv, "winograd")
    out, _ = convolutional.forward(p, w, [x], train)
    assert calls, "the Winograd route was not taken"
    expected = naive_conv(p, w, x, train)
    if p["activation"] != "linear":
        expected = activations.activate(p["activation"], expected)[0]
    np.testing.assert_allclose(out, expected, rtol=1e-9, atol=1e-9)


def test_winograd_float32_close_to_float64():
    p, shape = WINOGRAD_CASES["pad1_odd"]
    rng = np.random.default_rng(4)
    x = rng.normal(size=(1, 64, 13, 13))
    p = replace(p, n=32)
    w = random_weights(rng, p, 64)
    ref, _ = convolutional.forward(p, w, [x], False)
    got, _ = convolutional.forward(p, {k: v.astype(np.float32) for k, v in w.items()}, [x.astype(np.float32)], False)
    assert got.dtype == np.float32
    assert np.abs(got - ref).max() < 1e-4 * np.abs(ref).max()


@pytest.mark.parametrize("case", ["pad1_odd", "pad0", "pad2"])
def test_winograd_gradients(case, monkeypatch):
    p, shape = WINOGRAD_CASES[case]
    p = replace(p, activation="linear", batch_normalize=0)
    rng = np.random.default_rng(5)
    x = rng.normal(size=(1, shape[1], 4, 5))
    w = random_weights(rng, p, shape[1])
    dx_calls = counted(monkeypatch, _fastconv, "input_gradient")
    dw_calls = counted(monkeypatch, _fastconv, "winograd_weights_gradient")
    check_gradients(convolutional, p, w, [x], train=True, learnable=("biases", "weights"))
    assert dx_calls and dw_calls


def test_winograd_gradients_with_batch_norm():
    p, _ = WINOGRAD_CASES["pad1_odd"]
    rng = np.random.default_rng(6)
    x = rng.normal(size=(2, C, 3, 4))
    w = random_weights(rng, p, C)
    check_gradients(convolutional, p, w, [x], train=True, learnable=("biases", "scales", "weights"))


@pytest.mark.parametrize("p", [conv_params(n=5, stride_x=2, stride_y=2, activation="leaky"),
                               conv_params(n=5, size=2, pad=0, stride_x=2, stride_y=2, activation="leaky")],
                         ids=["padded", "unpadded"])
def test_pooled_im2col_matches_naive_loops(p):
    """im2col through the pool: buffers reused between calls hold stale values, which the
    padding and the copy must overwrite."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(2, 6, 9, 8))
    w = random_weights(rng, p, 6)
    pool = kernels.BufferPool()
    with kernels.using(pool):
        for _ in range(2):
            junk = kernels.empty((4096,), np.float64)
            junk.fill(np.nan)
            kernels.give_back(junk)
            out, _ = convolutional.forward(p, w, [x], False)
            np.testing.assert_allclose(out, activations.activate("leaky", naive_conv(p, w, x, False))[0],
                                       rtol=1e-10, atol=1e-10)


def test_pool_reuses_returned_buffers_and_keeps_viewed_ones():
    pool = kernels.BufferPool()
    with kernels.using(pool):
        a = kernels.empty((4, 100), np.float32)
        kernels.give_back(a)
        b = kernels.empty((4, 100), np.float32)
        assert np.shares_memory(a, b)  # the same buffer again
        view = b.reshape(-1)[:10]
        pool.release(b, [view])  # a live array views it: not reusable yet
        c = kernels.empty((4, 100), np.float32)
        assert not np.shares_memory(c, b)
        pool.release(view, [])
        d = kernels.empty((400,), np.float32)
        assert np.shares_memory(d, b)
    assert kernels.empty((2,), np.float32).base is None  # no pool outside ``using``


NET = """[net]
width=32
height=32
channels=3

[convolutional]
filters=8
size=3
pad=1
activation=leaky

[convolutional]
filters=16
size=3
pad=1
batch_normalize=1
activation=mish

[maxpool]
size=2
stride=2

[convolutional]
filters=16
size=1
activation=leaky

[route]
layers=-1,-2

[convolutional]
filters=16
size=3
stride=2
pad=1
activation=leaky

[upsample]
stride=2

[shortcut]
from=-3
activation=linear

[convolutional]
filters=8
size=3
pad=1
activation=linear
"""


def network(text=NET):
    net = build(parse(text, "t.cfg"))
    shapes = infer_shapes(net)
    assert shapes.ok, shapes.diagnostics
    return Executor(net, shapes, seed=1)


def test_run_repeat_recomputes_every_time(tmp_path, monkeypatch):
    """``cfgtool run --repeat 3`` runs every layer's op three times (nothing is cached between
    runs, e.g. by the buffer pool) and the three results are identical."""
    cfg = tmp_path / "t.cfg"
    cfg.write_text(NET)
    x = tmp_path / "x.npy"
    np.save(x, np.random.default_rng(0).normal(size=(1, 3, 32, 32)).astype(np.float32))
    counts = Counter()
    for module in (convolutional, maxpool, route, shortcut, upsample):
        def spy(p, w, xs, train, _orig=module.forward, _name=module.__name__.rsplit(".", 1)[-1]):
            counts[_name] += 1
            return _orig(p, w, xs, train)

        monkeypatch.setattr(module, "forward", spy)
    results = []
    original = Executor.forward

    def capture(self, *args, **kw):
        out = original(self, *args, **kw)
        results.append({i: o.copy() for i, o in out.items()})
        return out

    monkeypatch.setattr(Executor, "forward", capture)
    result = CliRunner().invoke(main, ["run", str(cfg), "--input", str(x), "--repeat", "3"])
    assert result.exit_code == 0, result.output
    assert "forward x3" in result.output
    assert counts == {"convolutional": 15, "maxpool": 3, "route": 3, "shortcut": 3, "upsample": 3}
    assert len(results) == 3
    for other in results[1:]:
        assert other.keys() == results[0].keys()
        for i, o in other.items():
            np.testing.assert_array_equal(o, results[0][i])


def test_results_handed_out_are_never_reused():
    exe = network()
    x = np.random.default_rng(0).normal(size=exe.input_shape).astype(np.float32)
    first = exe.forward(x, keep=[4])
    kept = {i: o.copy() for i, o in first.items()}
    exe.forward(2 * x, keep=[4])
    for i, o in first.items():
        np.testing.assert_array_equal(o, kept[i])


def test_inference_frees_activations():
    """The outputs held at once stay far below the sum of all outputs; the pool's buffers
    are reused from run to run."""
    exe = network()
    x = np.random.default_rng(0).normal(size=exe.input_shape).astype(np.float32)
    exe.forward(x)
    allocated = exe._pool.allocated
    exe.forward(x)
    total = sum(s.bytes for s in exe.stats)
    widest = max(s.bytes for s in exe.stats)
    assert exe.peak_live_bytes < 0.6 * total
    assert exe.peak_live_bytes >= widest
    assert exe._pool.allocated <= allocated * 1.25  # the second run reused the first run's buffers
    full = exe.forward(x, keep="all")
    assert sum(o.nbytes for o in full.values()) == total


@pytest.mark.parametrize("name", sorted(activations._FAST))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_blocked_activation_and_gradient_match_the_formulas(name, dtype, monkeypatch):
    """The blocked forward and gradient (several blocks) against the plain
    formulas, including values where exp overflows or underflows."""
    monkeypatch.setattr(activations, "CHUNK", 64)
    rng = np.random.default_rng(8)
    x = rng.normal(scale=4, size=(2, 5, 70, 3)).astype(dtype)
    x[0, 0, 0, :] = [-150.0, 100.0, 30.0]
    x[0, 0, 1, :] = [-25.0, 25.0, 0.5]
    dy = rng.normal(size=x.shape).astype(dtype)
    forward, derivative = activations._ELEMENTWISE[name]
    with np.errstate(all="ignore"):
        want_y, want_dx = forward(x.astype(np.float64)), dy * derivative(x.astype(np.float64))
    y, cache = activations.activate(name, x)
    dx = activations.gradient(name, dy, cache)
    assert y.dtype == dx.dtype == dtype
    tol = 1e-12 if dtype == np.float64 else 2e-6
    np.testing.assert_allclose(y, want_y, rtol=tol, atol=tol)
    np.testing.assert_allclose(dx, want_dx, rtol=tol, atol=tol)


def test_pool_takes_back_what_the_caller_dropped():
    pool = kernels.BufferPool()
    with kernels.using(pool):
        kept = kernels.empty((100,), np.float32)
        dropped = kernels.empty((100,), np.float32)
        view = kernels.empty((100,), np.float32)[10:20]
    del dropped
    pool.reclaim()
    assert len(pool.free) == 1 and len(pool.lent) == 2  # ``kept`` and the buffer ``view`` looks into
    del view
    pool.reclaim()
    assert len(pool.free) == 2 and len(pool.lent) == 1
    with kernels.using(pool):
        assert not np.shares_memory(kernels.empty((100,), np.float32), kept)


@pytest.mark.parametrize("pad,size", [(1, (29, 30)), (0, (31, 32)), (2, (26, 28))])
def test_winograd_f4_on_large_outputs_matches_im2col(pad, size, monkeypatch):
    """Outputs of at least F4_MIN_SIZE a side take F(4x4, 3x3) in inference (tiles cropped
    at the far edges); float64 agrees with im2col to rounding, float32 within F4's 1e-5."""
    p = conv_params(n=6, pad=pad, activation="leaky", batch_normalize=1)
    rng = np.random.default_rng(9)
    x = rng.normal(size=(2, C, *size))
    w = random_weights(rng, p, C)
    variants = []
    original = _fastconv.winograd
    monkeypatch.setattr(_fastconv, "winograd", lambda x, u, *a, **k: variants.append(u.shape[0]) or original(x, u, *a, **k))
    out, _ = convolutional.forward(p, w, [x], False)
    assert variants == [36] and min(out.shape[2:]) >= _fastconv.F4_MIN_SIZE
    prep = convolutional.prepare(p, w)
    oh, ow = out.shape[2:]
    matrix = prep["folded"].reshape(1, p["n"], -1)
    expected = _fastconv.im2col(p, x, matrix, prep["bias"], "leaky", oh, ow, convolutional._padded_shape)
    np.testing.assert_allclose(out, expected, rtol=1e-9, atol=1e-9)
    got32, _ = convolutional.forward(p, {k: v.astype(np.float32) for k, v in w.items()}, [x.astype(np.float32)], False)
    assert np.abs(got32 - expected).max() < 1e-4 * np.abs(expected).max()


@pytest.mark.parametrize("size", [(26, 26), (40, 27)])
def test_winograd_f2_below_f4_min_size(size, monkeypatch):
    """An output under F4_MIN_SIZE on a side (yolov4@416's 26x26 maps) takes F(2x2, 3x3):
    measured faster there than F4, whose last tiles would be cropped."""
    p = conv_params(n=6, pad=1, activation="leaky", batch_normalize=1)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(1, C, *size)).astype(np.float32)
    w = {k: v.astype(np.float32) for k, v in random_weights(rng, p, C).items()}
    variants = []
    original = _fastconv.winograd
    monkeypatch.setattr(_fastconv, "winograd", lambda x, u, *a, **k: variants.append(u.shape[0]) or original(x, u, *a, **k))
    convolutional.forward(p, w, [x], False)
    assert variants == [16] and min(size) < _fastconv.F4_MIN_SIZE


def test_prepared_filters_follow_the_output_size():
    """One prepared layer run at a small then a large size transforms its filters for each
    variant once, and both results stay right."""
    p = conv_params(n=5)
    rng = np.random.default_rng(10)
    w = random_weights(rng, p, C)
    w = {**w, "_prepared": convolutional.prepare(p, w)}
    for size in (6, 28, 6):
        x = rng.normal(size=(1, C, size, size))
        out, _ = convolutional.forward(p, w, [x], False)
        prep = w["_prepared"]
        expected = _fastconv.im2col(p, x, convolutional.prepare(p, w)["folded"].reshape(1, 5, -1), prep["bias"],
                                    "linear", size, size, convolutional._padded_shape)
        np.testing.assert_allclose(out, expected, rtol=1e-9, atol=1e-9)
    assert sorted(w["_prepared"]["winograd"]) == [2, 4] and "folded" not in w["_prepared"]
