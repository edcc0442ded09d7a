"""[local_avgpool] / [local_avg]: parse_local_avgpool (make_maxpool_layer with avgpool=1, no
maxpool_depth, out_channels or antialiasing). get_layer_string gives "none" for it."""

from __future__ import annotations

from .base import LayerSpec
from .maxpool import POOL_OPTIONS, PoolParams, pool


class LocalAvgpool(LayerSpec):
    type = "local_avgpool"
    sections = ("[local_avgpool]", "[local_avg]")
    Params = PoolParams
    options = POOL_OPTIONS
    named = False
    pooling = "avg"
    keeps_zero = True

    def infer(self, r, ctx):
        return pool(r, ctx, "[local_avgpool]", False, 1)
