"""[local_avgpool] / [local_avg]: parse_local_avgpool (make_maxpool_layer with avgpool=1, no
maxpool_depth, out_channels or antialiasing). get_layer_string gives "none" for it."""

from __future__ import annotations

from dataclasses import dataclass

from .base import LayerSpec, Params
from .maxpool import POOL_OPTIONS, pool


@dataclass(frozen=True, kw_only=True)
class LocalAvgpoolParams(Params):
    size: int = 1
    stride: int = 1
    stride_x: int | None = None  # None: stride
    stride_y: int | None = None  # None: stride
    pad: int = 0
    maxpool_depth: int = 0
    out_channels: int = 1
    antialiasing: int = 0
    avgpool: int = 0


class LocalAvgpool(LayerSpec):
    type = "local_avgpool"
    sections = ("[local_avgpool]", "[local_avg]")
    Params = LocalAvgpoolParams
    options = POOL_OPTIONS
    named = False
    pooling = "avg"
    keeps_zero = True

    def infer(self, r, ctx):
        return pool(r, ctx, "[local_avgpool]", False, 1)
