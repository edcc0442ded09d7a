"""The one catalogue of diagnostic codes: every code cfgtool reports, with its name, default
severity, summary and (for a lint rule) a bad and a good example.

Lint rules (P0xx syntax, R1xx references, S2xx shapes, W3xx options, H4xx heads, N5xx [net],
T6xx targets) are declared by their Rule class in ``cfgtool/lint`` (code, name, severity, and a
docstring with the summary and the examples); the codes reported outside ``validate``'s rules
are declared here in :data:`OTHER`: L0xx label files (``anchors``), O7xx ONNX export, X0xx the
executor (X000: cfgtool itself failed), X1xx ``.weights`` files. A module that reports a new
code registers it here (tests/test_codes.py checks that every code reported is).
:func:`catalogue` lists them all; ``validate --list-rules`` prints it, ``--select``/``--ignore``
and ``[tool.cfgtool]`` accept every code in it, and ``docs/rules.md`` is generated from it
(``python -m cfgtool.codes > docs/rules.md``).
:func:`diagnostic` builds a Diagnostic of a catalogue code, so its name and severity are
written once.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from .diagnostics import ERROR, WARNING, Diagnostic, Span


@dataclass(frozen=True)
class Code:
    code: str
    name: str
    severity: str
    summary: str
    details: str = ""  # more help: a lint rule's bad and good examples

    def help(self) -> str:
        return f"{self.summary}\n\n{self.details}" if self.details else self.summary


OTHER: tuple[Code, ...] = (
    Code("L001", "bad-label-line", ERROR, "A label line that is not 'class cx cy w h' (an integer class, then 4 numbers)."),
    Code("L002", "label-out-of-range", ERROR, "A label whose class or box is outside the valid range."),
    Code("L003", "no-label-file", ERROR, "An image without a label file where Darknet looks for one."),
    Code("L004", "not-a-label-file", WARNING, "An image list or class-names file among the label files: skipped."),
    Code("O701", "no-onnx-lowering", ERROR, "A layer (or an option of it) that the ONNX export cannot express."),
    Code("O702", "no-decode", ERROR, "export --decode on a network whose heads cannot be decoded into boxes."),
    Code("X000", "internal-error", ERROR, "cfgtool itself failed on this file (a bug: please report it)."),
    Code("X001", "unsupported-layer", ERROR, "A layer the numpy executor cannot run (or a network without layers)."),
    Code("X002", "memory-limit", ERROR, "The run would need more memory than the limit (--max-memory)."),
    Code("X003", "input-shape", ERROR, "An input array whose shape is not the network's (batch, channels, height, width)."),
    Code("X004", "cannot-decode", ERROR, "A detection layer whose output cannot be decoded into boxes (run --image)."),
    Code("X005", "layer-failed", ERROR, "A layer failed while running, or produced a different size than Darknet's."),
    Code("X006", "layer-file", ERROR, "A file a layer option names (tree=) that cannot be found or that Darknet would misread."),
    Code("X101", "no-layer-shape", ERROR, "A layer without a valid shape: weights cannot be read or written."),
    Code("X102", "weights-size", ERROR, "A .weights file with more or fewer bytes than the cfg needs."),
)


def _from_rule(rule) -> Code:
    parts = rule.help().split("\n\n", 1)
    return Code(rule.code, rule.name, rule.severity, rule.summary(), parts[1].strip() if len(parts) > 1 else "")


@functools.lru_cache(maxsize=1)
def catalogue() -> tuple[Code, ...]:
    """Every code: the lint rules' in their order (P, R, S, W, H, N, T), then :data:`OTHER`."""
    from .lint import RULES

    return (*map(_from_rule, RULES), *OTHER)


@functools.lru_cache(maxsize=1)
def _by_code() -> dict[str, Code]:
    return {c.code: c for c in catalogue()}


def lookup(code: str) -> Code:
    try:
        return _by_code()[code]
    except KeyError:
        raise KeyError(f"{code} is not in the catalogue (cfgtool/codes.py)") from None


def diagnostic(code: str, message: str, span: Span | None, path: str | None = None, layer: int | None = None,
               notes=()) -> Diagnostic:
    """A Diagnostic of catalogue ``code``, with its name and default severity."""
    c = lookup(code)
    return Diagnostic(c.code, c.name, c.severity, message, span, path, layer, tuple(notes))


def markdown() -> str:
    """The rules documentation (docs/rules.md)."""
    lines = ["# Diagnostic codes", "",
             "Generated from `cfgtool/codes.py` by `python -m cfgtool.codes > docs/rules.md`; do not edit.", "",
             "| code | name | severity | summary |", "| --- | --- | --- | --- |"]
    lines += [f"| [{c.code}](#{c.code.lower()}) | `{c.name}` | {c.severity} | {c.summary} |" for c in catalogue()]
    for c in catalogue():
        lines += ["", f"## {c.code}", "", f"`{c.name}` ({c.severity}): {c.summary}"]
        if c.details:
            lines += ["", *c.details.splitlines()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # pragma: no cover
    import sys

    sys.stdout.write(markdown())
