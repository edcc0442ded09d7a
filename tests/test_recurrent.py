"""Recurrent layers ([rnn], [lstm], [gru], [crnn], [conv_lstm], [history]): forward against plain
references written here from Darknet's formulas (rnn_layer.c ... conv_lstm_layer.c), exact
gradients over several steps, time steps in the executor and the CLI, .weights and transplant."""

from __future__ import annotations

import json
from dataclasses import replace
import re

import numpy as np
import pytest
from click.testing import CliRunner

from cfgtool.cli import main
from cfgtool.diagnostics import CfgError
from cfgtool.executor.network import Executor
from cfgtool.lint import check
from cfgtool.model import build
from cfgtool.shapes import infer_shapes
from cfgtool.syntax import parse
from cfgtool.transplant import transplant
from cfgtool.weights import WeightsHeader, expected_size, layout, read_weights, write_weights
from conftest import CONFORMANCE
from opcheck import check_gradients

T, B = 3, 2  # time steps, images per step

# -- plain references from Darknet's formulas -------------------------------------------------


def act(name, x):
    return {
        "linear": lambda v: v,
        "leaky": lambda v: np.where(v > 0, v, 0.1 * v),
        "logistic": lambda v: 1 / (1 + np.exp(-v)),
        "loggy": lambda v: 2 / (1 + np.exp(-v)) - 1,
        "tanh": np.tanh,
    }[name](x)


def bn(z, w, prefix, axis_shape):
    """Inference batch norm (normalize_cpu, scale_bias) then the bias (add_bias)."""
    g = lambda k: w[prefix + k].reshape(axis_shape)  # noqa: E731
    if prefix + "scales" in w:
        z = (z - g("rolling_mean")) / np.sqrt(g("rolling_variance") + 1e-5) * g("scales")
    return z + g("biases")


def conn(w, name, x, activation):
    """forward_connected_layer: x (b, inputs) -> (b, outputs)."""
    return act(activation, bn(x @ w[name + ".weights"].T, w, name + ".", (1, -1)))


def conv(w, name, x, p):
    """forward_convolutional_layer, stride 1: padding pad*dilation, groups, then bn + activation."""
    k, pad, dil, g = p["size"], p["pad"], p["dilation"], p["groups"]
    weights = w[name + ".weights"]
    b, c, h, wd = x.shape
    n = weights.shape[0]
    oh, ow = h + 2 * pad - k + 1, wd + 2 * pad - k + 1
    off = pad * dil
    xp = np.zeros((b, c, h + 2 * off + dil * k, wd + 2 * off + dil * k))
    xp[:, :, off:off + h, off:off + wd] = x
    out = np.zeros((b, n, oh, ow))
    cg, ng = c // g, n // g
    for gi in range(g):
        for i in range(k):
            for j in range(k):
                patch = xp[:, gi * cg:(gi + 1) * cg, i * dil:i * dil + oh, j * dil:j * dil + ow]
                out[:, gi * ng:(gi + 1) * ng] += np.einsum("bchw,nc->bnhw", patch, weights[gi * ng:(gi + 1) * ng, :, i, j])
    return act(p["activation"], bn(out, w, name + ".", (1, -1, 1, 1)))


def ref_rnn(p, w, x):
    h = np.zeros((B, p["hidden"]))
    self_act = {1: "logistic", 2: "loggy"}.get(p["logistic"], p["activation"])
    ys = []
    for t in range(T):
        new = conn(w, "input", x[t], p["activation"]) + conn(w, "self", h, self_act)
        h = new + h if p["shortcut"] else new
        ys.append(conn(w, "output", h, p["activation"]))
    return np.stack(ys)


def ref_crnn(p, w, x):
    h = np.zeros((B, p["hidden"]) + x.shape[3:])
    ys = []
    for t in range(T):
        new = conv(w, "input", x[t], p) + conv(w, "self", h, p)
        h = new + h if p["shortcut"] else new
        ys.append(conv(w, "output", h, p))
    return np.stack(ys)


def sig(v):
    return 1 / (1 + np.exp(-v))


def ref_lstm(p, w, x):
    h = c = np.zeros((B, p["n"]))
    ys = []
    for t in range(T):
        pre = {k: conn(w, "w" + k, h, "linear") + conn(w, "u" + k, x[t], "linear") for k in "figo"}
        f, i, g, o = sig(pre["f"]), sig(pre["i"]), np.tanh(pre["g"]), sig(pre["o"])
        c = f * c + i * g
        h = o * np.tanh(c)
        ys.append(h)
    return np.stack(ys)


