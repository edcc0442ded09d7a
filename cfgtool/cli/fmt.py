from __future__ import annotations

import sys

import click

from ..fileio import write_atomic
from ..fmt import format_diff, format_document
from .common import EXIT_ERRORS, EXIT_OK, Terminal, cfg_paths, fail, has_errors, print_diagnostics, read_document, \
    write_text


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if any file would change.")
@click.option("--diff", "show_diff", is_flag=True, help="Print a unified diff of the changes; write nothing.")
def fmt(paths, check, show_diff):
    """Rewrite cfg PATHS (directories: every *.cfg below them) in the canonical layout
    (key=value, one blank line between sections).

    Comments and line endings are kept and Darknet's reading of the file never changes.
    A file with syntax errors is left alone and its errors are shown.

    Example: cfgtool fmt --check examples/
    """
    status = EXIT_OK
    out = Terminal()
    for path in [f for raw in paths for f in cfg_paths(raw)]:
        doc, diags = read_document(path)
        if doc is None or has_errors(diags):
            print_diagnostics(diags)
            status = EXIT_ERRORS
            continue
        before = doc.dumps()
        after = format_document(doc)
        if before == after:
            continue
        if show_diff:
            write_text(format_diff(doc, str(path)))
        if check:
            out.print(f"would reformat {path}")
            status = EXIT_ERRORS
        elif not show_diff:
            try:
                write_atomic(path, after)
            except OSError as exc:  # like an unreadable file: exit 2
                fail(f"{path}: {exc.strerror or exc}")
            out.print(f"reformatted {path}")
    sys.exit(status)
