"""Shape inference against Darknet's own numbers (the conformance corpus) and on small cfgs
that hit each error Darknet aborts on."""

from __future__ import annotations

import math
import re
import subprocess
import sys

import pytest
from conftest import CONFORMANCE, EXAMPLES, corpus_params, expected, shapes_of

from cfgtool.layers import SPECS, TABLE
from cfgtool.layers.base import LayerSpec, Reader
from cfgtool.layers.network import NET as NET_SPEC
from cfgtool.model import build
from cfgtool.shapes import infer_shapes, unused_options
from cfgtool.syntax import parse, parse_file


def errors(shapes):
    return [d for d in shapes.diagnostics if d.severity == "error"]


NET = """\
[net]
width={w}
height={h}
channels={c}
"""


def net(w=32, h=32, c=3):
    return NET.format(w=w, h=h, c=c)


# ---------------------------------------------------------------- conformance


@pytest.mark.parametrize("cfg", corpus_params())
def test_corpus_matches_darknet(cfg):
    exp = expected(cfg)
    if exp.get("excluded"):
        pytest.skip(f"no Darknet oracle: {exp['excluded']}")
    network = build(parse_file(cfg))
    shapes = infer_shapes(network)
    if exp.get("darknet_failure"):
        # Darknet aborted at failing_layer: the first error is there, every layer before it parsed
        failing = exp["failing_layer"]
        assert errors(shapes) and errors(shapes)[0].layer == failing
        assert all(s is not None for s in shapes.layers[:failing])
        return
    assert_matches_darknet(network, shapes, exp)


@pytest.mark.parametrize("name", ["yolov4", "yolov4-tiny"])
def test_examples_match_darknet(name, conformance_dir):
    """The project's own example cfgs build the same network as Darknet's files."""
    network = build(parse_file(EXAMPLES / f"{name}.cfg"))
    exp = expected(conformance_dir / "darknet" / "cfg" / f"{name}.cfg")
    assert_matches_darknet(network, infer_shapes(network), exp)


def assert_matches_darknet(network, shapes, exp):
    assert errors(shapes) == []
    assert len(exp["layers"]) > 0
    assert len(network.layers) == len(exp["layers"])
    for k in ("width", "height", "channels", "inputs"):
        assert shapes.net[k] == exp["net"][k], k
    for layer, shape, want in zip(network.layers, shapes.layers, exp["layers"]):
        where = f"layer {want['index']} {want['section']}"
        assert layer.section.name == want["section"], where
        assert layer.spec.type_name(layer.section.name) == want["type"], where
        assert shape is not None, where
        assert list(shape.output) == want["output"], where
        assert shape.outputs == want["outputs"], where
        assert shape.nweights == want["nweights"], where
        if want["input"] != [0, 0, 0]:
            assert list(shape.input) == want["input"], where
        # Darknet's table has 6 decimals: relative 1e-3, or half a unit of the last digit
        assert math.isclose(shape.bflops, want["bflops"], rel_tol=1e-3, abs_tol=5e-7), where
    unused = [f"{ln.key} = {ln.value}" for layer in network.layers
              for ln in unused_options(layer.section, shapes.used[layer.index])]
    assert unused == exp["unused_fields"]


RESNETS = ["resnet50", "resnet101", "resnet152", "resnext152-32x4d"]


@pytest.mark.parametrize("name", RESNETS)
def test_resnet_shortcut_abort(conformance_dir, name):
    """Darknet asserts in parse_shortcut at layer 17 of these files; so do we, there and only there."""
    cfg = conformance_dir / "darknet" / "cfg" / f"{name}.cfg"
    exp = expected(cfg)
    assert exp["failing_layer"] == 17 and "parse_shortcut" in exp["darknet_failure"]
    network = build(parse_file(cfg))
    shapes = infer_shapes(network)
    errs = errors(shapes)
    assert [e.layer for e in errs] == [17]
    err = errs[0]
    assert err.code == "S204" and err.name == "shortcut-size-mismatch"
    section = network.layers[17].section
    assert section.name == "[shortcut]"
    assert err.span.line in (section.header.lineno, section.option("from").lineno)
    assert all(s is not None for s in shapes.layers[:17])
    # the message names both shapes, and they differ in w x h
    found = re.findall(r"(\d+)x(\d+)x(\d+)", err.message)
    prev = shapes.layers[16].output
    source = shapes.layers[17 + int(section.get("from"))].output
    assert {tuple(map(int, f)) for f in found} == {prev, source}
    assert prev[:2] != source[:2]


