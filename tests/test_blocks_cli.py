"""cfgtool add-se / add-sam / add-cbam on the command line."""

from __future__ import annotations

import os
import shutil
import stat
import threading

import pytest
from conftest import EXAMPLES, count_instances, invoke

from cfgtool.rewrite import Template, insert_blocks
from cfgtool.shapes import Shapes
from cfgtool.syntax import parse_file


@pytest.fixture
def work(tmp_path):
    for name in ("yolov4.cfg", "yolov4-tiny.cfg"):
        shutil.copy(EXAMPLES / name, tmp_path / name)
    return tmp_path


def files(folder):
    return sorted(p.name for p in folder.iterdir())


def expected(path, points, block, **kwargs):
    new, report = insert_blocks(parse_file(path), points, Template.builtin(block), **kwargs)
    assert report.errors == []
    return new.dumps()


def test_default_output_beside_the_input_and_the_report(work):
    cfg = work / "yolov4.cfg"
    before = cfg.read_bytes()
    result = invoke("add-se", cfg)
    assert result.exit_code == 0, result.output
    out = work / "yolov4-se.cfg"
    assert out.read_text() == expected(cfg, [104], "se_plain")
    assert cfg.read_bytes() == before
    assert "after layer 104 -> 104 (1024 channels): block = layers 105..108, output lines" in result.stdout
    assert "backbone-end = layer 104" in result.stdout and "ends at layer 104" in result.stdout
    assert f"wrote {out}" in result.stdout


@pytest.mark.parametrize("command, suffix, block", [("add-sam", "sam", "sam"), ("add-cbam", "cbam", "cbam")])
def test_sam_and_cbam_default_names(work, command, suffix, block):
    cfg = work / "yolov4-tiny.cfg"
    result = invoke(command, cfg, "--at", "23")
    assert result.exit_code == 0, result.output
    assert (work / f"yolov4-tiny-{suffix}.cfg").read_text() == expected(cfg, [23], block)


def test_refuses_to_overwrite_without_force(work):
    cfg, out = work / "yolov4.cfg", work / "yolov4-se.cfg"
    out.write_text("keep me\n")
    result = invoke("add-se", cfg)
    assert result.exit_code == 2  # a usage error, as the README reserves
    assert "exists" in result.stderr and "--force" in result.stderr
    assert out.read_text() == "keep me\n"
    result = invoke("add-se", cfg, "--force")
    assert result.exit_code == 0
    assert out.read_text() == expected(cfg, [104], "se_plain")


def test_output_to_stdout_puts_the_report_on_stderr(work):
    cfg = work / "yolov4.cfg"
    result = invoke("add-se", cfg, "--style", "residual", "-o", "-")
    assert result.exit_code == 0
    assert result.stdout == expected(cfg, [104], "se_residual")
    assert "inserted se_residual (7 layers)" in result.stderr
    assert files(work) == ["yolov4-tiny.cfg", "yolov4.cfg"]


def test_explicit_output_file(work):
    cfg = work / "yolov4.cfg"
    result = invoke("add-se", cfg, "--at", "85", "--reduction", "8", "-o", work / "mine.cfg")
    assert result.exit_code == 0
    assert (work / "mine.cfg").read_text() == expected(cfg, [85], "se_plain", reduction=8)
    assert "filters=64\nsize=1\nstride=1\nactivation=relu" in (work / "mine.cfg").read_text()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_an_existing_special_file_is_written_through_not_replaced(work):
    cfg, fifo = work / "yolov4.cfg", work / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()), daemon=True)
    reader.start()
    result = invoke("add-se", cfg, "-o", fifo)  # no --force needed: it is not a regular file
    reader.join(timeout=60)
    assert result.exit_code == 0, result.output
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert got == [expected(cfg, [104], "se_plain")]


def test_in_place_replaces_the_input_only(work):
    cfg = work / "yolov4.cfg"
    want = expected(cfg, [54, 85], "cbam")
    result = invoke("add-cbam", cfg, "--at", "54,85", "--in-place")
    assert result.exit_code == 0
    assert cfg.read_text() == want
    assert files(work) == ["yolov4-tiny.cfg", "yolov4.cfg"]


def test_dry_run_prints_a_diff_and_writes_nothing(work):
    cfg = work / "yolov4.cfg"
    before = cfg.read_bytes()
    result = invoke("add-sam", cfg, "--at", "85", "--dry-run")
    assert result.exit_code == 0
    assert result.stdout.startswith(f"--- {cfg}\n+++ {work / 'yolov4-sam.cfg'}\n")
    assert "+[sam]\n+from=-2\n" in result.stdout
    assert "-layers=85\n+layers=87\n" in result.stdout
    assert "inserted sam" in result.stderr
    assert "after layer 85 -> 85 (512 channels): block = layers 86..87" in result.stderr
    assert "layer 119 -> 121: layers= field 1: 85 -> 87 (reads the block after layer 85)" in result.stderr
    assert files(work) == ["yolov4-tiny.cfg", "yolov4.cfg"] and cfg.read_bytes() == before


