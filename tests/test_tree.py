"""tree= on [softmax] and [region]: Darknet's tree file (src/tree.c read_tree), its hierarchical
softmax (softmax_layer.c, region_layer.c softmax_tree) and [region]'s class probabilities with
a tree (get_region_boxes, hierarchy_predictions), against plain references written here from
Darknet's loops; gradient checks; where the file is looked for and the located diagnostics
when it is missing or malformed. The tests write their own small tree files."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cfgtool.diagnostics import CfgError
from cfgtool.executor.network import Executor
from cfgtool.executor.ops import region, softmax
from cfgtool.hierarchy import TreeError, parse_tree
from cfgtool.model import build
from cfgtool.shapes import infer_shapes
from cfgtool.syntax import parse
from conftest import invoke
from opcheck import check_gradients, typed

# 9 nodes; Darknet's groups (a group ends where the parent changes): [0 1] [2 3 4] [5 6] [7 8]
TREE = "animal -1\nplant -1\ncat 0\ndog 0\nbird 0\ntree 1\nflower 1\nrose 6\ntulip 6\n"
PARENT = [-1, -1, 0, 0, 0, 1, 1, 6, 6]
GROUP_SIZES = [2, 3, 2, 2]

SOFTMAX_NET = "[net]\nwidth=5\nheight=2\nchannels=1\n\n[softmax]\ntemperature=0.7\ntree=data/t.tree\n"
REGION_NET = ("[net]\nwidth=2\nheight=2\nchannels=28\n\n[region]\nclasses=9\nnum=2\ncoords=4\nsoftmax=1\n"
              "anchors=1,1,2,2\nthresh=0.3\ntree=data/t.tree\n")


def darknet_softmax(v, temp=1.0):
    """blas.c softmax(): exp(x/t - largest/t) / sum."""
    largest = max(v)
    e = [math.exp(x / temp - largest / temp) for x in v]
    return [x / sum(e) for x in e]


def ref_softmax_tree(x, temp):
    """forward_softmax_layer's tree branch per image: groups end to end; the rest stays 0."""
    out = np.zeros_like(x)
    for b in range(x.shape[0]):
        count = 0
        for size in GROUP_SIZES:
            out[b, count:count + size] = darknet_softmax(x[b, count:count + size], temp)
            count += size
    return out


def ref_region(x, n, classes):
    """forward_region_layer on the CPU: flatten to records, logistic on entry 4, softmax_tree from 5."""
    b, c, h, w = x.shape
    size = classes + 5
    out = np.zeros(b * c * h * w)
    flat = x.reshape(b, c, h * w)
    for bi in range(b):
        for loc in range(h * w):
            for k in range(c):  # flatten(): out[b][loc][k] = in[b][k][loc]
                out[bi * c * h * w + loc * c + k] = flat[bi, k, loc]
        for i in range(h * w * n):
            index = size * i + bi * c * h * w
            out[index + 4] = 1 / (1 + math.exp(-out[index + 4]))
            count = index + 5
            for gs in GROUP_SIZES:
                out[count:count + gs] = darknet_softmax(out[count:count + gs])
                count += gs
    return out.reshape(x.shape)


def ref_region_probs(records, classes, thresh):
    """get_region_boxes with a tree and no map, per record (float32 as Darknet computes)."""
    probs = np.zeros((len(records), classes), np.float32)
    for index, rec in enumerate(records):
        pred = [np.float32(v) for v in rec]
        scale = pred[4]
        ci = 5
        for j in range(classes):  # hierarchy_predictions(..., only_leaves=0)
            if PARENT[j] >= 0:
                pred[ci + j] = np.float32(pred[ci + j] * pred[ci + PARENT[j]])
        found = False
        for j in range(classes - 1, -1, -1):
            if not found and pred[ci + j] > 0.5:
                found = True
            else:
                pred[ci + j] = np.float32(0)
            probs[index, j] = pred[ci + j] if scale > thresh else 0
    return probs


