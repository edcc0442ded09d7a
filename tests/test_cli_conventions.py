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


def test_every_command_maps_a_cfg_error_and_an_os_error_in_one_place(monkeypatch):
    """A command lets bad input (CfgError) and unreadable files (OSError) through to
    cli.common.exit_for: located diagnostics and exit 1; the file's name and reason and exit 2."""
    from cfgtool.diagnostics import CfgError, Diagnostic

    def bad_input(*args, **kwargs):
        raise CfgError([Diagnostic("X101", "no-shape", "error", "test-only bad layer", path=str(TINY))])

    def unreadable(*args, **kwargs):
        raise PermissionError(13, "Permission denied", "/nowhere/x.weights")

    monkeypatch.setattr(cfgtool.cli.summary, "infer_shapes", bad_input)
    result = invoke("summary", TINY)
    assert result.exit_code == 1 and "X101" in result.output and "test-only bad layer" in result.output
    assert "internal error" not in result.output
    monkeypatch.setattr(cfgtool.cli.summary, "infer_shapes", unreadable)
    result = invoke("summary", TINY)
    assert result.exit_code == 2 and "/nowhere/x.weights: Permission denied" in result.output


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

def test_weights_init_then_the_readme_transplant_runs_and_its_piped_table_does_not_wrap(tmp_path):
    cfg = tmp_path / "yolov4-tiny.cfg"
    cfg.write_bytes(TINY.read_bytes())
    weights = tmp_path / "yolov4-tiny.weights"
    result = invoke("weights", "init", cfg, "-o", weights, "--seed", "1")
    assert result.exit_code == 0 and weights.stat().st_size == 24_251_276
    assert invoke("validate", cfg, "--weights", weights).exit_code == 0
    assert invoke("weights", "init", cfg, "-o", weights).exit_code == 2  # exists
    again = tmp_path / "again.weights"
    assert invoke("weights", "init", cfg, "-o", again, "--seed", "1").exit_code == 0
    assert again.read_bytes() == weights.read_bytes()  # --seed reproduces
    result = invoke("add-se", cfg, "--weights", weights)
    assert result.exit_code == 0, result.output
    row = next(ln for ln in result.stdout.splitlines() if ln.strip().startswith("0..23"))
    assert "14 layers" in row and "1,272,288 values" in row  # one line: piped tables never wrap


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


# -- 6. suppressions, --exit-zero, --quiet, --config ------------------------------------------------

SE_SHORTCUTS = """[net]
width=32
height=32
channels=3

[convolutional]
filters=8
size=3
stride=1
pad=1
activation=leaky

# cfgtool: ignore[W301] the published SE example carries it
[shortcut]
from=-1
scale_wh=1
activation=linear

[shortcut]
from=-2
# cfgtool: ignore[W3]
scale_wh=1
activation=linear

[shortcut]
from=-3
scale_wh=1
activation=linear
"""


def test_inline_suppression_on_a_section_and_on_a_line(tmp_path):
    cfg = tmp_path / "se.cfg"
    cfg.write_text(SE_SHORTCUTS)
    result = invoke("validate", cfg, "--format", "concise")
    assert result.exit_code == 0
    assert [ln.split(":")[1] for ln in result.stdout.splitlines()] == ["27"]  # only the third shortcut's
    cfg.write_text(SE_SHORTCUTS.replace("# cfgtool: ignore[W301] the published SE example carries it", "# a comment"))
    assert [ln.split(":")[1] for ln in invoke("validate", cfg, "--format", "concise").stdout.splitlines()] == \
        ["16", "27"]


def test_per_file_ignores_exit_zero_quiet_and_config(tmp_path):
    folder = tmp_path / "cfg"
    folder.mkdir()
    (folder / "se.cfg").write_text(SE_SHORTCUTS.replace("# cfgtool: ignore", "# was: ignore"))
    (folder / "other.cfg").write_text(SE_SHORTCUTS.replace("# cfgtool: ignore", "# was: ignore"))
    (tmp_path / "pyproject.toml").write_text('[tool.cfgtool]\nstrict = true\n\n'
                                             '[tool.cfgtool.per-file-ignores]\n"cfg/se.cfg" = ["W301"]\n')
    result = invoke("validate", folder, "--format", "concise")
    assert result.exit_code == 1  # strict: other.cfg's warnings fail
    assert {ln.split(":")[0].rsplit("/", 1)[1] for ln in result.stdout.splitlines()} == {"other.cfg"}
    assert invoke("validate", folder, "--exit-zero").exit_code == 0
    quiet = invoke("validate", folder, "--quiet")
    assert "files," not in quiet.stdout and "warning[W301]" in quiet.stdout
    other = tmp_path / "ci.toml"
    other.write_text('ignore = ["W3"]\n')
    result = invoke("validate", folder, "--config", other)
    assert result.exit_code == 0 and "0 warnings" in result.stdout