def test_keep_refs(work):
    cfg = work / "yolov4.cfg"
    assert invoke("add-sam", cfg, "--at", "85", "--keep-refs", "-o", work / "kept.cfg").exit_code == 0
    assert (work / "kept.cfg").read_text() == expected(cfg, [85], "sam", keep_refs=True)
    assert "\nlayers=85\n" in (work / "kept.cfg").read_text()


@pytest.mark.parametrize("spec, code, message", [
    ("999", 1, "layer 999 does not exist"),
    ("30@", 2, "not a layer index"),
    ("12-", 2, "not a layer index"),
    ("backbone", 2, "unknown preset"),
    ("residuals", 1, "no [shortcut] layer"),
    ("37", 1, "output layer"),
])
def test_bad_selections_write_nothing(work, spec, code, message):
    cfg = work / "yolov4-tiny.cfg"
    before = cfg.read_bytes()
    result = invoke("add-se", cfg, "--at", spec)
    assert result.exit_code == code
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert files(work) == ["yolov4-tiny.cfg", "yolov4.cfg"] and cfg.read_bytes() == before


def test_an_invalid_result_is_not_written(work):
    cfg = work / "yolov4.cfg"
    block = work / "pool.cfg"
    block.write_text("[maxpool]\nsize=2\nstride=2\n")
    before = cfg.read_bytes()
    result = invoke("add-se", cfg, "--at", "100", "--block", block)  # the next shortcut then adds 19x19 to 10x10
    assert result.exit_code == 1
    assert "S204" in result.stderr and "nothing was written" in result.stderr
    assert files(work) == ["pool.cfg", "yolov4-tiny.cfg", "yolov4.cfg"] and cfg.read_bytes() == before


def test_a_custom_block(work):
    cfg = work / "yolov4.cfg"
    block = work / "gate.cfg"
    block.write_text("[convolutional]\nfilters={C}\nsize=1\nactivation=logistic\n\n[sam]\nfrom=-2\n")
    result = invoke("add-sam", cfg, "--at", "104", "--block", block, "-o", "-")
    assert result.exit_code == 0
    assert "[convolutional]\nfilters=1024\nsize=1\nactivation=logistic\n\n[sam]\nfrom=-2\n\n" in result.stdout
    assert "inserted gate (2 layers)" in result.stderr


@pytest.mark.parametrize("args, code, message", [
    (["--block", "missing.cfg"], 2, "missing.cfg"),
    (["-o", "x.cfg", "--in-place"], 2, "either"),
    (["--reduction", "0"], 2, "reduction"),
    (["--style", "fancy"], 2, "style"),
])
def test_usage_errors(work, args, code, message):
    result = invoke("add-se", work / "yolov4.cfg", *args)
    assert result.exit_code == code
    assert message in result.output
    assert files(work) == ["yolov4-tiny.cfg", "yolov4.cfg"]


def test_bad_input_files(work):
    result = invoke("add-se", work / "nope.cfg")
    assert result.exit_code == 2 and "nope.cfg" in result.output
    broken = work / "broken.cfg"
    broken.write_text("[net]\nwidth=32\nheight=32\nchannels=3\n\n[convolutional]\nfilters\n")
    result = invoke("add-se", broken)
    assert result.exit_code == 1 and "P003" in result.output
    assert not (work / "broken-se.cfg").exists()


@pytest.mark.parametrize("data, code", [(b"[convolutional]\nfilters=4\xe9\n", "P007"),
                                        (b"[convolutional]\nfilters=4\x00\n", "P006")])
def test_a_block_that_is_not_text_is_a_located_error(work, data, code):
    block = work / "bin.cfg"
    block.write_bytes(data)
    result = invoke("add-se", work / "yolov4.cfg", "--at", "104", "--block", block)
    assert isinstance(result.exception, SystemExit), result.exc_info  # no traceback
    assert result.exit_code == 1 and f"bin.cfg:2:10: error[{code}]" in result.stderr
    assert files(work) == ["bin.cfg", "yolov4-tiny.cfg", "yolov4.cfg"]


def test_help_documents_the_renumbering_rule():
    for command in ("add-se", "add-sam", "add-cbam"):
        text = invoke(command, "--help").output
        assert "Renumbering" in text and "--keep-refs" in text and "block's output" in text
        assert "backbone-end" in text and "--at SPEC" in text
    assert "--style" in invoke("add-se", "--help").output
    assert "--style" not in invoke("add-sam", "--help").output


def test_shapes_are_inferred_once_for_the_input_and_once_for_the_result(work, monkeypatch):
    counts = count_instances(monkeypatch, Shapes)
    result = invoke("add-se", work / "yolov4-tiny.cfg", "--at", "stages")
    assert result.exit_code == 0, result.output
    assert counts == {"Shapes": 2}
