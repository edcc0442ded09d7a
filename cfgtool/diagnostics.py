"""Diagnostics are plain values; rendering them is the CLI's business."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

ERROR = "error"
WARNING = "warning"
INFO = "info"


@dataclass(frozen=True)
class Span:
    """1-based line and column, end exclusive (end_column points past the last character)."""

    line: int
    column: int
    end_line: int
    end_column: int


@dataclass(frozen=True)
class Diagnostic:
    code: str
    name: str
    severity: str
    message: str
    span: Span | None = None
    path: str | None = None
    layer: int | None = None
    notes: tuple[str, ...] = field(default=())

    def at(self, path: str | None) -> Diagnostic:
        return replace(self, path=path)

    def location(self) -> str:
        where = self.path or "<string>"
        if self.span is None:
            return where
        return f"{where}:{self.span.line}:{self.span.column}"

    def one_line(self) -> str:
        """``file:line:col: CODE message`` -- the concise format."""
        return f"{self.location()}: {self.code} {self.message}"


class CfgError(Exception):
    """Raised by the library where it cannot go on; carries the diagnostics that say why."""

    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = list(diagnostics)
        super().__init__("\n".join(d.one_line() for d in self.diagnostics))
