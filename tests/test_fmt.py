from __future__ import annotations

import pytest
from click.testing import CliRunner

import cfgtool
from cfgtool.cli import main
from cfgtool.fmt import format_document
from conftest import EXAMPLES, corpus_params, reading


@pytest.mark.parametrize("cfg", corpus_params())
def test_fmt_keeps_reading_and_is_idempotent(cfg):
    doc = cfgtool.parse_file(cfg)
    once = format_document(doc)
    again = cfgtool.parse(once)
    assert reading(again) == reading(doc)
    assert format_document(again) == once


def test_canonical_layout():
    text = "# top\r\n\r\n\r\n[ net ]  \r\n\r\n width = 416 \r\n\r\n\r\n# conv\r\n  [conv]\r\nlayers = -1, 61\r\n\t# tab\r\n\r\n"
    assert format_document(cfgtool.parse(text)) == (
        "# top\r\n\r\n[net]\r\nwidth=416\r\n\r\n# conv\r\n[conv]\r\nlayers=-1, 61\r\n# tab\r\n"
    )


def test_examples_are_canonical():
    for cfg in sorted(EXAMPLES.glob("*.cfg")):
        doc = cfgtool.parse_file(cfg)
        assert format_document(doc) == doc.dumps(), cfg


def test_check_and_diff_touch_nothing(tmp_path):
    path = tmp_path / "a.cfg"
    data = b"[net]\nwidth = 416\n[maxpool]\nsize=2\n"
    path.write_bytes(data)
    runner = CliRunner()
    result = runner.invoke(main, ["fmt", "--check", str(path)])
    assert result.exit_code == 1 and "would reformat" in result.output
    result = runner.invoke(main, ["fmt", "--diff", str(path)])
    assert "+width=416" in result.output and "-width = 416" in result.output
    assert path.read_bytes() == data


def test_diff_of_a_file_without_a_final_line_ending(tmp_path):
    path = tmp_path / "a.cfg"
    path.write_bytes(b"[net]\nwidth = 416")
    result = CliRunner().invoke(main, ["fmt", "--diff", str(path)])
    assert "\n-width = 416\n\\ No newline at end of file\n+width=416\n" in result.output


def test_fmt_writes_atomically_and_then_check_passes(tmp_path):
    path = tmp_path / "a.cfg"
    path.write_bytes(b"[net]\nwidth = 416\n[maxpool]\nsize=2\n")
    runner = CliRunner()
    assert runner.invoke(main, ["fmt", str(path)]).exit_code == 0
    assert path.read_bytes() == b"[net]\nwidth=416\n\n[maxpool]\nsize=2\n"
    assert [p.name for p in tmp_path.iterdir()] == ["a.cfg"]  # no temp file left
    assert runner.invoke(main, ["fmt", "--check", str(path)]).exit_code == 0


def test_version_and_help():
    runner = CliRunner()
    assert cfgtool.__version__ in runner.invoke(main, ["--version"]).output
    assert "fmt" in runner.invoke(main, ["--help"]).output


def test_a_file_that_cannot_be_written_is_an_io_error(tmp_path, monkeypatch):
    import cfgtool.cli.fmt

    def refuse(path, data):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(cfgtool.cli.fmt, "write_atomic", refuse)
    path = tmp_path / "a.cfg"
    path.write_bytes(b"[net]\nwidth = 416\n")
    result = CliRunner().invoke(main, ["fmt", str(path)])
    assert result.exit_code == 2 and "a.cfg: Permission denied" in result.output
    assert isinstance(result.exception, SystemExit)  # no traceback
    assert path.read_bytes() == b"[net]\nwidth = 416\n"
