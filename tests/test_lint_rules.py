"""cfgtool validate: every rule against its fixtures, the corpus, the formats, config and the CLI."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import (DARKNET_RUNS_WRONGLY, EXAMPLES, ROOT, conformance_cfgs, corpus_params, count_instances,
                      expected, invoke)

from cfgtool import parse, parse_file
from cfgtool.cli import main
from cfgtool.codes import catalogue
from cfgtool.config import ConfigError, config_for, read_config
from cfgtool.diagnostics import Diagnostic, Span
from cfgtool.lint import BY_CODE, RULES, check
from cfgtool.lint.targets import TARGETS
from cfgtool.report import render

FIXTURES = Path(__file__).parent / "fixtures" / "lint"
GOLDEN = Path(__file__).parent / "golden" / "validate_text.txt"
EXPECT = re.compile(r"^# expect: (?P<code>[A-Z]\d{3})(?: line (?P<line>\d+))? col (?P<col>\d+)", re.M)
TARGET = re.compile(r"^# target: (\S+)", re.M)
# catch-all rules: they carry codes no other rule describes, so no cfg produces them by design
NO_FIXTURE = {"P000", "S200"}


def fixture(code: str, kind: str) -> Path:
    return FIXTURES / f"{code}-{kind}.cfg"


def marker(path: Path) -> tuple[str, int, int, str]:
    """(code, line, column, target) from the fixture's '# expect:' and '# target:' comments."""
    text = path.read_bytes().decode("utf-8", errors="replace").lstrip("\ufeff")
    m = EXPECT.search(text)
    assert m, f"{path.name} has no '# expect:' line"
    line = int(m["line"]) if m["line"] else text.count("\n", 0, m.start()) + 2
    t = TARGET.search(text)
    return m["code"], line, int(m["col"]), t[1] if t else "alexeyab"


CODES = [r.code for r in RULES if r.code not in NO_FIXTURE]


def test_rule_table_is_consistent():
    codes = [r.code for r in RULES]
    names = [r.name for r in RULES]
    assert len(set(codes)) == len(codes) and len(set(names)) == len(names)
    for r in RULES:
        assert re.fullmatch(r"[PRSWHNT]\d{3}", r.code), r.code
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", r.name), r.name
        assert r.severity in ("error", "warning", "info")
        assert "Bad:" in r.help() and "Good:" in r.help(), f"{r.code} docstring needs a bad and a good example"


@pytest.mark.parametrize("code", CODES)
def test_bad_fixture_reports_code_at_location(code):
    path = fixture(code, "bad")
    want, line, col, target = marker(path)
    assert want == code
    found = check(path, target=target, select=[code])
    assert found, f"{code} not reported for {path.name}"
    assert {d.code for d in found} == {code}
    assert (line, col) in [(d.span.line, d.span.column) for d in found], [d.one_line() for d in found]
    d = found[0]
    assert d.name == BY_CODE[code].name and d.path == str(path) and d.message


@pytest.mark.parametrize("code", CODES)
def test_good_fixture_is_clean_for_that_rule(code):
    path = fixture(code, "good")
    text = path.read_bytes().decode("utf-8", errors="replace")
    t = TARGET.search(text)
    assert not [d.one_line() for d in check(path, target=t[1] if t else "alexeyab", select=[code])]


def test_every_fixture_belongs_to_a_rule():
    stems = {p.stem.rsplit("-", 1)[0] for p in FIXTURES.glob("*.cfg")}
    assert stems == set(CODES)


def test_catch_all_rules_surface_unknown_codes(monkeypatch):
    import cfgtool.lint as lint

    doc = parse("[net]\nwidth=32\nheight=32\nchannels=3\n\n[convolutional]\nfilters=4\n", "x.cfg")
    doc.diagnostics.append(Diagnostic("P099", "new-parse-check", "error", "m", Span(1, 1, 1, 2), "x.cfg"))
    real = lint.infer_shapes

    def shapes_with_extra(network, **kw):
        s = real(network, **kw)
        s.diagnostics.append(Diagnostic("S299", "new-shape-check", "error", "m", Span(6, 1, 6, 2), "x.cfg", 0))
        return s

    monkeypatch.setattr(lint, "infer_shapes", shapes_with_extra)
    assert {"P099", "S299"} <= {d.code for d in check(doc)}
    assert not {d.code for d in check(doc, ignore=["P000", "S200"])} & {"P099", "S299"}


