"""What fuzzing found (issue 12): each case runs the real command line in a fresh interpreter
under a 2 GB address-space limit and a time limit, and must end in a diagnostic with exit 1 or
2 (0 where the file is fine), never a traceback, a MemoryError or a hang.

The cases that do not run the network share one interpreter (one import of cfgtool), run one
after the other with a marker line after each."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from conftest import EXAMPLES

LIMIT = 2 * 2**30  # bytes of address space
SECONDS = 120  # for a whole batch; generous for a shared 2-core machine (a few seconds alone)
TINY = (EXAMPLES / "yolov4-tiny.cfg").read_text()
END = "@@cfgtool-exit"

resource = pytest.importorskip("resource", reason="needs POSIX resource limits")

DRIVER = f"""
import sys, json, traceback
from cfgtool.cli import main
for args in json.loads(sys.argv[1]):
    try:
        main(args, prog_name="cfgtool")
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
        code = "crash"
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
        print("\\n{END}", code, file=stream, flush=True)
"""


def _limits():
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT))
    os.environ["OPENBLAS_NUM_THREADS"] = "1"


def cfgtool(runs: list[list], cwd) -> list[tuple[object, str]]:
    """Each ``runs`` item is a cfgtool command line; all run in one limited interpreter.
    Returns (exit code, stdout + stderr) per run; fails the test on a timeout."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", COLUMNS="200")
    arg = json.dumps([[str(a) for a in run] for run in runs])
    try:
        done = subprocess.run([sys.executable, "-c", DRIVER, arg], capture_output=True, timeout=SECONDS,
                              preexec_fn=_limits, env=env, cwd=cwd)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{len(runs)} cfgtool runs took more than {SECONDS} s")
    outs = [part.decode("utf-8", "surrogateescape").split(f"\n{END} ") for part in (done.stdout, done.stderr)]
    assert len(outs[0]) == len(runs) + 1, (done.returncode, done.stderr[-3000:])
    results = []
    for i in range(len(runs)):
        code = outs[0][i + 1].split("\n", 1)[0]
        text = "".join(o[i].split("\n", 1)[1] if i else o[i] for o in outs)
        results.append((int(code) if code.isdigit() else code, text))
    return results


def refused(result, codes=(1, 2)) -> str:
    code, out = result
    assert "Traceback" not in out and "MemoryError" not in out, out[-3000:]
    assert code in codes, (code, out[-3000:])
    return out


def tiny_with(old: str, new: str) -> str:
    assert old in TINY
    return TINY.replace(old, new, 1)


ESC, TITLE = "\x1b[31m", "\x1b]0;pwned\x07"
HOSTILE_NAME = "ev\x1b[2Jil.cfg"
FILES = {
    "long.cfg": tiny_with("filters=32", "filters=" + "9" * 5000),
    "bignum.cfg": tiny_with("num=6", "num=1000000000"),
    "bignum-nomask.cfg": tiny_with("mask=3,4,5\n", "").replace("num=6", "num=1000000000", 1),
    "tiny.cfg": TINY,
    HOSTILE_NAME: f"[net]\nwidth=32\nheight=32\nchannels=3\n\n[convolutional]\nfil{ESC}ters=4\n"
                  f"activation=leaky{TITLE}\n%te,st:x=1\n",
    "section.cfg": f"[net]\nwidth=32\nheight=32\nchannels=3\n\n[convolutional]\nfilters=4\n\n[{ESC}evil]\n",
}
AT_SPECS = ["0-100000000000", "convolutional@0-100000000000", "1" * 5000, "0-" + "9" * 5000]
FORMATS = ["text", "concise", "json", "sarif", "github"]
RUNS = {
    "long-validate": ["validate", "long.cfg"],
    "long-summary": ["summary", "long.cfg"],
    "bignum-validate": ["validate", "--format", "concise", "bignum.cfg"],
    "bignum-summary": ["summary", "bignum.cfg"],
    "bignum-nomask": ["validate", "--format", "concise", "bignum-nomask.cfg"],
    **{f"at-{i}": ["add-se", "tiny.cfg", "--at", spec, "--dry-run"] for i, spec in enumerate(AT_SPECS)},
    **{f"escape-{fmt}": ["validate", "--format", fmt, HOSTILE_NAME] for fmt in FORMATS},
    "escape-summary": ["summary", "section.cfg"],
}


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> dict[str, tuple[object, str]]:
    folder = tmp_path_factory.mktemp("fuzz")
    for name, text in FILES.items():
        (folder / name).write_text(text)
    return dict(zip(RUNS, cfgtool(list(RUNS.values()), cwd=folder)))


