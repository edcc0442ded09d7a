"""Text Darknet cannot read: a located diagnostic with a stable code, never a traceback."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

import cfgtool
from cfgtool.cli import main
from cfgtool.diagnostics import CfgError

from conftest import EXAMPLES

CASES = [
    # (name, bytes, code, line, column)
    ("option-before-section", b"width=416\n[net]\nheight=416\n", "P001", 1, 1),
    ("first-section-not-net", b"# x\n[convolutional]\nfilters=3\n", "P002", 2, 1),
    ("missing-equals", b"[net]\nwidth=416\n[maxpool]\n  size 2\n", "P003", 4, 3),
    ("missing-value", b"[net]\nwidth=416\n[maxpool]\nsize=\n", "P004", 4, 1),
    ("missing-key", b"[net]\n = 3\n", "P010", 2, 2),
    ("byte-order-mark", b"\xef\xbb\xbf[net]\nwidth=416\n", "P005", 1, 1),
    ("nul-byte", b"[net]\nwidth=4\x0016\n", "P006", 2, 8),
    ("undecodable", b"[net]\nwidth=41\xe96\n", "P007", 2, 9),
    ("undecodable-key", b"[net]\nwid\xcath=416\n", "P007", 2, 4),
    ("empty-file", b"", "P008", 1, 1),
    ("comments-only", b"# nothing here\n\n", "P008", 1, 1),
    ("lone-cr", b"[net]\rwidth=416\r[maxpool]\r", "P009", 1, 6),
]


def diagnostics(data: bytes, tmp_path):
    path = tmp_path / "bad.cfg"
    path.write_bytes(data)
    try:
        return cfgtool.parse_file(path).diagnostics
    except CfgError as exc:
        return exc.diagnostics


@pytest.mark.parametrize("name,data,code,line,column", CASES, ids=[c[0] for c in CASES])
def test_located_code(name, data, code, line, column, tmp_path):
    found = [d for d in diagnostics(data, tmp_path) if d.code == code]
    assert found, f"no {code} for {name}"
    d = found[0]
    assert (d.span.line, d.span.column) == (line, column)
    assert d.severity == "error"
    assert d.path.endswith("bad.cfg")
    assert "\n" not in d.message


@pytest.mark.parametrize("name,data,code,line,column", CASES, ids=[c[0] for c in CASES])
def test_cli_reports_location_without_traceback(name, data, code, line, column, tmp_path):
    path = tmp_path / "bad.cfg"
    path.write_bytes(data)
    result = CliRunner().invoke(main, ["fmt", "--check", str(path)])
    assert result.exit_code == 1
    assert f"bad.cfg:{line}:{column}: error[{code}]" in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert path.read_bytes() == data


def test_good_file_has_no_diagnostics():
    assert cfgtool.parse("[net]\nwidth=416\n\n[maxpool]\nsize=2\n").diagnostics == []


def test_missing_file_is_usage_error(tmp_path):
    result = CliRunner().invoke(main, ["fmt", str(tmp_path / "nope.cfg")])
    assert result.exit_code == 2
    assert "nope.cfg" in result.output
    assert "Traceback" not in result.output


def test_cr_only_file_starting_with_a_comment_is_flagged():
    found = [d for d in cfgtool.parse("# yolo\r[net]\rwidth=416\r").diagnostics if d.code == "P009"]
    assert [(d.span.line, d.span.column) for d in found] == [(1, 7)]


def test_trailing_cr_blanks_are_not_flagged():
    assert cfgtool.parse("[net]\nwidth=416 \r \n").diagnostics == []


GBK_COMMENT = "# 输入尺寸 (中文注释)\n".encode("gbk")


def gbk_tiny(tmp_path):
    """yolov4-tiny with a GBK comment line and a GBK inline comment, as Chinese users write them."""
    src = (EXAMPLES / "yolov4-tiny.cfg").read_bytes()
    i = src.index(b"[convolutional]")
    data = src[:i] + GBK_COMMENT + src[i:].replace(b"filters=32\n", "filters=32   # 过滤器\n".encode("gbk"), 1)
    path = tmp_path / "gbk.cfg"
    path.write_bytes(data)
    return path, data


def test_a_gbk_comment_is_one_warning_and_every_check_runs(tmp_path):
    path, data = gbk_tiny(tmp_path)
    result = CliRunner().invoke(main, ["validate", "--format", "concise", str(path)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [ln for ln in lines if "P011" in ln] == [f"{path}:25:3: P011 " + lines[0].split(" P011 ", 1)[1]]
    assert "P007" not in result.output
    # the inline GBK comment is still Darknet's reading of a value with a '#': W304 says so
    assert "W304" in result.output
    # every other check ran: a shape error after the comment is found
    broken = tmp_path / "broken.cfg"
    broken.write_bytes(data.replace(b"layers=-6,-1", b"layers=-60,-1", 1))
    assert " R1" in CliRunner().invoke(main, ["validate", "--format", "concise", str(broken)]).output


def test_a_gbk_file_round_trips_byte_exact_through_fmt_and_add_se(tmp_path):
    path, data = gbk_tiny(tmp_path)
    assert cfgtool.parse_file(path).dumps().encode("utf-8", "surrogateescape") == data
    messy = tmp_path / "messy.cfg"
    messy.write_bytes(data.replace(b"batch=64", b"batch = 64"))
    runner = CliRunner()
    diff = runner.invoke(main, ["fmt", "--diff", str(messy)])
    assert diff.exit_code == 0 and "-batch = 64" in diff.output
    assert runner.invoke(main, ["fmt", str(messy)]).exit_code == 0
    assert messy.read_bytes() == data
    out = tmp_path / "se.cfg"
    result = runner.invoke(main, ["add-se", str(path), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert GBK_COMMENT in out.read_bytes() and "过滤器".encode("gbk") in out.read_bytes()
    for cmd in (["summary", str(path)], ["smoke", str(path), "--size", "64", "--batch", "1"]):
        assert runner.invoke(main, cmd).exit_code == 0, cmd
