"""Forward parity with OpenCV's Darknet importer (cv2.dnn.readNetFromDarknet) on corpus cfgs.

Each cfg is run at 128x128 with random weights written by cfgtool; every layer's output is
compared with the OpenCV layer that computes it, within 1e-3 of the tensor's max |value|.

What OpenCV cannot check, and how it is covered instead:
- [yolo] / [region] / [Gaussian_yolo] / [detection]: OpenCV outputs decoded boxes, not
  Darknet's layout. Their input (the convolution before) is compared here; the transforms are
  covered by the op tests (tests/test_ops_*.py).
- [reorg3d]: OpenCV cannot import it. It is replaced by a 2x2 stride-2 convolution with 4x the
  channels (same output shape) so everything after it ([sam], routes, heads) is still compared;
  the reorg op itself is covered by the op tests.
- [dropout] is the identity in inference on both sides (OpenCV's identity layer).

Making random weights meaningful: OpenCV's importer uses batch-norm epsilon 1e-6 where Darknet
uses 1e-5, so convolution weights are scaled to give pre-normalisation variances near 100 (the
epsilon difference is then below 1e-7). Rolling means/variances are set near the statistics of
the actual input (the variance averaged over channels), scales in [0.2, 0.6], biases N(0, 0.2):
every layer sees O(1) values that depend on the input, and the network does not amplify float32
rounding through 160 layers. OpenCV's fusion and Winograd are off so intermediate outputs are
kept and exact.
"""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pytest

from cfgtool.executor.network import NETWORK_INPUT, Executor
from cfgtool.executor.ops import convolutional
from cfgtool.model import build
from cfgtool.shapes import infer_shapes
from cfgtool.syntax import parse_file, parse_sections
from cfgtool.weights import WeightsHeader, write_weights

cv2 = pytest.importorskip("cv2")

MODELS = ["yolov4-tiny", "yolov4", "yolov4-csp", "yolov4-sam-mish-csp-reorg-bfm", "efficientnet_b0", "enet-coco"]
SIZE = 128
UNCHECKED = {"yolo", "region", "Gaussian_yolo", "detection"}
# OpenCV names an activation after the *next* layer index: conv_5, bn_5, mish_6
ACTIVATION_NAMES = {"leaky", "mish", "swish", "logistic", "relu", "tanh", "elu", "selu", "relu6", "gelu", "hard_mish"}


def opencv_outputs(names) -> dict[int, str]:
    """Darknet layer index -> the last OpenCV layer computing it."""
    out = {}
    for name in names:
        kind, k = re.match(r"(.*)_(\d+)$", name).groups()
        out[int(k) - 1 if kind in ACTIVATION_NAMES else int(k)] = name
    return out


def prepared_cfg(src, dst):
    """The cfg at SIZE with [reorg3d] replaced by a same-shape convolution."""
    doc = parse_file(src)
    doc.sections[0].set("width", str(SIZE))
    doc.sections[0].set("height", str(SIZE))
    net = build(doc)
    shapes = infer_shapes(net)
    for layer in reversed(net.layers):
        if layer.type == "reorg":
            c = shapes.layers[layer.index].input[2]
            doc.remove_section(layer.index + 1)
            doc.insert_sections(layer.index + 1, parse_sections(
                f"[convolutional]\nfilters={4 * c}\nsize=2\nstride=2\nactivation=linear\n"))
    dst.write_text(doc.dumps())
    net = build(parse_file(dst))
    shapes = infer_shapes(net)
    assert shapes.ok, shapes.diagnostics
    return net, shapes


def calibrated_weights(net, shapes, x, seed=0):
    """Random tensors with batch-norm statistics taken from the input's actual activations."""
    exe = Executor(net, shapes, batch=x.shape[0], seed=seed)
    rng = np.random.default_rng(seed)
    outs = {NETWORK_INPUT: x}
    for step in exe.steps:
        w = exe.weights.get(step.owner, {})
        xs = [outs[j] for j in step.inputs]
        if step.owner == step.layer.index and w:
            if "biases" in w:
                w["biases"] = rng.normal(0, 0.2, w["biases"].shape)
            if "scales" in w:
                w["scales"] = rng.uniform(0.2, 0.6, w["scales"].shape)
            if step.layer.type == "convolutional" and step.params.get("batch_normalize"):
                p = replace(step.params, batch_normalize=0, activation="linear")
                bare = {"weights": w["weights"], "biases": np.zeros_like(w["biases"])}
                z = convolutional.forward(p, bare, xs, False)[0].astype(np.float64)
                gain = 10 / np.sqrt(z.var(axis=(0, 2, 3)).mean())
                w["weights"] *= np.float32(gain)
                z *= gain
                n = w["biases"].shape
                w["rolling_mean"] = z.mean(axis=(0, 2, 3)) + rng.normal(0, 0.1, n) * z.std(axis=(0, 2, 3))
                w["rolling_variance"] = z.var(axis=(0, 2, 3)).mean() * rng.uniform(0.8, 1.25, n)
        w.update({k: v.astype(np.float32) for k, v in w.items()})
        outs[step.layer.index] = step.op.forward(step.params, w, xs, False)[0]
    return exe.weights


@pytest.mark.parametrize("model", MODELS)
def test_forward_matches_opencv(model, conformance_dir, tmp_path):
    src = conformance_dir / "darknet" / "cfg" / f"{model}.cfg"
    if not src.exists():
        pytest.skip(f"{src.name} not in the corpus")
    cfg = tmp_path / f"{model}.cfg"
    net, shapes = prepared_cfg(src, cfg)
    x = np.random.default_rng(1).random((1, 3, SIZE, SIZE), dtype=np.float32)
    tensors = calibrated_weights(net, shapes, x)
    weights = tmp_path / f"{model}.weights"
    write_weights(weights, WeightsHeader(), tensors, net, shapes)

    exe = Executor(net, shapes)
    exe.load(tensors)
    ours = exe.forward(x, keep="all")

    cvnet = cv2.dnn.readNetFromDarknet(str(cfg), str(weights))
    cvnet.enableFusion(False)
    cvnet.enableWinograd(False)
    mapping = {i: n for i, n in opencv_outputs(cvnet.getLayerNames()).items()
               if i in ours and net.layers[i].type not in UNCHECKED}
    unmapped = {layer.type for layer in net.layers if layer.index not in mapping}
    assert unmapped <= UNCHECKED, f"layers OpenCV gives no output for: {unmapped}"
    cvnet.setInput(x)
    order = sorted(mapping)
    refs = cvnet.forward([mapping[i] for i in order])
    worst = 0.0
    for i, ref in zip(order, refs):
        a, b = ours[i].reshape(-1), np.asarray(ref).reshape(-1)
        assert a.size == b.size, (i, net.layers[i].type, ours[i].shape, ref.shape)
        assert b.std() > 0, (i, "constant output: the check would be meaningless")
        err = float(np.abs(a - b).max() / np.abs(b).max())
        assert err < 1e-3, (i, net.layers[i].type, mapping[i], err)
        worst = max(worst, err)
    assert len(order) >= len(net.layers) - sum(layer.type in UNCHECKED for layer in net.layers)
