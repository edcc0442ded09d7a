"""The line tables cfgtool reads with (cfgtool/_lines.py) are compiled from the grammar and
read exactly what lark's parser of the grammar reads."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cfgtool import _lines
from cfgtool.syntax import parse

pytest.importorskip("lark", reason="lark (the test extra) compiles the grammar")
from cfgtool import syntax_build  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def ours(text: str):
    doc = parse(text)
    return doc.bom, [(ln.kind, ln.text, ln.ending, ln.key_col, ln.value_col, ln.value_len) for ln in doc.lines()]


def test_committed_tables_are_the_compiled_grammar():
    assert (ROOT / "cfgtool" / "_lines.py").read_text(encoding="utf-8") == syntax_build.generate(), (
        "grammars/darknet_cfg.lark changed: run python -m cfgtool.syntax_build")


def test_example_files_read_as_lark_reads_them():
    for path in sorted((ROOT / "examples").glob("*.cfg")):
        text = path.read_text(encoding="utf-8")
        assert ours(text) == syntax_build.lark_lines(text), path


# the characters that decide how a line reads, and a few ordinary ones
_ALPHABET = st.sampled_from([" ", "\t", "\r", "\n", "\r\n", "=", "[", "]", "#", ";", "a", "b1", ".", "\ufeff", "é"])


@settings(max_examples=300, deadline=None)
@given(st.lists(_ALPHABET, max_size=30).map("".join))
def test_any_text_reads_as_lark_reads_it(text):
    assert ours(text) == syntax_build.lark_lines(text)


def test_a_grammar_of_another_shape_is_refused():
    grammar = syntax_build.grammar_text().replace("start: BOM? (line? NL)* line?", "start: (line NL)*")
    with pytest.raises(syntax_build.GrammarShapeError):
        syntax_build.generate(grammar)


def test_the_tables_follow_the_grammar():
    # a changed terminal changes the compiled expression: nothing is hard-coded in the compiler
    grammar = syntax_build.grammar_text().replace('EQ: "="', 'EQ: ":"')
    assert "(?P<option__EQ>:)" in syntax_build.generate(grammar)
    assert "(?P<option__EQ>=)" in _lines.LINE.pattern


@pytest.mark.parametrize("command", [["validate"], ["fmt", "--check"], ["validate", "--format", "json"], ["summary"]])
def test_piped_commands_import_only_what_they_use(command, tmp_path):
    """validate, fmt and summary, piped: no lark (the tables are compiled), no numpy, no rich (plain
    text when not on a terminal), no tomllib unless a pyproject.toml is found."""
    import subprocess
    import sys

    cfg = tmp_path / "a.cfg"
    cfg.write_text((ROOT / "examples" / "yolov4-tiny.cfg").read_text(encoding="utf-8"), encoding="utf-8")
    code = ("import sys; from cfgtool.cli import main\n"
            "try:\n    main(sys.argv[1:])\nexcept SystemExit as e:\n    pass\n"
            "bad = sorted(m for m in ('lark', 'numpy', 'rich', 'tomllib') if m in sys.modules)\n"
            "assert not bad, bad\n")
    proc = subprocess.run([sys.executable, "-c", code, *command, str(cfg)], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr


def test_terminal_prints_through_rich_only_on_a_terminal(monkeypatch):
    import io
    import sys

    from cfgtool.cli.common import Styled, Terminal

    class Tty(io.StringIO):
        def isatty(self):
            return True

    pipe, tty = io.StringIO(), Tty()
    monkeypatch.setattr(sys, "stdout", pipe)
    Terminal().print(Styled("x ").append("[net] 3 errors", "bold red"))
    assert pipe.getvalue() == "x [net] 3 errors\n"
    monkeypatch.setattr(sys, "stdout", tty)
    monkeypatch.setenv("FORCE_COLOR", "1")
    Terminal().print(Styled("x ").append("[net] 3 errors", "bold red"))
    assert "[net] 3 errors" in tty.getvalue() and "\x1b[" in tty.getvalue()  # rich, with colour
