"""Lossless syntax of Darknet .cfg files (lark is imported only by the grammar compiler it owns, syntax_build).

``dumps(parse(text)) == text`` for every text that parses. Every line keeps its raw text
and line ending, and next to it Darknet's reading of it (``read_cfg`` in src/parser.c):
the line with every space, tab and CR removed, then a section header, a comment, or
``key=value`` split at the first ``=``.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path

from . import _lines
from .diagnostics import ERROR, WARNING, CfgError, Diagnostic, Span
from .nogc import paused

GRAMMAR_NAME = "darknet_cfg.lark"

# the characters Darknet's strip() removes (LF never occurs inside a line)
_STRIP = str.maketrans("", "", " \t\r")


def grammar_text() -> str:
    """The grammar, from the installed package or, in a source checkout, from grammars/."""
    from importlib import resources

    packaged = resources.files("cfgtool").joinpath("grammars", GRAMMAR_NAME)
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    return (Path(__file__).resolve().parent.parent / "grammars" / GRAMMAR_NAME).read_text(encoding="utf-8")


def darknet_strip(text: str) -> str:
    return text.translate(_STRIP)


@dataclass
class Line:
    """One physical line: ``text`` without its ending, ``ending`` is '\\n', '\\r\\n' or ''."""

    text: str
    ending: str
    kind: str  # blank | comment | header | option | bare
    lineno: int = 0
    key_col: int = 0  # 0-based offset of the key (option, bare) or header/comment start
    value_col: int | None = None  # 0-based offset of the value token, None when there is none
    value_len: int = 0
    col_offset: int = 0  # 1 on the first line of a file with a BOM

    # Darknet's reading of the line, computed once: the text without blanks, the key (option,
    # bare), the value ('' for ``key=``; None for a line without '='). A Line is not edited in
    # place: with_value() makes a new one.
    stripped: str = field(init=False, repr=False, compare=False)
    key: str | None = field(init=False, repr=False, compare=False)
    value: str | None = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        stripped = self.stripped = self.text.translate(_STRIP)
        if self.kind == "option":
            key, _, self.value = stripped.partition("=")
            self.key = key
        else:
            self.key = stripped if self.kind == "bare" else None
            self.value = None

    @property
    def raw_value(self) -> str | None:
        if self.value_col is None:
            return None
        return self.text[self.value_col : self.value_col + self.value_len]

    def span(self, start: int | None = None, end: int | None = None) -> Span:
        """Span of ``text[start:end]`` (default: the line from its first non-blank character)."""
        if start is None:
            start = len(self.text) - len(self.text.lstrip(" \t\r"))
        if end is None:
            end = len(self.text.rstrip(" \t\r"))
        end = max(end, start + 1)
        base = 1 + self.col_offset
        return Span(self.lineno, start + base, self.lineno, end + base)

    def key_span(self) -> Span:
        if self.kind == "option":
            eq = self.text.index("=")
            return self.span(self.key_col, len(self.text[:eq].rstrip(" \t\r")) or self.key_col + 1)
        return self.span()

    def value_span(self) -> Span:
        if self.value_col is None:
            return self.span()
        return self.span(self.value_col, self.value_col + self.value_len)

    def with_value(self, value: str) -> Line:
        """This option line with its value token replaced, every other byte kept."""
        if self.kind != "option":
            raise ValueError("only an option line has a value")
        if self.value_col is None:  # ``key=`` or ``key = ``: put the value right after '='
            start = self.text.index("=") + 1
            end = start
        else:
            start, end = self.value_col, self.value_col + self.value_len
        return Line(self.text[:start] + value + self.text[end:], self.ending, self.kind, self.lineno, self.key_col,
                    start, len(value), self.col_offset)


@dataclass
class Section:
    header: Line
    body: list[Line] = field(default_factory=list)

    @property
    def name(self) -> str:
        """Darknet's reading of the header, e.g. ``[convolutional]``."""
        return self.header.stripped

    @property
    def options(self) -> list[Line]:
        """The key=value lines (and lines without '='), in file order, duplicates included."""
        return [ln for ln in self.body if ln.kind in ("option", "bare")]

    def option(self, key: str) -> Line | None:
        """The line Darknet reads for ``key``: the first one (``key=`` lines Darknet drops)."""
        for ln in self.body:
            if ln.kind in ("option", "bare") and ln.key == key and ln.value != "":
                return ln
        return None

    def get(self, key: str, default: str | None = None) -> str | None:
        ln = self.option(key)
        if ln is None or ln.value is None:
            return default
        return ln.value

    def value_span(self, key: str | None) -> Span:
        """Where a diagnostic about ``key`` points: the value Darknet reads (the whole line for
        a line without '='), or the header when it reads none."""
        ln = self.option(key) if key else None
        if ln is None:
            return self.header.span()
        return ln.value_span() if ln.value is not None else ln.span()

    def lines(self) -> list[Line]:
        return [self.header, *self.body]

    @property
    def span(self) -> Span:
        last = self.header
        for ln in self.body:
            if ln.kind != "blank":
                last = ln
        return Span(self.header.lineno, 1, last.lineno, len(last.text) + 1)

    def set(self, key: str, value: str) -> None:
        """Set ``key`` (the occurrence Darknet reads) to ``value``; append it when absent."""
        for i, ln in enumerate(self.body):
            if ln.kind == "option" and ln.key == key:
                self.body[i] = ln.with_value(value)
                return
        ending = self.header.ending or "\n"
        insert_at = len(self.body)
        while insert_at and self.body[insert_at - 1].kind == "blank":
            insert_at -= 1
        prev = self.body[insert_at - 1] if insert_at else self.header
        if not prev.ending:
            prev.ending = ending
        text = f"{key}={value}"
        line = Line(text, ending, "option", key_col=0, value_col=len(key) + 1, value_len=len(value))
        self.body.insert(insert_at, line)


