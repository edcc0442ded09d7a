"""``cfgtool validate``: lint cfg files against what Darknet (or another target) does with them."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import click

from ..codes import catalogue
from ..config import Config, ConfigError, config_for, read_config
from ..diagnostics import ERROR, INFO, WARNING, CfgError, Diagnostic, Span
from ..lint import check, selected
from ..lint.targets import DEFAULT_TARGET, TARGETS
from ..model import Network, build
from ..report import FORMATS as REPORT_FORMATS
from ..report import render
from ..shapes import Shapes, infer_shapes
from ..syntax import decode, parse, parse_file
from .common import EXIT_ERRORS, EXIT_INTERNAL, EXIT_OK, EXIT_USAGE, Progressive, Styled, Terminal, cfg_paths, fail, \
    internal_error_message, print_diagnostics

FORMATS = ("text", *REPORT_FORMATS)


def _codes(values: tuple[str, ...]) -> tuple[str, ...] | None:
    """--select/--ignore values: repeatable and comma-separated; None when not given."""
    if not values:
        return None
    return tuple(c.strip() for v in values for c in v.split(",") if c.strip())


def _check_patterns(patterns, where: str) -> None:
    for p in patterns or ():
        if p.upper() != "ALL" and not any(selected(c, [p]) for c in catalogue()):
            fail(f"{where}: {p!r} matches no code (see cfgtool validate --list-rules)")


def cfg_files(paths: tuple[str, ...], stdin_filename: str | None = None) -> list:
    """The files to check (see common.cfg_paths); '-' is stdin, read at once: ("-", its
    name, its bytes)."""
    out: list = []
    for raw in paths:
        if raw == "-":
            out.append(("-", stdin_filename or "<stdin>", sys.stdin.buffer.read()))
        else:
            out.extend(cfg_paths(raw))
    if stdin_filename and not any(isinstance(f, tuple) for f in out):
        fail("--stdin-filename goes with '-' (the text read from stdin)")
    return out


@dataclass
class Settings:
    target: str
    select: tuple[str, ...] | None
    ignore: tuple[str, ...] | None
    strict: bool


def settings_for(path: Path, cli: Config, config_file: Path | None = None) -> Settings:
    """CLI options over the config (``config_file``, else the nearest pyproject.toml's
    [tool.cfgtool]) over the defaults; the config's per-file-ignores for ``path`` are added
    to whichever ignore list wins."""
    try:
        cfg = read_config(config_file) if config_file is not None else config_for(path)
    except ConfigError as exc:
        fail(str(exc))
    for name in ("select", "ignore"):
        _check_patterns(getattr(cfg, name), f"{cfg.source} [tool.cfgtool] {name}")
    for glob, codes in cfg.per_file_ignores:
        _check_patterns(codes, f"{cfg.source} [tool.cfgtool.per-file-ignores] {glob!r}")

    def pick(name, default):
        value = getattr(cli, name)
        if value is None:
            value = getattr(cfg, name)
        return default if value is None else value

    ignore = tuple(pick("ignore", ())) + cfg.ignores_for(path)
    return Settings(pick("target", DEFAULT_TARGET), pick("select", None), ignore or None, pick("strict", False))


def check_file(path: Path, s: Settings, width, height, weights: Path | None, data: bytes | None = None
               ) -> list[Diagnostic]:
    """The diagnostics of one file (``data``: its bytes, read from stdin; else read from
    ``path``), parsed and inferred once; with ``weights``, a cfg without errors is also
    checked against that file's size. I/O errors raise OSError."""
    kw = dict(target=s.target, select=s.select, ignore=s.ignore, width=width, height=height)
    try:
        doc = parse_file(path) if data is None else parse(decode(data), str(path))
    except CfgError as exc:  # the text errors, filtered like any others
        return [d for d in exc.diagnostics if selected(d, s.select, s.ignore)]
    network = build(doc)
    shapes = infer_shapes(network, width=width, height=height)
    found = check(doc, shapes=shapes, **kw)
    if weights is not None and not any(d.severity == ERROR for d in found):
        found += [d for d in weights_diagnostics(path, weights, network, shapes) if selected(d, s.select, s.ignore)]
    return found