def test_more_specific_rule_replaces_the_shape_error():
    text = fixture("H401", "bad").read_text()
    codes = {d.code for d in check(parse(text, "h.cfg"))}
    assert "H401" in codes and "S209" not in codes
    # without the head rule the shape error is still reported
    assert "S209" in {d.code for d in check(parse(text, "h.cfg"), ignore=["H401"])}


def test_select_and_ignore_take_prefixes_and_names():
    path = FIXTURES / "W304-bad.cfg"
    assert {d.code for d in check(path, select=["W3"])} == {"W304"}
    assert not check(path, select=["inline-comment"], ignore=["W"])
    assert {d.code for d in check(path, select=["inline-comment"])} == {"W304"}


# ---------------------------------------------------------------- targets

def test_hank_ai_makes_unused_and_duplicate_keys_errors():
    for code in ("W301", "W303"):
        path = fixture(code, "bad")
        assert {d.severity for d in check(path, select=[code])} == {"warning"}
        assert {d.severity for d in check(path, target="hank-ai", select=[code])} == {"error"}


def test_opencv_duplicate_key_names_the_last_line():
    doc = parse("[net]\nwidth=32\nheight=32\nchannels=3\n\n[convolutional]\nfilters=4\nfilters=8\nsize=1\n", "d.cfg")
    (d,) = check(doc, target="opencv", select=["W303"])
    assert "line 8" in d.message and "Darknet reads line 7" in d.message
    (d,) = check(doc, select=["W303"])
    assert "reads line 7" in d.message


def test_target_rules_are_silent_for_darknet():
    for code in ("T601", "T602", "T603", "T604"):
        assert not check(fixture(code, "bad"), select=["T6"])


@pytest.mark.parametrize("cfg", corpus_params())
def test_opencv_target_matches_cv2(cfg):
    """Errors only the opencv target reports (T604 aside: files that load but compute
    differently) <=> cv2.dnn.readNetFromDarknet refuses the file."""
    cv2 = pytest.importorskip("cv2")
    try:
        cv2.dnn.readNetFromDarknet(str(cfg))
        loads = True
    except cv2.error:
        loads = False
    darknet = {(d.code, d.span.line) for d in check(cfg) if d.severity == "error"}
    errors = [d for d in check(cfg, target="opencv") if d.severity == "error" and d.code != "T604"]
    extra = [d.one_line() for d in errors if (d.code, d.span.line) not in darknet]
    # OpenCV also asserts anchors == 2 * num: too few anchors (H403) is an error for Darknet too
    shared = [d.one_line() for d in errors if d.code == "H403"]
    assert bool(extra or shared) == (not loads), extra


# ---------------------------------------------------------------- corpus

def _lines(doc):
    return {ln.lineno: ln for ln in doc.lines()}


@pytest.mark.parametrize("cfg", corpus_params())
def test_unused_key_warnings_equal_darknets_unused_fields(cfg):
    exp = expected(cfg)
    stop = exp.get("failing_layer", 10**9)
    doc = parse_file(cfg)
    lines = _lines(doc)
    flagged = sorted({d.span.line for d in check(doc, select=["W301", "W303"]) if d.layer is not None and d.layer < stop})
    assert [f"{lines[n].key} = {lines[n].value}" for n in flagged] == exp["unused_fields"]


@pytest.mark.parametrize("cfg", corpus_params())
def test_no_error_where_darknet_parsed_the_file(cfg):
    exp = expected(cfg)
    errors = [d for d in check(cfg) if d.severity == "error"]
    if cfg.stem in DARKNET_RUNS_WRONGLY:
        assert "darknet_failure" not in exp
        assert [(d.code, d.span.line) for d in errors] == DARKNET_RUNS_WRONGLY[cfg.stem]
        return
    if "darknet_failure" in exp:
        layer = exp["failing_layer"]
        section = parse_file(cfg).sections[layer + 1]
        assert errors, "Darknet fails on this file"
        for d in errors:
            assert d.layer == layer and section.header.lineno <= d.span.line <= section.span.end_line
    else:
        assert not [d.one_line() for d in errors]