@dataclass
class Document:
    path: str | None = None
    bom: str = ""
    prelude: list[Line] = field(default_factory=list)  # lines before the first section
    sections: list[Section] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    def lines(self) -> list[Line]:
        out = list(self.prelude)
        for s in self.sections:
            out.extend(s.lines())
        return out

    @property
    def newline(self) -> str:
        """The file's dominant line ending ('\\n' when it has none)."""
        endings = [ln.ending for ln in self.lines() if ln.ending]
        if not endings:
            return "\n"
        return max(set(endings), key=endings.count)

    def dumps(self) -> str:
        return self.bom + "".join(ln.text + ln.ending for ln in self.lines())

    def reparsed(self) -> Document:
        """A fresh parse of this document's text, with line numbers and diagnostics current."""
        return parse(self.dumps(), self.path)

    def insert_sections(self, position: int, sections: list[Section]) -> None:
        """Insert ``sections`` before ``self.sections[position]`` (at the end for len).

        The new lines take this file's line ending; a last line without an ending gets one.
        """
        nl = self.newline
        new = []
        for s in sections:
            s = copy.deepcopy(s)
            for ln in s.lines():
                ln.ending = nl
            new.append(s)
        if position == len(self.sections):
            before = self.lines()
            if before and not before[-1].ending:
                before[-1].ending = nl
        self.sections[position:position] = new

    def remove_section(self, position: int) -> Section:
        return self.sections.pop(position)


