"""The command line: the only place that imports click and rich.

Each command lives in its own module and is imported only when it runs, so ``validate``
never pays for the executor's numpy code.

Exit codes, for every command: 0 success; 1 the input has errors (or ``--check`` /
``--strict`` found something); 2 usage or I/O problems (a missing file, a bad option).
"""

from __future__ import annotations

import importlib

import click

from .. import __version__

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
    "export": "export:export",
    "graph": "graph:graph",
}


class LazyGroup(click.Group):
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
def main():
    """Check, edit and run Darknet .cfg network files.

    Exit codes: 0 success, 1 errors in the input (or a failed --check/--strict),
    2 usage or I/O problems.
    """
