"""``cfgtool weights init``: a fresh .weights file for a cfg."""

from __future__ import annotations

import sys

import click

from ..diagnostics import CfgError
from ..weights import WeightsHeader, initial_weights, write_weights
from .common import EXIT_ERRORS, EXIT_OK, EXIT_USAGE, fail, print_diagnostics, read_editable_document, \
    refuse_existing, stdout


@click.group()
def weights():
    """Darknet .weights files."""


@weights.command()
@click.argument("cfg", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), metavar="OUT.weights",
              help="The file to write (atomically).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random initialization.")
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
def init(cfg, output, seed, force):
    """Write a .weights file for CFG with Darknet-like random initial values (fan-in scaled
    uniform weights, zero biases, unit batch-norm scales): what a network starts from before
    training, and a file to try transplant, run and validate --weights with.

    Exit codes: 0 written, 1 a cfg with errors, 2 usage or I/O (an existing file without --force).

    Example: cfgtool weights init yolov4-tiny.cfg -o yolov4-tiny.weights --seed 1
    """
    refuse_existing(output, force)
    _, network, shapes, _ = read_editable_document(cfg, False)
    try:
        written = write_weights(output, WeightsHeader(), initial_weights(network, shapes, seed), network, shapes)
    except CfgError as exc:
        print_diagnostics(exc.diagnostics)
        fail(f"{cfg}: no weights layout; nothing was written", EXIT_ERRORS)
    except OSError as exc:
        fail(f"{output}: {exc.strerror or exc}", EXIT_USAGE)
    stdout().print(f"wrote {output} ({written:,} bytes, seed {seed})")
    sys.exit(EXIT_OK)