@paused
def parse(text: str, path: str | None = None) -> Document:
    """Parse cfg text; Darknet-level problems are in ``Document.diagnostics``.

    Raises :class:`CfgError` only for text that has no lossless reading at all (a NUL).
    Reads with the tables compiled from the grammar (cfgtool/_lines.py, see
    cfgtool/syntax_build.py), so lark is not needed at run time.
    """
    path = str(path) if path is not None else None
    nul = text.find("\x00")
    if nul >= 0:
        raise CfgError([_at_offset(text, nul, "P006", "nul-byte", "NUL byte: Darknet stops reading the line here; remove it", path)])
    doc = Document(path=path)
    pos, end = 0, len(text)
    if text.startswith(_lines.BOM):
        doc.bom = _lines.BOM
        pos = len(_lines.BOM)
    match, kinds = _lines.LINE.match, _KINDS
    lines: list[Line] = []
    lineno = 1
    while pos < end:
        m = match(text, pos)
        kind = m.lastgroup if m else None
        stop = m.end(kind) if kind else pos
        after = m.end() if m else pos
        if after == stop and after < end:  # pragma: no cover - the grammar reads any text without NUL
            raise CfgError([_at_offset(text, stop, "P000", "syntax-error", "text the cfg grammar cannot read", path)])
        if kind is None:
            lines.append(Line("", text[pos:after], "blank", lineno))
        else:
            line_kind, key_group, value_group = kinds[kind]
            key_col = m.start(key_group) - pos if key_group else 0
            value_col = m.start(value_group) if value_group else -1
            if value_col < 0:
                lines.append(Line(text[pos:stop], text[stop:after], line_kind, lineno, key_col))
            else:
                lines.append(Line(text[pos:stop], text[stop:after], line_kind, lineno, key_col, value_col - pos,
                                  m.end(value_group) - value_col))
        lineno += 1
        pos = after
    if doc.bom and lines:
        lines[0].col_offset = 1
    current: Section | None = None
    for ln in lines:
        if ln.kind == "header":
            current = Section(ln)
            doc.sections.append(current)
        elif current is None:
            doc.prelude.append(ln)
        else:
            current.body.append(ln)
    doc.diagnostics = _check(doc, text)
    return doc


# each alternative of the grammar's line rule: (Line.kind, group of the terminal whose start is
# key_col, group of the VALUE terminal); ``=value`` (option_nokey) is an option whose key column is its '='
_KINDS = {
    alt: ("option" if alt == "option_nokey" else alt,
          next((terms[t] for t in ("KEY", "HEADER", "COMMENT", "EQ") if t in terms), 0),
          terms.get("VALUE", 0))
    for alt, terms in _lines.TOKENS.items()
}


def _at_offset(text: str, offset: int, code: str, name: str, message: str, path: str | None) -> Diagnostic:
    line = text.count("\n", 0, offset) + 1
    col = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return Diagnostic(code, name, ERROR, message, Span(line, col, line, col + 1), path)


_UNDECODABLE = re.compile("[\udc80-\udcff]")


def _undecodable(doc: Document, add) -> None:
    """Bytes that are not UTF-8: one warning for the first in a comment (Darknet skips
    comments, so they are harmless), an error for each line where one sits in a header, key
    or value (cfg text is ASCII: that byte is part of what Darknet reads)."""
    warned = False
    for ln in doc.lines():
        m = _UNDECODABLE.search(ln.text)
        if m is None:
            continue
        byte = encode(m.group())[0]
        comment = ln.kind == "comment" or (ln.kind == "option" and _inline_comment(ln) is not None
                                            and m.start() > _inline_comment(ln))
        if not comment:
            add("P007", "undecodable-bytes",
                f"byte 0x{byte:02x} is not UTF-8 text inside what Darknet reads on this line "
                "(a header, key or value); cfg keys and values are ASCII: retype it",
                ln.span(m.start(), m.start() + 1))
        elif not warned:
            warned = True
            add("P011", "non-utf8-comment",
                f"byte 0x{byte:02x} in a comment is not UTF-8 (a GBK or Latin-1 comment?): Darknet skips "
                "comments and cfgtool keeps the bytes as they are, but editors and diffs may show "
                "garbage; save the file as UTF-8 to silence this",
                ln.span(m.start(), m.start() + 1), WARNING)


