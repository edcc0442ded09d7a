"""cfgtool run / smoke: dumps, dtypes, weights, exit codes, the memory guard, gradient check."""

from __future__ import annotations

import json
import tracemalloc

import numpy as np
import pytest
from click.testing import CliRunner
from opcheck import typed

from cfgtool.cli import main
from cfgtool.executor.ops import convolutional
from cfgtool.model import build
from cfgtool.shapes import infer_shapes
from cfgtool.syntax import parse, parse_file
from cfgtool.weights import WeightsHeader, layout, write_weights
from conftest import EXAMPLES

TINY = """[net]
width=16
height=16
channels=3

[convolutional]
batch_normalize=1
filters=8
size=3
stride=1
pad=1
activation=leaky

[convolutional]
filters=8
groups=2
size=3
dilation=2
pad=1
stride=1
activation=mish

[maxpool]
size=2
stride=2

[convolutional]
filters=8
size=1
stride=1
activation=swish

[upsample]
stride=2

[route]
layers=-1,1

[shortcut]
from=-6
activation=linear

[activation]
activation=tanh

[avgpool]

[connected]
output=6
batch_normalize=1
activation=leaky

[softmax]

[cost]
"""


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.cfg"
    path.write_text(TINY)
    return path


def save_input(tmp_path, shape, dtype=np.float32, seed=0):
    path = tmp_path / "x.npy"
    np.save(path, np.random.default_rng(seed).normal(size=shape).astype(dtype))
    return path


def test_run_dump_writes_every_layer_with_its_shape(tiny, tmp_path):
    x = save_input(tmp_path, (2, 3, 16, 16))
    out = tmp_path / "dump"
    result = invoke("run", tiny, "--input", x, "--dump", out)
    assert result.exit_code == 0, result.output
    index = json.loads((out / "index.json").read_text())
    net = build(parse_file(tiny))
    shapes = infer_shapes(net)
    assert sorted(int(k) for k in index) == list(range(len(net.layers)))
    for layer, shape in zip(net.layers, shapes.layers):
        arr = np.load(out / f"layer_{layer.index:03d}.npy")
        w, h, c = shape.output
        vector = layer.type == "connected" or w * h * c != shape.outputs
        want = (2, shape.outputs) if vector else (2, c, h, w)
        assert arr.shape == want, layer.index
        entry = index[str(layer.index)]
        assert entry["type"] == layer.type and entry["line"] == layer.line and tuple(entry["shape"]) == want
    assert np.load(out / "layer_009.npy").shape == (2, 6)  # connected: a vector
    assert "(2, 6)" in result.output  # the output layer (cost) is printed with its shape


def test_run_float32_and_float64_agree(tiny, tmp_path):
    x = save_input(tmp_path, (1, 3, 16, 16))
    for flag, folder in (([], "f32"), (["--float64"], "f64")):
        assert invoke("run", tiny, "--input", x, "--dump", tmp_path / folder, *flag).exit_code == 0
    for i in range(12):
        a = np.load(tmp_path / "f32" / f"layer_{i:03d}.npy")
        b = np.load(tmp_path / "f64" / f"layer_{i:03d}.npy")
        assert a.dtype == np.float32 and b.dtype == np.float64
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4 * max(1.0, np.abs(b).max()))


def test_run_example_at_another_size_with_repeat(tmp_path):
    x = save_input(tmp_path, (1, 3, 64, 96))
    result = invoke("run", EXAMPLES / "yolov4-tiny.cfg", "--input", x, "--width", 96, "--height", 64, "--repeat", 3)
    assert result.exit_code == 0, result.output
    assert "median" in result.output and "min" in result.output
    assert "(1, 255, 2, 3)" in result.output and "(1, 255, 4, 6)" in result.output


def test_run_with_weights_written_by_cfgtool(tiny, tmp_path):
    net = build(parse(TINY, "tiny.cfg"))
    shapes = infer_shapes(net)
    rng = np.random.default_rng(5)
    tensors = {i: {t.name: (rng.uniform(0.5, 1.5, t.shape) if "variance" in t.name else rng.normal(size=t.shape))
                   for t in ts} for i, ts in layout(net, shapes)}
    weights = tmp_path / "tiny.weights"
    write_weights(weights, WeightsHeader(), tensors, net, shapes)
    x = save_input(tmp_path, (1, 3, 16, 16))
    assert invoke("run", tiny, "--input", x, "--weights", weights, "--dump", tmp_path / "a").exit_code == 0
    assert invoke("run", tiny, "--input", x, "--dump", tmp_path / "b").exit_code == 0
    first = np.load(tmp_path / "a" / "layer_000.npy")
    # layer 0 by hand from the written tensors: conv + inference batch norm + leaky
    t = tensors[0]
    z = convolutional.forward(typed(convolutional, {"n": 8, "size": 3, "stride_x": 1, "stride_y": 1, "pad": 1, "groups": 1,
                               "activation": "linear"}), {"weights": t["weights"], "biases": np.zeros(8)},
                              [np.load(x).astype(np.float64)], False)[0]
    z = (z - t["rolling_mean"].reshape(8, 1, 1)) / np.sqrt(t["rolling_variance"].reshape(8, 1, 1) + 1e-5)
    z = z * t["scales"].reshape(8, 1, 1) + t["biases"].reshape(8, 1, 1)
    np.testing.assert_allclose(first, np.where(z > 0, z, 0.1 * z), rtol=1e-4, atol=1e-4)
    assert not np.allclose(first, np.load(tmp_path / "b" / "layer_000.npy"))  # random init differs
    weights.write_bytes(weights.read_bytes()[:-4])
    result = invoke("run", tiny, "--input", x, "--weights", weights)
    assert result.exit_code == 1 and "X102" in result.output and "too short" in result.output