def test_a_5000_digit_number_is_out_of_range(batch):
    line = TINY[: TINY.index("filters=32")].count("\n") + 1
    out = refused(batch["long-validate"], codes=(1,))
    assert re.search(rf"long\.cfg:{line}:9: error\[W306\] filters=9999999999\.\.\.999999 \(5000 digits\) is out "
                     r"of range for C's int \(-2147483648\.\.2147483647\): Darknet's atoi reads -1", out), out[-2000:]
    assert "9" * 100 not in out  # neither the message nor the code frame echoes the 5000 digits
    out = refused(batch["long-summary"], codes=(1,))
    assert re.search(rf"long\.cfg:{line}:9: error\[S208\] filters=-1", out), out[-2000:]


def test_num_one_billion_is_reported_without_allocating(batch):
    out = refused(batch["bignum-validate"], codes=(1,))
    assert re.search(r"bignum\.cfg:\d+:9: H403 anchors has 12 values but num=1000000000 needs 2000000000", out), out
    # the shapes do not depend on num when mask= is given: the table is printed
    assert "37  yolo" in refused(batch["bignum-summary"], codes=(0,))


def test_num_one_billion_without_mask(batch):
    out = refused(batch["bignum-nomask"], codes=(1,))
    assert re.search(r"nomask\.cfg:\d+:9: H401 filters=255 feeds the \[yolo\] layer 30, which needs "
                     r"\(80 \+ 5\) \* 1000000000 = 85000000000; no filters= can", out), out


@pytest.mark.parametrize("case", range(len(AT_SPECS)))
def test_huge_at_ranges_and_indices_are_refused_at_once(batch, case):
    out = refused(batch[f"at-{case}"], codes=(1,))
    assert re.search(r"cfgtool: --at .*: layer .* does not exist \(the network has layers 0\.\.37\)", out), out
    assert "1" * 100 not in out and "9" * 100 not in out


@pytest.mark.parametrize("fmt", FORMATS)
def test_control_characters_are_escaped_in_every_format(batch, fmt):
    out = refused(batch[f"escape-{fmt}"], codes=(1,))
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", out), repr(out[:2000])
    if fmt in ("json", "sarif"):
        json.loads(out)
        out = out.replace("\\\\", "\\")  # JSON doubles the backslash of \x1b
    assert "'fil\\x1b[31mters'" in out and "'leaky\\x1b]0;pwned\\x07'" in out
    assert "ev\\x1b[2Jil.cfg" in out
    if fmt == "github":  # workflow commands: % in the message, and : , in properties, are escaped
        assert "'%25te,st:x' is not read" in out
        assert "file=ev\\x1b[2Jil.cfg,line=7,col=1," in out


def test_summary_escapes_section_names(batch):
    out = refused(batch["escape-summary"], codes=(0,))
    assert "[\\x1b[31mevil]" in out and "\x1b" not in out


SMOKE_BIG = """[net]
width=16
height=16
channels=3

[convolutional]
filters=2048
size=1
activation=leaky

[convolutional]
filters=20000
size=3
pad=1
activation=leaky
"""  # the second conv holds 20000*2048*9 float32 weights: 1.4 GiB


@pytest.mark.parametrize("command", ["smoke", "run"])
def test_weights_past_the_memory_limit_are_refused_before_allocating(command, tmp_path):
    (tmp_path / "f.cfg").write_text(SMOKE_BIG)
    args = [command, "f.cfg"]
    if command == "run":
        np = pytest.importorskip("numpy")
        np.save(tmp_path / "x.npy", np.zeros((1, 3, 16, 16), np.float32))
        args += ["--input", "x.npy"]
    (result,) = cfgtool([args], cwd=tmp_path)
    out = refused(result, codes=(1,))
    assert re.search(r"f\.cfg:1:1: error\[X002\] inference at \d+x\d+, batch \d+, float32 needs about "
                     r"[\d.]+ GiB, above the limit of [\d.]+ GiB", out), out[-2000:]
    assert "X005" not in out
