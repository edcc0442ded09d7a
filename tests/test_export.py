"""cfgtool export: every lowering against the executor in onnxruntime (<= 1e-4 x max(1, |ref|)),
onnx.checker with full shape inference, the command's behaviour."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from conftest import EXAMPLES, invoke, shapes_of

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from cfgtool.diagnostics import CfgError  # noqa: E402
from cfgtool.export import to_onnx  # noqa: E402
from cfgtool.export.check import compare, session  # noqa: E402
from cfgtool.executor.activations import NAMES  # noqa: E402
from cfgtool.executor.ops.convolutional import bn_fold  # noqa: E402

TOL = 1e-4


def export(source, outputs="all", **kw):
    """(Exported, model bytes) of cfg text, checked by onnx.checker (full_check)."""
    net, shapes = shapes_of(source, **{k: v for k, v in kw.items() if k in ("width", "height")})
    exp = to_onnx(net, shapes, outputs=outputs, **{k: v for k, v in kw.items() if k not in ("width", "height")})
    onnx.checker.check_model(exp.model, full_check=True)
    return exp, exp.model.SerializeToString()


def assert_parity(source, x=None, **kw):
    exp, data = export(source, **kw)
    diffs = compare(data, exp, tolerance=TOL, x=x)
    bad = [d for d in diffs if not d.ok]
    assert not bad, bad
    return exp


def ops(exp) -> list[str]:
    return [n.op_type for n in exp.model.graph.node]


def net(width=16, height=16, channels=3):
    return f"[net]\nwidth={width}\nheight={height}\nchannels={channels}\n"


def conv(filters, size=3, stride=1, activation="leaky", extra=""):
    return (f"[convolutional]\nbatch_normalize=1\nfilters={filters}\nsize={size}\nstride={stride}\npad=1\n"
            f"activation={activation}\n{extra}\n")


# -- the command --------------------------------------------------------------------------------

def test_command_writes_a_checked_model_and_reports_the_random_init(tmp_path):
    out = tmp_path / "tiny.onnx"
    result = invoke("export", EXAMPLES / "yolov4-tiny.cfg", "-o", out, "--width", 64, "--height", 64, "--check")
    assert result.exit_code == 0, result.output
    assert "random initialisation (seed 0)" in result.output
    assert "layer_030" in result.output and "layer_037" in result.output and "FAIL" not in result.output
    model = onnx.load(out)
    assert [o.name for o in model.graph.output] == ["layer_030", "layer_037"]  # the two [yolo] heads
    assert [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim] == [1, 3, 64, 64]


def test_yolov4_tiny_every_layer_and_a_lean_graph():
    exp = assert_parity((EXAMPLES / "yolov4-tiny.cfg").read_text(), width=64, height=64)
    kinds = ops(exp)
    assert "Reshape" not in kinds and "BatchNormalization" not in kinds
    # an Identity only where a value is two layers' (layer 31, [route] layers=-4) and both are outputs
    outputs = {o.name for o in exp.model.graph.output}
    identities = [n for n in exp.model.graph.node if n.op_type == "Identity"]
    assert len(identities) == 1 and all(n.output[0] in outputs and n.input[0] in outputs for n in identities)
    assert kinds.count("Conv") == 21 and kinds.count("MaxPool") == 3
    assert [o.name for o in exp.model.graph.output] == [f"layer_{i:03d}" for i in range(38)]


def test_dynamic_batch_runs_two_images():
    exp, data = export(net() + conv(4) + "[maxpool]\nsize=2\nstride=1\n" + "[route]\nlayers=-1,-2\n",
                       dynamic_batch=True, outputs="heads")
    dims = exp.model.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "N"
    x = np.random.default_rng(1).normal(size=(2, 3, 16, 16)).astype(np.float32)
    (y,) = session(data).run(None, {"input": x})
    exe = exp.executor
    ref = np.concatenate([exe.forward(x[i:i + 1])[exe.output_layers[-1]] for i in range(2)])
    assert y.shape == ref.shape and np.abs(y - ref).max() < TOL


def test_unsupported_layer_is_refused_before_writing(tmp_path):
    cfg = tmp_path / "r.cfg"
    cfg.write_text(net(15, 15) + conv(4) + "[upsample]\nstride=-2\n")
    out = tmp_path / "r.onnx"
    result = invoke("export", cfg, "-o", out)
    assert result.exit_code == 1
    assert f"{cfg}:13:1" in result.output and "O701" in result.output and "stride 2 must divide" in result.output
    assert not out.exists()


def test_recurrent_layer_is_refused_with_its_location(tmp_path):
    cfg = tmp_path / "rnn.cfg"
    cfg.write_text("[net]\ninputs=8\n\n[rnn]\noutput=8\nhidden=8\nactivation=leaky\n")
    result = invoke("export", cfg, "-o", tmp_path / "x.onnx")
    assert result.exit_code == 1 and f"{cfg}:4:1" in result.output and "recurrent" in result.output
    assert not (tmp_path / "x.onnx").exists()


def test_missing_onnx_is_a_clear_usage_error(tmp_path):
    code = ("import sys; sys.modules['onnx'] = None\nfrom cfgtool.cli import main\n"
            "main(['export', sys.argv[1], '-o', sys.argv[2], '--width', '32', '--height', '32'])\n")
    proc = subprocess.run([sys.executable, "-c", code, str(EXAMPLES / "yolov4-tiny.cfg"), str(tmp_path / "t.onnx")],
                          capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    assert "pip install 'cfgtool[onnx]'" in proc.stderr and "Traceback" not in proc.stderr


def test_summary_does_not_import_onnx():
    code = ("import sys; from cfgtool.cli import main\n"
            "try:\n    main(['summary', sys.argv[1]])\nexcept SystemExit as e:\n    assert e.code == 0, e.code\n"
            "assert 'onnx' not in sys.modules and 'numpy' not in sys.modules\n")
    proc = subprocess.run([sys.executable, "-c", code, str(EXAMPLES / "yolov4.cfg")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_opset_out_of_range_is_a_usage_error(tmp_path):
    result = invoke("export", EXAMPLES / "yolov4-tiny.cfg", "-o", tmp_path / "t.onnx", "--opset", 7)
    assert result.exit_code == 2 and "opset 7" in result.output


# -- maxpool ------------------------------------------------------------------------------------

def test_maxpool_size2_stride1_pads_after_only():
    exp = assert_parity(net(13, 13) + conv(4) + "[maxpool]\nsize=2\nstride=1\n")
    (pool,) = [n for n in exp.model.graph.node if n.op_type == "MaxPool"]
    assert list(next(a for a in pool.attribute if a.name == "pads").ints) == [0, 0, 1, 1]
    assert exp.executor.shapes.layers[1].output == (13, 13, 4)


@pytest.mark.parametrize("options", [
    "size=2\nstride=2", "size=3\nstride=2", "size=5\nstride=1", "size=3\nstride_x=2\nstride_y=1",
    "size=3\nstride=2\npadding=0", "size=2\nstride=2\npadding=6", "size=3\nstride=2\nantialiasing=1",
    "maxpool_depth=1\nout_channels=3", "maxpool_depth=1\nout_channels=2",
])
def test_maxpool_options(options):
    assert_parity(net(13, 13) + conv(5) + f"[maxpool]\n{options}\n")


# -- convolutional ------------------------------------------------------------------------------

@pytest.mark.parametrize("extra", [
    "groups=4", "groups=8\n", "dilation=2", "stride_x=2\nstride_y=1", "padding=0\npad=0", "xnor=1", "binary=1",
    "antialiasing=1\nstride=2", "antialiasing=2\nstride=2", "size=1\npad=0",
])
def test_convolutional_options(extra):
    text = net() + conv(8) + conv(8, extra=extra).replace("pad=1\n", "pad=1\n" if "pad=0" not in extra else "")
    exp = assert_parity(text)
    assert "BatchNormalization" not in ops(exp)  # folded


# -- route, shortcut, upsample, yolo ------------------------------------------------------------

def test_route_groups_and_concat():
    assert_parity(net() + conv(8) + conv(6) + "[route]\nlayers=-2\ngroups=2\ngroup_id=1\n"
                  + "[route]\nlayers=-1,-2,-3\n" + "[route]\nlayers=-4\n")


@pytest.mark.parametrize("from_block", [
    conv(8) + conv(8, activation="linear") + "[shortcut]\nfrom=-2\nactivation=leaky\n",
    conv(8) + conv(5) + "[shortcut]\nfrom=-2\n",  # from has more channels: the first 5 added
    conv(5) + conv(8) + "[shortcut]\nfrom=-2\n",  # from has fewer: added to the first 5
    conv(8) + conv(8) + conv(8) + "[shortcut]\nfrom=-2,-3\nweights_type=per_feature\nweights_normalization=relu\n",
    conv(8) + conv(8) + "[shortcut]\nfrom=-2\nweights_type=per_channel\nweights_normalization=softmax\n",
    conv(5) + conv(8) + "[shortcut]\nfrom=-2\nweights_type=per_channel\nweights_normalization=avg_relu\n",
])
def test_shortcut(from_block):
    exp, data = export(net() + from_block)
    if "weights_type" in from_block:  # weights away from their init, so the weighting shows
        exe = exp.executor
        i = len(exe.steps) - 1
        exe.weights[i]["weights"] = np.random.default_rng(3).normal(size=exe.weights[i]["weights"].shape).astype(
            np.float32)
        exp = to_onnx(exe.network, exe.shapes, tensors=exe.weights, outputs="all")
        data = exp.model.SerializeToString()
    assert all(d.ok for d in compare(data, exp, tolerance=TOL))


@pytest.mark.parametrize("options", ["stride=2", "stride=2\nscale=0.5", "stride=3", "stride=-2\nscale=0.25"])
def test_upsample(options):
    assert_parity(net() + conv(4) + f"[upsample]\n{options}\n")


YOLO = "[yolo]\nmask=0,1\nanchors=10,14, 23,27, 37,58\nclasses=2\nnum=3\n"


@pytest.mark.parametrize("options", ["", "scale_x_y=1.05", "scale_x_y=2.0\nnew_coords=1", "new_coords=1"])
def test_yolo(options):
    act = "logistic" if "new_coords" in options else "linear"
    exp = assert_parity(net() + conv(14, size=1, activation=act) + YOLO + options + "\n", outputs="heads")
    assert [o.name for o in exp.model.graph.output] == ["layer_001"]


def test_yolo_scale_x_y_values():
    """x, y of every anchor are sigmoid(v) * 1.05 - 0.025; w, h raw."""
    exp, data = export(net(4, 4, 14) + YOLO + "scale_x_y=1.05\n", outputs="heads")
    x = np.random.default_rng(0).normal(size=(1, 14, 4, 4)).astype(np.float32)
    (y,) = session(data).run(None, {"input": x})
    v, out = x.reshape(2, 7, 4, 4), y.reshape(2, 7, 4, 4)
    sig = 1 / (1 + np.exp(-v))
    np.testing.assert_allclose(out[:, :2], sig[:, :2] * 1.05 - 0.025, atol=1e-6)
    np.testing.assert_allclose(out[:, 2:4], v[:, 2:4])
    np.testing.assert_allclose(out[:, 4:], sig[:, 4:], atol=1e-6)


# -- activations ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_activation(name):
    """Every Darknet activation on values across [-30, 30] (mish's softplus threshold is 20)."""
    x = np.linspace(-30, 30, 4 * 8 * 8, dtype=np.float32).reshape(1, 4, 8, 8)
    assert_parity(net(8, 8, 4) + f"[activation]\nactivation={name}\n", x=x)


def test_readme_flow_add_se_transplant_export_check(tmp_path):
    """The README's example: add-se -> transplant -> export --weights --check, at 64x64."""
    from cfgtool.executor.network import Executor
    from cfgtool.weights import WeightsHeader, write_weights

    src = tmp_path / "tiny.cfg"
    src.write_text((EXAMPLES / "yolov4-tiny.cfg").read_text().replace("width=416", "width=64")
                   .replace("height=416", "height=64"))
    net_, shapes = shapes_of((src).read_text(), path=str(src))
    exe = Executor(net_, shapes, seed=5)
    write_weights(tmp_path / "tiny.weights", WeightsHeader(), exe.weights, net_, shapes)
    se = tmp_path / "tiny-se.cfg"
    assert invoke("add-se", src, "-o", se).exit_code == 0
    result = invoke("transplant", src, tmp_path / "tiny.weights", se, "-o", tmp_path / "tiny-se.weights")
    assert result.exit_code == 0, result.output
    result = invoke("export", se, "--weights", tmp_path / "tiny-se.weights", "-o", tmp_path / "se.onnx", "--check")
    assert result.exit_code == 0, result.output
    assert "random" not in result.output and result.output.count(" ok") == 2
    # the graph holds the transplanted weights: its first convolution is the source's
    model = onnx.load(tmp_path / "se.onnx")
    first = next(n for n in model.graph.node if n.op_type == "Conv")
    w = next(t for t in model.graph.initializer if t.name == first.input[1])
    folded, _ = bn_fold(exe.weights[0], exe.weights[0]["weights"])
    np.testing.assert_allclose(onnx.numpy_helper.to_array(w), folded, rtol=1e-6)


def test_check_failure_exits_1(tmp_path, monkeypatch):
    """A graph that differs from the executor beyond --tolerance: exit 1, FAIL named."""
    from cfgtool.export import check as check_module

    monkeypatch.setattr(check_module, "differences", lambda got, ref: (1.0, 1.0))
    cfg = tmp_path / "n.cfg"
    cfg.write_text(net() + conv(4))
    result = invoke("export", cfg, "-o", tmp_path / "n.onnx", "--check")
    assert result.exit_code == 1 and "FAIL" in result.output and "check failed: layer_000" in result.output
