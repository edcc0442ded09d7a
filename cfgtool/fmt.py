"""The canonical layout of a cfg: what ``cfgtool fmt`` writes.

``key=value`` with no blanks around '=' (blanks inside a value are kept: Darknet drops them
anyway), headers and keys as Darknet reads them, no trailing blanks, no indentation, one
blank line before each section (and before the comments directly above it), no other runs
of blank lines, one line ending at the end. Comments and each line's ending are kept, so
Darknet's reading of the file never changes.
"""

from __future__ import annotations

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