def _inline_comment(ln: Line) -> int | None:
    """Offset of a '#' or ';' after the start of an option's value (an inline comment), if any."""
    if ln.value_col is None:
        return None
    cut = [i for i in (ln.text.find("#", ln.value_col + 1), ln.text.find(";", ln.value_col + 1)) if i >= 0]
    return min(cut) if cut else None


def _check(doc: Document, text: str) -> list[Diagnostic]:
    """What Darknet's reader cannot take: each a located error (P0xx)."""
    out: list[Diagnostic] = []
    path = doc.path

    def add(code, name, message, span, severity=ERROR):
        out.append(Diagnostic(code, name, severity, message, span, path))

    if doc.bom:
        add("P005", "byte-order-mark",
            "file starts with a UTF-8 byte order mark: Darknet reads it as part of the first line "
            "and crashes; save the file as UTF-8 without BOM",
            Span(1, 1, 1, 2))
    for ln in doc.lines():
        cr = ln.text.find("\r")
        if cr >= 0 and ln.text[cr:].strip(" \t\r"):
            add("P009", "lone-carriage-return",
                "carriage return (CR) without line feed: Darknet splits lines at LF only, so the text "
                "after it is read as part of this line; use LF or CRLF line endings",
                ln.span(cr, cr + 1))
            break
    _undecodable(doc, add)
    for ln in doc.prelude:
        if ln.kind in ("option", "bare"):
            add("P001", "option-before-section",
                f"option '{ln.stripped}' before any section: Darknet crashes on it; "
                "move it under [net] or delete it", ln.span())
    if not doc.sections:
        add("P008", "no-sections", "no sections: a Darknet cfg starts with [net] followed by layers",
            Span(1, 1, 1, 1))
    elif doc.sections[0].name not in ("[net]", "[network]"):
        first = doc.sections[0].header
        add("P002", "first-section-not-net",
            f"first section is {first.stripped}: Darknet requires [net] or [network] first", first.span())
    for s in doc.sections:
        for ln in s.options:
            if ln.kind == "bare":
                add("P003", "missing-equals",
                    f"line '{ln.stripped}' has no '=': Darknet stores it without a value and crashes "
                    "if the key is read; write key=value or make it a # comment", ln.span())
            elif ln.key == "":
                add("P010", "missing-key", "'=' with no key before it: write key=value", ln.span())
            elif ln.value == "":
                add("P004", "missing-value",
                    f"'{ln.key}=' has no value: Darknet skips the line ('could parse') and uses the "
                    "default; give a value or delete the line", ln.key_span())
    return out


def parse_file(path: str | Path) -> Document:
    """Read (as bytes, like Darknet) and parse a file."""
    return parse(read_text(path), str(Path(path)))


def read_text(path: str | Path) -> str:
    """A file's text, line endings untouched. Darknet reads bytes; so does cfgtool: bytes
    that are not UTF-8 (a GBK comment) become lone surrogates (``surrogateescape``) and
    :func:`encode` turns them back into the same bytes."""
    return decode(Path(path).read_bytes())


def decode(data: bytes) -> str:
    """Bytes as text, losslessly: ``encode(decode(data)) == data`` for any bytes."""
    return data.decode("utf-8", errors="surrogateescape")


def encode(text: str) -> bytes:
    """The bytes of a text from :func:`decode` (or any text): undecodable bytes come back as they were."""
    return text.encode("utf-8", errors="surrogateescape")


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` with each undecodable byte and each control character (C0, DEL, C1: ESC, BEL,
    CR, LF ...) shown as ``\\xNN``, for messages and terminals: a cfg cannot recolour or
    retitle the terminal, or start a line of its own, through a diagnostic."""
    text = encode(text).decode("utf-8", errors="backslashreplace")
    return _CONTROL.sub(lambda m: f"\\x{ord(m[0]):02x}", text)


def dumps(doc: Document) -> str:
    return doc.dumps()


def parse_sections(text: str) -> list[Section]:
    """Sections of a cfg fragment (a block template): no [net] needed."""
    return parse(text).sections