def ref_gru(p, w, x):
    h = np.zeros((B, p["n"]))
    ys = []
    for t in range(T):
        z = sig(conn(w, "input_z", x[t], "linear") + conn(w, "state_z", h, "linear"))
        r = sig(conn(w, "input_r", x[t], "linear") + conn(w, "state_r", h, "linear"))
        hc = sig(conn(w, "input_h", x[t], "linear") + conn(w, "state_h", r * h, "linear"))  # no USET: logistic
        h = z * h + (1 - z) * hc
        ys.append(h)
    return np.stack(ys)


def ref_conv_lstm(p, w, x, vo_reads_new_cell=True):
    h = c = np.zeros((B, p["n"]) + x.shape[3:])
    sc = p["state_constrain"]
    ys = []
    for t in range(T):
        pre = {k: conv(w, "w" + k, h, p) + conv(w, "u" + k, x[t], p) for k in "figo"}
        if p["peephole"]:
            pre["f"] = pre["f"] + conv(w, "vf", c, p)
            pre["i"] = pre["i"] + conv(w, "vi", c, p)
        f, i, g = sig(pre["f"]), sig(pre["i"]), np.tanh(pre["g"])
        c_old, c = c, f * c + i * g
        if p["peephole"]:
            pre["o"] = pre["o"] + conv(w, "vo", c if vo_reads_new_cell else c_old, p)
        h = sig(pre["o"]) * np.tanh(c)  # from the cell before the clamp
        if sc:
            c = np.clip(c, -sc, sc)
        ys.append(h)
    return np.stack(ys)


def ref_history(p, w, x):
    s = p["history_size"]
    ys = []
    for t in range(T):
        frames = [x[t - k] if t - k >= 0 else np.zeros_like(x[0]) for k in range(s)]  # newest first
        ys.append(np.concatenate(frames, axis=1))
    return np.stack(ys)


REFS = {"rnn": ref_rnn, "crnn": ref_crnn, "lstm": ref_lstm, "gru": ref_gru, "conv_lstm": ref_conv_lstm,
        "history": ref_history}

VECTOR_NET = f"[net]\ninputs=5\ntime_steps={T}\n\n"
IMAGE_NET = f"[net]\nwidth=4\nheight=3\nchannels=2\ntime_steps={T}\n\n"

CASES = [
    ("rnn", VECTOR_NET, "output=3\nhidden=4\nactivation=leaky\n"),
    ("rnn", VECTOR_NET, "output=3\nhidden=4\nactivation=leaky\nshortcut=1\nlogistic=1\nbatch_normalize=1\n"),
    ("rnn", VECTOR_NET, "output=2\nhidden=3\nactivation=tanh\nlogistic=2\nbatch_normalize=1\n"),
    ("rnn", VECTOR_NET, "output=2\nhidden=3\nshortcut=1\n"),
    ("lstm", VECTOR_NET, "output=3\n"),
    ("lstm", VECTOR_NET, "output=3\nbatch_normalize=1\n"),
    ("gru", VECTOR_NET, "output=3\n"),
    ("gru", VECTOR_NET, "output=3\nbatch_normalize=1\n"),
    ("crnn", IMAGE_NET, "size=3\npad=1\noutput=3\nhidden=4\nactivation=leaky\n"),
    ("crnn", IMAGE_NET, "size=3\npad=1\noutput=4\nhidden=2\nactivation=leaky\nshortcut=1\nbatch_normalize=1\n"),
    ("crnn", IMAGE_NET, "size=3\npad=1\ndilation=2\ngroups=2\noutput=4\nhidden=2\nactivation=linear\n"),
    ("conv_lstm", IMAGE_NET, "size=3\npad=1\noutput=2\n"),
    ("conv_lstm", IMAGE_NET, "size=3\npad=1\noutput=2\npeephole=1\nbatch_normalize=1\nactivation=leaky\n"),
    ("conv_lstm", IMAGE_NET, "size=3\npad=1\noutput=4\ngroups=2\npeephole=1\nstate_constrain=1\n"),
    ("conv_lstm", IMAGE_NET, "size=1\noutput=2\nactivation=logistic\nstate_constrain=0\n"),
    ("history", IMAGE_NET, "history_size=2\n"),
    ("history", IMAGE_NET, "history_size=4\n"),
]


