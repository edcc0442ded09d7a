"""cfgtool export: every lowering against the executor in onnxruntime (<= 1e-4 x max(1, |ref|)),
onnx.checker with full shape inference, the command's behaviour."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from conftest import EXAMPLES, corpus_params, invoke, shapes_of

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from cfgtool.diagnostics import CfgError  # noqa: E402
from cfgtool.export import to_onnx  # noqa: E402
from cfgtool.export.check import compare, session  # noqa: E402
from cfgtool.executor.activations import NAMES  # noqa: E402
from cfgtool.executor.network import Executor, network_time_steps  # noqa: E402
from cfgtool.executor.ops.convolutional import bn_fold  # noqa: E402

TOL = 1e-4


def perturbed(net, shapes, seed=0) -> Executor:
    """An executor whose biases and batch-norm statistics are random too (the init leaves them 0
    and 1, which would hide a wrong fold, and makes XNOR layers compare sign ties decided by
    rounding: sums of equal-magnitude terms that cancel)."""
    exe = Executor(net, shapes, seed=seed, batch=network_time_steps(net, shapes))
    rng = np.random.default_rng(seed + 1)
    for tensors in exe.weights.values():
        for name, arr in tensors.items():
            if name in ("biases", "rolling_mean"):
                arr[...] = rng.normal(0, 0.2, arr.shape)
            elif name in ("scales", "rolling_variance"):
                arr[...] = rng.uniform(0.5, 1.5, arr.shape)
    return exe


def export(source, outputs="all", **kw):
    """(Exported, model bytes) of cfg text, checked by onnx.checker (full_check)."""
    net, shapes = shapes_of(source, **{k: v for k, v in kw.items() if k in ("width", "height")})
    kw = {k: v for k, v in kw.items() if k not in ("width", "height")}
    exp = to_onnx(net, shapes, outputs=outputs, executor=perturbed(net, shapes), **kw)
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


@pytest.mark.parametrize("text", [
    conv(4) + "[maxpool]\nsize=2\nstride=1\n" + "[route]\nlayers=-1,-2\n",
    conv(4) + "[implicit]\nfilters=4\n" + "[scale_channels]\nfrom=-2\n" + "[reorg3d]\nstride=2\n" + "[cost]\n",
])
def test_dynamic_batch_runs_two_images(text):
    exp, data = export(net() + text, dynamic_batch=True, outputs="heads")
    dims = exp.model.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "N"
    x = np.random.default_rng(1).normal(size=(2, 3, 16, 16)).astype(np.float32)
    (y,) = session(data).run(None, {"input": x})
    exe = exp.executor
    (head,) = exp.outputs.values()
    ref = np.concatenate([exe.forward(x[i:i + 1], keep=[head])[head] for i in range(2)])
    assert y.shape == ref.shape and np.abs(y - ref).max() < TOL


def test_unsupported_layer_is_refused_before_writing(tmp_path):
    cfg = tmp_path / "r.cfg"
    cfg.write_text(net(15, 15) + conv(4) + "[upsample]\nstride=-2\n")
    out = tmp_path / "r.onnx"
    result = invoke("export", cfg, "-o", out)
    assert result.exit_code == 1
    assert f"{cfg}:13:1" in result.output and "O701" in result.output and "stride 2 must divide" in result.output
    assert not out.exists()


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
    # vectors ([connected] outputs) concatenated on their flat buffers
    assert_parity(net(8, 8) + conv(4) + "[connected]\noutput=6\n" + "[connected]\noutput=4\n"
                  + "[route]\nlayers=-1,-2\n" + "[route]\nlayers=-1\ngroups=2\ngroup_id=1\n")


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


# -- the other layer types --------------------------------------------------------------------------

def test_connected_softmax_groups_temperature_cost():
    exp = assert_parity(net(8, 8) + conv(4) + "[connected]\noutput=12\nbatch_normalize=1\nactivation=leaky\n"
                        + "[connected]\noutput=10\nactivation=linear\n"
                        + "[softmax]\ngroups=2\ntemperature=2.5\n" + "[cost]\n")
    assert exp.executor.output_layers == [3, 4]
    assert [tuple(d.dim_value for d in o.type.tensor_type.shape.dim) for o in exp.model.graph.output][1:4] == [
        (1, 12), (1, 10), (1, 10)]  # vectors, as run --dump writes them
    # the conv map flattened for Gemm, softmax's groups view and back: the vectors stay flat between
    assert ops(exp).count("Reshape") + ops(exp).count("Flatten") == 3
    heads, _ = export(net(8, 8) + conv(4) + "[connected]\noutput=10\n[softmax]\n[cost]\n", outputs="heads")
    assert [o.name for o in heads.model.graph.output] == ["layer_002"]  # Darknet's output: the last before [cost]


@pytest.mark.parametrize("text", [
    conv(6) + "[softmax]\nspatial=1\n",
    conv(6) + "[avgpool]\n" + conv(6, size=1, activation="logistic") + "[scale_channels]\nfrom=-3\n",
    conv(6) + conv(1, size=1, activation="logistic") + "[scale_channels]\nfrom=-2\nscale_wh=1\nactivation=leaky\n",
    conv(6) + conv(6, size=1, activation="logistic") + "[sam]\nfrom=-2\n",
    conv(6) + "[batchnorm]\n" + "[dropout]\nprobability=0.3\n" + "[empty]\n",
    conv(8) + "[lrn]\nsize=5\nalpha=0.01\nbeta=0.75\nkappa=2\n",
    conv(6) + "[local_avgpool]\nsize=2\nstride=2\n" + "[local_avgpool]\nsize=3\nstride=1\n",
    conv(6) + "[crop]\ncrop_height=10\ncrop_width=9\n" + "[crop]\ncrop_height=4\ncrop_width=4\nnoadjust=1\n",
    conv(4) + "[implicit]\nfilters=4\n" + "[scale_channels]\nfrom=-2\n",
    conv(4, stride=2) + "[local]\nsize=3\nstride=1\npad=1\nfilters=5\nactivation=leaky\n"
    + "[local]\nsize=2\nstride=2\npad=0\nfilters=3\nactivation=linear\n",
])
def test_layer_types(text):
    assert_parity(net() + text)


@pytest.mark.parametrize("text, old", [
    ("[reorg3d]\nstride=2\n", False), ("[reorg3d]\nstride=2\nreverse=1\n", False), ("[reorg]\nstride=2\n", True),
])
def test_reorg_darknet_order(text, old):
    """The Gather follows Darknet's reorg_cpu map: checked against the map computed here in the
    loop form of blas.c, and against the executor."""
    exp = assert_parity(net(8, 8, 16) + text, dynamic_batch=True)
    x = np.arange(16 * 8 * 8, dtype=np.float32).reshape(1, 16, 8, 8)
    (y,) = session(exp.model.SerializeToString()).run(["layer_000"], {"input": x})
    w, h, c = (8, 8, 16) if old else exp.executor.shapes.layers[0].output
    s, forward = 2, "reverse" in text
    out = np.zeros(16 * 8 * 8, np.float32)
    flat_x = x.reshape(-1)
    out_c = c // (s * s)
    for k in range(c):
        for j in range(h):
            for i in range(w):
                in_index = i + w * (j + h * k)
                c2, offset = k % out_c, k // out_c
                w2, h2 = i * s + offset % s, j * s + offset // s
                out_index = w2 + w * s * (h2 + h * s * c2)
                if forward:
                    out[out_index] = flat_x[in_index]
                else:
                    out[in_index] = flat_x[out_index]
    np.testing.assert_array_equal(y.reshape(-1), out)
    if not old and not forward:  # reorg3d's forward is ONNX's SpaceToDepth order; reorg's is not
        want = x.reshape(1, 16, 4, 2, 4, 2).transpose(0, 3, 5, 1, 2, 4).reshape(1, 64, 4, 4)
        np.testing.assert_array_equal(y, want)


def test_region_and_detection_heads():
    assert_parity(net(8, 8) + conv(2 * (4 + 1 + 3), size=1, activation="linear")
                  + "[region]\nanchors=1,1, 2,2\nclasses=3\nnum=2\ncoords=4\nsoftmax=1\n")
    assert_parity(net(8, 8) + conv(4) + "[connected]\noutput=" + str(2 * 2 * (5 * 2 + 3)) + "\nactivation=linear\n"
                  + "[detection]\nside=2\nclasses=3\nnum=2\ncoords=4\nsoftmax=1\n")


def test_gaussian_yolo():
    exp = assert_parity(net() + conv(2 * (9 + 2), size=1, activation="linear")
                        + "[Gaussian_yolo]\nmask=0,1\nanchors=10,14, 23,27, 37,58\nclasses=2\nnum=3\nscale_x_y=1.1\n",
                        outputs="heads")
    assert [o.name for o in exp.model.graph.output] == ["layer_001"]


def test_share_index_uses_the_other_layers_weights():
    exp = assert_parity(net() + conv(3) + conv(3, extra="share_index=0"))
    convs = [n for n in exp.model.graph.node if n.op_type == "Conv"]
    init = {t.name: onnx.numpy_helper.to_array(t) for t in exp.model.graph.initializer}
    np.testing.assert_array_equal(init[convs[0].input[1]], init[convs[1].input[1]])


# -- the conformance corpus ----------------------------------------------------------------------------

# the cheapest corpus cfgs that together hold every layer type and option the corpus uses, except
# those only in large networks (reorg, reorg_old, sam, local, Gaussian_yolo, dilation, share_index:
# the targeted tests above); CFGTOOL_EXPORT_CORPUS=all runs every cfg the executor can run
CORPUS = ["tiny", "enet-coco", "yolov7-tiny", "yolov4-tiny_contrastive", "yolov1__xyolo.test", "yolov2-tiny",
          "efficientnet-lite3"]


def corpus_selection():
    import os

    from conftest import conformance_cfgs

    cfgs = conformance_cfgs()
    if not cfgs:
        return corpus_params()
    if os.environ.get("CFGTOOL_EXPORT_CORPUS") != "all":
        cfgs = [c for c in cfgs if c.stem in CORPUS]
    return [pytest.param(c, id=c.stem) for c in cfgs]


@pytest.mark.parametrize("cfg", corpus_selection())
def test_corpus_cfg_every_layer_equals_the_executor(cfg):
    from cfgtool.executor.smoke import smoke_size
    from cfgtool.export import load_network

    try:
        net_, base = load_network(cfg)
    except CfgError as exc:  # Darknet aborts on these too (resnet50: a shortcut of two sizes)
        if all(d.code.startswith("S2") for d in exc.diagnostics):
            pytest.skip(f"the cfg has shape errors: {exc.diagnostics[0].message}")
        raise
    size = smoke_size(net_, base, 64) if base.net.get("width") else None
    net_, shapes = load_network(cfg, size, size)
    try:
        exp = to_onnx(net_, shapes, outputs="all", executor=perturbed(net_, shapes))
    except CfgError as exc:
        reasons = " ".join(d.message for d in exc.diagnostics)
        if "tree=" in reasons:  # yolo9000: Darknet's data/9k.tree is not here
            pytest.skip(reasons)
        raise
    onnx.checker.check_model(exp.model, full_check=True)
    diffs = compare(exp.model.SerializeToString(), exp, tolerance=TOL)
    assert len(diffs) == len(net_.layers)
    assert not [d for d in diffs if not d.ok]


# -- a second consumer ---------------------------------------------------------------------------------

@pytest.mark.parametrize("cfg, outputs", [(EXAMPLES / "yolov4-tiny.cfg", "all"), ("enet-coco", "heads")])
def test_opencv_reads_the_graph_and_agrees(cfg, outputs):
    """cv2.dnn.readNetFromONNX loads exported networks and computes the same outputs."""
    cv2 = pytest.importorskip("cv2")
    from conftest import CONFORMANCE

    from cfgtool.export import load_network

    if isinstance(cfg, str):
        cfg = CONFORMANCE / "darknet" / "cfg" / f"{cfg}.cfg"
        if not cfg.is_file():
            pytest.skip(f"conformance corpus not found at {CONFORMANCE}")
    net_, shapes = load_network(cfg, 64, 64)
    exp = to_onnx(net_, shapes, outputs=outputs, executor=perturbed(net_, shapes))
    reader = cv2.dnn.readNetFromONNX(np.frombuffer(exp.model.SerializeToString(), np.uint8))
    x = np.random.default_rng(2).normal(size=exp.executor.input_shape).astype(np.float32)
    reader.setInput(x)
    names = list(exp.outputs)
    got = reader.forward(names)
    ref = exp.executor.forward(x, keep=list(exp.outputs.values()))
    assert len(got) == len(names) >= 2
    for name, arr in zip(names, got):
        want = ref[exp.outputs[name]]
        assert arr.size == want.size, name
        assert np.abs(arr.reshape(-1) - want.reshape(-1)).max() <= 1e-4 * max(1.0, float(np.abs(want).max())), name


# -- --decode --------------------------------------------------------------------------------------------

def test_decode_boxes_by_hand():
    """Two cells, one anchor 10x20, every value 0: sigmoid 0.5, so centres (col + 0.5) * stride,
    size the anchor, scores 0.5 * 0.5."""
    exp, data = export(net(2, 1, 7) + "[yolo]\nmask=0\nanchors=10,20\nclasses=2\nnum=1\n", outputs="heads", decode=True)
    boxes, scores = session(data).run(["boxes", "scores"], {"input": np.zeros((1, 7, 1, 2), np.float32)})
    np.testing.assert_allclose(boxes, [[[-4.5, -9.5, 5.5, 10.5], [-3.5, -9.5, 6.5, 10.5]]], atol=1e-6)
    np.testing.assert_allclose(scores, np.full((1, 2, 2), 0.25), atol=1e-7)


@pytest.mark.parametrize("cfg", ["yolov4-tiny", "yolov4"])
def test_decode_equals_the_reference_decode(cfg, tmp_path):
    """boxes/scores against the numpy reference decode of the heads' kernels (get_yolo_box), at a
    non-square size, through the command's --check."""
    from cfgtool.executor.ops import yolo as yolo_kernel

    if not hasattr(yolo_kernel, "decode"):
        pytest.skip("the numpy reference decode (issue 19) is not in this cfgtool yet")
    result = invoke("export", EXAMPLES / f"{cfg}.cfg", "-o", tmp_path / "d.onnx", "--width", 96, "--height", 64,
                    "--decode", "--check")
    assert result.exit_code == 0, result.output
    assert "boxes " in result.output and "scores " in result.output and "FAIL" not in result.output
    model = onnx.load(tmp_path / "d.onnx")
    dims = {o.name: [d.dim_value for d in o.type.tensor_type.shape.dim] for o in model.graph.output}
    boxes = 3 * (6 * 4 + 3 * 2) if cfg == "yolov4-tiny" else 3 * (12 * 8 + 6 * 4 + 3 * 2)
    assert dims["boxes"] == [1, boxes, 4] and dims["scores"] == [1, boxes, 80]


