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
from .common import EXIT_INTERNAL, EXIT_USAGE, internal_error_message

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
        """Run the command; an exception that is not a usage error or an exit is a bug in
        cfgtool: exit 3 with a one-line request for a report (the traceback with --debug)."""
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except BrokenPipeError:  # the reader of our output went away (cfgtool ... | head)
            sys.stderr.close()
            os._exit(EXIT_USAGE)
        except Exception as exc:
            if (ctx.obj or {}).get("debug") or os.environ.get("CFGTOOL_DEBUG"):
                traceback.print_exc()
            click.echo(internal_error_message(exc), err=True)
            sys.exit(EXIT_INTERNAL)

    def list_commands(self, ctx):
        return [name for name in COMMANDS if self._load(name) is not None]

    def get_command(self, ctx, name):
        return self._load(name)

    @staticmethod
    def _load(name):
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        try:
            mod = importlib.import_module(f"{__name__}.{module}")
        except ModuleNotFoundError as exc:  # a command whose module is not written yet
            if exc.name == f"{__name__}.{module}":
                return None
            raise
        return getattr(mod, attr, None)


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
