"""cfgtool export of the recurrent layers (unrolled over [net] time_steps): every type and option
against the executor in onnxruntime on small random cases, then a feed-forward layer after them;
the command; the refusal of a dynamic batch."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import invoke, shapes_of

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from cfgtool.diagnostics import CfgError  # noqa: E402
from cfgtool.executor.network import Executor  # noqa: E402
from cfgtool.export import to_onnx  # noqa: E402
from cfgtool.export.check import compare  # noqa: E402
from test_recurrent import CASES as RECURRENT_CASES, IMAGE_NET, T, VECTOR_NET  # noqa: E402

AFTER = "\n[connected]\noutput=2\nactivation=leaky\n"
# every type and option the executor's tests cover (3 steps), and the one-step cases
CASES = RECURRENT_CASES + [
    ("history", IMAGE_NET.replace(f"time_steps={T}", "time_steps=1"), "history_size=3\n"),
    ("lstm", VECTOR_NET.replace(f"time_steps={T}", "time_steps=1"), "output=3\n"),
]


def randomized(net, shapes, seed=0, std=0.7) -> Executor:
    """An executor (batch = the time steps) whose every tensor is random (variances positive)."""
    exe = Executor(net, shapes, seed=seed, batch=int(shapes.net.get("time_steps", 1)))
    rng = np.random.default_rng(seed + 1)
    for tensors in exe.weights.values():
        for name, arr in tensors.items():
            arr[...] = rng.uniform(0.5, 1.5, arr.shape) if name.endswith("rolling_variance") else \
                rng.normal(0, std, arr.shape)
    return exe


@pytest.mark.parametrize("kind, head, body", CASES, ids=[f"{k}-{i}" for i, (k, _, _) in enumerate(CASES)])
def test_recurrent_export_equals_the_executor_at_every_step(kind, head, body):
    net, shapes = shapes_of(head + f"[{kind}]\n" + body + AFTER)
    exp = to_onnx(net, shapes, outputs="all", executor=randomized(net, shapes))
    onnx.checker.check_model(exp.model, full_check=True)
    steps = int(shapes.net["time_steps"])
    assert [d.dim_value for d in exp.model.graph.input[0].type.tensor_type.shape.dim][0] == steps
    diffs = compare(exp.model.SerializeToString(), exp, tolerance=1e-4)
    assert len(diffs) == 2 and all(d.ok for d in diffs), diffs


def test_conv_lstm_export_clamps_the_carried_cell():
    body = "[conv_lstm]\nsize=3\npad=1\noutput=2\nstate_constrain={}\n"
    x = np.random.default_rng(3).normal(size=(T, 2, 3, 4)).astype(np.float32) * 3
    outs = []
    for sc in (1, 0):
        net, shapes = shapes_of(IMAGE_NET + body.format(sc))
        exp = to_onnx(net, shapes, outputs="all", executor=randomized(net, shapes, std=3))
        assert all(d.ok for d in compare(exp.model.SerializeToString(), exp, tolerance=1e-4, x=x))
        outs.append(exp.executor.forward(x)[0])
    assert not np.allclose(outs[0], outs[1])  # the clamp changed the later steps


def test_unrolled_steps_share_one_copy_of_the_weights():
    sizes = []
    for steps in (2, 6):
        net, shapes = shapes_of(VECTOR_NET.replace(f"time_steps={T}", f"time_steps={steps}") + "[lstm]\noutput=16\n")
        model = to_onnx(net, shapes).model
        sizes.append(sum(len(t.raw_data) for t in model.graph.initializer if len(t.raw_data) > 64))
    assert sizes[0] == sizes[1] == 4 * (4 * 16 * 16 + 4 * 16 * 5)  # the W and U matrices, once


def test_export_command_unrolls_the_cfgs_time_steps(tmp_path):
    cfg = tmp_path / "gru.cfg"
    cfg.write_text(VECTOR_NET + "[gru]\noutput=4\n\n[lstm]\noutput=3\n" + AFTER)
    out = tmp_path / "gru.onnx"
    result = invoke("export", cfg, "-o", out, "--check")
    assert result.exit_code == 0, result.output
    assert "FAIL" not in result.output
    model = onnx.load(out)
    assert [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim] == [T, 5, 1, 1]


def test_dynamic_batch_is_refused_for_recurrent_layers():
    net, shapes = shapes_of(VECTOR_NET + "[rnn]\noutput=3\nhidden=4\n")
    with pytest.raises(CfgError) as exc:
        to_onnx(net, shapes, dynamic_batch=True)
    (d,) = exc.value.diagnostics
    assert d.code == "O701" and d.span.line == 5 and "dynamic batch" in d.message
