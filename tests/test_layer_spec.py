"""The layer spec is the one home of a type's facts: nothing else names a layer type, every
type runs or says why not, and the facts other modules ask for read right."""

from __future__ import annotations

import ast
import collections
from pathlib import Path

import pytest

from cfgtool.executor.ops import op_for
from cfgtool.layers import SPECS, spec_for
from cfgtool.layers.base import HeadNeed, Reader
from cfgtool.lint.targets import TARGETS
from cfgtool.model import build
from cfgtool.shapes import infer_shapes
from cfgtool.syntax import parse

PACKAGE = Path(__file__).resolve().parent.parent / "cfgtool"
# folders with one module per type (specs, kernels, lowerings): a type may name the types it is built from
PER_TYPE = ("layers", "executor/ops", "lowering")
REGISTRY = "layers/__init__.py"
OTHER_PLACES = 5


def type_name_constants(root: Path = PACKAGE) -> collections.Counter:
    """(module, line) -> how many string constants there equal a registered type's name or
    one of its section headers ("[yolo]": a table keyed by headers is a table of types), outside
    the per-type folders (a module may name the type it is named after)."""
    names = {spec.type for spec in SPECS} - {"activation"}  # every layer's activation= key, first
    names |= {header for spec in SPECS for header in spec.sections}
    found = collections.Counter()
    for path in root.rglob("*.py"):
        where = path.relative_to(root).as_posix()
        if path.parent.relative_to(root).as_posix() in PER_TYPE and where != REGISTRY:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value in names and node.value.lower() != path.stem.lower():
                found[(where, node.lineno)] += 1
    return found


def test_only_the_registry_and_a_few_places_name_layer_types():
    found = type_name_constants()
    elsewhere = {where: n for where, n in found.items() if where[0] != REGISTRY}
    assert len(elsewhere) <= OTHER_PLACES, (
        f"layer type names outside the per-type folders: {sorted(elsewhere)}; ask the spec instead "
        "(see CONTRIBUTING.md)")


def test_the_count_sees_a_type_name(tmp_path):
    # the check itself works: a type name in a module outside the per-type folders is counted
    for where in ("lint/rule.py", "layers/yolo.py", "executor/ops/route.py"):
        (tmp_path / where).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / where).write_text('def f(layer):\n    return layer.type == "yolo"\n\nT = {"[yolo]": 1}\n',
                                      encoding="utf-8")
    assert type_name_constants(tmp_path) == {("lint/rule.py", 2): 1, ("lint/rule.py", 4): 1}


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.type)
def test_every_type_has_a_kernel_or_says_why_not(spec):
    kernel = op_for(spec)
    if spec.cannot_run:
        assert kernel is None, f"{spec.type} has a kernel but declares cannot_run"
    else:
        assert kernel is not None, f"{spec.type}: add executor/ops/{spec.module}.py or declare cannot_run"
        assert callable(kernel.forward) and callable(kernel.backward)


def head_of(text: str):
    net = build(parse(text))
    layer = net.layers[-1]
    return layer.spec.head(Reader(layer.section, layer.spec))


NET = "[net]\nwidth=32\nheight=32\nchannels=3\n\n[convolutional]\nfilters=255\n\n"


def test_yolo_head_reads_like_darknet():
    head = head_of(NET + "[yolo]\nclasses=80\nnum=9\nmask=3,4,5 # mid\nanchors=1,2, 3,4 # x\n")
    assert (head.classes, head.num, head.mask, head.anchors) == (80, 9, (3, 4, 5), (1.0, 2.0, 3.0, 4.0))
    assert head.filters() == 255 and head.filters(classes=2) == 21
    assert head.formula(classes=2) == "(2 + 5) * 3"


