from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

import cfgtool
from cfgtool.syntax import GRAMMAR_NAME, grammar_text

ROOT = Path(__file__).resolve().parents[1]


def test_installed_package_ships_the_grammar():
    if ROOT in Path(cfgtool.__file__).resolve().parents:
        pytest.skip("cfgtool is imported from the source tree (editable install); CI tests the installed wheel")
    packaged = resources.files("cfgtool").joinpath("grammars", GRAMMAR_NAME)
    assert packaged.is_file()
    assert packaged.read_text(encoding="utf-8") == (ROOT / "grammars" / GRAMMAR_NAME).read_text(encoding="utf-8")


def test_grammar_has_no_ignore():
    directives = [ln.strip() for ln in grammar_text().splitlines() if ln.strip().startswith("%")]
    assert not [d for d in directives if d.startswith("%ignore")]