def layout(tmp_path, net_text):
    """tmp/cfg/t.cfg naming data/t.tree, the tree at tmp/data/t.tree (Darknet's folder layout)."""
    (tmp_path / "cfg").mkdir()
    (tmp_path / "data").mkdir()
    cfg = tmp_path / "cfg" / "t.cfg"
    cfg.write_text(net_text)
    (tmp_path / "data" / "t.tree").write_text(TREE)
    return cfg


def executor(cfg, dtype=np.float64, **kw):
    net = build(parse(cfg.read_text(), str(cfg)))
    shapes = infer_shapes(net)
    assert shapes.ok, [d.one_line() for d in shapes.diagnostics]
    return Executor(net, shapes, dtype=dtype, **kw)


def test_read_tree_groups_as_darknet():
    tree = parse_tree(TREE)
    assert tree.parent == tuple(PARENT) and tree.n == 9
    assert [s for _, s in tree.groups] == GROUP_SIZES and [o for o, _ in tree.groups] == [0, 2, 5, 7]
    # a group ends only where the parent changes: 'e' after 'd' is a group of its own
    assert [s for _, s in parse_tree("a -1\nb -1\nc 0\nd 1\ne 0").groups] == [2, 1, 1, 1]
    # a first parent other than -1 starts with an empty group (read_tree's last_parent = -1); CRLF read as LF
    quirk = parse_tree("a 1\r\nb -1\r\n")
    assert quirk.group_size == (0, 1, 1) and quirk.group_offset == (0, 0, 1)


@pytest.mark.parametrize("text, line, words", [
    ("a -1\n\nb 0\n", 2, "blank line"),
    ("a -1\nb\n", 2, "not 'name parent'"),
    ("a -1\nb x\n", 2, "not 'name parent'"),
    ("a -1\nb 2\n", 2, "past the last node"),
    ("a" * 256 + " -1\n", 1, "256 characters"),
    ("", None, "no nodes"),
])
def test_malformed_tree_files_name_the_line(text, line, words):
    with pytest.raises(TreeError, match=words) as exc:
        parse_tree(text)
    assert exc.value.line == line


def test_softmax_tree_forward_equals_darknet(tmp_path):
    exe = executor(layout(tmp_path, SOFTMAX_NET), batch=2)
    x = np.random.default_rng(0).normal(size=(2, 1, 2, 5)) * 3
    out = exe.forward(x)[0]
    ref = ref_softmax_tree(x.reshape(2, 10), 0.7)
    assert ref[:, 9].tolist() == [0, 0]  # past the tree's 9 nodes
    np.testing.assert_allclose(out.reshape(2, 10), ref, rtol=1e-12, atol=1e-15)


def test_region_tree_forward_and_class_probabilities_equal_darknet(tmp_path):
    exe = executor(layout(tmp_path, REGION_NET))
    x = np.random.default_rng(1).normal(size=(1, 28, 2, 2)) * 4
    out = exe.forward(x)[0]
    np.testing.assert_allclose(out, ref_region(x, 2, 9), rtol=1e-12, atol=1e-15)
    step = exe.steps[0]
    _, obj, probs = region.decode(step.params, out[0].astype(np.float32), 2, 2, 0.3)
    records = out[0].astype(np.float32).reshape(8, 14)
    want = ref_region_probs(records, 9, 0.3)
    np.testing.assert_array_equal(probs, want)
    assert (obj == 1).all() and np.count_nonzero(want) >= 2 and np.count_nonzero(want[:, 2:]) >= 1


@pytest.mark.parametrize("net_text", [SOFTMAX_NET, REGION_NET], ids=["softmax", "region"])
def test_tree_gradients(tmp_path, net_text):
    step = executor(layout(tmp_path, net_text)).steps[0]
    op = softmax if "[softmax]" in net_text else region
    x = np.random.default_rng(2).normal(size=(2,) + ((1, 2, 5) if op is softmax else (28, 2, 2)))
    check_gradients(op, step.params, {}, [x])


