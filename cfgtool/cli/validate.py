"""``cfgtool validate``: lint cfg files against what Darknet (or another target) does with them."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import click

from ..codes import catalogue, diagnostic
from ..config import Config, ConfigError, config_for
from ..diagnostics import ERROR, INFO, WARNING, CfgError, Diagnostic, Span
from ..lint import check, selected
from ..lint.targets import DEFAULT_TARGET, TARGETS
from ..model import Network, build
from ..report import FORMATS as REPORT_FORMATS
from ..report import render
from ..shapes import Shapes, infer_shapes
from ..syntax import parse_file
from .common import EXIT_ERRORS, EXIT_OK, EXIT_USAGE, Styled, Terminal, fail, print_diagnostics

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


def cfg_files(paths: tuple[str, ...]) -> list[Path]:
    """The files to check: files as given, directories searched recursively for *.cfg."""
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*.cfg") if p.is_file())
            if not found:
                fail(f"{raw}: no .cfg files in this directory")
            out.extend(found)
        elif path.exists():
            out.append(path)
        else:
            fail(f"{raw}: no such file or directory")
    return out


@dataclass
class Settings:
    target: str
    select: tuple[str, ...] | None
    ignore: tuple[str, ...] | None
    strict: bool


def settings_for(path: Path, cli: Config) -> Settings:
    """CLI options over the nearest pyproject.toml's [tool.cfgtool] over the defaults."""
    try:
        cfg = config_for(path)
    except ConfigError as exc:
        fail(str(exc))
    for name in ("select", "ignore"):
        _check_patterns(getattr(cfg, name), f"{cfg.source} [tool.cfgtool] {name}")

    def pick(name, default):
        value = getattr(cli, name)
        if value is None:
            value = getattr(cfg, name)
        return default if value is None else value

    return Settings(pick("target", DEFAULT_TARGET), pick("select", None), pick("ignore", None), pick("strict", False))


def check_file(path: Path, s: Settings, width, height, weights: Path | None) -> list[Diagnostic]:
    """The diagnostics of one file, parsed and inferred once; with ``weights``, a cfg without
    errors is also checked against that file's size. I/O errors raise OSError."""
    kw = dict(target=s.target, select=s.select, ignore=s.ignore, width=width, height=height)
    try:
        doc = parse_file(path)
    except CfgError:
        return check(path, **kw)  # the text errors, filtered and ordered like any others
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
    from ..weights import layout, read_header

    try:
        plan = layout(network, shapes)
    except CfgError as exc:
        return [d if d.path else d.at(str(cfg_path)) for d in exc.diagnostics]
    try:
        with open(weights, "rb") as fh:
            head = fh.read(20)
        size = weights.stat().st_size
    except OSError as exc:
        fail(f"{weights}: {exc.strerror or exc}")
    header = read_header(head)
    span = network.net.header.span() if network.net is not None else Span(1, 1, 1, 1)
    if header is None:
        return [diagnostic("X102", f"{weights}: {size} bytes is too short for a .weights header", span, str(cfg_path))]
    offset = header.size
    first_missing = None
    for index, tensors in plan:
        offset += 4 * sum(t.count for t in tensors)
        if first_missing is None and offset > size:
            first_missing = index
    if offset == size:
        return []
    if size < offset:
        layer = network.layers[first_missing]
        return [diagnostic("X102",
                           f"{weights} has {size} bytes but this cfg needs {offset}: it ends before the end of layer "
                           f"{first_missing} ({layer.type}); weights for another cfg (filters=, classes=) or a "
                           "truncated file", layer.section.header.span(), str(cfg_path), first_missing)]
    return [diagnostic("X102",
                       f"{weights} has {size} bytes but this cfg needs {offset} ({size - offset} bytes left over): "
                       "weights for a larger cfg, or layers missing from this one", span, str(cfg_path))]


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
@click.option("--width", type=click.IntRange(min=1), default=None, help="Check at this input width instead of [net]'s.")
@click.option("--height", type=click.IntRange(min=1), default=None, help="Check at this input height instead of [net]'s.")
@click.option("--weights", type=click.Path(dir_okay=False), default=None,
              help="Check that this .weights file has exactly the size the cfg implies (one cfg only).")
@click.option("--list-rules", "show_rules", is_flag=True, help="Print the rule table (code, name, severity, summary) and exit.")
def validate(paths, fmt, target, select, ignore, strict, width, height, weights, show_rules):
    """Check cfg FILES (directories: every *.cfg below them) for what Darknet would reject,
    misread or silently ignore.

    Settings come from [tool.cfgtool] in the nearest pyproject.toml (select, ignore, target,
    strict); options given here win.

    Exit codes: 0 no errors (warnings allowed unless --strict), 1 errors, 2 usage or I/O.

    \b
    Examples:
      cfgtool validate cfg/ --format concise
      cfgtool validate yolov4.cfg --target opencv --weights yolov4.weights
    """
    if show_rules:
        list_rules(fmt)
        sys.exit(EXIT_OK)
    if not paths:
        fail("give at least one cfg file or directory (or --list-rules)")
    cli = Config(_codes(select), _codes(ignore), target, strict)
    _check_patterns(cli.select, "--select")
    _check_patterns(cli.ignore, "--ignore")
    files = cfg_files(paths)
    if weights is not None:
        if len(files) != 1:
            fail("--weights needs exactly one cfg file")
        if not Path(weights).is_file():
            fail(f"{weights}: no such file")
    diagnostics: list[Diagnostic] = []
    failed = io_error = False
    for path in files:
        s = settings_for(path, cli)
        try:
            found = check_file(path, s, width, height, None if weights is None else Path(weights))
        except OSError as exc:
            click.echo(f"cfgtool: {path}: {exc.strerror or exc}", err=True)
            io_error = True
            continue
        diagnostics.extend(found)
        if any(d.severity == ERROR or (s.strict and d.severity == WARNING) for d in found):
            failed = True
    emit(diagnostics, fmt, len(files))
    sys.exit(EXIT_USAGE if io_error else EXIT_ERRORS if failed else EXIT_OK)


def emit(diagnostics: list[Diagnostic], fmt: str, nfiles: int) -> None:
    if fmt != "text":
        sys.stdout.write(render(diagnostics, fmt))
        return
    console = Terminal()
    print_diagnostics(diagnostics, console)
    counts = {sev: sum(d.severity == sev for d in diagnostics) for sev in (ERROR, WARNING, INFO)}

    def plural(n, word):
        return f"{n} {word}{'' if n == 1 else 's'}"

    line = f"{plural(nfiles, 'file')}, {plural(counts[ERROR], 'error')}, {plural(counts[WARNING], 'warning')}"
    if counts[INFO]:
        line += f", {counts[INFO]} info"
    style = "bold red" if counts[ERROR] else "yellow" if counts[WARNING] else "green"
    console.print(Styled(line, style))
