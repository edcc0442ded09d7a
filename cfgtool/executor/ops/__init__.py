"""One module per Darknet layer type, named like its spec's module (``spec.module``):
forward(p, w, xs, train), backward(p, w, dout, cache), optional prepare/workspace/unsupported.

``xs`` are the layer's inputs as NCHW arrays, in the order of ``spec.sources(p, index)``:
[previous layer's output] for sequential layers; the referenced layers in order for route;
[previous, *from layers] for shortcut; [previous, from layer] for scale_channels and sam. ``p``
is the layer's LayerShape.params (Darknet's layer-struct field names), ``w`` its learnable
tensors by name, as ``spec.tensors(shape)`` declares them (Darknet's .weights order).
forward returns (out, cache); backward returns (gradients of the xs in order, gradients of w).

The runner finds a type's kernel with :func:`op_for` (imported on first use, no import side
effects); a type without one declares why on its spec (``cannot_run``).
"""

from __future__ import annotations

import importlib
from types import ModuleType


def op_for(spec) -> ModuleType | None:
    """The kernel module of ``spec`` (a LayerSpec), or None when the executor has none."""
    name = f"{__name__}.{spec.module}"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name:
            return None
        raise
