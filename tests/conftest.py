from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFORMANCE = ROOT.parent / "shared" / "conformance"
EXAMPLES = ROOT / "examples"


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