def weights_diagnostics(cfg_path: Path, weights: Path, network: Network, shapes: Shapes) -> list[Diagnostic]:
    """A weights-size error when ``weights`` does not have exactly the bytes the cfg implies
    (checked only for a cfg without errors). Only the header is read; numpy (through
    cfgtool.weights) is imported only here."""
    from ..weights import read_header, size_error

    try:
        with open(weights, "rb") as fh:
            head = fh.read(20)
        size = weights.stat().st_size
    except OSError as exc:
        fail(f"{weights}: {exc.strerror or exc}")
    try:
        problem = size_error(weights, size, read_header(head), network, shapes)
    except CfgError as exc:  # a layer without a shape (X101)
        problem = exc
    return [d if d.path else d.at(str(cfg_path)) for d in problem.diagnostics] if problem else []


def internal_error(path: Path, exc: Exception) -> Diagnostic:
    """A crash while checking ``path``, as a diagnostic (X000) so machine output stays whole."""
    if os.environ.get("CFGTOOL_DEBUG") or (click.get_current_context().find_root().obj or {}).get("debug"):
        import traceback

        traceback.print_exc()
    return Diagnostic("X000", "internal-error", ERROR, internal_error_message(exc).removeprefix("cfgtool: "),
                      Span(1, 1, 1, 1), str(path))


def list_rules(fmt: str) -> None:
    """Every code of the catalogue (lint rules, and the codes other commands report)."""
    codes = catalogue()
    if fmt == "json":
        import json

        rows = [{"code": c.code, "name": c.name, "severity": c.severity, "summary": c.summary, "help": c.help()}
                for c in codes]
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    width = max(len(c.name) for c in codes)
    for c in codes:
        sys.stdout.write(f"{c.code}  {c.name:<{width}}  {c.severity:<7}  {c.summary}\n")


@click.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True,
              help="text: code frames (colour on a terminal); concise: file:line:col: CODE message; json; "
                   "sarif (2.1.0); github: workflow annotations.")
@click.option("--target", type=click.Choice(list(TARGETS)), default=None,
              help=f"The program that will read the cfg [default: {DEFAULT_TARGET}].")
@click.option("--select", multiple=True, metavar="CODES",
              help="Only these rules: codes, code prefixes (W3) or names, comma-separated.")
@click.option("--ignore", multiple=True, metavar="CODES", help="Skip these rules (same syntax as --select).")
@click.option("--strict/--no-strict", default=None, help="Warnings fail the run too (exit 1) [default: no, or the config's].")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when diagnostics are found (I/O and internal errors still "
              "exit 2 and 3).")
@click.option("-q", "--quiet", is_flag=True, help="Print the diagnostics and nothing else (no summary line, no progress).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False, exists=True), metavar="FILE",
              help="Read settings from this TOML file (a pyproject.toml, or the keys at the top) instead of the "
                   "nearest pyproject.toml.")
@click.option("--stdin-filename", metavar="NAME", help="With '-': the name (and location, for the config) of the "
              "text read from stdin.")
@click.option("--width", type=click.IntRange(min=1), default=None, help="Check at this input width instead of [net]'s.")
@click.option("--height", type=click.IntRange(min=1), default=None, help="Check at this input height instead of [net]'s.")
@click.option("--weights", type=click.Path(dir_okay=False), default=None,
              help="Check that this .weights file has exactly the size the cfg implies (one cfg only).")
