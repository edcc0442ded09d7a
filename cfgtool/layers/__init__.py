"""One module per Darknet layer type; TABLE maps each section header to its spec.

The table is explicit: no registration by import side effect.
"""

from __future__ import annotations

from .base import LayerSpec

SPECS: tuple[type[LayerSpec], ...] = ()

TABLE: dict[str, LayerSpec] = {name: spec() for spec in SPECS for name in spec.sections}


def spec_for(section_name: str) -> LayerSpec | None:
    return TABLE.get(section_name)
