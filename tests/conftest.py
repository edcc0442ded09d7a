from __future__ import annotations

import json
import textwrap
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from cfgtool.cli import main
from cfgtool.model import build
from cfgtool.shapes import infer_shapes
from cfgtool.syntax import Document, parse

ROOT = Path(__file__).resolve().parents[1]
CONFORMANCE = ROOT.parent / "shared" / "conformance"
EXAMPLES = ROOT / "examples"


# Corpus files Darknet parses but then runs wrongly: (code, line) of each error cfgtool reports.
# cspx-p7-mish: mask=16,17,18,19 with num=16 reads biases[32..39] of a 32-float buffer (H402).
# cspx-p7-mish_hp: "61,45    61,45" lacks a comma (Darknet drops blanks and reads 4561), so the
# anchors have 31 values for num=16 and the last height stays 0.5 (H403).
DARKNET_RUNS_WRONGLY = {
    "cspx-p7-mish": [("H402", 2583)],
    "cspx-p7-mish_hp": [("H403", n) for n in (2351, 2417, 2482, 2547, 2612)],
}


def conformance_cfgs() -> list[Path]:
    """The corpus cfgs (empty when ../shared/conformance is absent: tests then skip)."""
    folder = CONFORMANCE / "darknet" / "cfg"
    return sorted(folder.glob("*.cfg")) if folder.is_dir() else []


def expected(cfg: Path) -> dict:
    return json.loads((CONFORMANCE / "darknet" / "expected" / f"{cfg.stem}.json").read_text())


def corpus_params():
    """pytest params over the corpus, or a single skipped param when it is absent."""
    cfgs = conformance_cfgs()
    if not cfgs:
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"conformance corpus not found at {CONFORMANCE}"))]
    return [pytest.param(p, id=p.stem) for p in cfgs]


@pytest.fixture
def conformance_dir() -> Path:
    if not (CONFORMANCE / "darknet" / "cfg").is_dir():
        pytest.skip(f"conformance corpus not found at {CONFORMANCE}")
    return CONFORMANCE


def invoke(*args):
    """Run the cfgtool command line in-process (every argument made a string)."""
    return CliRunner().invoke(main, [str(a) for a in args])


def shapes_of(source: Document | str, path: str = "t.cfg", **kw):
    """(network, shapes) of a Document, or of cfg text (dedented; ``path`` names it);
    ``kw`` goes to infer_shapes (width, height)."""
    doc = source if isinstance(source, Document) else parse(textwrap.dedent(source), path)
    network = build(doc)
    return network, infer_shapes(network, **kw)


def reading(doc: Document) -> list:
    """Darknet's reading of a document: (section name, [(key, value), ...]) per section."""
    return [(s.name, [(o.key, o.value) for o in s.options]) for s in doc.sections]


def count_instances(monkeypatch, *classes) -> Counter:
    """Counts (by class name) of the instances of ``classes`` created from now on: how often
    a command parses (Document) or infers shapes (Shapes)."""
    counts: Counter = Counter()
    for cls in classes:
        def counting(self, *args, _init=cls.__init__, _name=cls.__name__, **kw):
            counts[_name] += 1
            _init(self, *args, **kw)

        monkeypatch.setattr(cls, "__init__", counting)
    return counts
