"""Darknet .weights I/O: layout, round trips (both header versions, transposed connected
weights), size errors, partial files; the layout checked against Darknet's own nweights."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from cfgtool.diagnostics import CfgError
from cfgtool.model import build
from cfgtool.shapes import infer_shapes
from cfgtool.syntax import parse
from cfgtool.weights import WeightsHeader, expected_size, layout, read_weights, write_weights
from conftest import corpus_params, expected

CFG = """[net]
width=8
height=8
channels=3

[convolutional]
batch_normalize=1
filters=4
size=3
stride=1
pad=1
activation=leaky

[convolutional]
filters=6
groups=2
size=3
stride=1
pad=1
activation=linear

[shortcut]
from=-2
weights_type=per_channel
weights_normalization=relu

[batchnorm]

[connected]
output=5
batch_normalize=1
activation=linear

[connected]
output=3
activation=linear
"""


def network(text=CFG):
    net = build(parse(text, "tiny.cfg"))
    shapes = infer_shapes(net)
    assert shapes.ok, shapes.diagnostics
    return net, shapes


def random_tensors(net, shapes, seed=0):
    rng = np.random.default_rng(seed)
    return {i: {t.name: rng.normal(size=t.shape).astype(np.float32) for t in ts} for i, ts in layout(net, shapes)}


def test_layout_follows_darknet_order():
    net, shapes = network()
    plan = dict(layout(net, shapes))
    assert [(t.name, t.shape) for t in plan[0]] == [
        ("biases", (4,)), ("scales", (4,)), ("rolling_mean", (4,)), ("rolling_variance", (4,)), ("weights", (4, 3, 3, 3))]
    # groups=2 on 4 input channels: 2 channels per filter
    assert [(t.name, t.shape) for t in plan[1]] == [("biases", (6,)), ("weights", (6, 2, 3, 3))]
    assert sum(t.count for t in plan[2]) == 2 * 6  # per_channel shortcut: (from layers + 1) * channels
    assert [t.name for t in plan[3]] == ["biases", "scales", "rolling_mean", "rolling_variance"]
    assert [(t.name, t.shape) for t in plan[4]] == [
        ("biases", (5,)), ("weights", (5, 6 * 8 * 8)), ("scales", (5,)), ("rolling_mean", (5,)), ("rolling_variance", (5,))]
    assert [(t.name, t.shape) for t in plan[5]] == [("biases", (3,)), ("weights", (3, 5))]


@pytest.mark.parametrize("version", [(0, 2, 5), (0, 1, 0), (1, 0, 3)], ids=["seen64", "seen32", "v1.0"])
def test_round_trip_is_byte_identical(tmp_path, version):
    net, shapes = network()
    header = WeightsHeader(*version, seen=123456)
    tensors = random_tensors(net, shapes)
    first = tmp_path / "a.weights"
    size = write_weights(first, header, tensors, net, shapes)
    assert size == first.stat().st_size == expected_size(net, shapes, header)
    raw = first.read_bytes()
    assert struct.unpack_from("<iii", raw) == version
    assert header.size == (20 if version[0] * 10 + version[1] >= 2 else 16)
    got_header, got = read_weights(first, net, shapes)
    assert got_header == header
    for i, named in tensors.items():
        for name, arr in named.items():
            np.testing.assert_array_equal(got[i][name], arr)
    second = tmp_path / "b.weights"
    write_weights(second, got_header, got, net, shapes)
    assert second.read_bytes() == raw


def test_transposed_connected_weights(tmp_path):
    net, shapes = network()
    tensors = random_tensors(net, shapes, seed=1)
    plain, flipped = tmp_path / "plain.weights", tmp_path / "flipped.weights"
    write_weights(plain, WeightsHeader(0, 2, 5), tensors, net, shapes)
    write_weights(flipped, WeightsHeader(0, 1001, 5), tensors, net, shapes)
    assert WeightsHeader(0, 1001, 5).transpose and WeightsHeader(1001, 0, 0).transpose
    a, b = plain.read_bytes(), flipped.read_bytes()
    assert len(a) == len(b) and a != b
    # layer 4's weights start after the header, layers 0..3 and layer 4's 5 biases
    plan = dict(layout(net, shapes))
    offset = 20 + 4 * sum(t.count for i in (0, 1, 2, 3) for t in plan[i]) + 4 * 5
    w = tensors[4]["weights"]
    assert b[offset:offset + w.nbytes] == np.ascontiguousarray(w.T).astype("<f4").tobytes()
    assert a[offset:offset + w.nbytes] == w.astype("<f4").tobytes()
    _, back = read_weights(flipped, net, shapes)
    np.testing.assert_array_equal(back[4]["weights"], w)
    write_weights(tmp_path / "again.weights", WeightsHeader(0, 1001, 5), back, net, shapes)
    assert (tmp_path / "again.weights").read_bytes() == b


def test_truncated_file_names_first_layer_not_covered(tmp_path):
    net, shapes = network()
    path = tmp_path / "w.weights"
    full = write_weights(path, WeightsHeader(), random_tensors(net, shapes), net, shapes)
    data = path.read_bytes()
    plan = dict(layout(net, shapes))
    layer1_start = 20 + 4 * sum(t.count for t in plan[0])
    path.write_bytes(data[:layer1_start + 8])  # two floats into layer 1
    with pytest.raises(CfgError) as exc:
        read_weights(path, net, shapes)
    (d,) = exc.value.diagnostics
    assert d.code == "X102" and d.layer == 1
    assert str(full) in d.message and str(layer1_start + 8) in d.message
    assert d.span.line == net.layers[1].line
    # a prefix cut between layers is accepted as partial and says which layers it filled
    path.write_bytes(data[:layer1_start])
    _, got = read_weights(path, net, shapes, allow_partial=True)
    assert list(got) == [0]
    with pytest.raises(CfgError):
        read_weights(path, net, shapes)
    path.write_bytes(data[:layer1_start + 8])
    with pytest.raises(CfgError):
        read_weights(path, net, shapes, allow_partial=True)


def test_too_long_and_header_only_errors(tmp_path):
    net, shapes = network()
    path = tmp_path / "w.weights"
    full = write_weights(path, WeightsHeader(), random_tensors(net, shapes), net, shapes)
    path.write_bytes(path.read_bytes() + b"\0" * 12)
    with pytest.raises(CfgError) as exc:
        read_weights(path, net, shapes)
    msg = exc.value.diagnostics[0].message
    assert "too long" in msg and str(full) in msg and str(full + 12) in msg
    path.write_bytes(b"\0" * 7)
    with pytest.raises(CfgError, match="header"):
        read_weights(path, net, shapes)


def test_dontload_and_dontloadscales_leave_tensors_out():
    text = CFG.replace("activation=leaky", "activation=leaky\ndontloadscales=1")
    text = text.replace("filters=6\ngroups=2", "filters=6\ngroups=2\ndontload=1")
    net, shapes = network(text)
    plan = dict(layout(net, shapes))
    assert [t.name for t in plan[0]] == ["biases", "weights"]
    assert 1 not in plan


def test_shared_convolution_has_no_tensors():
    conv = "[convolutional]\nfilters=6\nsize=3\npad=1\nactivation=linear\n"
    text = CFG.replace("[shortcut]\nfrom=-2", f"{conv}\n{conv}share_index=2\n\n[shortcut]\nfrom=-4")
    net, shapes = network(text)
    plan = dict(layout(net, shapes))
    assert 2 in plan and 3 not in plan


@pytest.mark.parametrize("cfg", corpus_params())
def test_layout_matches_darknet_nweights(cfg):
    """Darknet's own l.nweights for convolutional, shortcut and implicit layers equals the size
    of the tensor called weights here (the other tensors are one value per filter)."""
    exp = expected(cfg)
    if exp.get("excluded") or exp.get("darknet_failure"):
        pytest.skip("no full oracle for this file")
    net = build(parse(cfg.read_text(encoding="utf-8", errors="replace"), str(cfg)))
    shapes = infer_shapes(net)
    if not shapes.ok:
        pytest.skip("cfgtool reports shape errors for this file")
    plan = dict(layout(net, shapes))
    checked = 0
    for row in exp["layers"]:
        i, kind = row["index"], row["type"]
        if kind not in ("convolutional", "shortcut", "implicit") or net.layers[i].section.get("share_index"):
            continue
        tensors = {t.name: t for t in plan.get(i, [])}
        got = tensors["weights"].count if "weights" in tensors else 0
        assert got == row["nweights"], (i, kind)
        if kind == "convolutional":
            assert tensors["biases"].count == row["output"][2]
        checked += 1
    assert checked or not any(r["type"] == "convolutional" for r in exp["layers"])
