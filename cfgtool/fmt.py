"""The canonical layout of a cfg: what ``cfgtool fmt`` writes.

``key=value`` with no blanks around '=' (blanks inside a value are kept: Darknet drops them
anyway), headers and keys as Darknet reads them, no trailing blanks, no indentation, one
blank line before each section (and before the comments directly above it), no other runs
of blank lines, one line ending at the end. Comments and each line's ending are kept, so
Darknet's reading of the file never changes. :func:`unified_diff` shows a change of a cfg.
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


def format_document(doc: Document) -> str:
    lines = doc.lines()
    nl = doc.newline
    out: list[list[str]] = []  # [text, ending]
    for i, ln in enumerate(lines):
        text = _canonical(ln)
        ending = ln.ending or nl
        if ln.kind == "blank":
            if not out or out[-1][0] == "" or lines[i - 1].kind == "header":
                continue  # no blank at the top, after a header, or twice in a row
            out.append(["", ending])
            continue
        if ln.kind == "header" and out:
            # one blank line before the header and the comments directly above it
            j = len(out)
            while j > 0 and out[j - 1][0].startswith(("#", ";")):
                j -= 1
            if j > 0 and out[j - 1][0] != "":
                out.insert(j, ["", ending])
        out.append([text, ending])
    while out and out[-1][0] == "":
        out.pop()
    return doc.bom + "".join(t + e for t, e in out)


def unified_diff(before: str, after: str, before_name: str, after_name: str, context: int = 3) -> str:
    """A unified diff of two texts, lines matched without difflib's popular-line heuristic
    (cfg files repeat lines like ``activation=mish`` so often that it would misalign them)."""
    a, b = before.splitlines(keepends=True), after.splitlines(keepends=True)
    out = []
    for group in difflib.SequenceMatcher(None, a, b, autojunk=False).get_grouped_opcodes(context):
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
