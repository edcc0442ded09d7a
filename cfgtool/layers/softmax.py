"""[softmax] / [soft]: parse_softmax and make_softmax_layer. outputs = inputs; Darknet
asserts inputs % groups == 0. Quirk kept: input is the previous w x h x c, output is
0x0x0 (never set), so a following layer that needs an image fails."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..hierarchy import with_tree
from .base import FLOAT, INT, STR, LayerShape, LayerSpec, Opt, Params, TargetIssue, atoi
from .common import error


@dataclass(frozen=True, kw_only=True)
class SoftmaxParams(Params):
    groups: int = 1
    temperature: float = 1.0
    tree: str | None = None
    spatial: float = 0.0
    noloss: int = 0
    hierarchy: Any = field(default=None, compare=False, repr=False)  # the tree= file, read by the executor


class Softmax(LayerSpec):
    type = "softmax"
    sections = ("[softmax]", "[soft]")
    Params = SoftmaxParams
    is_output = True
    targets = {"opencv": ("[softmax]",)}
    target_issues = {"opencv": (
        TargetIssue("groups", lambda v, get: v is not None and atoi(v) != 1,
                    "OpenCV implements [softmax] only with groups=1"),
    )}
    options = (
        Opt("groups", INT, 1),
        Opt("temperature", FLOAT, 1.0),
        Opt("tree", STR, None, doc="softmax tree file"),
        Opt("spatial", FLOAT, 0.0),
        Opt("noloss", INT, 0),
    )

    def read_files(self, shape, read):
        return with_tree(shape.params, read, lambda tree: None if tree.n <= shape.inputs else (
            f"{tree.n} nodes, more than the layer's {shape.inputs} inputs: Darknet's hierarchical softmax "
            "would read past each image's values"))

    def infer(self, r, ctx):
        groups = r.get("groups")
        inputs = ctx.prev_outputs
        if groups == 0:
            raise error("zero-divisor", "groups=0: Darknet divides by groups; use groups >= 1", "groups")
        if inputs % groups:
            raise error("bad-value", f"[softmax] groups={groups} does not divide its {inputs} inputs", "groups")
        p = dict(groups=groups, temperature=r.get("temperature"), tree=r.get("tree"), spatial=r.get("spatial"),
                 noloss=r.get("noloss"))
        return LayerShape(ctx.prev, (0, 0, 0), inputs, 0, 0.0, p)