def test_every_corpus_section_has_a_spec(conformance_dir):
    for cfg in sorted((conformance_dir / "darknet" / "cfg").glob("*.cfg")):
        for section in parse_file(cfg).sections[1:]:
            assert section.name in TABLE, (cfg.name, section.name)


# ---------------------------------------------------------------- registry


def test_registry_is_consistent():
    assert len({spec.type for spec in SPECS}) == len(SPECS)
    sections = [name for spec in SPECS for name in spec.sections]
    assert len(sections) == len(set(sections))
    assert "[net]" not in TABLE and "[network]" not in TABLE
    for spec in SPECS:
        assert issubclass(spec, LayerSpec)
        keys = [opt.key for opt in spec.options]
        assert len(keys) == len(set(keys)), spec
        assert "learning_rate" in keys and "stopbackward" in keys  # read for every layer


def test_darknet_aliases_map_to_the_same_spec():
    for a, b in [("[conv]", "[convolutional]"), ("[max]", "[maxpool]"), ("[avg]", "[avgpool]"),
                 ("[conn]", "[connected]"), ("[soft]", "[softmax]"), ("[lrn]", "[normalization]"),
                 ("[local_avg]", "[local_avgpool]"), ("[silence]", "[empty]")]:
        assert type(TABLE[a]) is type(TABLE[b])
    assert TABLE["[reorg]"].type != TABLE["[reorg3d]"].type
    assert TABLE["[reorg]"].type_name("[reorg]") == "reorg"


def test_index_options_are_marked():
    marked = {(spec.type, opt.key) for spec in SPECS for opt in spec.options if opt.index}
    for pair in [("route", "layers"), ("shortcut", "from"), ("scale_channels", "from"), ("sam", "from"),
                 ("convolutional", "share_index"), ("yolo", "embedding_layer"), ("contrastive", "yolo_layer")]:
        assert pair in marked


def test_index_values_that_name_no_layer_are_no_references():
    """Darknet's "none" values (share_index=-1000000000, embedding_layer=999999) are no
    reference; any other value is, even one out of range."""
    network = build(parse(net() + "[convolutional]\nshare_index=-1000000000\n[convolutional]\nshare_index=-2\n"
                          "[yolo]\nembedding_layer=999999\n[yolo]\nembedding_layer=-3\n"))
    assert [[(r.key, r.raw, r.target) for r in layer.refs] for layer in network.layers] == [
        [], [("share_index", -2, -1)], [], [("embedding_layer", -3, 0)]]


# ---------------------------------------------------------------- net


def test_width_height_override():
    cfg = net(64, 64) + """
[convolutional]
filters=8
size=3
stride=2
pad=1

[yolo]
classes=1
num=1
mask=0
"""
    _, base = shapes_of(cfg.replace("filters=8", "filters=6"))
    _, big = shapes_of(cfg.replace("filters=8", "filters=6"), width=96, height=128)
    assert base.layers[0].output == (32, 32, 6)
    assert big.net["width"] == 96 and big.net["height"] == 128 and big.net["inputs"] == 96 * 128 * 3
    assert big.layers[0].input == (96, 128, 3)
    assert big.layers[0].output == (48, 64, 6)
    assert big.layers[1].outputs == 48 * 64 * 6
    _, only_w = shapes_of(cfg.replace("filters=8", "filters=6"), width=128)
    assert only_w.layers[0].output == (64, 32, 6)


def test_net_batch_and_inputs():
    network, shapes = shapes_of("""\
        [net]
        batch=64
        subdivisions=16
        width=10
        height=20
        channels=1
        [avgpool]
        """)
    assert shapes.net["mini_batch"] == 4 and shapes.net["batch"] == 4
    assert shapes.net["inputs"] == 200
    assert shapes.layers[0].output == (1, 1, 1)


def test_net_without_input_size_is_an_error():
    _, shapes = shapes_of("[net]\nbatch=1\n[avgpool]\n")
    assert [(e.code, e.name) for e in errors(shapes)] == [("S212", "no-input-size")]
    assert shapes.layers == [None]


def test_net_options_schema_follows_parse_net_options():
    keys = [o.key for o in NET_SPEC.options]
    for key in ("batch", "subdivisions", "width", "height", "channels", "inputs", "policy", "steps", "scales",
                "max_batches", "learning_rate", "burn_in", "mosaic", "letter_box"):
        assert key in keys
    network, shapes = shapes_of(net() + "[avgpool]\n")
    assert shapes.net["policy"] == "constant"


