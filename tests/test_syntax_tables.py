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