def test_resnet_failures_point_at_layer_17(conformance_dir):
    names = ["resnet50", "resnet101", "resnet152", "resnext152-32x4d"]
    for name in names:
        cfg = conformance_dir / "darknet" / "cfg" / f"{name}.cfg"
        assert expected(cfg)["failing_layer"] == 17
        section = parse_file(cfg).sections[18]
        errors = [d for d in check(cfg) if d.severity == "error"]
        assert [(d.layer, d.span.line) for d in errors] == [(17, section.option("from").lineno)], name


# ---------------------------------------------------------------- formats

def _bad_diags():
    return check(FIXTURES / "H401-bad.cfg") + check(FIXTURES / "W304-bad.cfg")


def test_json_format_fields():
    rows = json.loads(render(_bad_diags(), "json"))
    assert rows and set(rows[0]) == {"file", "line", "column", "end_line", "end_column", "code", "name", "severity",
                                     "layer", "message"}
    h401 = next(r for r in rows if r["code"] == "H401")
    assert (h401["line"], h401["column"], h401["layer"], h401["severity"]) == (8, 9, 0, "error")
    assert h401["end_column"] == 12 and h401["file"].endswith("H401-bad.cfg")


def test_sarif_structure():
    log = json.loads(render(_bad_diags(), "sarif"))
    assert log["version"] == "2.1.0" and "sarif-schema-2.1.0" in log["$schema"]
    driver = log["runs"][0]["tool"]["driver"]
    assert driver["name"] == "cfgtool"
    ids = [r["id"] for r in driver["rules"]]
    assert ids == [r.code for r in RULES]
    for r in driver["rules"]:
        assert r["name"] and r["shortDescription"]["text"] and "Bad:" in r["help"]["text"]
    results = log["runs"][0]["results"]
    h401 = next(r for r in results if r["ruleId"] == "H401")
    assert h401["level"] == "error" and ids[h401["ruleIndex"]] == "H401"
    loc = h401["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"].endswith("tests/fixtures/lint/H401-bad.cfg")
    assert loc["region"] == {"startLine": 8, "startColumn": 9, "endLine": 8, "endColumn": 12}
    assert {r["level"] for r in results} == {"error", "warning"}


def test_github_and_concise_formats():
    diags = check(FIXTURES / "H401-bad.cfg")
    (line,) = render(diags, "github").splitlines()
    assert line.startswith("::error file=") and ",line=8,col=9,endLine=8,endColumn=12,title=H401::" in line
    assert render(diags, "concise") == f"{FIXTURES / 'H401-bad.cfg'}:8:9: H401 {diags[0].message}\n"
    escaped = render([Diagnostic("W301", "x", "warning", "a%b\nc", None, "p,q:r.cfg")], "github")
    assert escaped == "::warning file=p%2Cq%3Ar.cfg,title=W301::a%25b%0Ac\n"


def test_text_format_golden(tmp_path, monkeypatch):
    """The text format with code frames (no colour outside a terminal), fixed by a golden file;
    CFGTOOL_UPDATE_GOLDEN=1 rewrites it."""
    src = ROOT / "tests" / "fixtures" / "lint"
    for name in ("H401-bad.cfg", "W304-bad.cfg", "R102-bad.cfg"):
        shutil.copy(src / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["validate", "H401-bad.cfg", "R102-bad.cfg", "W304-bad.cfg"])
    assert result.exit_code == 1
    if os.environ.get("CFGTOOL_UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(result.output)
    assert result.output == GOLDEN.read_text()
    assert result.output.rstrip().endswith("3 files, 2 errors, 1 warning")


# ---------------------------------------------------------------- config

PYPROJECT = """[project]
name = "x"

[tool.cfgtool]
{body}
"""


def _project(tmp_path, body: str) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "pyproject.toml").write_text(PYPROJECT.format(body=body))
    sub = tmp_path / "cfg" / "deep"
    sub.mkdir(parents=True)
    shutil.copy(FIXTURES / "W304-bad.cfg", sub / "a.cfg")
    return sub / "a.cfg"