def test_stock_darknet_cfgs_pass_strict_with_the_documented_ignores(conformance_dir, tmp_path):
    config = tmp_path / "stock.toml"
    config.write_text((EXAMPLES.parent / "README.md").read_text().split("# darknet-stock.toml\n", 1)[1]
                      .split("```", 1)[0])
    folder = conformance_dir / "darknet" / "cfg"
    result = invoke("validate", folder, "--strict", "--config", config, "--format", "concise")
    assert result.exit_code == 0, result.output


# -- 7. inputs like other linters ------------------------------------------------------------------

def test_validate_reads_stdin_with_a_name(tmp_path):
    result = CliRunner().invoke(main, ["validate", "-", "--stdin-filename", "cfg/yolov4-se.cfg"],
                                input=SE_SHORTCUTS.replace("# cfgtool: ignore", "# was").encode())
    assert result.exit_code == 0
    assert "cfg/yolov4-se.cfg:16:1: warning[W301]" in result.stdout
    assert "   16 | scale_wh=1" in result.stdout  # the code frame comes from stdin's text
    assert invoke("validate", TINY, "--stdin-filename", "x.cfg").exit_code == 2


def test_validate_without_paths_checks_the_current_directory(tmp_path, monkeypatch):
    (tmp_path / "a.cfg").write_text(SE_SHORTCUTS)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.cfg").write_text(SE_SHORTCUTS)
    monkeypatch.chdir(tmp_path)
    result = invoke("validate")
    assert result.exit_code == 0 and "2 files, 0 errors, 2 warnings" in result.stdout


# -- 8. linear diffs ---------------------------------------------------------------------------------

def no_diff_search(monkeypatch):
    """Fail if anything searches for a diff (difflib's matching is quadratic on cfg files)."""
    import difflib

    def searched(*a, **kw):
        raise AssertionError("difflib searched for matches")

    monkeypatch.setattr(difflib.SequenceMatcher, "find_longest_match", searched)
    monkeypatch.setattr(difflib.SequenceMatcher, "get_matching_blocks", searched)


def test_fmt_diff_of_a_6000_line_repetitive_file_is_linear(tmp_path, monkeypatch):
    import time

    no_diff_search(monkeypatch)
    layer = "[convolutional]\nbatch_normalize = 1\nfilters=64\nsize = 3\nstride=1\npad=1\nactivation=leaky\n\n"
    text = "[net]\nwidth=64\nheight=64\nchannels=3\n\n" + layer * 750
    cfg = tmp_path / "big.cfg"
    cfg.write_text(text)
    assert text.count("\n") > 6000
    start = time.process_time()
    result = invoke("fmt", "--diff", cfg)
    seconds = time.process_time() - start
    assert result.exit_code == 0
    assert result.stdout.count("\n-batch_normalize = 1\n+batch_normalize=1\n") == 750
    assert result.stdout.count("\n@@ ") == 1  # the changes are 3 lines apart: one hunk
    assert seconds < 1.0, f"fmt --diff took {seconds:.2f} s of CPU"
    assert invoke("fmt", cfg).exit_code == 0 and "batch_normalize = 1" not in cfg.read_text()


def test_add_se_dry_run_shows_the_known_edit(tmp_path, monkeypatch):
    no_diff_search(monkeypatch)
    result = invoke("add-se", TINY, "--at", "15,26", "--dry-run")
    assert result.exit_code == 0
    hunks = result.stdout.split("\n@@")[1:]
    assert [(h.count("\n+"), h.count("\n-")) for h in hunks] == [(18, 1), (17, 0), (1, 1)]  # blocks, renumberings
    assert "\n-layers=-6,-1\n+layers=-10,-1\n" in hunks[0] and "\n-layers=-1,23\n+layers=-1,27\n" in hunks[2]


def test_fmt_takes_a_directory(tmp_path):
    (tmp_path / "sub").mkdir()
    messy = "[net]\nwidth = 32\nheight=32\nchannels=3\n[convolutional]\nfilters=4\n"
    (tmp_path / "a.cfg").write_text(messy)
    (tmp_path / "sub" / "b.cfg").write_text(messy)
    (tmp_path / "notes.txt").write_text(messy)
    result = invoke("fmt", "--check", tmp_path)
    assert result.exit_code == 1 and result.stdout.count("would reformat") == 2
    assert invoke("fmt", tmp_path).exit_code == 0
    assert (tmp_path / "sub" / "b.cfg").read_text().startswith("[net]\nwidth=32\n")
    assert (tmp_path / "notes.txt").read_text() == messy


def test_progress_bar_only_on_a_terminal_and_after_a_delay(monkeypatch):
    import io
    import sys

    from cfgtool.cli.common import Progressive

    class Tty(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr(sys, "stdout", Tty())
    with Progressive(3) as quick:
        quick.advance("a.cfg")
    assert quick.bar is None  # under a second: no bar
    monkeypatch.setattr(Progressive, "DELAY", 0.0)
    with Progressive(3) as slow:
        slow.advance("a.cfg")
        assert slow.bar is not None
    monkeypatch.setattr(sys, "stdout", io.StringIO())  # a pipe
    with Progressive(3) as piped:
        piped.advance("a.cfg")
    assert piped.bar is None
