"""Which op module runs which layer type: an explicit table, modules imported on first use."""

from __future__ import annotations

import importlib
from types import ModuleType

# layer spec type (cfgtool.layers) -> module in cfgtool.executor.ops
OPS = {
    "convolutional": "convolutional",
    "connected": "connected",
    "maxpool": "maxpool",
    "avgpool": "avgpool",
    "local_avgpool": "local_avgpool",
    "activation": "activation",
    "batchnorm": "batchnorm",
    "normalization": "normalization",
    "route": "route",
    "shortcut": "shortcut",
    "scale_channels": "scale_channels",
    "sam": "sam",
    "upsample": "upsample",
    "reorg": "reorg",
    "reorg_old": "reorg_old",
    "dropout": "dropout",
    "softmax": "softmax",
    "crop": "crop",
    "cost": "cost",
    "implicit": "implicit",
    "empty": "empty",
    "yolo": "yolo",
    "Gaussian_yolo": "gaussian_yolo",
    "region": "region",
    "detection": "detection",
    "local": "local",
    "contrastive": "contrastive",
    "rnn": "rnn",
    "lstm": "lstm",
    "gru": "gru",
    "crnn": "crnn",
    "conv_lstm": "conv_lstm",
    "history": "history",
}

# layers whose output is a network result (kept by inference, given a cotangent by smoke)
DETECTORS = frozenset({"yolo", "Gaussian_yolo", "region", "detection"})


def op_for(layer_type: str) -> ModuleType | None:
    """The op module of ``layer_type``, or None when the executor has none."""
    name = OPS.get(layer_type)
    if name is None:
        return None
    try:
        return importlib.import_module(f"{__package__}.ops.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"{__package__}.ops.{name}":
            return None
        raise
