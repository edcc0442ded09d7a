"""The canonical layout of a cfg: what ``cfgtool fmt`` writes.

``key=value`` with no blanks around '=' (blanks inside a value are kept: Darknet drops them
anyway), headers and keys as Darknet reads them, no trailing blanks, no indentation, one
blank line before each section (and before the comments directly above it), no other runs
of blank lines, one line ending at the end. Comments and each line's ending are kept, so
Darknet's reading of the file never changes. :func:`unified_diff` shows a change of a cfg in
linear time, from the line correspondence the edit knows (no diff search).
"""

from __future__ import annotations

import difflib

from .syntax import Document, Line


def _canonical(ln: Line) -> str:
    if ln.kind == "header":
        return ln.stripped
    if ln.kind == "comment":
        return ln.text.strip(" \t")
    if ln.kind == "option":
        return f"{ln.key}={ln.raw_value or ''}"
    if ln.kind == "bare":
        return ln.stripped
    return ""


def format_lines(doc: Document) -> list[tuple[int | None, str, str]]:
    """The canonical layout line by line: (index of the input line it comes from in
    ``doc.lines()``, or None for an added blank line; text; ending)."""
    lines = doc.lines()
    nl = doc.newline
    out: list[tuple[int | None, str, str]] = []
    for i, ln in enumerate(lines):
        text = _canonical(ln)
        ending = ln.ending or nl
        if ln.kind == "blank":
            if not out or out[-1][1] == "" or lines[i - 1].kind == "header":
                continue  # no blank at the top, after a header, or twice in a row
            out.append((i, "", ending))
            continue
        if ln.kind == "header" and out:
            # one blank line before the header and the comments directly above it
            j = len(out)
            while j > 0 and out[j - 1][1].startswith(("#", ";")):
                j -= 1
            if j > 0 and out[j - 1][1] != "":
                out.insert(j, (None, "", ending))
        out.append((i, text, ending))
    while out and out[-1][1] == "":
        out.pop()
    return out


def format_document(doc: Document) -> str:
    return doc.bom + "".join(t + e for _, t, e in format_lines(doc))


def format_diff(doc: Document, name: str) -> str:
    """The unified diff of ``doc`` against its canonical layout, from the known line mapping
    (linear in the file's length)."""
    out = format_lines(doc)
    pairs = [(i, j) for j, (i, _, _) in enumerate(out) if i is not None]
    return unified_diff(doc.dumps(), doc.bom + "".join(t + e for _, t, e in out), name, name, pairs=pairs)


def split_lines(text: str) -> list[str]:
    """Lines with their endings, split at LF only (as Darknet reads a cfg)."""
    lines = text.split("\n")
    out = [ln + "\n" for ln in lines[:-1]]
    if lines[-1]:
        out.append(lines[-1])
    return out


class _KnownEdit(difflib.SequenceMatcher):
    """difflib's hunk grouping over opcodes we already know (no matching is searched)."""

    def __init__(self, opcodes):  # noqa: D107 - SequenceMatcher's state is not needed
        self._opcodes = opcodes

    def get_opcodes(self):
        return list(self._opcodes)


def _opcodes(a: list[str], b: list[str], pairs) -> list[tuple[str, int, int, int, int]]:
    """difflib-style opcodes from corresponding line pairs (i in a, j in b), both increasing:
    a pair with equal text is 'equal', everything else a change."""
    ops: list[list] = []

    def add(tag, i1, i2, j1, j2):
        if i1 == i2 and j1 == j2:
            return
        if ops and (ops[-1][0] == "equal") == (tag == "equal"):
            ops[-1][2], ops[-1][4] = i2, j2
            if tag != "equal":
                ops[-1][0] = _tag(ops[-1][1], i2, ops[-1][3], j2)
            return
        ops.append([tag if tag == "equal" else _tag(i1, i2, j1, j2), i1, i2, j1, j2])

    ai = bj = 0
    for i, j in [*pairs, (len(a), len(b))]:
        add("change", ai, i, bj, j)
        if i < len(a) and j < len(b):
            add("equal" if a[i] == b[j] else "change", i, i + 1, j, j + 1)
        ai, bj = i + 1, j + 1
    return [tuple(op) for op in ops]


def _tag(i1, i2, j1, j2) -> str:
    return "replace" if i1 < i2 and j1 < j2 else "delete" if i1 < i2 else "insert"


def _edge_pairs(a: list[str], b: list[str]) -> list[tuple[int, int]]:
    """Without a known mapping: texts of equal length correspond line by line (an edit of
    values in place); otherwise the common first and last lines correspond (linear; the
    middle is shown as one change)."""
    if len(a) == len(b):
        return [(i, i) for i in range(len(a))]
    k = 0
    while k < min(len(a), len(b)) and a[k] == b[k]:
        k += 1
    m = 0
    while m < min(len(a), len(b)) - k and a[-1 - m] == b[-1 - m]:
        m += 1
    return [(i, i) for i in range(k)] + [(len(a) - m + t, len(b) - m + t) for t in range(m)]


def unified_diff(before: str, after: str, before_name: str, after_name: str, context: int = 3,
                 pairs=None) -> str:
    """A unified diff of two texts in linear time. ``pairs``: the (before line, after line)
    indices that correspond, increasing (an edit knows them: the lines it kept, changed in
    place or moved); without them only the common first and last lines are matched."""
    a, b = split_lines(before), split_lines(after)
    ops = _opcodes(a, b, _edge_pairs(a, b) if pairs is None else pairs)
    out = []
    for group in _KnownEdit(ops).get_grouped_opcodes(context):
        if not out:
            out += [f"--- {before_name}\n", f"+++ {after_name}\n"]
        (_, i1, _, j1, _), (_, _, i2, _, j2) = group[0], group[-1]
        out.append(f"@@ -{_range(i1, i2)} +{_range(j1, j2)} @@\n")
        for tag, a1, a2, b1, b2 in group:
            if tag == "equal":
                out += [" " + ln for ln in a[a1:a2]]
                continue
            out += ["-" + ln for ln in a[a1:a2]]
            out += ["+" + ln for ln in b[b1:b2]]
    return "".join(ln if ln.endswith("\n") else ln + "\n\\ No newline at end of file\n" for ln in out)


def _range(start: int, stop: int) -> str:
    """A unified diff hunk range: 1-based start and length (start is the line before when empty)."""
    length = stop - start
    first = start + 1 if length else start
    return f"{first}" if length == 1 else f"{first},{length}"