def test_kernels_need_the_tree_read():
    for op, p in ((softmax, {"tree": "t.tree"}), (region, {"n": 1, "classes": 1, "tree": "t.tree"})):
        with pytest.raises(ValueError, match="tree=t.tree"):
            op.forward(typed(op, p), {}, [np.zeros((1, 6, 1, 1))], False)


def test_lookup_order_and_data_dir(tmp_path, monkeypatch):
    cfg = layout(tmp_path, SOFTMAX_NET)
    monkeypatch.chdir(tmp_path / "cfg")
    assert executor(cfg).steps[0].params.hierarchy.n == 9  # found beside the cfg's folder
    (tmp_path / "cfg" / "data").mkdir()
    (tmp_path / "cfg" / "data" / "t.tree").write_text("a -1\nb -1\n")
    assert executor(cfg).steps[0].params.hierarchy.n == 2  # the current directory first, as Darknet
    assert executor(cfg, data_dir=tmp_path).steps[0].params.hierarchy.n == 9


def diagnostic_of(cfg, **kw):
    with pytest.raises(CfgError) as exc:
        executor(cfg, **kw)
    (d,) = exc.value.diagnostics
    return d


def test_missing_malformed_or_misfitting_tree_is_located_at_tree(tmp_path):
    cfg = layout(tmp_path, SOFTMAX_NET)
    d = diagnostic_of(cfg, data_dir=tmp_path / "cfg")
    assert (d.code, d.span.line, d.span.column) == ("X006", 8, 6) and "no such file" in d.message
    assert "--data-dir" in " ".join(d.notes)
    (tmp_path / "data" / "t.tree").write_text("a -1\nb 7\n")
    d = diagnostic_of(cfg)
    assert d.code == "X006" and d.span.line == 8 and "line 2: parent 7" in d.message
    (tmp_path / "data" / "t.tree").write_text("".join(f"n{i} -1\n" for i in range(11)))
    assert "more than the layer's 10 inputs" in diagnostic_of(cfg).message
    region_cfg = tmp_path / "cfg" / "r.cfg"
    region_cfg.write_text(REGION_NET)
    assert "11 nodes for classes=9" in diagnostic_of(region_cfg).message


def test_cli_run_and_smoke_with_a_tree(tmp_path):
    cfg = layout(tmp_path, SOFTMAX_NET)
    x = tmp_path / "x.npy"
    np.save(x, np.random.default_rng(3).normal(size=(1, 1, 2, 5)).astype(np.float32))
    result = invoke("run", cfg, "--input", x, "--dump", tmp_path / "dump")
    assert result.exit_code == 0, result.output
    out = np.load(tmp_path / "dump" / "layer_000.npy")
    np.testing.assert_allclose(out.reshape(1, 10), ref_softmax_tree(np.load(x).reshape(1, 10).astype(np.float64), 0.7),
                               rtol=1e-5)
    result = invoke("smoke", cfg)
    assert result.exit_code == 0, result.output
    result = invoke("run", cfg, "--input", x, "--data-dir", tmp_path / "cfg")
    assert result.exit_code == 1 and "t.cfg:8:6" in result.output and "X006" in result.output
    pytest.importorskip("onnx")
    result = invoke("export", cfg, "-o", tmp_path / "t.onnx", "--data-dir", tmp_path)
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("net_text", [SOFTMAX_NET, REGION_NET], ids=["softmax", "region"])
def test_tree_export_equals_the_executor(tmp_path, net_text):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from cfgtool.export import to_onnx
    from cfgtool.export.check import compare

    cfg = layout(tmp_path, net_text)
    exe = executor(cfg, np.float32)
    exp = to_onnx(exe.network, exe.shapes, outputs="all", executor=exe)
    assert sum(n.op_type == "Softmax" for n in exp.model.graph.node) == len(GROUP_SIZES)
    x = np.random.default_rng(4).normal(size=exe.input_shape).astype(np.float32) * 3
    assert all(d.ok for d in compare(exp.model.SerializeToString(), exp, x=x))