def test_heads_without_mask_and_other_layouts():
    yolo = head_of(NET + "[yolo]\nnum=2\n")
    assert yolo.mask == (0, 1) and yolo.anchors == () and yolo.filters() == 2 * (20 + 5)
    gauss = head_of(NET + "[Gaussian_yolo]\nclasses=1\nnum=3\nmask=0,1,2\n")
    assert gauss.filters() == 3 * (1 + 9)
    region = head_of(NET + "[region]\nclasses=20\ncoords=4\nnum=5\nanchors=1,2,3\n")
    assert region.mask is None and region.anchors == (1.0, 2.0, 3.0)
    assert region.filters() == 125 and region.formula() == "5 * (20 + 4 + 1)"
    det = head_of("[net]\ninputs=1470\n\n[detection]\nclasses=20\ncoords=4\nnum=2\nside=7\n")
    assert not det.anchored and det.filters() == 7 * 7 * ((1 + 4) * 2 + 20)
    assert det.need(classes=3) == HeadNeed(None, 7 * 7 * ((1 + 4) * 2 + 3), "7 * 7 * ((1 + 4) * 2 + 3)")
    assert region.need(classes=2) == HeadNeed(5 * (2 + 4 + 1), None, "5 * (2 + 4 + 1)")
    assert head_of(NET + "[maxpool]\n") is None


def test_roles_the_other_modules_ask_for():
    assert {s.type for s in SPECS if s.is_head} == {"yolo", "Gaussian_yolo", "region", "detection"}
    assert {s.type for s in SPECS if s.is_output} >= {s.type for s in SPECS if s.is_head}
    assert {s.type for s in SPECS if s.recurrent} == {"rnn", "crnn", "gru", "lstm", "conv_lstm", "history"}
    assert spec_for("[route]").combine == "concat" and spec_for("[shortcut]").combine == "sum"


def test_opencv_loads_what_the_specs_declare():
    assert TARGETS["opencv"].sections == {
        "[net]", "[convolutional]", "[connected]", "[maxpool]", "[avgpool]", "[softmax]", "[route]",
        "[dropout]", "[cost]", "[crop]", "[reorg]", "[region]", "[shortcut]", "[scale_channels]",
        "[sam]", "[upsample]", "[yolo]"}


def test_tensors_in_file_order_with_flags():
    text = ("[net]\nwidth=8\nheight=8\nchannels=3\n\n[convolutional]\nbatch_normalize=1\nfilters=4\nsize=3\n\n"
            "[connected]\noutput=5\n\n[shortcut]\nfrom=-2\nweights_type=per_feature\nweights_normalization=relu\n")
    net = build(parse(text.replace("[shortcut]\nfrom=-2", "[shortcut]\nfrom=-1")))
    shapes = infer_shapes(net)
    conv, conn, short = (layer.spec.tensors(shapes.layers[layer.index]) for layer in net.layers)
    assert [(t.name, t.shape, t.scales, t.init) for t in conv] == [
        ("biases", (4,), False, "zeros"), ("scales", (4,), True, "ones"), ("rolling_mean", (4,), True, "zeros"),
        ("rolling_variance", (4,), True, "ones"), ("weights", (4, 3, 3, 3), False, "uniform")]
    assert [(t.name, t.transposable) for t in conn] == [("biases", False), ("weights", True)]
    assert [(t.name, t.shape, t.init) for t in short] == [("weights", (2,), "ones")]


def test_net_reads_no_layer_options():
    # parse_net_options reads no clip=/dontload=...: in [net] they are Darknet's unused fields
    from cfgtool.layers.base import COMMON
    from cfgtool.layers.network import NET

    assert NET.options[-len(COMMON):] != COMMON and "clip" not in {o.key for o in NET.options}
    assert all(spec.options[-len(COMMON):] == COMMON for spec in SPECS)
    text = "[net]\nwidth=8\nheight=8\nchannels=3\nclip=1\n\n[convolutional]\nfilters=2\n"
    from cfgtool.lint import check

    assert [d.code for d in check(parse(text)) if "clip" in d.message] == ["W302"]
