"""CONTRIBUTING.md's "adding a layer type", done: a toy type added through exactly the files it
names (a spec, its line in the registry, a kernel) runs through validate, summary and smoke."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

SPEC = '''"""[toy]: multiplies its input by ``factor`` and a learned per-channel scale."""

from __future__ import annotations

from dataclasses import dataclass

from .base import FLOAT, LayerShape, LayerSpec, Opt, Params, Tensor


@dataclass(frozen=True, kw_only=True)
class ToyParams(Params):
    factor: float = 1.0


class Toy(LayerSpec):
    type = "toy"
    sections = ("[toy]",)
    Params = ToyParams
    options = (Opt("factor", FLOAT, 1.0, doc="multiplies the input"),)

    def tensors(self, shape):
        return [Tensor("scales", (shape.output[2],))]

    def infer(self, r, ctx):
        prev = ctx.prev
        return LayerShape(prev, prev, ctx.prev_outputs, prev[2], 0.0, {"factor": r.get("factor")})
'''

KERNEL = '''"""[toy]: out = x * factor * scales[c]."""

from __future__ import annotations


def forward(p, w, xs, train):
    k = p.factor * w["scales"].reshape(1, -1, 1, 1)
    return xs[0] * k, (xs[0], k)


def backward(p, w, dout, cache):
    x, k = cache
    return [dout * k], {"scales": (dout * x).sum(axis=(0, 2, 3)) * p.factor}
'''

CFG = """[net]
width=32
height=32
channels=3

[convolutional]
filters=8
size=3
stride=2
pad=1
activation=leaky

[toy]
factor=0.5
colour=red

[convolutional]
filters=4
size=1
activation=linear
"""


@pytest.fixture(scope="module")
def toy_package(tmp_path_factory):
    """A copy of cfgtool with the toy type added as CONTRIBUTING.md says."""
    root = tmp_path_factory.mktemp("toy")
    pkg = root / "cfgtool"
    shutil.copytree(ROOT / "cfgtool", pkg, ignore=shutil.ignore_patterns("__pycache__"))
    (pkg / "layers" / "toy.py").write_text(SPEC, encoding="utf-8")
    registry = pkg / "layers" / "__init__.py"
    text = registry.read_text(encoding="utf-8")
    text = text.replace("from .base import LayerSpec\n", "from .base import LayerSpec\nfrom .toy import Toy\n", 1)
    text = text.replace("SPECS: tuple[type[LayerSpec], ...] = (\n", "SPECS: tuple[type[LayerSpec], ...] = (\n    Toy,\n", 1)
    registry.write_text(text, encoding="utf-8")
    (pkg / "executor" / "ops" / "toy.py").write_text(KERNEL, encoding="utf-8")
    (root / "toy.cfg").write_text(CFG, encoding="utf-8")
    return root


def cfgtool(root: Path, *args: str) -> subprocess.CompletedProcess:
    code = "import sys; from cfgtool.cli import main; main(sys.argv[1:], prog_name='cfgtool')"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=root, capture_output=True, text=True,
                          env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin", "COLUMNS": "200"}, timeout=300)


def test_the_toy_type_is_validated(toy_package):
    result = cfgtool(toy_package, "validate", "--format", "concise", "toy.cfg")
    # the toy's own option is read, an unknown one is Darknet's unused field
    assert "colour" in result.stdout and "W301" in result.stdout and "factor" not in result.stdout, result.stdout
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_toy_type_is_summarised(toy_package):
    result = cfgtool(toy_package, "summary", "--format", "json", "toy.cfg")
    assert result.returncode == 0, result.stderr
    assert '"type": "toy"' in result.stdout and '"nweights": 8' in result.stdout


def test_the_toy_type_runs_in_smoke(toy_package):
    pytest.importorskip("numpy")
    result = cfgtool(toy_package, "smoke", "toy.cfg", "--size", "32", "--grad-check", "--samples", "6")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[toy]" not in result.stdout and "ok: 3 layers" in result.stdout and "<= 1e-4: ok" in result.stdout
