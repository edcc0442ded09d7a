"""Lossless parsing and Darknet's reading of each line."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cfgtool
from cfgtool.syntax import darknet_strip
from conftest import corpus_params, reading


@pytest.mark.parametrize("cfg", corpus_params())
def test_round_trip_corpus(cfg):
    text = cfg.read_bytes().decode("utf-8")
    doc = cfgtool.parse(text, cfg)
    assert cfgtool.dumps(doc) == text
    assert doc.sections[0].name in ("[net]", "[network]")


def test_darknet_reading_removes_every_blank():
    doc = cfgtool.parse("[ net ]\r\n wid th = 4 16 \n# c\n\n[route]\nlayers = -1, 61\r\n; x\n[conv]\na=b=c")
    assert reading(doc) == [
        ("[net]", [("width", "416")]),
        ("[route]", [("layers", "-1,61")]),
        ("[conv]", [("a", "b=c")]),
    ]
    assert [ln.kind for ln in doc.lines()] == ["header", "option", "comment", "blank", "header", "option", "comment", "header", "option"]
    assert doc.diagnostics == []


def test_lines_keep_positions_and_spans():
    doc = cfgtool.parse("[net]\n  width =  416  \n")
    line = doc.sections[0].option("width")
    assert line.lineno == 2
    assert line.raw_value == "416"
    span = line.value_span()
    assert (span.line, span.column, span.end_column) == (2, 12, 15)
    assert (line.key_span().column, line.key_span().end_column) == (3, 8)


def test_first_occurrence_wins():
    sec = cfgtool.parse("[net]\nwidth=1\nwidth=2\n").sections[0]
    assert sec.get("width") == "1"
    assert len(sec.options) == 2


def test_set_value_keeps_other_bytes():
    text = "[net]\r\n  width = 416   \r\nheight=416\r\n"
    doc = cfgtool.parse(text)
    doc.sections[0].set("width", "608")
    assert cfgtool.dumps(doc) == "[net]\r\n  width = 608   \r\nheight=416\r\n"
    doc.sections[0].set("channels", "3")
    assert cfgtool.dumps(doc).endswith("height=416\r\nchannels=3\r\n")


def test_insert_and_remove_sections_take_the_file_ending():
    doc = cfgtool.parse("[net]\r\nwidth=1\r\n\r\n[maxpool]\r\nsize=2")
    block = cfgtool.syntax.parse_sections("[avgpool]\n\n[shortcut]\nfrom=-2\n")
    doc.insert_sections(len(doc.sections), block)
    assert cfgtool.dumps(doc) == "[net]\r\nwidth=1\r\n\r\n[maxpool]\r\nsize=2\r\n[avgpool]\r\n\r\n[shortcut]\r\nfrom=-2\r\n"
    removed = doc.remove_section(1)
    assert removed.name == "[maxpool]"
    assert [s.name for s in doc.reparsed().sections] == ["[net]", "[avgpool]", "[shortcut]"]


# -- generated texts -------------------------------------------------------------------------

blank = st.sampled_from(["", " ", "\t", "  ", " \t "])
ending = st.sampled_from(["\n", "\r\n"])
word = st.text(alphabet=st.sampled_from("abcdefghijklmnopqrstuvwxyz_"), min_size=1, max_size=8)
value = st.one_of(
    st.integers(-200, 2000).map(str),
    st.lists(st.integers(-100, 100).map(str), min_size=1, max_size=4).map(", ".join),
    word,
)
comment = st.tuples(st.sampled_from("#;"), st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=12))


@st.composite
def cfg_texts(draw):
    lines = []
    for _ in range(draw(st.integers(0, 25))):
        kind = draw(st.sampled_from(["header", "option", "comment", "blank", "option", "option"]))
        if kind == "header":
            text = draw(blank) + "[" + draw(blank) + draw(word) + draw(blank) + "]" + draw(blank)
        elif kind == "option":
            text = draw(blank) + draw(word) + draw(blank) + "=" + draw(blank) + draw(value) + draw(blank)
        elif kind == "comment":
            mark, body = draw(comment)
            text = draw(blank) + mark + body
        else:
            text = draw(blank)
        lines.append(text + draw(ending))
    text = "".join(lines)
    if lines and draw(st.booleans()):
        text = text.rstrip("\r\n")  # no final newline
    if draw(st.booleans()):
        text = "\ufeff" + text
    return text


@settings(max_examples=300, deadline=None)
@given(cfg_texts())
def test_round_trip_generated(text):
    doc = cfgtool.parse(text)
    assert cfgtool.dumps(doc) == text
    # Darknet's reading: each non-comment, non-blank line stripped of blanks
    expected = [darknet_strip(ln) for ln in text.lstrip("\ufeff").split("\n")]
    got = [ln.stripped for ln in doc.lines()]
    assert got == [e for e in expected][: len(got)]


@settings(max_examples=200, deadline=None)
@given(st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=200))
def test_any_text_without_nul_parses_losslessly(text):
    assert cfgtool.dumps(cfgtool.parse(text)) == text