def test_config_from_nearest_pyproject(tmp_path):
    cfg = _project(tmp_path, 'select = ["W3", "H"]\nignore = ["W304"]\ntarget = "hank-ai"\nstrict = true')
    c = config_for(cfg)
    assert (c.select, c.ignore, c.target, c.strict) == (("W3", "H"), ("W304",), "hank-ai", True)
    assert c.source == tmp_path / "pyproject.toml"


@pytest.mark.parametrize("body", ['target = "darknet2"', 'strict = "yes"', 'select = [1]', 'selct = ["W3"]', 'x = '])
def test_bad_config_is_an_error(tmp_path, body):
    cfg = _project(tmp_path, body)
    read_config.cache_clear()
    with pytest.raises(ConfigError):
        config_for(cfg)
    result = CliRunner().invoke(main, ["validate", str(cfg)])
    assert result.exit_code == 2 and "pyproject.toml" in result.output


def test_config_drives_validate_and_cli_wins(tmp_path):
    cfg = _project(tmp_path, "strict = true")
    runner = CliRunner()
    assert runner.invoke(main, ["validate", str(cfg)]).exit_code == 1  # the W304 warning fails: strict
    assert runner.invoke(main, ["validate", "--no-strict", str(cfg)]).exit_code == 0
    read_config.cache_clear()
    cfg = _project(tmp_path / "b", 'ignore = ["W304"]\nstrict = true')
    assert runner.invoke(main, ["validate", str(cfg)]).exit_code == 0
    assert runner.invoke(main, ["validate", str(cfg), "--ignore", "H"]).exit_code == 1  # CLI ignore replaces


# ---------------------------------------------------------------- CLI

def test_exit_codes(tmp_path, monkeypatch):
    runner = CliRunner()
    assert runner.invoke(main, ["validate", str(EXAMPLES / "yolov4-tiny.cfg")]).exit_code == 0
    assert runner.invoke(main, ["validate", str(FIXTURES / "W304-bad.cfg")]).exit_code == 0
    assert runner.invoke(main, ["validate", "--strict", str(FIXTURES / "W304-bad.cfg")]).exit_code == 1
    assert runner.invoke(main, ["validate", str(FIXTURES / "H401-bad.cfg")]).exit_code == 1
    assert runner.invoke(main, ["validate", str(tmp_path / "missing.cfg")]).exit_code == 2
    (tmp_path / "nothing").mkdir()
    monkeypatch.chdir(tmp_path / "nothing")  # no path: the current directory, here without cfgs
    assert runner.invoke(main, ["validate"]).exit_code == 2
    assert runner.invoke(main, ["validate", "--select", "Q9", str(FIXTURES / "H401-bad.cfg")]).exit_code == 2
    assert runner.invoke(main, ["validate", "--target", "tflite", str(FIXTURES / "H401-bad.cfg")]).exit_code == 2
    (tmp_path / "empty").mkdir()
    assert runner.invoke(main, ["validate", str(tmp_path / "empty")]).exit_code == 2