# ---------------------------------------------------------------- rules


def test_route_concat_groups_and_input_quirk():
    network, shapes = shapes_of(net(32, 32, 3) + """
[convolutional]
filters=8
size=3
stride=2
pad=1

[convolutional]
filters=4
size=1

[route]
layers=-2,-1

[route]
layers=0
groups=2
group_id=1
""")
    assert errors(shapes) == []
    assert shapes.layers[2].output == (16, 16, 12)
    assert shapes.layers[2].outputs == 16 * 16 * 12
    # Darknet stores the first input layer's *input* w x h as the route's input
    assert shapes.layers[2].input == (32, 32, 12)
    assert shapes.layers[2].params["input_layers"] == [0, 1]
    assert shapes.layers[3].output == (16, 16, 4)
    assert shapes.layers[3].params["group_id"] == 1


def test_route_of_mismatched_maps():
    network, shapes = shapes_of(net(32, 32, 3) + """
[convolutional]
filters=8
size=3
stride=2
pad=1

[convolutional]
filters=4
size=3
stride=2
pad=1

[route]
layers = -1, -2

[convolutional]
filters=2
size=1
""")
    errs = errors(shapes)
    assert len(errs) == 1  # the conv after it gets no shape and no error of its own
    e = errs[0]
    assert (e.code, e.name, e.layer) == ("S203", "route-size-mismatch", 2)
    assert "8x8x4" in e.message and "16x16x8" in e.message
    assert e.span.line == network.layers[2].section.option("layers").lineno
    assert shapes.layers[2] is None and shapes.layers[3] is None
    assert shapes.layers[1] is not None


def test_scale_channels_needs_1x1xC():
    cfg = net(16, 16, 3) + """
[convolutional]
filters=8
size=3
pad=1

[avgpool]

[convolutional]
filters={f}
size=1

[scale_channels]
from=-3
"""
    _, good = shapes_of(cfg.format(f=8))
    assert errors(good) == []
    assert good.layers[3].output == (16, 16, 8) and good.layers[3].input == (1, 1, 8)
    assert good.layers[3].params["index"] == 0
    network, bad = shapes_of(cfg.format(f=4))
    e = errors(bad)[0]
    assert (e.code, e.layer) == ("S205", 3)
    assert "1x1x4" in e.message and "16x16x8" in e.message
    # not 1x1 at all
    _, bad2 = shapes_of(cfg.format(f=8).replace("[avgpool]\n", "[maxpool]\nsize=1\nstride=1\n"))
    assert [e.code for e in errors(bad2)] == ["S205"]


def test_scale_channels_scale_wh():
    _, shapes = shapes_of(net(16, 16, 3) + """
[convolutional]
filters=8
size=3
pad=1

[convolutional]
filters=1
size=1

[scale_channels]
from=-2
scale_wh=1
""")
    assert errors(shapes) == []
    assert shapes.layers[2].output == (16, 16, 8)


def test_sam_shapes_must_match():
    cfg = net(16, 16, 3) + """
[convolutional]
filters=8
size=3
pad=1

[convolutional]
filters={f}
size=1
activation=logistic

[sam]
from=-2
"""
    _, good = shapes_of(cfg.format(f=8))
    assert errors(good) == [] and good.layers[2].output == (16, 16, 8)
    _, bad = shapes_of(cfg.format(f=4))
    assert [(e.code, e.layer) for e in errors(bad)] == [("S206", 2)]


def test_shortcut_channels_may_differ_but_not_size():
    cfg = net(16, 16, 3) + """
[convolutional]
filters=8
size=3
stride={s}
pad=1

[convolutional]
filters=4
size=1

[shortcut]
from=-2
weights_type=per_channel
weights_normalization=softmax
"""
    _, good = shapes_of(cfg.format(s=1))
    sc = good.layers[2]
    assert errors(good) == [] and sc.output == (16, 16, 4)
    assert sc.nweights == (1 + 1) * 4  # (n + 1) * c
    assert sc.params["input_layers"] == [0] and sc.params["weights_type"] == "per_channel"
    assert math.isclose(sc.bflops, 2 * 16 * 16 * 4 / 1e9)


def test_shortcut_weights_normalization_quirk():
    _, shapes = shapes_of(net() + """
[convolutional]
filters=4
size=1

[shortcut]
from=-1
weights_type=per_feature
""")
    e = errors(shapes)
    assert [(x.code, x.layer) for x in e] == [("S210", 1)]