def executor(text, batch=T * B, dtype=np.float64, seed=0):
    net = build(parse(text))
    shapes = infer_shapes(net)
    assert shapes.ok, [d.one_line() for d in shapes.diagnostics]
    return Executor(net, shapes, dtype=dtype, batch=batch, seed=seed)


def randomize(exe, seed=1):
    """Every tensor random (rolling_variance positive), so biases and batch norm matter."""
    rng = np.random.default_rng(seed)
    for tensors in exe.weights.values():
        for name, arr in tensors.items():
            arr[...] = rng.uniform(0.5, 1.5, arr.shape) if name.endswith("rolling_variance") else \
                rng.normal(0, 0.7, arr.shape)
    exe.invalidate()


@pytest.mark.parametrize("kind, head, body", CASES, ids=[f"{k}-{i}" for i, (k, _, _) in enumerate(CASES)])
def test_forward_equals_darknets_formulas_at_every_step(kind, head, body):
    exe = executor(head + f"[{kind}]\n" + body)
    randomize(exe)
    x = np.random.default_rng(2).normal(size=exe.input_shape)
    out = exe.forward(x)[0]
    per_image = (-1,) if head == VECTOR_NET else x.shape[1:]
    want = REFS[kind](exe.steps[0].params, exe.weights.get(0, {}), x.reshape((T, B) + per_image))
    assert out.reshape(want.shape).shape == want.shape
    np.testing.assert_allclose(out.reshape(want.shape), want, rtol=1e-10, atol=1e-12)


def test_gru_candidate_is_logistic_not_tanh():
    exe = executor(VECTOR_NET + "[gru]\noutput=3\n")
    randomize(exe)
    x = np.random.default_rng(2).normal(size=exe.input_shape)
    out = exe.forward(x)[0].reshape(T, B, 3)
    w, xs = exe.weights[0], x.reshape(T, B, 5)
    zero = np.zeros((B, 3))  # the state at step 0
    z = sig(conn(w, "input_z", xs[0], "linear") + conn(w, "state_z", zero, "linear"))
    pre = conn(w, "input_h", xs[0], "linear") + conn(w, "state_h", zero, "linear")
    with_tanh, with_logistic = (1 - z) * np.tanh(pre), (1 - z) * sig(pre)
    np.testing.assert_allclose(out[0], with_logistic, rtol=1e-12)
    assert not np.allclose(out[0], with_tanh)


def test_conv_lstm_clamps_the_carried_cell_and_vo_reads_the_new_cell():
    text = IMAGE_NET + "[conv_lstm]\nsize=1\noutput=2\npeephole=1\nstate_constrain=1\n"
    exe = executor(text)
    randomize(exe)
    w = exe.weights[0]
    w["uf.biases"][:] = w["ui.biases"][:] = w["ug.biases"][:] = 8.0  # f, i, g ~ 1: c grows by ~1 a step
    exe.invalidate()
    x = np.random.default_rng(2).normal(size=exe.input_shape)
    out = exe.forward(x)[0]
    p = exe.steps[0].params
    xs = x.reshape((T, B) + x.shape[1:])
    out = out.reshape((T, B, 2, 3, 4))
    np.testing.assert_allclose(out, ref_conv_lstm(p, w, xs), rtol=1e-10)
    assert not np.allclose(out, ref_conv_lstm(replace(p, state_constrain=0), w, xs))
    assert not np.allclose(out, ref_conv_lstm(p, w, xs, vo_reads_new_cell=False))


def test_history_with_one_time_step_is_darknets_flat_copy():
    exe = executor("[net]\nwidth=2\nheight=2\nchannels=1\n\n[history]\nhistory_size=3\n", batch=2)
    x = np.arange(8, dtype=float).reshape(2, 1, 2, 2) + 1
    out = exe.forward(x)[0].reshape(2, 12)
    assert out[0, :8].tolist() == list(range(1, 9)) and not out[0, 8:].any() and not out[1].any()


# -- gradients ---------------------------------------------------------------------------------

