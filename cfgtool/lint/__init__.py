"""``cfgtool validate``'s engine: every rule in one table, and ``check`` to run them.

Codes: the letter is a topic, not a severity (each rule has its own default severity):
P0xx syntax (cfgtool.syntax), R1xx references, S2xx shapes (cfgtool.shapes), W3xx sections,
keys and values as written, H4xx detection heads, N5xx [net], T6xx what a target other than
AlexeyAB Darknet cannot load or computes differently (see lint/targets.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from ..diagnostics import CfgError, Diagnostic
from ..model import build
from ..nogc import paused
from ..shapes import Shapes, infer_shapes
from ..syntax import Document, parse_file
from . import compat, heads, net, options, references, shapes, syntax
from .base import LintContext, Rule
from .suppress import suppressor
from .targets import DEFAULT_TARGET, TARGETS, get_target

RULES: tuple[type[Rule], ...] = (
    *syntax.RULES,
    *references.RULES,
    *shapes.RULES,
    *options.RULES,
    *heads.RULES,
    *net.RULES,
    *compat.RULES,
)

BY_CODE: dict[str, type[Rule]] = {r.code: r for r in RULES}


def rule_for(code: str) -> type[Rule] | None:
    return BY_CODE.get(code)


def _matches(diag_or_rule, patterns: Iterable[str]) -> bool:
    code, name = diag_or_rule.code, diag_or_rule.name
    for p in patterns:
        p = p.strip()
        if p.upper() == "ALL" or (p and code.startswith(p.upper())) or p == name:
            return True
    return False


def selected(item, select: Iterable[str] | None = None, ignore: Iterable[str] | None = None) -> bool:
    """Whether a rule or diagnostic passes ``--select``/``--ignore`` (codes, code prefixes or names)."""
    if select and not _matches(item, select):
        return False
    return not (ignore and _matches(item, ignore))


@paused
def check(doc_or_path: Document | str | Path, target: str = DEFAULT_TARGET, select: Iterable[str] | None = None,
          ignore: Iterable[str] | None = None, width: int | None = None, height: int | None = None,
          shapes: Shapes | None = None) -> list[Diagnostic]:
    """Every diagnostic for a document (or a file: I/O errors raise OSError), sorted by position.

    Diagnostics suppressed inline (``# cfgtool: ignore[CODES]``, see lint/suppress.py) are left out.
    ``select``/``ignore``: codes, code prefixes (``W3``) or rule names; ``width``/``height``
    override [net]'s for the shape checks. ``shapes``: the document's shapes (at ``width``/
    ``height``) when the caller has inferred them already.
    """
    tgt = get_target(target)
    select, ignore = list(select or ()), list(ignore or ())
    if isinstance(doc_or_path, Document):
        doc = doc_or_path
    else:
        try:
            doc = parse_file(doc_or_path)
        except CfgError as exc:
            return _finish(exc.diagnostics, tgt, select, ignore)
    network = build(doc)
    if shapes is None:
        shapes = infer_shapes(network, width=width, height=height)
    ctx = LintContext(doc, network, shapes, tgt)
    found: list[Diagnostic] = []
    for rule in RULES:
        if selected(rule, select, ignore):
            found.extend(rule().check(ctx))
    suppressed = suppressor(doc, _matches)
    return _finish([d for d in found if not ctx.is_explained(d) and not suppressed(d)], tgt, select, ignore)


def _finish(diags, tgt, select, ignore) -> list[Diagnostic]:
    out = []
    for d in diags:
        if not selected(d, select, ignore):
            continue
        if d.code in tgt.severity:
            d = replace(d, severity=tgt.severity[d.code])
        out.append(d)
    out.sort(key=lambda d: (d.span.line if d.span else 0, d.span.column if d.span else 0, d.code))
    return out


__all__ = ["BY_CODE", "RULES", "TARGETS", "Rule", "check", "rule_for", "selected"]
