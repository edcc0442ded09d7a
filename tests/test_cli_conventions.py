"""Command-line conventions a linter user expects: internal errors apart from lint results,
suppressions, stdin, directories, output files, pipes (issue 19)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from conftest import EXAMPLES, invoke

import cfgtool.cli.summary
import cfgtool.cli.validate
from cfgtool.cli import main

TINY = EXAMPLES / "yolov4-tiny.cfg"


def fault(*args, **kwargs):
    raise ZeroDivisionError("test-only fault")


# -- 3. internal errors --------------------------------------------------------------------------

def test_an_internal_error_exits_3_with_one_line_and_no_traceback(monkeypatch):
    monkeypatch.setattr(cfgtool.cli.summary, "infer_shapes", fault)
    result = invoke("summary", TINY)
    assert result.exit_code == 3
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "internal error (ZeroDivisionError: test-only fault)" in lines[0]
    assert "please report it" in lines[0] and "--debug" in lines[0]
    assert "Traceback" not in result.output


def test_debug_shows_the_traceback(monkeypatch):
    monkeypatch.setattr(cfgtool.cli.summary, "infer_shapes", fault)
    result = CliRunner().invoke(main, ["--debug", "summary", str(TINY)])
    assert result.exit_code == 3 and "Traceback" in result.output and "ZeroDivisionError" in result.output


def test_an_internal_error_keeps_json_output_well_formed(monkeypatch, tmp_path):
    calls = []
    real = cfgtool.cli.validate.check_file

    def first_fails(path, *a, **kw):
        calls.append(path)
        if len(calls) == 1:
            raise ZeroDivisionError("test-only fault")
        return real(path, *a, **kw)

    monkeypatch.setattr(cfgtool.cli.validate, "check_file", first_fails)
    result = CliRunner().invoke(main, ["validate", "--format", "json", str(EXAMPLES)])
    assert result.exit_code == 3
    rows = json.loads(result.stdout)
    assert rows[0]["code"] == "X000" and "test-only fault" in rows[0]["message"]
    assert len(calls) == 2  # the other file was still checked


def test_summary_json_carries_the_diagnostics(tmp_path):
    cfg = tmp_path / "bad.cfg"
    cfg.write_text(TINY.read_text().replace("layers=-1,-2\n", "layers=-1,-60\n", 1))
    result = CliRunner().invoke(main, ["summary", "--format", "json", str(cfg)])
    assert result.exit_code == 1
    payload = json.loads(result.stdout)
    assert payload["diagnostics"] and payload["diagnostics"][0]["severity"] == "error"
    assert payload["diagnostics"][0]["line"] > 1
    nul = tmp_path / "nul.cfg"
    nul.write_bytes(b"[net]\nwidth=4\x00\n")
    result = CliRunner().invoke(main, ["summary", "--format", "json", str(nul)])
    assert result.exit_code == 1 and json.loads(result.stdout)["diagnostics"][0]["code"] == "P006"


# -- 10. pipes --------------------------------------------------------------------------------

def test_piped_tables_do_not_wrap(tmp_path):
    result = invoke("summary", EXAMPLES / "yolov4.cfg")
    rows = [ln for ln in result.stdout.splitlines() if ln.strip().startswith(("0 ", "1 "))]
    assert rows and all("->" in ln for ln in rows)
    assert all(len(ln.split()) >= 6 for ln in result.stdout.splitlines()[2:-1] if ln.strip())


# -- 4. editing commands refuse broken input ------------------------------------------------------

def truncated(tmp_path):
    """yolov4-tiny cut inside a [route]: the kind of input add-se used to build on."""
    text = TINY.read_text()
    cut = text.index("layers=-1,-2\n", text.index("layers=-1,-2\n") + 1)
    path = tmp_path / "cut.cfg"
    path.write_text(text[:cut] + "layers=-1,-40\n")
    return path


@pytest.mark.parametrize("command", ["add-se", "add-sam", "add-cbam"])
def test_editing_commands_refuse_an_input_with_errors(tmp_path, command):
    cfg = truncated(tmp_path)
    before = sorted(tmp_path.iterdir())
    result = invoke(command, cfg, "--at", "5")
    assert result.exit_code == 1
    assert "cut.cfg:" in result.stderr and "error[R" in result.stderr  # the errors, located
    assert "--force" in result.stderr and "nothing was written" in result.stderr
    assert sorted(tmp_path.iterdir()) == before
    result = invoke(command, cfg, "--at", "5", "--force")
    assert result.exit_code == 0, result.output
    assert "the input already has 1 error(s)" in result.output


def test_transplant_refuses_a_cfg_with_errors_and_an_existing_output(tmp_path):
    cfg = truncated(tmp_path)
    weights = tmp_path / "w.weights"
    weights.write_bytes(b"")
    result = invoke("transplant", TINY, weights, cfg, "-o", tmp_path / "out.weights")
    assert result.exit_code == 1 and "error[R" in result.stderr and "--force" in result.stderr
    assert not (tmp_path / "out.weights").exists()
    (tmp_path / "out.weights").write_bytes(b"keep")
    result = invoke("transplant", TINY, weights, TINY, "-o", tmp_path / "out.weights")
    assert result.exit_code == 2 and "exists" in result.stderr
    assert (tmp_path / "out.weights").read_bytes() == b"keep"


# -- 5. the --block contract ------------------------------------------------------------------------

def test_a_block_that_changes_the_channel_count_is_refused(tmp_path):
    block = tmp_path / "squeeze.cfg"
    block.write_text("[convolutional]\nfilters={C_r}\nsize=1\nstride=1\nactivation=leaky\n")
    out = tmp_path / "out.cfg"
    result = invoke("add-se", TINY, "--at", "24", "--block", block, "-o", out)
    assert result.exit_code == 1
    assert "its output is 26x26x32 but the layer it follows outputs 26x26x512" in result.stderr
    assert "keep w x h x C" in result.stderr
    assert not out.exists()
    block.write_text("[convolutional]\nfilters={C}\nsize=1\nstride=1\nactivation=leaky\n")
    assert invoke("add-se", TINY, "--at", "24", "--block", block, "-o", out).exit_code == 0