def test_run_input_errors(tiny, tmp_path):
    bad = save_input(tmp_path, (1, 3, 8, 8))
    result = invoke("run", tiny, "--input", bad)
    assert result.exit_code == 2 and "(batch, 3, 16, 16)" in result.output
    garbage = tmp_path / "g.npy"
    garbage.write_text("not an array")
    assert invoke("run", tiny, "--input", garbage).exit_code == 2


def test_huge_width_refused_before_allocating(tmp_path):
    cfg = tmp_path / "huge.cfg"
    cfg.write_text((EXAMPLES / "yolov4.cfg").read_text().replace("width=608", "width=100000")
                   .replace("height=608", "height=100000").replace("width=416", "width=100000")
                   .replace("height=416", "height=100000"))
    x = save_input(tmp_path, (1, 3, 8, 8))
    tracemalloc.start()
    try:
        result = invoke("run", cfg, "--input", x)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.exit_code == 1, result.output
    assert "X002" in result.output and "memory" in result.output
    assert peak < 64 * 2**20
    result = invoke("smoke", EXAMPLES / "yolov4-tiny.cfg", "--size", 100000)
    assert result.exit_code == 1 and "X002" in result.output


def test_max_memory_option(tiny):
    result = invoke("smoke", tiny, "--max-memory", 1000)
    assert result.exit_code == 1 and "X002" in result.output


def test_smoke_ok_on_examples_and_tiny(tiny):
    for cfg in (EXAMPLES / "yolov4-tiny.cfg", tiny):
        result = invoke("smoke", cfg)
        assert result.exit_code == 0, result.output
        assert "every value finite" in result.output
    assert "at 64x64" in invoke("smoke", EXAMPLES / "yolov4-tiny.cfg").output


def test_smoke_names_the_layer_producing_nan(tmp_path):
    cfg = tmp_path / "nan.cfg"
    cfg.write_text(TINY.replace("[softmax]", "[softmax]\ntemperature=0"))
    result = invoke("smoke", cfg)
    assert result.exit_code == 1
    line = next(ln for ln in result.output.splitlines() if "FAIL" in ln)
    assert "layer 10 [softmax]" in line and f"{cfg}:" in line and "NaN" in line


def test_smoke_reports_unsupported_layer_with_location(tmp_path):
    cfg = tmp_path / "bottleneck.cfg"
    cfg.write_text("[net]\nwidth=8\nheight=8\nchannels=2\n\n[convolutional]\nfilters=2\n\n"
                   "[conv_lstm]\noutput=2\npad=1\nbottleneck=1\n")
    result = invoke("smoke", cfg)
    assert result.exit_code == 1
    assert "X001" in result.output and ":9:" in result.output and "bottleneck=1" in result.output


def test_grad_check_passes_and_catches_a_wrong_backward(tiny, monkeypatch):
    result = invoke("smoke", tiny, "--grad-check", "--samples", 9)
    assert result.exit_code == 0, result.output
    assert "float64" in result.output and "max relative error" in result.output
    real = convolutional.backward

    def skewed(p, w, dout, cache):
        dxs, grads = real(p, w, dout, cache)
        return [d * 1.001 for d in dxs], grads

    monkeypatch.setattr(convolutional, "backward", skewed)
    result = invoke("smoke", tiny, "--grad-check", "--samples", 3)
    assert result.exit_code == 1 and "FAIL" in result.output


@pytest.mark.parametrize("command,extra", [("add-se", ["--style", "residual"]), ("add-se", ["--at", "stages"]),
                                           ("add-sam", []), ("add-cbam", [])])
def test_smoke_passes_on_edited_yolov4(command, extra, tmp_path):
    """The job users come for, end to end: insert a block into yolov4, then smoke-test the result."""
    out = tmp_path / "edited.cfg"
    assert invoke(command, EXAMPLES / "yolov4.cfg", "-o", out, *extra).exit_code == 0
    result = invoke("smoke", out)
    assert result.exit_code == 0, result.output
    assert "every value finite" in result.output


def test_smoke_ok_on_yolov4_with_defaults():
    result = invoke("smoke", EXAMPLES / "yolov4.cfg")
    assert result.exit_code == 0, result.output


def test_smoke_unknown_section_is_located_not_internal_error(tmp_path):
    """A section Darknet does not know (a spec of None) is X001 at its line, never exit 3."""
    cfg = tmp_path / "u.cfg"
    cfg.write_text("[net]\nwidth=32\nheight=32\nchannels=3\n\n[convolutional]\nfilters=4\nsize=3\n"
                   "stride=1\npad=1\nactivation=leaky\n\n[routex]\nlayers=-1\n")
    result = invoke("smoke", cfg, "--size", "32", "--batch", "1")
    assert result.exit_code == 1, result.output
    assert "X001" in result.output and "u.cfg:13:1" in result.output
