"""P0xx: what Darknet's line reader cannot take. cfgtool.syntax finds these while parsing;
the classes here give them a place in the rule table (docs, --select, SARIF)."""

from __future__ import annotations

from ..diagnostics import ERROR, WARNING
from .base import Rule


class ParseRule(Rule):
    severity = ERROR

    def check(self, ctx):
        return [d for d in ctx.doc.diagnostics if d.code == self.code]


class GrammarError(ParseRule):
    """Text the cfg grammar cannot read (not expected: the grammar takes any text without a
    NUL byte); it also carries any parse code no other rule describes.

    Bad:   (none known)
    Good:  any text
    """

    code, name = "P000", "syntax-error"

    def check(self, ctx):
        claimed = {r.code for r in RULES} - {self.code}
        return [d for d in ctx.doc.diagnostics if d.code not in claimed]


class OptionBeforeSection(ParseRule):
    """An option before the first section: Darknet crashes on it.

    Bad:   ``width=416`` on line 1, then ``[net]``
    Good:  ``[net]`` first, then ``width=416``
    """

    code, name = "P001", "option-before-section"


class FirstSectionNotNet(ParseRule):
    """The first section is not [net] or [network]: Darknet refuses the file.

    Bad:   ``[convolutional]`` as the first section
    Good:  ``[net]`` followed by the layers
    """

    code, name = "P002", "first-section-not-net"


class MissingEquals(ParseRule):
    """A line without '=': Darknet stores a key without a value and crashes if it is read.

    Bad:   ``batch_normalize``
    Good:  ``batch_normalize=1`` or ``# batch_normalize``
    """

    code, name = "P003", "missing-equals"


class MissingValue(ParseRule):
    """``key=`` with nothing after it: Darknet skips the line and uses the default.

    Bad:   ``filters=``
    Good:  ``filters=32``
    """

    code, name = "P004", "missing-value"


class ByteOrderMark(ParseRule):
    """A UTF-8 byte order mark: Darknet reads it as part of the first line.

    Bad:   a file saved as "UTF-8 with BOM"
    Good:  the same file saved as plain UTF-8
    """

    code, name = "P005", "byte-order-mark"


class NulByte(ParseRule):
    """A NUL byte: Darknet's line reader stops at it.

    Bad:   ``filters=3\\0`` (a binary byte in the text)
    Good:  ``filters=3``
    """

    code, name = "P006", "nul-byte"


class UndecodableBytes(ParseRule):
    """Bytes that are not UTF-8 text in a header, key or value: cfg keys and values are
    ASCII, so such a byte is part of what Darknet reads (a typo or a pasted character).

    Bad:   ``filters=4é`` saved as Latin-1 (byte 0xe9 in the value)
    Good:  ``filters=4``
    """

    code, name = "P007", "undecodable-bytes"


class NoSections(ParseRule):
    """No sections at all: Darknet exits with "Config file has no sections".

    Bad:   an empty file
    Good:  ``[net]`` and at least one layer
    """

    code, name = "P008", "no-sections"


class LoneCarriageReturn(ParseRule):
    """A CR not followed by LF: Darknet splits lines at LF only and joins the two halves.

    Bad:   ``filters=32\\rsize=3`` (old Mac line ending)
    Good:  LF or CRLF line endings
    """

    code, name = "P009", "lone-carriage-return"


class MissingKey(ParseRule):
    """'=' with no key before it.

    Bad:   ``=32``
    Good:  ``filters=32``
    """

    code, name = "P010", "missing-key"


class NonUtf8Comment(ParseRule):
    """A comment that is not UTF-8 text (GBK, Latin-1 ...). Darknet reads bytes and skips
    comments, so the network is unchanged and cfgtool keeps the bytes as they are; only the
    first such comment of a file is reported.

    Bad:   ``# 输入尺寸`` saved as GBK
    Good:  the same comment saved as UTF-8
    """

    code, name, severity = "P011", "non-utf8-comment", WARNING


RULES = (
    GrammarError, OptionBeforeSection, FirstSectionNotNet, MissingEquals, MissingValue, ByteOrderMark,
    NulByte, UndecodableBytes, NoSections, LoneCarriageReturn, MissingKey, NonUtf8Comment,
)