GRAD_CASES = [
    ("rnn", VECTOR_NET, "output=2\nhidden=3\nactivation=leaky\nshortcut=1\nbatch_normalize=1\nlogistic=1\n"),
    ("rnn", VECTOR_NET, "output=2\nhidden=2\nactivation=tanh\n"),
    ("lstm", VECTOR_NET, "output=2\nbatch_normalize=1\n"),
    ("gru", VECTOR_NET, "output=2\nbatch_normalize=1\n"),
    ("crnn", "[net]\nwidth=3\nheight=2\nchannels=1\n\n", "size=3\npad=1\noutput=2\nhidden=2\nshortcut=1\n"
     "batch_normalize=1\nactivation=leaky\n"),
    ("conv_lstm", "[net]\nwidth=2\nheight=2\nchannels=2\n\n", "size=1\noutput=2\npeephole=1\nbatch_normalize=1\n"
     "activation=leaky\nstate_constrain=1\n"),
    ("conv_lstm", "[net]\nwidth=3\nheight=2\nchannels=1\n\n", "size=3\npad=1\noutput=1\n"),
    ("history", "[net]\nwidth=2\nheight=1\nchannels=2\n\n", "history_size=2\n"),
]


@pytest.mark.parametrize("kind, head, body", GRAD_CASES, ids=[f"{k}-{i}" for i, (k, _, _) in enumerate(GRAD_CASES)])
def test_exact_gradients_through_the_carried_state(kind, head, body):
    """float64 central differences of the loss over all T steps (in training: per-step batch
    norm, over 3 images: with 2 the numeric derivative is too ill-conditioned) against backward,
    for the input and every tensor, so also through the state."""
    exe = executor(head.replace("[net]\n", f"[net]\ntime_steps={T}\n") + f"[{kind}]\n" + body, batch=T * 3)
    randomize(exe)
    step = exe.steps[0]
    w = exe.weights.get(0, {})
    x = np.random.default_rng(3).normal(size=exe.input_shape)
    if kind == "conv_lstm" and "state_constrain=1" in body:
        w["uf.biases"][:] = w["ui.biases"][:] = 1.5  # some cells beyond the clamp
    learnable = tuple(k for k in w if not k.endswith(("rolling_mean", "rolling_variance")))
    check_gradients(step.op, step.params, w, [x], train=True, learnable=learnable)


# -- time steps in the executor and the CLI -----------------------------------------------------


def test_the_state_carries_across_steps_within_a_batch_only():
    exe = executor(VECTOR_NET + "[lstm]\noutput=3\n")
    randomize(exe)
    x = np.random.default_rng(2).normal(size=exe.input_shape)
    first = exe.forward(x)[0].reshape(T, B, 3)
    again = exe.forward(x)[0].reshape(T, B, 3)
    np.testing.assert_array_equal(first, again)  # zero state before the first step of every run
    alone = exe.forward(np.concatenate([x[:B]] * T))[0].reshape(T, B, 3)
    np.testing.assert_array_equal(alone[0], first[0])
    assert not np.allclose(alone[1], first[1])  # step 1 sees step 0's state


def test_a_batch_that_is_not_whole_time_steps_is_refused():
    exe = executor(VECTOR_NET + "[rnn]\noutput=2\nhidden=2\n", batch=4)
    with pytest.raises(CfgError) as exc:
        exe.forward(np.zeros(exe.input_shape))
    (d,) = exc.value.diagnostics
    assert d.code == "X003" and "time_steps=3" in d.message and d.span.line == 1


def test_bottleneck_conv_lstm_is_refused_where_darknet_cpu_crashes():
    with pytest.raises(CfgError) as exc:
        executor(IMAGE_NET + "[conv_lstm]\nsize=3\npad=1\noutput=2\nbottleneck=1\n")
    (d,) = exc.value.diagnostics
    assert d.code == "X001" and "bottleneck=1" in d.message and d.span.line == 7


def test_gpu_only_conv_options_run_as_darknets_cpu_computes_them():
    plain = "[net]\nwidth=5\nheight=5\nchannels=2\n\n[convolutional]\nfilters=3\nsize=3\npad=1\n"
    x = np.random.default_rng(0).normal(size=(1, 2, 5, 5))
    want = executor(plain, batch=1).forward(x)[0]
    for key in ("sway", "rotate", "stretch", "stretch_sway", "coordconv"):
        np.testing.assert_array_equal(executor(plain + f"{key}=1\n", batch=1).forward(x)[0], want)
        assert [d.code for d in check(parse(plain + f"{key}=1\n"), select=["W310"])] == ["W310"]


