"""Diagnostics as text for machines: concise lines, JSON, SARIF 2.1.0 and GitHub annotations.

The human ``text`` format (code frames, colour) lives in cfgtool/cli/common.py: cfgtool/cli is
the only package that imports click and rich.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import PurePath

from . import __version__
from .diagnostics import Diagnostic
from .syntax import printable

FORMATS = ("concise", "json", "sarif", "github")
SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
_SARIF_LEVEL = {"error": "error", "warning": "warning", "info": "note"}
_GITHUB_LEVEL = {"error": "error", "warning": "warning", "info": "notice"}


def concise(diags: Sequence[Diagnostic]) -> str:
    return "".join(d.one_line() + "\n" for d in diags)


def as_dict(d: Diagnostic) -> dict:
    s = d.span
    return {
        "file": d.path, "line": s.line if s else None, "column": s.column if s else None,
        "end_line": s.end_line if s else None, "end_column": s.end_column if s else None,
        "code": d.code, "name": d.name, "severity": d.severity, "layer": d.layer, "message": d.message,
    }


def to_json(diags: Sequence[Diagnostic]) -> str:
    import json

    return json.dumps([as_dict(d) for d in diags], indent=2) + "\n"


def _uri(path: str | None) -> str:
    """A relative path as given (what code-scanning tools expect), an absolute one as file://."""
    if not path:
        return "<string>"
    p = PurePath(path)
    return p.as_uri() if p.is_absolute() else p.as_posix()


def sarif(diags: Sequence[Diagnostic], rules=None) -> str:
    """A SARIF 2.1.0 log with one run; ``rules`` (default: every lint rule) describe the codes."""
    if rules is None:
        from .lint import RULES as rules
    index = {r.code: i for i, r in enumerate(rules)}
    driver = {
        "name": "cfgtool",
        "version": __version__,
        "rules": [
            {
                "id": r.code,
                "name": r.name,
                "shortDescription": {"text": r.summary()},
                "fullDescription": {"text": r.help()},
                "help": {"text": r.help()},
                "defaultConfiguration": {"level": _SARIF_LEVEL.get(r.severity, "warning")},
            }
            for r in rules
        ],
    }
    results = []
    for d in diags:
        location = {"artifactLocation": {"uri": _uri(d.path)}}
        if d.span is not None:
            location["region"] = {"startLine": d.span.line, "startColumn": d.span.column,
                                  "endLine": d.span.end_line, "endColumn": d.span.end_column}
        result = {
            "ruleId": d.code,
            "level": _SARIF_LEVEL.get(d.severity, "warning"),
            "message": {"text": d.message},
            "locations": [{"physicalLocation": location}],
        }
        if d.code in index:
            result["ruleIndex"] = index[d.code]
        if d.layer is not None:
            result["properties"] = {"layer": d.layer}
        results.append(result)
    log = {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [{"tool": {"driver": driver}, "results": results}]}
    import json

    return json.dumps(log, indent=2) + "\n"


def _escape_data(text: str) -> str:
    """The workflow-command escaping of % CR LF, then every other control character as \\xNN."""
    return printable(text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A"))


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github(diags: Sequence[Diagnostic]) -> str:
    """GitHub Actions workflow commands: one ``::error``/``::warning``/``::notice`` per diagnostic."""
    out = []
    for d in diags:
        props = [f"file={_escape_property(d.path or '<string>')}"]
        if d.span is not None:
            s = d.span
            props += [f"line={s.line}", f"col={s.column}", f"endLine={s.end_line}", f"endColumn={s.end_column}"]
        props.append(f"title={_escape_property(d.code)}")
        out.append(f"::{_GITHUB_LEVEL.get(d.severity, 'warning')} {','.join(props)}::{_escape_data(d.message)}\n")
    return "".join(out)


def render(diags: Sequence[Diagnostic], fmt: str) -> str:
    # undecodable bytes (P007) and control characters (an ESC in a key, a BEL in a file name) are
    # echoed as \\xNN in every format, never raw (GitHub's format escapes CR and LF its own way)
    if fmt == "github":
        return github(diags)
    diags = [replace(d, message=printable(d.message), path=d.path and printable(d.path)) for d in diags]
    if fmt == "concise":
        return concise(diags)
    if fmt == "json":
        return to_json(diags)
    if fmt == "sarif":
        return sarif(diags)
    raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
