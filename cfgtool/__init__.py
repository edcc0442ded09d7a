"""cfgtool: check, edit and run Darknet .cfg network files."""

from .diagnostics import CfgError, Diagnostic, Span
from .syntax import Document, Line, Section, dumps, parse, parse_file

__version__ = "0.1.0"

__all__ = ["CfgError", "Diagnostic", "Document", "Line", "Section", "Span", "dumps", "parse", "parse_file", "__version__"]