def test_directory_is_searched_recursively(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    shutil.copy(FIXTURES / "H401-bad.cfg", tmp_path / "a" / "b" / "x.cfg")
    shutil.copy(FIXTURES / "W304-bad.cfg", tmp_path / "a" / "y.cfg")
    (tmp_path / "a" / "notes.txt").write_text("[net]\n")
    result = CliRunner().invoke(main, ["validate", "--format", "json", str(tmp_path)])
    assert result.exit_code == 1
    assert {Path(r["file"]).name for r in json.loads(result.output)} == {"x.cfg", "y.cfg"}


def test_width_height_override_changes_the_shape_checks():
    path = FIXTURES / "N503-good.cfg"
    assert CliRunner().invoke(main, ["validate", str(path)]).exit_code == 0
    result = CliRunner().invoke(main, ["validate", "--format", "concise", "--width", "34", str(path)])
    assert "S203" in result.output and result.exit_code == 1


def test_list_rules():
    result = CliRunner().invoke(main, ["validate", "--list-rules"])
    assert result.exit_code == 0
    rows = result.output.splitlines()
    assert len(rows) == len(catalogue()) > len(RULES)  # every rule, then the codes other commands report
    assert rows[0].split()[:3] == [RULES[0].code, RULES[0].name, RULES[0].severity]
    data = json.loads(CliRunner().invoke(main, ["validate", "--list-rules", "--format", "json"]).output)
    assert [r["code"] for r in data][:len(RULES)] == [r.code for r in RULES]


def test_weights_size(tmp_path):
    pytest.importorskip("numpy")
    from cfgtool.model import build
    from cfgtool.shapes import infer_shapes
    from cfgtool.weights import WeightsHeader, expected_size

    cfg = FIXTURES / "H401-good.cfg"
    network = build(parse_file(cfg))
    size = expected_size(network, infer_shapes(network))
    header = WeightsHeader().pack()
    assert size == len(header) + 4 * (6 + 6 * 3)  # biases + weights of the 1x1 conv on 3 channels
    good = tmp_path / "good.weights"
    good.write_bytes(header + b"\0" * (size - len(header)))
    runner = CliRunner()
    assert runner.invoke(main, ["validate", str(cfg), "--weights", str(good)]).exit_code == 0
    for extra in (-4, 4):
        bad = tmp_path / "bad.weights"
        bad.write_bytes(header + b"\0" * (size - len(header) + extra))
        result = runner.invoke(main, ["validate", "--format", "concise", str(cfg), "--weights", str(bad)])
        assert result.exit_code == 1 and "X102" in result.output and str(size) in result.output
    assert runner.invoke(main, ["validate", str(cfg), str(cfg), "--weights", str(good)]).exit_code == 2


def test_validate_parses_and_infers_each_file_once(tmp_path, monkeypatch):
    pytest.importorskip("numpy")
    from cfgtool.shapes import Shapes
    from cfgtool.syntax import Document
    from cfgtool.weights import WeightsHeader

    cfg = FIXTURES / "H401-good.cfg"
    header = WeightsHeader().pack()
    weights = tmp_path / "w.weights"
    weights.write_bytes(header + b"\0" * (4 * (6 + 6 * 3)))  # biases + weights of the 1x1 conv on 3 channels
    counts = count_instances(monkeypatch, Document, Shapes)
    result = invoke("validate", cfg, "--weights", weights)
    assert result.exit_code == 0, result.output
    assert counts == {"Document": 1, "Shapes": 1}
    counts.clear()
    assert invoke("validate", cfg, FIXTURES / "H404-good.cfg").exit_code == 0
    assert counts == {"Document": 2, "Shapes": 2}


def test_validate_does_not_import_numpy():
    code = ("import sys; from cfgtool.cli import main\n"
            "try:\n    main(['validate', sys.argv[1]])\nexcept SystemExit as e:\n"
            "    assert e.code == 0, e.code\n"
            "assert 'numpy' not in sys.modules, 'numpy imported'\n")
    proc = subprocess.run([sys.executable, "-c", code, str(EXAMPLES / "yolov4.cfg")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_pre_commit_hooks_file():
    text = (ROOT / ".pre-commit-hooks.yaml").read_text()
    assert "id: cfgtool-validate" in text and "entry: cfgtool validate" in text and "id: cfgtool-fmt" in text
    assert text.count("language: python") == 2 and text.count(r"files: \.cfg$") == 2


# ---------------------------------------------------------------- robustness

def _source_lines() -> list[bytes]:
    path = EXAMPLES / "yolov4-tiny.cfg"
    if not path.is_file():
        path = next(iter(conformance_cfgs()), None) or FIXTURES / "H404-good.cfg"
    return path.read_bytes().splitlines(keepends=True)


def test_mutated_cfgs_never_crash(tmp_path):
    """Mutations of a real cfg through validate (every target, JSON): valid JSON, exit 0/1, no
    raw control character in the output. Kinds: lines dropped, duplicated, swapped; numbers
    replaced, huge digit strings, huge counts; junk bytes and control characters inserted.
    A sample of the mutants then goes through smoke in a fresh interpreter under a 2 GB
    address-space limit."""
    pytest.importorskip("hypothesis")
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    lines = _source_lines()
    garbage = st.sampled_from([b"\x00", b"\xff\xfe", b"\xe9", b"\r", b"=", b"[", b"]", b"#", b",", b"-", b"[yolo]\n",
                               b"[route]\nlayers=-99\n", b"from=1000000\n", b"filters=0\n", b"groups=7\n",
                               b"stride=-3\n", b"size=99999999999\n", b"\xef\xbb\xbf"])
    huge_counts = st.sampled_from([b"num=1000000000\n", b"filters=2147483647\n", b"classes=1000000000\n",
                                   b"batch=1000000000\n", b"max=1000000000\n", b"groups=1000000000\n",
                                   b"size=1000000000\n", b"layers=-1," + b"0," * 2000 + b"0\n"])
    controls = st.sampled_from([b"\x1b[31m", b"\x1b]0;title\x07", b"\x07", b"\x08", b"\x9b", b"\x7f", b"\x1b[2J"])
    edit = st.one_of(
        st.tuples(st.just("drop"), st.integers(0, len(lines) - 1)),
        st.tuples(st.just("dup"), st.integers(0, len(lines) - 1)),
        st.tuples(st.just("swap"), st.integers(0, len(lines) - 1), st.integers(0, len(lines) - 1)),
        st.tuples(st.just("num"), st.integers(0, len(lines) - 1), st.integers(-5, 100000)),
        st.tuples(st.just("digits"), st.integers(0, len(lines) - 1), st.integers(20, 6000)),
        st.tuples(st.just("junk"), st.integers(0, len(lines) - 1), garbage | huge_counts),
        st.tuples(st.just("control"), st.integers(0, len(lines) - 1), controls, st.integers(0, 40)),
    )
    runner = CliRunner()
    path = tmp_path / "m.cfg"
    sample: list[bytes] = []

    @settings(max_examples=100, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(edit, min_size=1, max_size=6), st.sampled_from(sorted(TARGETS)))
    def run(edits, target):
        out = list(lines)
        for e in edits:
            i = e[1] % len(out) if out else 0
            if not out:
                break
            if e[0] == "drop":
                out.pop(i)
            elif e[0] == "dup":
                out.insert(i, out[i])
            elif e[0] == "swap":
                j = e[2] % len(out)
                out[i], out[j] = out[j], out[i]
            elif e[0] == "num":
                out[i] = re.sub(rb"-?\d+", str(e[2]).encode(), out[i], count=1)
            elif e[0] == "digits":
                out[i] = re.sub(rb"\d+", b"9" * e[2], out[i], count=1)
            elif e[0] == "control":
                at = min(e[3], len(out[i].rstrip(b"\n")))
                out[i] = out[i][:at] + e[2] + out[i][at:]
            else:
                out.insert(i, e[2])
        data = b"".join(out)
        path.write_bytes(data)
        result = runner.invoke(main, ["validate", "--format", "json", "--target", target, str(path)])
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
        assert result.exit_code in (0, 1), result.output
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", result.output), result.output[:500]
        json.loads(result.output)
        if len(sample) < 3 and data not in sample:
            sample.append(data)

    run()
    _smoke_under_limit(sample, tmp_path)


def _smoke_under_limit(cfgs: list[bytes], folder: Path) -> None:
    """``cfgtool smoke`` on each cfg in one fresh interpreter under a 2 GB address-space limit."""
    resource = pytest.importorskip("resource", reason="needs POSIX resource limits")
    names = []
    for i, data in enumerate(cfgs):
        (folder / f"s{i}.cfg").write_bytes(data)
        names.append(f"s{i}.cfg")

    def limits():
        resource.setrlimit(resource.RLIMIT_AS, (2 * 2**30, 2 * 2**30))
        os.environ["OPENBLAS_NUM_THREADS"] = "1"

    code = ("import sys\nfrom cfgtool.cli import main\nfor name in sys.argv[1:]:\n"
            "    try:\n        main(['smoke', name, '--size', '32', '--batch', '1'])\n"
            "    except SystemExit as exc:\n        print('@@exit', name, exc.code, flush=True)\n")
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-c", code, *names], capture_output=True, timeout=300, cwd=folder,
                          preexec_fn=limits, env=env)
    out = (done.stdout + done.stderr).decode("utf-8", "replace")
    assert done.returncode == 0 and "Traceback" not in out and "MemoryError" not in out, out[-3000:]
    exits = re.findall(r"@@exit (\S+) (\S+)", out)
    assert [n for n, _ in exits] == names and all(c in ("0", "1", "None") for _, c in exits), exits
