"""Inline suppressions: a comment line ``# cfgtool: ignore[W301]`` (codes, code prefixes or
rule names, comma-separated; ``# cfgtool: ignore`` alone: every rule) silences the
diagnostics of the next line that is not blank or a comment; when that line is a section
header, of the whole section. Text after the closing bracket is a free reason.

A directive is its own comment line, never a trailing ``key=value # cfgtool: ...``: Darknet
would read such a comment as part of the value.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from ..diagnostics import Diagnostic
from ..syntax import Document

DIRECTIVE = re.compile(r"^[#;]\s*cfgtool:\s*ignore(?:\[(?P<codes>[^\]]*)\])?(?:\s.*)?$")


def directives(doc: Document) -> list[tuple[int, int, tuple[str, ...]]]:
    """(first line, last line, patterns) of every suppression; empty patterns: every rule."""
    lines = doc.lines()
    section_end = {s.header.lineno: s.span.end_line for s in doc.sections}
    out = []
    for i, ln in enumerate(lines):
        m = DIRECTIVE.match(ln.text.strip()) if ln.kind == "comment" else None
        if m is None:
            continue
        target = next((t for t in lines[i + 1:] if t.kind not in ("blank", "comment")), None)
        if target is None:
            continue
        codes = tuple(c.strip() for c in (m["codes"] or "").split(",") if c.strip())
        out.append((target.lineno, section_end.get(target.lineno, target.lineno), codes))
    return out


def suppressor(doc: Document, matches: Callable) -> Callable[[Diagnostic], bool]:
    """A predicate: is this diagnostic of ``doc`` suppressed inline? ``matches(d, patterns)``
    says whether a diagnostic matches code patterns."""
    found = directives(doc)
    if not found:
        return lambda d: False

    def suppressed(d: Diagnostic) -> bool:
        if d.span is None:
            return False
        return any(first <= d.span.line <= last and (not codes or matches(d, codes)) for first, last, codes in found)

    return suppressed
