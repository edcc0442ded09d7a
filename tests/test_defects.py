"""Defects Darknet parses without a word but then runs wrongly (issue 12): each is a located
error with exit 1; and the hints for names brought from PyTorch."""

from __future__ import annotations

import pytest
from conftest import EXAMPLES, invoke

from cfgtool import parse
from cfgtool.lint import check

TINY = (EXAMPLES / "yolov4-tiny.cfg").read_text()
ANCHORS = "anchors=10,14, 23,27, 37,58, 81,82, 135,169, 344,319"


def variant(old: str, new: str, nth: int = 0) -> tuple[str, int]:
    """yolov4-tiny with the nth line equal to ``old`` replaced by ``new``; (text, its line number)."""
    lines = TINY.split("\n")
    hits = [i for i, ln in enumerate(lines) if ln == old]
    lines[hits[nth]] = new
    return "\n".join(lines), hits[nth] + 1


def located(text: str, tmp_path, code: str):
    """(the diagnostics with ``code``, the CLI result) for ``text`` written to a file."""
    path = tmp_path / "v.cfg"
    path.write_text(text)
    result = invoke("validate", "--format", "concise", path)
    assert "Traceback" not in result.output
    return [d for d in check(path) if d.code == code], result


def test_route_groups_that_do_not_divide_the_channels(tmp_path):
    text, line = variant("groups=2", "groups=3")
    found, result = located(text, tmp_path, "S213")
    (d,) = found
    assert (d.severity, d.span.line, d.span.column) == ("error", line, 8)
    assert "does not divide the 64 channels of layer 2" in d.message and "64/3 = 21" in d.message
    assert "groups=2" in d.message  # a divisor that works
    assert result.exit_code == 1 and f"v.cfg:{line}:8: S213" in result.output


def test_route_groups_that_divide_every_input_are_fine():
    assert not [d for d in check(parse(TINY, "t.cfg")) if d.severity == "error"]


def test_mask_index_past_num_is_an_error_explaining_the_read(tmp_path):
    text, line = variant("mask=3,4,5", "mask=3,4,6")
    (d,), result = located(text, tmp_path, "H402")
    assert (d.severity, d.span.line, d.span.column) == ("error", line, 6)
    assert "calloc(num*2) = 12 floats" in d.message and "biases[12..13]" in d.message
    assert "set num=7" in d.message
    assert result.exit_code == 1


def test_too_few_anchors_is_an_error(tmp_path):
    text, line = variant(ANCHORS, "anchors=10,14, 23,27, 37,58, 81,82, 135,169")
    (d,), result = located(text, tmp_path, "H403")
    assert (d.severity, d.span.line, d.span.column) == ("error", line, 9)
    assert "anchors has 10 values but num=6 needs 12" in d.message and "0.5" in d.message
    assert result.exit_code == 1


def test_a_missing_comma_between_anchors_is_named(tmp_path):
    text, _ = variant(ANCHORS, ANCHORS.replace("23,27,", "23,27"))
    (d,), _ = located(text, tmp_path, "H403")
    assert "'27 37' lacks a comma" in d.message and "reads 2737" in d.message


def test_too_many_anchors_stays_a_warning(tmp_path):
    text, line = variant(ANCHORS, ANCHORS + ", 400,400")
    (d,), result = located(text, tmp_path, "H405")
    assert (d.severity, d.span.line) == ("warning", line)
    assert "anchors has 14 values but num=6 reads only 12" in d.message
    assert result.exit_code == 0


@pytest.mark.parametrize("name,hint", [
    ("silu", "write activation=swish"), ("SiLU", "write activation=swish"), ("sigmoid", "write activation=logistic"),
    ("identity", "write activation=linear"), ("none", "write activation=linear"),
    ("leakyrelu", "write activation=leaky"), ("leaky_relu", "write activation=leaky"),
    ("hardswish", "Darknet has no hard-swish"), ("mish2", "did you mean 'mish'?"),
])
def test_activation_hints_know_pytorch_names(name, hint, tmp_path):
    text, line = variant("activation=leaky", f"activation={name}")
    found, result = located(text, tmp_path, "W307")
    d = next(d for d in found if d.span.line == line)
    assert d.severity == "error" and d.span.column == 12
    assert hint in d.message and "selu" not in d.message.split("valid:")[0]
    assert result.exit_code == 1


@pytest.mark.parametrize("section,fork,equivalent", [
    ("[route_lhalf]", "WongKinYiu/PyTorch_YOLOv4", "[route] with layers=... groups=2 group_id=0"),
    ("[control_channels]", "WongKinYiu/yolor", "[scale_channels]"),
    ("[implicit_mul]", "WongKinYiu/yolor", "[implicit] with mean=1"),
])
def test_sections_of_pytorch_forks_name_the_fork_and_the_equivalent(section, fork, equivalent, tmp_path):
    text = f"[net]\nwidth=32\nheight=32\nchannels=3\n\n[convolutional]\nfilters=4\n\n{section}\nfrom=-1\n"
    (d,), result = located(text, tmp_path, "W300")
    assert (d.span.line, d.span.column, d.severity) == (9, 1, "error")
    assert fork in d.message and equivalent in d.message and "Darknet cannot read it" in d.message
    assert result.exit_code == 1


@pytest.mark.parametrize("text,value,fits", [
    ("12", 12, True), (" -3x", -3, True), ("+7", 7, True), ("", 0, True), ("abc", 0, True),
    ("2147483647", 2147483647, True), ("-2147483648", -2147483648, True),
    ("2147483648", -2147483648, False),  # strtol's long, cut to 32 bits
    ("99999999999", 1215752191, False),
    ("9" * 5000, -1, False),  # strtol saturates at LONG_MAX; (int) LONG_MAX is -1
    ("-" + "9" * 5000, 0, False),  # LONG_MIN -> 0
    ("0" * 6000 + "5", 5, True),  # leading zeros are not significant digits
])
def test_atoi_reads_like_glibc_without_converting_every_digit(text, value, fits):
    from cfgtool.layers.base import atoi, c_int

    assert c_int(text) == (value, fits) and atoi(text) == value


def test_anchor_boxes_are_darknets_biases_without_a_list_of_num():
    from cfgtool.layers.yolo import anchor_boxes

    # make_yolo_layer sets every bias to .5: anchors past the given values are 0.5-pixel boxes
    assert anchor_boxes([10, 14, 23, 27], [0, 1, 2], 3) == [(10, 14), (23, 27), (0.5, 0.5)]
    assert anchor_boxes([10, 14], range(10**9 - 1, 10**9), 10**9) == [(0.5, 0.5)]
    with pytest.raises(ValueError, match="mask index 3 is outside the 3 anchors"):
        anchor_boxes([10, 14], [0, 3], 3)
