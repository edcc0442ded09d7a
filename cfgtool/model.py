"""A read-only view of a Document as Darknet sees the network: layers, types, references."""

from __future__ import annotations

from dataclasses import dataclass, field

from .layers import spec_for
from .layers.base import LayerSpec, Ref
from .syntax import Document, Section


@dataclass
class Layer:
    index: int
    section: Section
    spec: LayerSpec | None  # None: a section type Darknet does not know

    @property
    def type(self) -> str:
        return self.spec.type if self.spec else self.section.name

    @property
    def line(self) -> int:
        return self.section.header.lineno

    @property
    def refs(self) -> list[Ref]:
        return self.spec.references(self.section, self.index) if self.spec else []

    @property
    def inputs(self) -> list[int]:
        """Absolute indices of the layers this layer reads."""
        return self.spec.inputs(self.section, self.index) if self.spec else ([self.index - 1] if self.index else [])


@dataclass
class Network:
    doc: Document
    net: Section | None
    layers: list[Layer] = field(default_factory=list)

    @property
    def path(self) -> str | None:
        return self.doc.path


def build(doc: Document) -> Network:
    """Layers are every section after the first ([net]); index 0 is the second section."""
    if not doc.sections:
        return Network(doc, None)
    first, rest = doc.sections[0], doc.sections[1:]
    net = first if first.name in ("[net]", "[network]") else None
    layers = [Layer(i, s, spec_for(s.name)) for i, s in enumerate(rest)]
    return Network(doc, net, layers)