def test_conv_lstm_that_changes_the_size_is_a_shape_error():
    shapes = infer_shapes(build(parse(IMAGE_NET + "[conv_lstm]\nsize=3\noutput=2\n")))
    (d,) = shapes.diagnostics
    assert d.code == "S210" and "read past" in d.message


def test_run_takes_steps_first_and_dumps_steps_first(tmp_path, monkeypatch):
    cfg = tmp_path / "seq.cfg"
    cfg.write_text("[net]\ninputs=5\ntime_steps=7\n\n[gru]\noutput=4\n\n[lstm]\noutput=3\n\n[connected]\noutput=2\n")
    net = build(parse(cfg.read_text(), str(cfg)))
    shapes = infer_shapes(net, time_steps=4)
    rng = np.random.default_rng(0)
    tensors = {i: {t.name: rng.normal(0, 0.5, t.shape).astype(np.float32) for t in ts} for i, ts in layout(net, shapes)}
    write_weights(tmp_path / "seq.weights", WeightsHeader(), tensors, net, shapes)
    x = rng.normal(size=(4, 5)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    result = CliRunner().invoke(main, ["run", str(cfg), "--input", str(tmp_path / "x.npy"), "--weights",
                                       str(tmp_path / "seq.weights"), "--dump", str(tmp_path / "d"), "--float64"])
    assert result.exit_code == 0, result.output
    index = json.loads((tmp_path / "d" / "index.json").read_text())
    assert [index[k]["shape"] for k in "012"] == [[4, 4], [4, 3], [4, 2]]
    gru = np.load(tmp_path / "d" / "layer_000.npy")
    lstm = np.load(tmp_path / "d" / "layer_001.npy")
    w = {k: v.astype(np.float64) for k, v in tensors[0].items()}
    np.testing.assert_allclose(gru, _steps(ref_gru, {"n": 4}, w, x, monkeypatch), rtol=1e-6, atol=1e-7)
    w = {k: v.astype(np.float64) for k, v in tensors[1].items()}
    np.testing.assert_allclose(lstm, _steps(ref_lstm, {"n": 3}, w, gru, monkeypatch), rtol=1e-6, atol=1e-7)


def _steps(ref, p, w, x, monkeypatch):
    """A reference over len(x) steps of one image each."""
    monkeypatch.setattr(__import__(__name__), "T", len(x))
    monkeypatch.setattr(__import__(__name__), "B", 1)
    return ref(p, w, x.reshape((len(x), 1) + x.shape[1:])).reshape(len(x), -1)


RECURRENT_CORPUS = ["rnn", "rnn.train", "gru", "lstm.train", "crnn.train", "yolov3-tiny_occlusion_track"]


@pytest.mark.skipif(not (CONFORMANCE / "darknet" / "cfg").is_dir(), reason=f"conformance corpus not found at {CONFORMANCE}")
@pytest.mark.parametrize("name", RECURRENT_CORPUS)
def test_smoke_passes_on_darknets_recurrent_cfgs(name, tmp_path):
    """At 2 time steps, images of 32x32, and layers of 256 to 1024 filters or outputs cut to 32 (CI time)."""
    text = (CONFORMANCE / "darknet" / "cfg" / f"{name}.cfg").read_bytes()
    cfg = tmp_path / f"{name}.cfg"
    cfg.write_bytes(re.sub(rb"(output|hidden|filters) ?= ?(1024|512|256)\b", rb"\1=32", text))
    result = CliRunner().invoke(main, ["smoke", str(cfg), "--time-steps", "2", "--size", "32"])
    assert result.exit_code == 0, result.output
    assert "every value finite" in result.output


# -- .weights and transplant --------------------------------------------------------------------

ALL = ("[net]\nwidth=4\nheight=4\nchannels=2\ntime_steps=2\n\n"
       "[crnn]\nsize=3\npad=1\noutput=4\nhidden=2\nbatch_normalize=1\n\n"
       "[conv_lstm]\nsize=3\npad=1\noutput=2\npeephole=1\ngroups=2\n\n"
       "[history]\nhistory_size=2\n\n"
       "[connected]\noutput=6\n\n"
       "[rnn]\noutput=5\nhidden=4\nbatch_normalize=1\n\n"
       "[lstm]\noutput=3\n\n"
       "[gru]\noutput=2\nbatch_normalize=1\n")


def _darknet_floats() -> list[int]:
    """Floats per layer as load_weights_upto reads them, from load_connected_weights (biases,
    weights, [scales, mean, variance]) and load_convolutional_weights (biases, [bn], weights)."""
    def connected(i, o, bn):
        return o + i * o + (3 * o if bn else 0)

    def conv(c, n, k, g, bn):
        return n + (3 * n if bn else 0) + n * (c // g) * k * k
    crnn = conv(2, 2, 3, 1, 1) + conv(2, 2, 3, 1, 1) + conv(2, 4, 3, 1, 1)
    conv_lstm = 3 * conv(2, 2, 3, 2, 0) + 4 * conv(2, 2, 3, 2, 0) + 4 * conv(4, 2, 3, 2, 0)
    rnn = connected(6, 4, 1) + connected(4, 4, 1) + connected(4, 5, 1)
    lstm = 4 * connected(3, 3, 0) + 4 * connected(5, 3, 0)
    gru = 3 * connected(3, 2, 1) + 3 * connected(2, 2, 1)
    return [crnn, conv_lstm, 0, connected(64, 6, 0), rnn, lstm, gru]


def test_weights_have_darknets_size_order_and_round_trip(tmp_path):
    net = build(parse(ALL))
    shapes = infer_shapes(net)
    plan = dict(layout(net, shapes))
    assert [sum(t.count for t in plan.get(i, ())) for i in range(7)] == _darknet_floats()
    assert expected_size(net, shapes) == 20 + 4 * sum(_darknet_floats())
    names = [t.name.split(".")[0] for t in plan[5]]
    assert list(dict.fromkeys(names)) == ["wf", "wi", "wg", "wo", "uf", "ui", "ug", "uo"]  # W before U
    assert list(dict.fromkeys(t.name.split(".")[0] for t in plan[1]))[:4] == ["vf", "vi", "vo", "wf"]
    exe = executor(ALL, batch=4, dtype=np.float32)
    randomize(exe)
    assert {i: {n: a.shape for n, a in ts.items()} for i, ts in exe.weights.items()} == \
        {i: {t.name: t.shape for t in ts} for i, ts in plan.items()}
    for header in (WeightsHeader(), WeightsHeader(1000, 2000, 0, 7)):  # also connected weights transposed
        first = tmp_path / "a.weights"
        written = write_weights(first, header, exe.weights, net, shapes)
        assert written == first.stat().st_size == expected_size(net, shapes, header)
        _, back = read_weights(first, net, shapes)
        write_weights(tmp_path / "b.weights", header, back, net, shapes)
        assert (tmp_path / "b.weights").read_bytes() == first.read_bytes()
        other = executor(ALL, batch=4, dtype=np.float32, seed=5)
        other.load(back)
        x = np.random.default_rng(0).normal(size=exe.input_shape).astype(np.float32)
        np.testing.assert_array_equal(other.forward(x)[6], exe.forward(x)[6])


def test_transplant_carries_recurrent_tensors_across_an_insertion():
    old_net = build(parse(ALL))
    new_text = ALL.replace("[rnn]", "[connected]\noutput=6\nactivation=linear\n\n[rnn]")
    new_net = build(parse(new_text))
    old_shapes, new_shapes = infer_shapes(old_net), infer_shapes(new_net)
    exe = executor(ALL, batch=4, dtype=np.float32)
    randomize(exe)
    result, report = transplant(old_net, old_shapes, exe.weights, new_net, new_shapes, init="random")
    for old, new in ((0, 0), (1, 1), (4, 5), (5, 6), (6, 7)):
        assert result[new].keys() == exe.weights[old].keys()
        for name, arr in exe.weights[old].items():
            np.testing.assert_array_equal(result[new][name], arr)
    assert report.inserted == [4]


def test_readme_layer_support_names_every_type_and_the_executor_runs_them():
    from cfgtool.executor.ops import op_for
    from cfgtool.layers import SPECS
    from conftest import ROOT

    text = (ROOT / "README.md").read_text()
    table = text[text.index("#### Layer support"):text.index("### transplant")]
    for spec in SPECS:
        assert spec.sections[0] in table, spec.sections[0]
        assert op_for(spec) is not None and not spec.cannot_run, spec.type
