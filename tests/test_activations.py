"""Darknet activations: forward against scalar transcriptions of src/activations.c, derivative
against central differences in float64 (relative error < 1e-6, away from kinks)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cfgtool.executor import activations as act

ELEMENTWISE = [n for n in act.NAMES if not n.startswith("normalize_channels")]
CHANNEL = [n for n in act.NAMES if n.startswith("normalize_channels")]


def _sig(x):
    return 1 / (1 + math.exp(-x))


def _softplus(x):
    if x > 20:
        return x
    if x < -20:
        return math.exp(x)
    return math.log(math.exp(x) + 1)


def _stair(x):
    n = math.floor(x)
    return math.floor(x / 2) if n % 2 == 0 else (x - n) + math.floor(x / 2)


# scalar forms, written from the C source independently of the module under test
REFERENCE = {
    "linear": lambda x: x,
    "logistic": _sig,
    "loggy": lambda x: 2 / (1 + math.exp(-x)) - 1,
    "relu": lambda x: x * (x > 0),
    "relu6": lambda x: min(max(x, 0), 6),
    "elu": lambda x: (x >= 0) * x + (x < 0) * (math.exp(x) - 1),
    "selu": lambda x: (x >= 0) * 1.0507 * x + (x < 0) * 1.0507 * 1.6732 * (math.exp(x) - 1),
    "gelu": lambda x: 0.5 * x * (1 + math.tanh(0.797885 * x + 0.035677 * x**3)),
    "relie": lambda x: x if x > 0 else 0.01 * x,
    "ramp": lambda x: x * (x > 0) + 0.1 * x,
    "leaky": lambda x: x if x > 0 else 0.1 * x,
    "revleaky": lambda x: x if x > 0 else 0.1 * x,
    "tanh": lambda x: 2 / (1 + math.exp(-2 * x)) - 1,
    "plse": lambda x: 0.01 * (x + 4) if x < -4 else (0.01 * (x - 4) + 1 if x > 4 else 0.125 * x + 0.5),
    "stair": _stair,
    "hardtan": lambda x: -1 if x < -1 else (1 if x > 1 else x),
    "lhtan": lambda x: 0.001 * x if x < 0 else (0.001 * (x - 1) + 1 if x > 1 else x),
    "swish": lambda x: x * _sig(x),
    "mish": lambda x: x * math.tanh(_softplus(x)),
    "hard_mish": lambda x: x if x > 0 else (x * x / 2 + x if x > -2 else 0),
}

KINKS = [-4.0, -2.0, -1.0, 0.0, 1.0, 4.0, 6.0]


def _points(rng, n=200, lo=-4.5, hi=4.5):
    x = rng.uniform(lo, hi, n)
    # keep clear of every kink, including stair's integers
    frac = x - np.round(x)
    x = np.where(np.abs(frac) < 0.05, x + 0.2, x)
    for k in KINKS:
        x = np.where(np.abs(x - k) < 0.05, x + 0.2, x)
    return x


def test_reference_covers_every_elementwise_name():
    assert sorted(REFERENCE) == sorted(ELEMENTWISE)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_forward_matches_darknet_formula(name):
    x = np.concatenate([_points(np.random.default_rng(1)), [-30.0, -21.0, 25.0, 0.5]])
    y, _ = act.activate(name, x)
    ref = np.array([REFERENCE[name](float(v)) for v in x])
    np.testing.assert_allclose(y, ref, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_derivative_matches_central_difference(name):
    x = _points(np.random.default_rng(2))
    h = 1e-5
    numeric = (act.activate(name, x + h)[0] - act.activate(name, x - h)[0]) / (2 * h)
    dy = np.random.default_rng(3).normal(size=x.shape)
    _, cache = act.activate(name, x)
    analytic = act.gradient(name, dy, cache)
    err = np.abs(analytic - dy * numeric) / np.maximum(np.maximum(np.abs(analytic), np.abs(dy * numeric)), 1e-6)
    assert err.max() < 1e-6


def _channel_reference(name, x):
    """Per-pixel loops, as in activate_array_normalize_channels(_softmax)."""
    b, c, h, w = x.shape
    out = np.zeros_like(x)
    for n in range(b):
        for i in range(h):
            for j in range(w):
                v = x[n, :, i, j]
                if name == "normalize_channels":
                    s = 0.0001 + sum(t for t in v if t > 0)
                    out[n, :, i, j] = [t / s if t > 0 else 0 for t in v]
                else:
                    m = max(v) if name.endswith("maxval") else 0
                    s = 0.0001 + sum(math.exp(t - m) for t in v)
                    out[n, :, i, j] = [math.exp(t - m) / s for t in v]
    return out


@pytest.mark.parametrize("name", CHANNEL)
def test_channel_forward_matches_loops(name):
    x = np.random.default_rng(4).normal(size=(2, 5, 3, 2))
    np.testing.assert_allclose(act.activate(name, x)[0], _channel_reference(name, x), rtol=1e-12)


@pytest.mark.parametrize("name", CHANNEL)
def test_channel_gradient_matches_central_difference(name):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, 4, 2, 3)) + 0.3  # values away from 0 (normalize_channels' kink)
    x = np.where(np.abs(x) < 0.05, 0.2, x)
    dy = rng.normal(size=x.shape)
    _, cache = act.activate(name, x)
    analytic = act.gradient(name, dy, cache)
    numeric = np.zeros_like(x)
    h = 1e-6
    for idx in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += h
        xm[idx] -= h
        numeric[idx] = ((act.activate(name, xp)[0] - act.activate(name, xm)[0]) * dy).sum() / (2 * h)
    err = np.abs(analytic - numeric) / np.maximum(np.maximum(np.abs(analytic), np.abs(numeric)), 1e-6)
    assert err.max() < 1e-6


@pytest.mark.parametrize("name", ["leaky", "relu", "logistic", "mish", "swish", "linear", "revleaky"])
def test_inplace_fast_path_agrees(name):
    x = np.random.default_rng(6).normal(scale=4, size=(3, 7, 5, 5)).astype(np.float32)
    x[0, 0, 0, :3] = [-100.0, 30.0, 100.0]  # overflow territory for exp
    expected, _ = act.activate(name, x.copy())
    with np.errstate(invalid="raise", divide="raise"):
        got, cache = act.activate(name, x.copy(), inplace=True)
    assert cache is None and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=2e-6, atol=1e-6)


def test_float32_stays_float32_and_finite_for_large_inputs():
    x = np.array([-1e4, -100, 0, 100, 1e4], dtype=np.float32)
    # normalize_channels_softmax does not subtract the maximum: exp overflows like Darknet's
    for name in set(act.NAMES) - {"normalize_channels_softmax"}:
        y, _ = act.activate(name, x[None, :, None, None])
        assert y.dtype == np.float32, name
        assert np.isfinite(y).all(), name


def test_unknown_name_is_relu_like_darknet():
    x = np.array([-2.0, 3.0])
    assert act.canonical("nosuch") == "relu"
    np.testing.assert_array_equal(act.activate("nosuch", x)[0], [0.0, 3.0])
