"""[reorg]: the old reorg, ``reorg_cpu`` called with the layer's input dims (see :mod:`.reorg`)."""

from __future__ import annotations

from .reorg import lowering

unsupported, lower = lowering(old=True)
