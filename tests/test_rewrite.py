"""cfgtool.rewrite / cfgtool.selection: inserting blocks and renumbering references."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import CONFORMANCE, EXAMPLES, shapes_of
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cfgtool.layers import spec_for
from cfgtool.lint import check
from cfgtool.model import build
from cfgtool.fmt import split_lines, unified_diff
from cfgtool.rewrite import BUILTIN, BlockError, Template, insert_blocks
from cfgtool.selection import SelectionError, find_backbone, point_problem, select
from cfgtool.syntax import parse, parse_file

GOLDEN = Path(__file__).resolve().parent / "golden" / "blocks"
UPDATE = os.environ.get("CFGTOOL_UPDATE_GOLDEN") == "1"

# 0 conv, 1 conv, 2 conv sharing 1's weights, 3 shortcut 0+2, 4 route 1,2, 5 conv stride 2,
# 6 route back to 3, 7 conv
SMALL = """\
# a small network for the renumbering tests
[net]
width=32
height=32
channels=3

[convolutional]
filters=8
size=3
stride=1
pad=1
activation=leaky

[convolutional]
filters=8
size=3
stride=1
pad=1
activation=leaky

[convolutional]
filters=8
size=3
stride=1
pad=1
activation=leaky
share_index=1

# shortcut back to layer 0
[shortcut]
from=-3
activation=linear

[route]
layers = 1, -2

[convolutional]
filters=16
size=3
stride=2
pad=1
activation=leaky

[route]
layers=3