@pytest.mark.parametrize("value, why", [("1", "itself"), ("5", "later"), ("-3", "before the first")])
def test_bad_references(value, why):
    network, shapes = shapes_of(net() + f"""
[convolutional]
filters=4
size=1

[route]
layers={value}
""")
    e = errors(shapes)
    assert [(x.code, x.layer) for x in e] == [("S202", 1)]
    assert why in e[0].message
    assert e[0].span.line == network.layers[1].section.option("layers").lineno


def test_stride_zero_and_oversized_kernel():
    _, zero = shapes_of(net() + "[convolutional]\nfilters=4\nsize=3\nstride=0\n")
    assert [x.code for x in errors(zero)] == ["S207"]
    _, big = shapes_of(net(4, 4) + "[convolutional]\nfilters=4\nsize=7\n")
    assert [x.code for x in errors(big)] == ["S208"]
    _, up = shapes_of(net() + "[upsample]\nstride=0\n")
    assert [x.code for x in errors(up)] == ["S207"]


@pytest.mark.parametrize("section", ["[maxpool]\nsize=2", "[convolutional]\nfilters=4\nsize=3\npad=1"])
def test_stride_zero_in_the_antialiasing_blur(section):
    """The layer runs at stride 1 and the blur divides by the zero stride: an error, no crash."""
    _, shapes = shapes_of(net() + f"{section}\nstride=0\nantialiasing=1\n")
    assert [(x.code, x.layer) for x in errors(shapes)] == [("S207", 0)]


def test_float_to_int_options_are_cast_like_c():
    """Darknet passes these float options on as int: truncated, and NaN or an infinity becomes
    INT_MIN (x86) rather than a crash."""
    _, shapes = shapes_of(net() + "[convolutional]\nfilters=4\nsize=1\nassisted_excitation=2.9\n"
                          "[convolutional]\nfilters=4\nsize=1\nassisted_excitation=inf\n"
                          "[dropout]\ndropblock_size_abs=nan\n")
    assert errors(shapes) == []
    assert [s.params[k] for s, k in zip(shapes.layers, ["assisted_excitation"] * 2 + ["dropblock_size_abs"])] \
        == [2, -2**31, -2**31]


def test_no_net_section_leaves_the_shapes_empty():
    """A cfg whose first section is not [net] has no input size: the syntax check says so
    (P002), shape inference adds nothing (least of all an error without a line)."""
    _, shapes = shapes_of("[convolutional]\nfilters=4\nsize=1\n\n[maxpool]\n")
    assert shapes.net == {} and shapes.layers == [None] and shapes.diagnostics == []


def test_layer_after_softmax_needs_an_image():
    network, shapes = shapes_of(net() + """
[avgpool]

[softmax]

[convolutional]
filters=2
size=1
""")
    assert shapes.layers[1].output == (0, 0, 0)  # Darknet never sets softmax's out_w/h/c
    e = errors(shapes)
    assert [(x.code, x.layer) for x in e] == [("S201", 2)]
    assert e[0].span.line == network.layers[2].section.header.lineno


def test_yolo_filters_must_fit():
    cfg = net(64, 64) + """
[convolutional]
filters={f}
size=1

[yolo]
mask=0,1,2
num=6
classes=2
anchors=1,2,3,4,5,6,7,8,9,10,11,12
"""
    _, good = shapes_of(cfg.format(f=21))
    y = good.layers[1]
    assert errors(good) == [] and y.output == (64, 64, 21) and y.input == (64, 64, 21)
    assert y.params["n"] == 3 and y.params["total"] == 6 and y.params["mask"] == [0, 1, 2]
    assert y.params["anchors"] == [float(i) for i in range(1, 13)]
    _, bad = shapes_of(cfg.format(f=24))
    assert [(x.code, x.layer) for x in errors(bad)] == [("S209", 1)]


def test_mask_counting_stops_at_hash():
    _, shapes = shapes_of(net(8, 8) + """
[convolutional]
filters=12
size=1

[yolo]
classes=1
num=3
mask=0,1#,2
""")
    assert errors(shapes) == []
    assert shapes.layers[1].params["mask"] == [0, 1]


def test_failed_input_gives_none_without_more_errors():
    _, shapes = shapes_of(net() + """
[route]
layers=-1

[convolutional]
filters=2
size=1

[shortcut]
from=-2
""")
    assert len(errors(shapes)) == 1
    assert shapes.layers == [None, None, None]


