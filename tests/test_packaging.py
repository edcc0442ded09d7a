from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

import pytest

import cfgtool
from cfgtool.syntax import GRAMMAR_NAME, grammar_text

ROOT = Path(__file__).resolve().parents[1]


def installed_grammar() -> Path | None:
    """The grammar file of the installed cfgtool distribution (None when there is none)."""
    try:
        dist = metadata.distribution("cfgtool")
    except metadata.PackageNotFoundError:
        return None
    for f in dist.files or []:
        if f.as_posix().endswith(f"cfgtool/grammars/{GRAMMAR_NAME}"):
            return Path(dist.locate_file(f))
    return None


def is_editable() -> bool:
    try:
        direct = json.loads(metadata.distribution("cfgtool").read_text("direct_url.json") or "{}")
    except metadata.PackageNotFoundError:
        return False
    return bool(direct.get("dir_info", {}).get("editable"))


def test_installed_package_ships_the_grammar():
    """Checks the installed distribution's files, whether Python imports cfgtool from there or
    (pytest run in a checkout after a plain ``pip install .``) from the source tree."""
    packaged = installed_grammar()
    if packaged is None and is_editable():
        pytest.skip("cfgtool is an editable install (pip install -e): no wheel was built; CI tests the installed wheel")
    if packaged is None and ROOT in Path(cfgtool.__file__).resolve().parents:
        pytest.skip("cfgtool is not installed (imported from this source tree); CI tests the installed wheel")
    assert packaged is not None and packaged.is_file(), "the installed cfgtool has no grammar file"
    assert packaged.read_text(encoding="utf-8") == (ROOT / "grammars" / GRAMMAR_NAME).read_text(encoding="utf-8")


def test_grammar_has_no_ignore():
    directives = [ln.strip() for ln in grammar_text().splitlines() if ln.strip().startswith("%")]
    assert not [d for d in directives if d.startswith("%ignore")]