[convolutional]
filters=4
size=1
stride=1
activation=linear
"""


def section_values(section):
    return section.name, {ln.key: ln.value for ln in section.options}


def layer_section(doc, index):
    return doc.sections[index + 1]


def errors_of(doc):
    return [d for d in check(doc) if d.severity == "error"]


# ---------------------------------------------------------------- the worked example

# the published example (every convolution batch-normalized)
WORKED_EXAMPLE = [
    ("[convolutional]", {"batch_normalize": "1", "filters": "1024", "size": "1", "stride": "1", "activation": "leaky"}),
    ("[convolutional]", {"batch_normalize": "1", "filters": "1024", "size": "3", "stride": "1", "pad": "1",
                         "activation": "leaky"}),
    ("[avgpool]", {}),
    ("[convolutional]", {"batch_normalize": "1", "filters": "64", "size": "1", "stride": "1", "activation": "relu"}),
    ("[convolutional]", {"batch_normalize": "1", "filters": "1024", "size": "1", "stride": "1",
                         "activation": "logistic"}),
    ("[scale_channels]", {"from": "-4", "activation": "linear"}),
    ("[shortcut]", {"from": "-7", "activation": "linear"}),
]


def test_worked_example_residual_se_after_the_yolov4_backbone():
    doc = parse_file(EXAMPLES / "yolov4.cfg")
    network, shapes = shapes_of(doc)
    selection = select(network, shapes)  # the default: backbone-end
    assert selection.points == [104]
    assert shapes.layers[104].output == (19, 19, 1024)
    new, report = insert_blocks(doc, selection.points, Template.builtin("se_residual"))
    inserted = [section_values(layer_section(new, i)) for i in range(105, 112)]
    assert inserted == WORKED_EXAMPLE
    assert report.errors == []
    # the block ends where it started: 19x19x1024, and the SPP's first layer reads it
    _, new_shapes = shapes_of(new)
    assert new_shapes.layers[111].output == (19, 19, 1024)
    assert new_shapes.layers[112].input == (19, 19, 1024)
    assert not errors_of(new)


# ---------------------------------------------------------------- renumbering


def test_references_follow_their_layers_and_reads_of_the_point_see_the_block():
    doc = parse(SMALL)
    new, report = insert_blocks(doc, [1], Template.builtin("se_plain"))  # 4 layers: new 2..5
    assert [layer_section(new, i).name for i in range(2, 6)] == \
        ["[avgpool]", "[convolutional]", "[convolutional]", "[scale_channels]"]
    assert layer_section(new, 6).get("share_index") == "1"  # weight sharing is not a read: kept
    assert layer_section(new, 7).get("from") == "-7"  # still layer 0
    route = layer_section(new, 8).option("layers")
    assert route.text == "layers = 5, -2"  # reads point 1 -> the block's output; spacing kept
    assert layer_section(new, 10).get("layers") == "7"  # absolute, still the shortcut
    assert {(c.layer, c.key, c.old, c.new, c.redirected) for c in report.changes} == {
        (3, "from", -3, -7, False), (4, "layers", 1, 5, True), (6, "layers", 3, 7, False)}
    assert report.errors == []


def test_keep_refs_redirects_only_the_next_layer():
    doc = parse(SMALL)
    new, _ = insert_blocks(doc, [1], Template.builtin("se_plain"), keep_refs=True)
    assert layer_section(new, 8).get("layers") == "1,-2"  # the route keeps reading layer 1
    new, _ = insert_blocks(doc, [2], Template.builtin("sam"), keep_refs=True)
    assert layer_section(new, 6).get("layers") == "1,-4"  # reads layer 2 itself
    new, _ = insert_blocks(doc, [2], Template.builtin("sam"))
    assert layer_section(new, 6).get("layers") == "1,-2"  # reads the block after layer 2


def test_keep_refs_still_redirects_explicit_reads_of_the_next_layer():
    text = SMALL.split("[convolutional]")[0] + "[convolutional]\nfilters=4\nsize=1\nactivation=leaky\n\n" * 2 \
        + "[route]\nlayers=-1,-2\n\n[route]\nlayers=1\n"
    doc = parse(text)
    new, _ = insert_blocks(doc, [1], Template.builtin("sam"), keep_refs=True)
    assert layer_section(new, 4).get("layers") == "-1,-4"  # the next layer reads the block
    assert layer_section(new, 5).get("layers") == "1"
    new, _ = insert_blocks(doc, [1], Template.builtin("sam"))
    assert layer_section(new, 5).get("layers") == "3"


def test_several_points_at_once():
    doc = parse(SMALL)
    new, report = insert_blocks(doc, [3, 0], Template.builtin("sam"))  # 2 layers each: new 1..2 and 6..7
    assert [i.point for i in report.insertions] == [0, 3]
    assert [(i.layer, i.first, i.last) for i in report.insertions] == [(0, 1, 2), (5, 6, 7)]
    assert layer_section(new, 4).get("share_index") == "3"
    assert layer_section(new, 5).get("from") == "-3"  # reads point 0: the block at 1..2 ends at 2
    assert layer_section(new, 8).get("layers") == "3,-4"
    assert layer_section(new, 10).get("layers") == "7"
    assert report.errors == []


def test_output_is_the_input_plus_inserted_lines():
    doc = parse(SMALL)
    new, report = insert_blocks(doc, [2], Template.builtin("sam"))
    lines = new.dumps().splitlines(keepends=True)
    start, end = report.insertions[0].lines
    kept = lines[: start - 1] + lines[end:]
    assert "".join(kept) == SMALL.replace("from=-3", "from=-5").replace("layers=3", "layers=5")
    # the comment above [shortcut] stays above it, after the block
    header = next(i for i, ln in enumerate(lines) if ln.startswith("[shortcut]"))
    assert lines[header - 1] == "# shortcut back to layer 0\n"
    assert lines[start - 1 : end] == ["[convolutional]\n", "batch_normalize=1\n", "filters=8\n", "size=1\n",
                                      "stride=1\n", "pad=1\n", "activation=logistic\n", "\n", "[sam]\n",
                                      "from=-2\n", "\n"]


def test_crlf_files_get_crlf_lines():
    text = SMALL.replace("\n", "\r\n")
    new, _ = insert_blocks(parse(text), [1, 5], Template.builtin("cbam"))
    out = new.dumps()
    assert out.count("\n") == out.count("\r\n")
    assert "[scale_channels]\r\nfrom=-2\r\nscale_wh=1\r\n\r\n" in out


def test_insert_after_the_last_layer_of_a_file_without_final_newline():
    text = SMALL.rstrip("\n")
    new, report = insert_blocks(parse(text), [7], Template.builtin("sam"))
    out = new.dumps()
    assert out.startswith(text + "\n\n[convolutional]\n")
    assert out.endswith("[sam]\nfrom=-2\n")
    assert report.insertions[0].lines[1] == len(out.splitlines())


def test_section_without_blank_line_gets_one_before_the_block():
    text = SMALL.replace("activation=linear\n\n[route]", "activation=linear\n[route]")
    new, report = insert_blocks(parse(text), [3], Template.builtin("sam"))
    start, end = report.insertions[0].lines
    lines = new.dumps().splitlines()
    assert lines[start - 1] == "" and lines[start] == "[convolutional]"
    expected = text.replace("layers=3", "layers=5").replace("layers = 1, -2", "layers = 1, -4")
    assert lines[: start - 1] + lines[end:] == expected.splitlines()


def test_comments_right_above_the_next_section_stay_there():
    text = SMALL.replace("activation=linear\n\n[route]", "activation=linear\n# the route\n[route]")
    new, report = insert_blocks(parse(text), [3], Template.builtin("sam"))
    lines = new.dumps().splitlines()
    start, end = report.insertions[0].lines
    assert lines[start - 2 : start + 1] == ["activation=linear", "", "[convolutional]"]
    assert lines[end - 2 : end + 2] == ["from=-2", "", "# the route", "[route]"]
    expected = text.replace("layers=3", "layers=5").replace("layers = 1, -2", "layers = 1, -4")
    assert lines[: start - 1] + lines[end:] == expected.splitlines()


def test_only_the_occurrence_darknet_reads_is_renumbered():
    text = SMALL.replace("layers=3\n", "layers=3\nlayers=3\n")
    new, _ = insert_blocks(parse(text), [1], Template.builtin("sam"))
    assert [ln.value for ln in layer_section(new, 8).options if ln.key == "layers"] == ["5", "3"]


def test_a_result_with_new_errors_is_reported():
    pool = Template("pool", "[maxpool]\nsize=2\nstride=2\n")
    _, report = insert_blocks(parse(SMALL), [1], pool)  # the shortcut then adds 32x32 to 16x16
    assert report.errors
    assert {d.code for d in report.errors} == {"S204"}


def test_bad_points_raise():
    doc = parse(SMALL)
    with pytest.raises(BlockError, match="layer 8 does not exist"):
        insert_blocks(doc, [8], Template.builtin("sam"))
    pooled = parse(SMALL + "\n[avgpool]\n\n[convolutional]\nfilters=2\nsize=1\nactivation=linear\n")
    with pytest.raises(BlockError, match="not an image"):
        insert_blocks(pooled, [8], Template.builtin("se_plain"))


# ---------------------------------------------------------------- templates


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_builtin_templates_ship_with_the_package_and_keep_the_shape(name):
    template = Template.builtin(name)  # read through importlib.resources: in the wheel too
    sections = template.render(64, 16)
    assert sections and all(s.name != "[net]" for s in sections)
    doc = parse(SMALL)
    new, report = insert_blocks(doc, [4], template)  # after the 32x32x16 route
    _, shapes = shapes_of(new)
    assert shapes.layers[report.insertions[0].last].output == (32, 32, 16)
    assert report.errors == []


def test_reduction_sets_the_bottleneck():
    filters = [s.get("filters") for s in Template.builtin("se_plain").render(100, 8)]
    assert filters == [None, "12", "100", None]
    assert [s.get("filters") for s in Template.builtin("se_plain").render(4, 16)][1] == "1"


@pytest.mark.parametrize("text, message", [
    ("[convolutional]\nfilters={X}\n", "unknown placeholder"),
    ("[net]\nwidth=8\n\n[avgpool]\n", "layer sections only"),
    ("# nothing\n", "no sections"),
    ("[convolutional]\nfilters\n", "has errors"),
])
def test_bad_templates(text, message):
    with pytest.raises(BlockError, match=message):
        Template("bad", text).render(8)


def test_user_template_from_file(tmp_path):
    path = tmp_path / "gate.cfg"
    path.write_text("# a gate\n[convolutional]\nfilters={C}\nsize=1\nactivation=logistic\n\n\n\n[sam]\nfrom=-2\n")
    template = Template.from_file(path)
    new, report = insert_blocks(parse(SMALL), [0], template)
    assert report.errors == []
    start, end = report.insertions[0].lines
    block = new.dumps().splitlines()[start - 1 : end]
    assert block == ["[convolutional]", "filters=8", "size=1", "activation=logistic", "", "[sam]", "from=-2", ""]


# ---------------------------------------------------------------- selection


def example(name):
    doc = parse_file(EXAMPLES / name)
    return shapes_of(doc)


def corpus(name):
    path = CONFORMANCE / "darknet" / "cfg" / name
    if not path.is_file():
        pytest.skip(f"conformance corpus not found at {CONFORMANCE}")
    return shapes_of(parse_file(path))


@pytest.mark.parametrize("source, name, end", [
    (example, "yolov4.cfg", 104),
    (example, "yolov4-tiny.cfg", 24),
    (corpus, "yolov4.cfg", 104),
    (corpus, "yolov3.cfg", 74),
    (corpus, "yolov4-csp.cfg", 98),
    (corpus, "yolov7-tiny.cfg", 32),
])
def test_backbone_end(source, name, end):
    network, shapes = source(name)
    backbone = find_backbone(network, shapes)
    assert backbone.end == end
    assert f"ends at layer {end}" in backbone.reason
    # nothing before the head is an output layer, and the end feeds an image to the next layer
    assert point_problem(network, shapes, end) is None
    assert backbone.end < backbone.head


def test_stages_end_before_each_downsampling_layer():
    network, shapes = example("yolov4.cfg")
    points = select(network, shapes, "stages").points
    assert points[-1] == 104
    for p in points[:-1]:
        before, after = shapes.layers[p].output, shapes.layers[p + 1].output
        assert after[0] * after[1] < before[0] * before[1]
    downsampling = [j for j in range(1, 105) if shapes.layers[j].output[0] < shapes.layers[j - 1].output[0]]
    assert len(points) == len(downsampling) + 1


def test_residuals_precede_each_backbone_shortcut():
    network, shapes = example("yolov4.cfg")
    points = select(network, shapes, "residuals").points
    shortcuts = [layer.index for layer in network.layers[:105] if layer.type == "shortcut"]
    assert points == [s - 1 for s in shortcuts]


def test_explicit_ranges_and_type_filters():
    network, shapes = example("yolov4.cfg")
    assert select(network, shapes, "23,54,85").points == [23, 54, 85]
    assert select(network, shapes, "10-12, 11").points == [10, 11, 12]
    chosen = select(network, shapes, "shortcut@0-40").points
    assert chosen and all(network.layers[j].type == "shortcut" for j in chosen)
    assert len(chosen) == sum(1 for layer in network.layers[:41] if layer.type == "shortcut")
    assert select(network, shapes, "backbone-end,23").points == [23, 104]
    assert select(network, shapes, "shortcut").points == [layer.index for layer in network.layers
                                                         if layer.type == "shortcut"]


@pytest.mark.parametrize("spec", ["", "1,,2", "12-", "5-3", "@0-4", "conv@x", "backbone", "1.5", "-3"])
def test_malformed_specs_are_usage_errors(spec):
    network, shapes = example("yolov4.cfg")
    with pytest.raises(SelectionError) as exc:
        select(network, shapes, spec)
    assert exc.value.usage


@pytest.mark.parametrize("name, spec, message", [
    ("yolov4.cfg", "162", "does not exist"),
    ("yolov4-tiny.cfg", "30", "output layer"),
    ("yolov4-tiny.cfg", "residuals", "no [shortcut]"),
    ("yolov4-tiny.cfg", "sam@0-30", "no [sam] layer"),
    ("yolov4-tiny.cfg", "scale_channels", "no [scale_channels] layer"),
])
def test_selections_that_do_not_fit_are_errors(name, spec, message):
    network, shapes = example(name)
    with pytest.raises(SelectionError, match=message.replace("[", r"\[").replace("]", r"\]")) as exc:
        select(network, shapes, spec)
    assert not exc.value.usage


# ---------------------------------------------------------------- golden files

GOLDEN_CASES = {
    "yolov4.cfg": [("se_plain", "stages"), ("se_residual", "backbone-end"), ("sam", "residuals"),
                   ("cbam", "23,54,85"), ("custom", "shortcut@0-30")],
    "yolov4-tiny.cfg": [("se_plain", "backbone-end"), ("se_residual", "stages"), ("sam", "23"),
                        ("cbam", "15,26"), ("custom", "route@0-24")],
}
CUSTOM = GOLDEN / "custom_block.cfg"


@pytest.mark.parametrize("cfg, block, at", [(c, b, a) for c, cases in GOLDEN_CASES.items() for b, a in cases])
def test_golden_diffs(cfg, block, at):
    doc = parse_file(EXAMPLES / cfg)
    network, shapes = shapes_of(doc)
    template = Template.from_file(CUSTOM) if block == "custom" else Template.builtin(block)
    new, report = insert_blocks(doc, select(network, shapes, at).points, template)
    assert report.errors == []
    stem = Path(cfg).stem
    before, after = doc.dumps(), new.dumps()
    pairs = report.line_pairs(len(split_lines(before)), len(split_lines(after)))
    assert pairs is not None
    diff = unified_diff(before, after, f"a/{cfg}", f"b/{stem}-{block}.cfg", pairs=pairs)
    golden = GOLDEN / f"{stem}-{block}.diff"
    if UPDATE:
        golden.write_text(diff, encoding="utf-8", newline="")
    assert diff == golden.read_text(encoding="utf-8"), "regenerate with CFGTOOL_UPDATE_GOLDEN=1 after checking the diff"


# ---------------------------------------------------------------- property test over the corpus

PROPERTY_CFGS = ["yolov4.cfg", "yolov4-tiny.cfg", "yolov3-spp.cfg", "yolov4-csp.cfg", "yolov7-tiny.cfg",
                 "densenet201.cfg", "resnet152_trident.cfg", "efficientnet_b0.cfg"]
_CACHE: dict = {}


def loaded(name):
    if name not in _CACHE:
        doc = parse_file(CONFORMANCE / "darknet" / "cfg" / name)
        network, shapes = shapes_of(doc)
        valid = [j for j in range(len(network.layers)) if point_problem(network, shapes, j) is None]
        codes = sorted(d.code for d in errors_of(doc))
        _CACHE[name] = doc, network, valid, codes
    return _CACHE[name]


@pytest.mark.skipif(not (CONFORMANCE / "darknet" / "cfg").is_dir(),
                    reason=f"conformance corpus not found at {CONFORMANCE}")
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), name=st.sampled_from(PROPERTY_CFGS), block=st.sampled_from(sorted(BUILTIN)),
       keep_refs=st.booleans())
def test_insertion_keeps_the_reference_graph(data, name, block, keep_refs):
    doc, network, valid, codes = loaded(name)
    points = sorted(data.draw(st.sets(st.sampled_from(valid), min_size=1, max_size=3), label="points"))
    template = Template.builtin(block)
    new, report = insert_blocks(doc, points, template, keep_refs=keep_refs)
    size = len(template.render(8))

    def new_index(i):
        return i + size * sum(1 for p in points if p < i)

    def reads(reader, t):
        follows = t in points and (not keep_refs or reader == t + 1)
        return new_index(t) + size if follows else new_index(t)

    # every original layer reads the same original layers (or the block after a point)
    out = build(new)
    assert len(out.layers) == len(network.layers) + size * len(points)
    for layer in network.layers:
        moved = out.layers[new_index(layer.index)]
        assert moved.section.name == layer.section.name
        assert moved.inputs == [reads(layer.index, t) for t in layer.inputs]
        old_refs, new_refs = layer.refs, moved.refs
        assert [(r.key, r.position, r.raw < 0) for r in old_refs] == [(r.key, r.position, r.raw < 0) for r in new_refs]
        for old, ref in zip(old_refs, new_refs):
            if old.target not in layer.inputs:  # share_index and the like
                assert ref.target == new_index(old.target)
    # the blocks sit right after their points, references as the template wrote them
    rendered = [s.name for s in template.render(8)]
    for p in points:
        assert [out.layers[new_index(p) + 1 + k].section.name for k in range(size)] == rendered
    # no new errors
    assert sorted(d.code for d in errors_of(new)) == codes
    assert report.errors == []
    # the text: the input plus the inserted lines, and index values changed in place
    lines = new.dumps().splitlines(keepends=True)
    inserted = set()
    for ins in report.insertions:
        inserted.update(range(ins.lines[0] - 1, ins.lines[1]))
    kept = [ln for i, ln in enumerate(lines) if i not in inserted]
    original = doc.dumps().splitlines(keepends=True)
    assert len(kept) == len(original)
    owner = {id(ln): s for s in new.sections for ln in s.lines()}
    new_lines = [ln for i, ln in enumerate(new.lines()) if i not in inserted]
    for before, after, line in zip(original, kept, new_lines):
        if before != after:
            assert line.kind == "option"
            assert before[: line.value_col] == after[: line.value_col]
            spec = spec_for(owner[id(line)].name)
            assert line.key in {opt.key for opt in spec.options if opt.index}
