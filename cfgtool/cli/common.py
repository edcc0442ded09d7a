"""Helpers shared by the commands: reading files into documents, printing diagnostics."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from ..diagnostics import ERROR, CfgError, Diagnostic
from ..syntax import Document, encode, parse_file, printable

EXIT_OK, EXIT_ERRORS, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
REPORT_URL = "the cfgtool issue tracker"
DATA_DIR_HELP = ("Darknet's working directory: where files that layer options name (tree= of [softmax]/[region]) "
                 "are looked for (default: the current directory, the cfg's directory, the one above it).")


def internal_error_message(exc: BaseException) -> str:
    """The one line printed for a bug in cfgtool (exit 3)."""
    what = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
    return (f"cfgtool: internal error ({what}); this is a bug in cfgtool, not necessarily in your file: "
            f"please report it to {REPORT_URL} with the command and its input (cfgtool --debug ... shows the traceback)")


def exit_for(exc: Exception) -> int:
    """The one mapping from an exception a command let through to an exit code, after printing
    what the user needs: located diagnostics of bad input (:class:`CfgError`) exit 1; a file
    that cannot be read or written (``OSError``) exits 2 with its name and the system's
    reason; anything else is a bug in cfgtool and exits 3 with :func:`internal_error_message`.
    Commands catch an exception themselves only to add what was (not) written."""
    if isinstance(exc, CfgError):
        print_diagnostics(exc.diagnostics)
        return EXIT_ERRORS
    if isinstance(exc, OSError):  # (a broken pipe is handled before: cli.LazyGroup.invoke)
        say(f"{exc.filename}: {exc.strerror or exc}" if exc.filename else str(exc.strerror or exc))
        return EXIT_USAGE
    Terminal(err=True).print(internal_error_message(exc))
    return EXIT_INTERNAL


_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}
_FRAME = 80  # characters of a source line shown before, in and after the span


PIPE_WIDTH = 10_000  # piped output never wraps: a table row stays one line


def _console(**kw):
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=True, **kw)
    if not console.is_terminal:
        console.width = PIPE_WIDTH
    return console


def stdout():
    """A rich Console on stdout (for tables and progress bars; imports rich); never wraps in a pipe."""
    return _console()


def stderr():
    return _console(stderr=True)


class Styled:
    """Text in parts with rich styles; rich renders it on a terminal (``__rich__``), and
    ``plain`` is what a pipe gets, without importing rich."""

    def __init__(self, text: str = "", style: str = ""):
        self.parts: list[tuple[str, str]] = [(text, style)] if text else []

    def append(self, text: str, style: str = "") -> Styled:
        self.parts.append((text, style))
        return self

    @property
    def plain(self) -> str:
        return "".join(text for text, _ in self.parts)

    def __rich__(self):
        from rich.text import Text

        return Text.assemble(*self.parts)


class Terminal:
    """Prints Styled text or strings to stdout (or stderr): through rich, with colour, when the
    stream is a terminal; as plain lines otherwise, without importing rich. The stream is
    looked up at each print (so a test runner's capture is seen)."""

    def __init__(self, err: bool = False):
        self.err = err
        self._rich = None

    @property
    def file(self):
        return sys.stderr if self.err else sys.stdout

    def print(self, obj: Styled | str = "") -> None:
        if not self.file.isatty():
            self.file.write((obj if isinstance(obj, str) else obj.plain) + "\n")
            return
        if self._rich is None:
            self._rich = stderr() if self.err else stdout()
        self._rich.print(Styled(obj) if isinstance(obj, str) else obj)


def write_text(text: str) -> None:
    """Write cfg text (or a diff of it) to stdout byte-exact: undecodable bytes as they were."""
    sys.stdout.flush()
    sys.stdout.buffer.write(encode(text))
    sys.stdout.buffer.flush()


def say(message: str) -> None:
    """A one-line message from cfgtool on stderr."""
    Terminal(err=True).print(f"cfgtool: {printable(message)}")


def fail(message: str, code: int = EXIT_USAGE):
    """Print a one-line message to stderr and exit with ``code``."""
    say(message)
    sys.exit(code)


def cfg_paths(raw: str) -> list[Path]:
    """A command-line path as files: a file as given, a directory as every *.cfg below it
    (sorted); a missing path or a directory without cfgs exits 2."""
    path = Path(raw)
    if path.is_dir():
        found = sorted(p for p in path.rglob("*.cfg") if p.is_file())
        if not found:
            fail(f"{raw}: no .cfg files in this directory")
        return found
    if not path.exists():
        fail(f"{raw}: no such file or directory")
    return [path]


def read_document(path: str | Path) -> tuple[Document | None, list[Diagnostic]]:
    """Parse a file: (document, diagnostics). I/O failures exit 2 with a message."""
    try:
        doc = parse_file(path)
    except CfgError as exc:
        return None, exc.diagnostics
    except IsADirectoryError:
        fail(f"{path}: is a directory")
    except OSError as exc:
        fail(f"{path}: {exc.strerror or exc}")
    return doc, list(doc.diagnostics)


def read_valid_document(path: str | Path) -> Document:
    """A file's document for a command that only reads it; when it has syntax errors they
    are printed and the command exits 1 (editing commands: :func:`read_editable_document`)."""
    doc, diags = read_document(path)
    if doc is None or has_errors(diags):
        print_diagnostics(diags)
        fail(f"{path}: the file has syntax errors; fix them first (cfgtool validate)", EXIT_ERRORS)
    return doc


def read_editable_document(path: str | Path, force: bool):
    """(document, network, shapes, errors) of a file an editing command will rewrite. An
    input with errors is refused (they are printed, located; exit 1, nothing written) unless
    ``force``: an edit would build on a network Darknet rejects or misreads."""
    from ..model import build
    from ..rewrite import errors
    from ..shapes import infer_shapes

    doc, diags = read_document(path)
    if doc is None:
        print_diagnostics(diags)
        fail(f"{path}: the file cannot be read as a cfg; nothing was written", EXIT_ERRORS)
    network = build(doc)
    shapes = infer_shapes(network)
    found = errors(doc, shapes)
    if found and not force:
        print_diagnostics(found)
        fail(f"{path} has {len(found)} error(s) (above): an edit would build on them. Fix them (cfgtool validate), "
             "or use --force to edit it anyway; nothing was written", EXIT_ERRORS)
    return doc, network, shapes, found


def refuse_existing(path: str | Path, force: bool, hint: str = "") -> None:
    """An existing regular output file is a usage error (exit 2) unless ``force``."""
    path = Path(path)
    if path.is_file() and not force:
        fail(f"{path} exists; use --force to overwrite it{hint}", EXIT_USAGE)


def write_edit(cfg, doc: Document, new: Document, new_errors: list[Diagnostic], output: str | None, in_place: bool,
               force: bool, dry_run: bool, suffix: str, weights=None, line_pairs=None):
    """Write an edited cfg the way every editing command does: a result with ``new_errors`` is
    refused (shown, exit 1); --dry-run prints a unified diff (``line_pairs(n_before, n_after)``:
    the lines an edit keeps, for a linear diff); "-o -" prints the text; otherwise the output
    (CFG's stem + "-SUFFIX.cfg" beside it unless -o; CFG itself with --in-place; an existing
    file only with ``force``) is written atomically, after ``weights(dest, console)`` when
    given. Returns (the console for the report, the file written or None)."""
    from ..fileio import write_atomic
    from ..fmt import split_lines, unified_diff

    if output is not None and in_place:
        fail("use either -o/--output or --in-place", EXIT_USAGE)
    source = Path(cfg)
    dest = source if in_place else Path(output) if output not in (None, "-") else \
        source.with_name(f"{source.stem}-{suffix}.cfg")
    console = stderr() if dry_run or output == "-" else stdout()
    text = new.dumps()
    if new_errors:
        lines = text.split("\n")
        for d in new_errors:
            stderr().print(frame(d.at("<result>" if output == "-" else f"{dest} (not written)"), lines))
        fail(f"the result would have {len(new_errors)} new error(s); nothing was written", EXIT_ERRORS)
    if dry_run:
        before = doc.dumps()
        pairs = line_pairs(len(split_lines(before)), len(split_lines(text))) if line_pairs else None
        write_text(unified_diff(before, text, str(cfg), str(dest), pairs=pairs))
        return console, None
    if output == "-":
        write_text(text)
        return console, None
    if not in_place:
        refuse_existing(dest, force, ", -o to choose another file or --in-place")
    if weights is not None:
        weights(dest, console)
    try:
        write_atomic(dest, text)
    except OSError as exc:
        fail(f"{dest}: {exc.strerror or exc}", EXIT_USAGE)
    return console, dest


def has_errors(diagnostics: list[Diagnostic]) -> bool:
    return any(d.severity == ERROR for d in diagnostics)


def frame(diag: Diagnostic, source_lines: list[str] | None) -> Styled:
    """The diagnostic with a code frame: the source line and a caret under the span."""
    out = Styled()
    out.append(f"{printable(diag.location())}: ", style="bold")
    out.append(f"{diag.severity}", style=_STYLE.get(diag.severity, ""))
    out.append(f"[{diag.code}] ", style=_STYLE.get(diag.severity, ""))
    out.append(printable(diag.message))
    if diag.layer is not None:
        out.append(f" (layer {diag.layer})", style="dim")
    span = diag.span
    if span and source_lines and 1 <= span.line <= len(source_lines):
        raw = source_lines[span.line - 1].rstrip("\r\n").replace("\t", " ")
        end = span.end_column if span.end_line == span.line else len(raw) + 1
        # control characters shown as \\xNN: the caret follows the escaped text
        before, marked = printable(raw[: span.column - 1]), printable(raw[span.column - 1: max(end, span.column) - 1])
        after = printable(raw[max(end, span.column) - 1:])
        if len(before) > _FRAME:  # a long line is shortened around the span
            before = "..." + before[-_FRAME:]
        if len(marked) > _FRAME:
            marked = marked[:_FRAME] + "..."
        if len(after) > _FRAME:
            after = after[:_FRAME] + "..."
        gutter = f"{span.line:>5} | "
        out.append("\n" + gutter, style="dim")
        out.append(before + marked + after)
        out.append("\n" + " " * (len(gutter) - 2) + "| " + " " * len(before), style="dim")
        out.append("^" * max(1, len(marked)), style=_STYLE.get(diag.severity, ""))
    for note in diag.notes:
        out.append(f"\n      = note: {printable(note)}", style="dim")
    return out


def print_diagnostics(diagnostics: list[Diagnostic], console=None, sources: dict[str, list[str]] | None = None) -> None:
    """Text format with code frames (colour on a terminal, plain otherwise) on ``console``
    (a Terminal or a rich Console; stderr by default); ``sources``: the lines of texts that
    are not files (stdin), by their diagnostics' path."""
    console = console or Terminal(err=True)
    cache: dict[str, list[str] | None] = dict(sources or {})
    for d in diagnostics:
        if d.path not in cache:
            try:
                cache[d.path] = Path(d.path).read_text(encoding="utf-8", errors="replace").split("\n") if d.path else None
            except OSError:
                cache[d.path] = None
        console.print(frame(d, cache[d.path]))


class Progressive:
    """A progress bar over ``total`` items on a terminal, shown only once the work has taken
    a second (nothing when piped, or when not ``enabled``); what is printed to stdout
    meanwhile goes above the bar."""

    DELAY = 1.0

    def __init__(self, total: int, enabled: bool = True, what: str = "checked"):
        self.total, self.what = total, what
        self.enabled = enabled and sys.stdout.isatty() and total > 1
        self.done = 0
        self.bar = None
        self.start = time.perf_counter()

    def __enter__(self):
        return self

    def advance(self, item) -> None:
        self.done += 1
        if not self.enabled:
            return
        if self.bar is None and time.perf_counter() - self.start > self.DELAY and self.done < self.total:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            self.bar = Progress(TextColumn(self.what), BarColumn(), MofNCompleteColumn(),
                                TextColumn("{task.description}"), console=stdout(), transient=True)
            self.bar.start()
            self.task = self.bar.add_task("", total=self.total, completed=self.done)
        if self.bar is not None:
            self.bar.update(self.task, completed=self.done, description=str(item))

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.stop()
        return False
