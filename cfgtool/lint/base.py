"""What every lint rule is built from: the Rule contract and the context a rule reads."""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from ..diagnostics import Diagnostic, Span
from ..model import Layer, Network
from ..syntax import Document, Line, Section

if TYPE_CHECKING:  # pragma: no cover
    from .targets import Target


class Rule:
    """One check. ``check(ctx)`` yields Diagnostics; the docstring's first paragraph is the summary,
    the rest (a bad and a good example) is the rule's help text."""

    code: ClassVar[str]
    name: ClassVar[str]
    severity: ClassVar[str]

    @classmethod
    def summary(cls) -> str:
        """The docstring's first paragraph on one line."""
        return " ".join(cls.help().split("\n\n")[0].split())

    @classmethod
    def help(cls) -> str:
        return inspect.cleandoc(cls.__doc__ or "")

    def check(self, ctx: LintContext) -> Iterable[Diagnostic]:
        raise NotImplementedError


@dataclass
class LintContext:
    doc: Document
    network: Network
    shapes: Any  # cfgtool.shapes.Shapes, or None when shape inference is unavailable
    target: Target
    explained: set = field(default_factory=set)  # (code, layer, line or None): shape errors a rule restated
    cache: dict = field(default_factory=dict)  # values several rules compute once

    @property
    def path(self) -> str | None:
        return self.doc.path

    @property
    def layers(self) -> list[Layer]:
        return self.network.layers

    def sections(self) -> Iterator[tuple[int | None, Section]]:
        """Every section with its layer index (None for the first section, [net] or not)."""
        for pos, section in enumerate(self.doc.sections):
            yield (pos - 1 if pos else None), section

    def keyed(self, section: Section) -> list[tuple[str, Line]]:
        """(key, line) for every option line Darknet stores (``key=`` lines it drops are left out)."""
        table = self.cache.setdefault("keyed", {})
        found = table.get(id(section))
        if found is None:
            found = table[id(section)] = [(ln.key, ln) for ln in section.options if ln.value != ""]
        return found

    def options(self, section: Section) -> dict[str, Line]:
        """key -> the line Darknet reads for it (the first one), computed once."""
        table = self.cache.setdefault("options", {})
        found = table.get(id(section))
        if found is None:
            found = table[id(section)] = {}
            for key, line in self.keyed(section):
                found.setdefault(key, line)
        return found

    def shape(self, index: int):
        """The LayerShape of layer ``index`` (None where inference failed or is unavailable)."""
        if self.shapes is None or not 0 <= index < len(self.shapes.layers):
            return None
        return self.shapes.layers[index]

    def explain(self, codes: str | tuple[str, ...], layer: int, line: int | None = None) -> None:
        """Mark the shape diagnostics ``codes`` of ``layer`` (on ``line`` only, if given) as restated
        by a rule's more specific diagnostic: check() drops them."""
        for code in (codes,) if isinstance(codes, str) else codes:
            self.explained.add((code, layer, line))

    def is_explained(self, d: Diagnostic) -> bool:
        line = d.span.line if d.span else None
        return (d.code, d.layer, None) in self.explained or (d.code, d.layer, line) in self.explained

    def diag(self, rule: Rule | type[Rule], message: str, span: Span | None, layer: int | None = None,
             severity: str | None = None, notes: tuple[str, ...] = ()) -> Diagnostic:
        return Diagnostic(rule.code, rule.name, severity or rule.severity, message, span, self.path, layer, notes)