def test_decode_refuses_heads_it_cannot_decode(tmp_path):
    cfg = tmp_path / "r.cfg"
    cfg.write_text(net(8, 8) + conv(2 * 8, size=1, activation="linear")
                   + "[region]\nanchors=1,1, 2,2\nclasses=3\nnum=2\ncoords=4\n")
    result = invoke("export", cfg, "-o", tmp_path / "r.onnx", "--decode")
    assert result.exit_code == 1 and "O702" in result.output and f"{cfg}:13:1" in result.output
    assert not (tmp_path / "r.onnx").exists()


@pytest.mark.parametrize("opset", [13, 18, 21])
def test_opsets(opset):
    """Reduce* take their axes as an attribute before opset 18 and as an input from 18 on."""
    exp = assert_parity(net(12, 12) + conv(6, activation="normalize_channels_softmax_maxval")
                        + "[maxpool]\nmaxpool_depth=1\nout_channels=4\n" + "[upsample]\nstride=-2\n"
                        + conv(5, size=1) + YOLO.replace("classes=2", "classes=0").replace("mask=0,1", "mask=0"),
                        opset=opset)
    assert exp.model.opset_import[0].version == opset


def test_an_output_that_is_another_layers_value_keeps_both_names():
    """The head is a one-input [route] of layer 0, which another route reads too: an Identity
    names the output, layer 0's value keeps its name for its reader."""
    exp = assert_parity(net() + conv(4) + conv(4) + "[route]\nlayers=-1,-2\n" + "[route]\nlayers=-3\n",
                        outputs="heads")
    assert [o.name for o in exp.model.graph.output] == ["layer_003"]
    assert ops(exp).count("Identity") == 1
