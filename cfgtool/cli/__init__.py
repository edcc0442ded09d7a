"""The command line: the only place that imports click and rich.

Each command lives in its own module and is imported only when it runs, so ``validate``
never pays for the executor's numpy code.

Exit codes, for every command: 0 success; 1 the input has errors (or ``--check`` /
``--strict`` found something); 2 usage or I/O problems (a missing file, a bad option);
3 an internal error (a bug in cfgtool: a one-line message asks for a report; ``--debug``
shows the traceback).
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback

import click

from .. import __version__
from .common import EXIT_INTERNAL, EXIT_USAGE, exit_for

# command name -> "module:function" inside cfgtool.cli
COMMANDS = {
    "fmt": "fmt:fmt",
    "summary": "summary:summary",
    "validate": "validate:validate",
    "add-se": "blocks:add_se",
    "add-sam": "blocks:add_sam",
    "add-cbam": "blocks:add_cbam",
    "run": "run:run",
    "smoke": "run:smoke",
    "transplant": "transplant:transplant",
    "set-classes": "heads:set_classes",
    "resize": "heads:resize",
    "anchors": "heads:anchors",
    "weights": "weights:weights",
    "export": "export:export",
    "graph": "graph:graph",
}


class LazyGroup(click.Group):
    def invoke(self, ctx):
        """Run the command; an exception it lets through gets its exit code from
        :func:`common.exit_for` (a bug in cfgtool: 3, with the traceback under --debug)."""
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except BrokenPipeError:  # the reader of our output went away (cfgtool ... | head)
            sys.stderr.close()
            os._exit(EXIT_USAGE)
        except Exception as exc:
            code = exit_for(exc)
            if code == EXIT_INTERNAL and ((ctx.obj or {}).get("debug") or os.environ.get("CFGTOOL_DEBUG")):
                traceback.print_exc()
            sys.exit(code)

    def list_commands(self, ctx):
        return list(COMMANDS)

    def get_command(self, ctx, name):
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        return getattr(importlib.import_module(f"{__name__}.{module}"), attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cfgtool")
@click.option("--debug", is_flag=True, help="On an internal error, print the traceback (also: CFGTOOL_DEBUG=1).")
@click.pass_context
def main(ctx, debug):
    """Check, edit and run Darknet .cfg network files.

    Exit codes: 0 success, 1 errors in the input (or a failed --check/--strict),
    2 usage or I/O problems, 3 an internal error (a bug in cfgtool: please report it).
    """
    ctx.obj = {"debug": debug}
