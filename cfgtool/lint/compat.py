"""T6xx: what the chosen ``--target`` cannot load or computes differently from Darknet.

The rules read the target's data (lint/targets.py); with the default target (AlexeyAB
Darknet itself) they find nothing.
"""

from __future__ import annotations

from ..diagnostics import ERROR, WARNING
from .base import Rule


class TargetUnsupportedSection(Rule):
    """A section type the target cannot load.

    Bad:   ``[network]``, ``[conv]`` or ``[Gaussian_yolo]`` with ``--target opencv``
    Good:  ``[net]``, ``[convolutional]``, ``[yolo]``
    """

    code, name, severity = "T601", "target-unsupported-section", ERROR

    def check(self, ctx):
        supported = ctx.target.sections
        if supported is None:
            return
        for index, section in ctx.sections():
            if section.name not in supported:
                yield ctx.diag(self, f"{ctx.target.name} cannot load {section.name} sections; it reads: "
                               f"{', '.join(sorted(supported))}", section.header.span(), index)


class TargetUnsupportedActivation(Rule):
    """An activation the target does not implement (or one it applies where Darknet ignores it).

    Bad:   ``activation=relu6`` with ``--target opencv``
    Good:  ``activation=leaky`` (or relu, logistic, tanh, swish, mish, linear)
    """

    code, name, severity = "T602", "target-unsupported-activation", ERROR

    def check(self, ctx):
        valid = ctx.target.activations
        if valid is None:
            return
        for layer in ctx.layers:
            line = layer.section.option("activation")
            if line is None or line.value is None:
                continue
            read_by_darknet = layer.spec is not None and any(o.key == "activation" for o in layer.spec.options)
            if line.value not in valid:
                yield ctx.diag(self, f"{ctx.target.name} does not implement activation={line.value}; use one of "
                               f"{', '.join(sorted(valid))}", line.value_span(), layer.index)
            elif ctx.target.activation_everywhere and not read_by_darknet and line.value != "linear":
                yield ctx.diag(self, f"{ctx.target.name} applies activation={line.value} to this "
                               f"{layer.section.name}, Darknet ignores it: delete the line", line.value_span(),
                               layer.index, severity=WARNING)


class TargetRejectedOption(Rule):
    """An option value (or a missing option) the target refuses to load.

    Bad:   ``[convolutional]`` without ``size=`` with ``--target opencv``
    Good:  ``size=1`` written out
    """

    code, name, severity = "T603", "target-rejected-option", ERROR

    rejected = True

    def check(self, ctx):
        for layer in ctx.layers:
            section, spec = layer.section, layer.spec
            if spec is None or section.name not in spec.targets.get(ctx.target.name, ()):
                continue
            for issue in spec.target_issues.get(ctx.target.name, ()):
                if issue.rejected != self.rejected:
                    continue
                if issue.bad(section.get(issue.key), section.get):
                    yield ctx.diag(self, f"{ctx.target.name}: {issue.message}", section.value_span(issue.key),
                                   layer.index, severity=issue.severity)


class TargetIgnoredOption(TargetRejectedOption):
    """An option the target loads but ignores or computes differently, so its outputs differ
    from Darknet's.

    Bad:   ``dilation=2`` (or ``weights_type=per_channel`` in [shortcut]) with ``--target opencv``
    Good:  no dilation; ``weights_type=none``
    """

    code, name, severity = "T604", "target-ignored-option", WARNING

    rejected = False


RULES = (TargetUnsupportedSection, TargetUnsupportedActivation, TargetRejectedOption, TargetIgnoredOption)