@click.option("--list-rules", "show_rules", is_flag=True, help="Print the rule table (code, name, severity, summary) and exit.")
def validate(paths, fmt, target, select, ignore, strict, exit_zero, quiet, config_file, stdin_filename, width, height,
             weights, show_rules):
    """Check cfg PATHS (directories: every *.cfg below them; none: the current directory;
    '-': stdin) for what Darknet would reject, misread or silently ignore.

    Settings come from [tool.cfgtool] in the nearest pyproject.toml (select, ignore, target,
    strict, per-file-ignores) or --config FILE; options given here win. A comment line
    "# cfgtool: ignore[W301]" silences those codes on the next line (on a whole section when
    that line is its header).

    Exit codes: 0 no errors (warnings allowed unless --strict; anything with --exit-zero),
    1 errors, 2 usage or I/O, 3 an internal error (reported as X000 for the file it
    happened in; please report it).

    \b
    Examples:
      cfgtool validate cfg/ --format concise
      cfgtool validate yolov4.cfg --target opencv --weights yolov4.weights
      cat yolov4.cfg | cfgtool validate - --stdin-filename cfg/yolov4.cfg
    """
    if show_rules:
        list_rules(fmt)
        sys.exit(EXIT_OK)
    cli = Config(_codes(select), _codes(ignore), target, strict)
    _check_patterns(cli.select, "--select")
    _check_patterns(cli.ignore, "--ignore")
    files = cfg_files(paths or (".",), stdin_filename)
    if weights is not None:
        if len(files) != 1:
            fail("--weights needs exactly one cfg file")
        if not Path(weights).is_file():
            fail(f"{weights}: no such file")
    run = Run(fmt, quiet, cli, None if config_file is None else Path(config_file))
    run.check_all(files, width, height, None if weights is None else Path(weights))
    sys.exit(run.exit_code(exit_zero))


@dataclass
class Run:
    """One validate run: checks files one by one and prints each file's diagnostics as soon as
    it is done (text, concise, github; json and sarif at the end), with a progress bar on a
    terminal once the run has taken a second."""

    fmt: str
    quiet: bool
    cli: Config
    config_file: Path | None
    failed: bool = False
    io_error: bool = False
    internal: bool = False

    def check_all(self, files: list[Path | str], width, height, weights: Path | None) -> None:
        console = Terminal()
        stream = self.fmt in ("text", "concise", "github")
        everything: list[Diagnostic] = []
        with Progressive(len(files), enabled=not self.quiet) as progress:
            for item in files:
                path, data = (Path(item[1]), item[2]) if isinstance(item, tuple) else (item, None)
                found = self.check_one(path, width, height, weights, data)
                everything.extend(found)
                if stream and found:
                    emit(found, self.fmt, console, {str(path): decode(data).split("\n")} if data else None)
                progress.advance(path)
        if not stream:
            sys.stdout.write(render(everything, self.fmt))
        elif self.fmt == "text" and not self.quiet:
            console.print(summary_line(everything, len(files)))

    def check_one(self, path: Path, width, height, weights, data) -> list[Diagnostic]:
        s = settings_for(path, self.cli, self.config_file)
        try:
            found = check_file(path, s, width, height, weights, data)
        except OSError as exc:
            click.echo(f"cfgtool: {path}: {exc.strerror or exc}", err=True)
            self.io_error = True
            return []
        except Exception as exc:  # a bug in cfgtool: the other files are still checked, the output stays well-formed
            self.internal = True
            return [internal_error(path, exc)]
        if any(d.severity == ERROR or (s.strict and d.severity == WARNING) for d in found):
            self.failed = True
        return found

    def exit_code(self, exit_zero: bool) -> int:
        if self.internal:
            return EXIT_INTERNAL
        if self.io_error:
            return EXIT_USAGE
        return EXIT_ERRORS if self.failed and not exit_zero else EXIT_OK


def emit(diagnostics: list[Diagnostic], fmt: str, console: Terminal, sources=None) -> None:
    """One file's diagnostics in a line-based format."""
    if fmt == "text":
        print_diagnostics(diagnostics, console, sources)
    else:
        console.file.write(render(diagnostics, fmt))
        console.file.flush()


def summary_line(diagnostics: list[Diagnostic], nfiles: int) -> Styled:
    counts = {sev: sum(d.severity == sev for d in diagnostics) for sev in (ERROR, WARNING, INFO)}

    def plural(n, word):
        return f"{n} {word}{'' if n == 1 else 's'}"

    line = f"{plural(nfiles, 'file')}, {plural(counts[ERROR], 'error')}, {plural(counts[WARNING], 'warning')}"
    if counts[INFO]:
        line += f", {counts[INFO]} info"
    style = "bold red" if counts[ERROR] else "yellow" if counts[WARNING] else "green"
    return Styled(line, style)
