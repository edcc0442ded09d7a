"""[reorg]: parse_reorg_old and make_reorg_old_layer (Darknet type REORG_OLD, which
get_layer_string prints as "none"; tables show "reorg"). Same shape rule as [reorg3d], a
different memory order in forward."""

from __future__ import annotations

from .base import LayerSpec, TargetIssue, absent
from .reorg import REORG_OPTIONS, Reorg, ReorgParams, reorg_shape


class ReorgOld(LayerSpec):
    targets = {"opencv": ("[reorg]",)}
    target_issues = {"opencv": (
        TargetIssue("stride", absent, "OpenCV's default stride is 2, Darknet's 1: write stride= explicitly",
                    rejected=False),
    )}
    Params = ReorgParams
    size_text = Reorg.size_text

    type = "reorg_old"
    sections = ("[reorg]",)
    options = REORG_OPTIONS
    named = False

    def infer(self, r, ctx):
        return reorg_shape(r, ctx, "[reorg]")
