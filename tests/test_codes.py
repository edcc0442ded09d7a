"""One catalogue of codes: everything cfgtool reports is in it, validate lists and accepts every
code, and the rules documentation is generated from it."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from cfgtool.cli import main
from cfgtool.codes import catalogue, lookup, markdown
from cfgtool.layers.common import CODES as SHAPE_CODES
from cfgtool.lint import RULES

ROOT = Path(__file__).resolve().parent.parent
CODE = re.compile(r"[A-Z]\d{3}$")
NAME = re.compile(r"[a-z]+(-[a-z0-9]+)*$")


def reported() -> set[tuple[str, str]]:
    """(code, name) of every call in cfgtool whose first two arguments are a code and a name
    (Diagnostic(...), the modules' helpers that build one)."""
    found = set()
    for path in (ROOT / "cfgtool").rglob("*.py"):
        if path.name == "codes.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and len(node.args) >= 2 and all(
                    isinstance(a, ast.Constant) and isinstance(a.value, str) for a in node.args[:2]):
                code, name = node.args[0].value, node.args[1].value
                if CODE.match(code) and NAME.match(name):
                    found.add((code, name))
    return found


def test_every_reported_code_is_in_the_catalogue():
    known = {(c.code, c.name) for c in catalogue()}
    calls = reported()
    assert ("X102", "weights-size") not in calls  # built with codes.diagnostic: the name is written once
    assert calls <= known, f"register these in cfgtool/codes.py: {sorted(calls - known)}"
    assert {(code, name) for name, code in SHAPE_CODES.items()} - {("S214", "")} <= known
    assert {(r.code, r.name) for r in RULES} <= known
    assert len({c.code for c in catalogue()}) == len(catalogue())


def test_the_reported_scan_finds_a_code():
    assert ("L001", "bad-label-line") in reported()


def test_list_rules_shows_every_code():
    result = CliRunner().invoke(main, ["validate", "--list-rules"])
    assert result.exit_code == 0
    codes = [row.split()[0] for row in result.output.splitlines()]
    assert codes == [c.code for c in catalogue()] and {"P000", "X102", "O701", "L001"} <= set(codes)
    data = json.loads(CliRunner().invoke(main, ["validate", "--list-rules", "--format", "json"]).output)
    x102 = next(r for r in data if r["code"] == "X102")
    assert x102["name"] == "weights-size" and x102["severity"] == "error"
    h401 = next(r for r in data if r["code"] == "H401")
    assert "Bad:" in h401["help"] and "Good:" in h401["help"]


def weights_case(tmp_path):
    pytest.importorskip("numpy")
    from cfgtool.weights import WeightsHeader

    cfg = ROOT / "tests" / "fixtures" / "lint" / "H401-good.cfg"
    bad = tmp_path / "bad.weights"
    bad.write_bytes(WeightsHeader().pack() + b"\0" * 4)
    return cfg, bad


def test_ignore_accepts_executor_and_weights_codes(tmp_path):
    cfg, bad = weights_case(tmp_path)
    runner = CliRunner()
    shown = runner.invoke(main, ["validate", "--format", "concise", str(cfg), "--weights", str(bad)])
    assert shown.exit_code == 1 and "X102" in shown.output
    ignored = runner.invoke(main, ["validate", "--format", "concise", str(cfg), "--weights", str(bad), "--ignore", "X102"])
    assert ignored.exit_code == 0 and "X102" not in ignored.output
    assert runner.invoke(main, ["validate", str(cfg), "--ignore", "X9"]).exit_code == 2  # matches no code


def test_pyproject_accepts_every_code(tmp_path):
    cfg, bad = weights_case(tmp_path)
    work = tmp_path / "proj"
    work.mkdir()
    (work / "pyproject.toml").write_text('[tool.cfgtool]\nignore = ["X102", "O701"]\n')
    (work / "net.cfg").write_bytes(cfg.read_bytes())
    result = CliRunner().invoke(main, ["validate", str(work / "net.cfg"), "--weights", str(bad)])
    assert result.exit_code == 0, result.output


def test_codes_build_diagnostics_with_their_name_and_severity():
    assert lookup("X002").name == "memory-limit"
    with pytest.raises(KeyError, match="catalogue"):
        lookup("X999")


def test_rules_documentation_is_generated_from_the_catalogue():
    doc = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    assert doc == markdown(), "regenerate it: python -m cfgtool.codes > docs/rules.md"
    assert all(f"## {c.code}" in doc for c in catalogue())


def test_no_cli_function_is_longer_than_60_lines():
    """A command body parses options, calls one library function and renders its result."""
    long = []
    for path in (ROOT / "cfgtool" / "cli").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            # from ``def`` to the last line (click's option decorators are declarations, not body)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 60:
                long.append(f"{path.name}:{node.name} {node.end_lineno - node.lineno + 1} lines")
    assert not long, long


def test_validate_and_read_weights_share_one_size_check(tmp_path):
    cfg, bad = weights_case(tmp_path)
    from cfgtool.diagnostics import CfgError
    from cfgtool.model import build
    from cfgtool.shapes import infer_shapes
    from cfgtool.syntax import parse_file
    from cfgtool.weights import read_weights

    network = build(parse_file(cfg))
    with pytest.raises(CfgError) as exc:
        read_weights(bad, network, infer_shapes(network))
    result = CliRunner().invoke(main, ["validate", "--format", "json", str(cfg), "--weights", str(bad)])
    reported = [d for d in json.loads(result.output) if d["code"] == "X102"]
    assert [d["message"] for d in reported] == [exc.value.diagnostics[0].message]
    assert "ends inside layer 0" in reported[0]["message"]
