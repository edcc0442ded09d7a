"""The runner: wiring, freeing in inference, gradient summing over consumers, errors."""

from __future__ import annotations

import numpy as np
import pytest

from cfgtool.diagnostics import CfgError
from cfgtool.executor.activations import BranchLog, branch_log
from cfgtool.executor.network import Executor
from cfgtool.model import build
from cfgtool.shapes import infer_shapes
from cfgtool.syntax import parse

# layer 0 feeds layers 1, 2 (route) and 4 (shortcut): its gradient is a sum of three
FANOUT = """[net]
width=6
height=6
channels=2

[convolutional]
batch_normalize=1
filters=4
size=3
pad=1
activation=leaky

[convolutional]
filters=4
size=1
activation=mish

[route]
layers=-1,-2

[convolutional]
filters=4
size=3
stride=2
pad=1
activation=logistic

[upsample]
stride=2

[shortcut]
from=0
activation=linear

[maxpool]
size=2
stride=2
"""


def executor(text=FANOUT, **kw):
    net = build(parse(text, "t.cfg"))
    shapes = infer_shapes(net)
    assert shapes.ok, shapes.diagnostics
    return Executor(net, shapes, **kw)


def test_wiring_follows_the_graph():
    exe = executor()
    assert [s.inputs for s in exe.steps] == [[-1], [0], [1, 0], [2], [3], [4, 0], [5]]
    assert exe.output_layers == [6]


def test_inference_keeps_only_outputs_and_requested_layers():
    exe = executor()
    x = np.random.default_rng(0).normal(size=(1, 2, 6, 6))
    assert set(exe.forward(x)) == {6}
    assert set(exe.forward(x, keep=[0, 3])) == {0, 3, 6}
    full = exe.forward(x, keep="all")
    assert set(full) == set(range(7))
    np.testing.assert_array_equal(full[6], exe.forward(x)[6])
    assert [s.bytes for s in exe.stats] == [full[i].nbytes for i in range(7)]


def test_whole_network_gradient_matches_central_differences():
    """Every input entry; layer 0 feeds three layers, so its gradient must be their sum."""
    exe = executor(dtype=np.float64, batch=2)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 2, 6, 6))
    log = BranchLog()
    with branch_log(log):
        out = exe.forward(x, train=True, seed=0)
    g = {6: rng.normal(size=out[6].shape)}
    dx, grads = exe.backward(g)
    log.replay = True

    def loss():
        with branch_log(log):
            return float((exe.forward(x, train=True, seed=0)[6] * g[6]).sum())

    numeric = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        keep = x[idx]
        x[idx] = keep + 1e-6
        up = loss()
        x[idx] = keep - 1e-6
        down = loss()
        x[idx] = keep
        numeric[idx] = (up - down) / 2e-6
    assert np.abs(dx - numeric).max() < 1e-6 * np.abs(numeric).max()
    assert set(grads) == {0, 1, 3} and set(grads[0]) == {"biases", "scales", "weights"}


def test_backward_needs_a_training_forward():
    exe = executor()
    exe.forward(np.zeros((1, 2, 6, 6)))
    with pytest.raises(RuntimeError):
        exe.backward({6: np.zeros((1, 4, 3, 3))})


def test_memory_limit_refuses_before_allocating():
    with pytest.raises(CfgError) as exc:
        executor(max_memory=100)
    (d,) = exc.value.diagnostics
    assert d.code == "X002" and "needs about" in d.message and d.span.line == 1
    exe = executor()
    assert exe.estimate_memory(train=True) > exe.estimate_memory(train=False) > 0


def test_running_out_of_memory_in_a_layer_is_x002_at_that_layer(monkeypatch):
    exe = executor()
    step = exe.steps[0]

    def exhausted(*args):
        raise MemoryError

    monkeypatch.setattr(step.op, "forward", exhausted)
    with pytest.raises(CfgError) as exc:
        exe.forward(np.zeros((1, 2, 6, 6)))
    (d,) = exc.value.diagnostics
    assert (d.code, d.layer, d.span.line) == ("X002", 0, step.layer.line)
    assert "ran out of memory at layer 0" in d.message


def test_available_memory_respects_the_address_space_limit():
    resource = pytest.importorskip("resource")
    from cfgtool.executor.network import available_memory

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    assert available_memory() > 0
    if soft == resource.RLIM_INFINITY:
        import subprocess
        import sys

        code = ("import resource; resource.setrlimit(resource.RLIMIT_AS, (2**31, 2**31));"
                "from cfgtool.executor.network import available_memory; print(available_memory())")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                             env={"OPENBLAS_NUM_THREADS": "1", "PATH": ""})
        assert 0 < int(out.stdout) < 2**31, out.stderr


@pytest.mark.parametrize("section, line, words", [
    ("[conv_lstm]\noutput=2\npad=1\nbottleneck=1\n", 8, "bottleneck=1 crashes Darknet's CPU build"),
    ("[local]\nfilters=2\nsize=5\npad=1\n", 8, "misaligned"),
])
def test_layers_that_cannot_run_are_located(section, line, words):
    text = "[net]\nwidth=6\nheight=6\nchannels=2\n\n[convolutional]\nfilters=2\n" + section
    with pytest.raises(CfgError) as exc:
        executor(text)
    (d,) = exc.value.diagnostics
    assert d.code == "X001" and d.span.line == line and words in d.message and d.layer == 1


def test_wrong_input_shape_is_an_error():
    exe = executor()
    with pytest.raises(CfgError, match=r"\(1, 2, 6, 6\)"):
        exe.forward(np.zeros((1, 3, 6, 6)))


def test_loaded_weights_replace_random_init_and_refold():
    exe = executor()
    x = np.random.default_rng(2).normal(size=(1, 2, 6, 6)).astype(np.float32)
    before = exe.forward(x, keep=[0])[0]
    w = {k: v.copy() for k, v in exe.weights[0].items()}
    w["scales"] *= 2
    assert exe.load({0: w}) == [0]
    after = exe.forward(x, keep=[0])[0]
    assert not np.allclose(before, after)
    with pytest.raises(ValueError):
        exe.load({0: {"weights": np.zeros((1, 1))}})