def test_unknown_section_is_none_without_error():
    _, shapes = shapes_of(net() + "[convolutional]\nfilters=2\nsize=1\n[bogus]\nx=1\n[avgpool]\n")
    assert shapes.layers[0] is not None
    assert shapes.layers[1] is None and shapes.layers[2] is None
    assert shapes.diagnostics == []
    assert shapes.used[1] == set()


def test_antialiasing_feeds_the_blurred_output():
    _, shapes = shapes_of(net(32, 32, 3) + """
[convolutional]
filters=4
size=3
stride=2
pad=1
antialiasing=1

[convolutional]
filters=2
size=1
""")
    conv = shapes.layers[0]
    assert conv.output == (32, 32, 4)  # the layer itself runs at stride 1
    assert conv.params["stride_x"] == 1 and conv.params["blur_stride_x"] == 2
    assert shapes.layers[1].input == (16, 16, 4)  # (32 + 2*1 - 3)/2 + 1


def test_dilation_does_not_change_the_output_size():
    _, shapes = shapes_of(net(32, 32, 3) + "[convolutional]\nfilters=4\nsize=3\ndilation=2\npad=1\n")
    assert shapes.layers[0].output == (32, 32, 4)
    assert shapes.layers[0].params["dilation"] == 2 and shapes.layers[0].params["pad"] == 1


def test_share_index_must_match():
    cfg = net(16, 16, 4) + """
[convolutional]
filters=4
size=3
pad=1

[convolutional]
filters=4
size={size}
pad=1
share_index=0
"""
    _, good = shapes_of(cfg.format(size=3))
    assert errors(good) == [] and good.layers[1].params["share_index"] == 0
    _, bad = shapes_of(cfg.format(size=1))
    assert [(x.code, x.layer) for x in errors(bad)] == [("S211", 1)]


def test_grouped_conv_weights():
    _, shapes = shapes_of(net(8, 8, 8) + "[convolutional]\nfilters=16\ngroups=4\nsize=3\npad=1\n")
    conv = shapes.layers[0]
    assert conv.nweights == (8 // 4) * 16 * 3 * 3
    assert math.isclose(conv.bflops, 2 * conv.nweights * 8 * 8 / 1e9)
    _, bad = shapes_of(net(8, 8, 6) + "[convolutional]\nfilters=16\ngroups=4\nsize=3\npad=1\n")
    assert [x.code for x in errors(bad)] == ["S213"]


def test_maxpool_default_padding_and_depth():
    _, shapes = shapes_of(net(13, 13, 8) + """
[maxpool]
size=2
stride=2

[maxpool]
size=5
stride=1

[maxpool]
maxpool_depth=1
out_channels=3
""")
    assert shapes.layers[0].output == (7, 7, 8)  # (13 + 1 - 2)/2 + 1
    assert shapes.layers[1].output == (7, 7, 8)
    assert shapes.layers[2].output == (7, 7, 3)


# ---------------------------------------------------------------- used keys


def test_used_keys_follow_darknet_reads():
    network, shapes = shapes_of(net() + """
[convolutional]
filters=4
filters=8
size=1
stride_x=1
stride_y=1
stride=1
typo_key=3
empty=
""")
    assert shapes.layers[0].output[2] == 4  # the first occurrence wins
    unused = [(ln.key, ln.value) for ln in unused_options(network.layers[0].section, shapes.used[0])]
    # stride is read even when stride_x/stride_y are set; `empty=` is dropped by Darknet's reader
    assert unused == [("filters", "8"), ("typo_key", "3")]


def test_reader_marks_defaults_as_read():
    section = parse("[convolutional]\nsize=3\n").sections[0]
    r = Reader(section, TABLE["[convolutional]"])
    assert r.get("size") == 3 and r.get("filters") == 1
    assert r.used == {"size", "filters"}


# ---------------------------------------------------------------- speed / imports


def test_shapes_do_not_import_numpy():
    code = ("import sys, cfgtool.shapes, cfgtool.cli.summary\n"
            "assert 'numpy' not in sys.modules, 'numpy imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_conformance_location():
    assert CONFORMANCE.name == "conformance"


def test_recurrent_corpus_files_infer(conformance_dir):
    """No Darknet oracle for these (it crashes after parsing), but they must infer cleanly."""
    for cfg in sorted((conformance_dir / "darknet" / "cfg").glob("*.cfg")):
        if not expected(cfg).get("excluded"):
            continue
        network = build(parse_file(cfg))
        shapes = infer_shapes(network)
        assert errors(shapes) == [], cfg.name
        assert all(s is not None for s in shapes.layers), cfg.name
        assert any(layer.spec.recurrent for layer in network.layers), cfg.name
