"""ONNX lowerings: one module per Darknet layer type, named like its spec module
(cfgtool/layers/<name>.py) and its kernel (cfgtool/executor/ops/<name>.py).

A lowering module provides ``lower(g, p, w, xs, shape) -> value``: it adds to ``g`` (a
:class:`cfgtool.export.graph.Graph`) the nodes computing Darknet's ``l.output`` at inference
from the values ``xs`` (the layer's inputs, wired as the kernel's), with ``p`` the layer's
params, ``w`` its learnable tensors (numpy, Darknet's names) and ``shape`` its LayerShape;
it returns the name of the result, 4-D ``(batch, c, h, w)`` like the kernel's output, or 2-D
``(batch, n)`` for a vector. Optionally ``unsupported(p, shape) -> str | None`` says why a
layer cannot be lowered before anything is built. Lowerings never import onnx: they call the
builder, and reuse the kernel's numpy helpers for constants (folded batch norm, binarized
weights, reorg index maps), so both compute the same function.
"""

from __future__ import annotations

import importlib
from types import ModuleType


def lowering_for(spec) -> ModuleType | None:
    """The lowering module of a layer spec (``lowering/<spec.module>.py``), or None."""
    name = spec.module
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"{__name__}.{name}":
            return None
        raise


def chw(shape) -> tuple[int, int, int]:
    """A LayerShape's input as (c, h, w)."""
    w, h, c = shape.input
    return c, h, w


def out_chw(shape) -> tuple[int, int, int]:
    w, h, c = shape.output
    return c, h, w
