"""Darknet's shape inference over a whole network: what parse_network_cfg_custom computes.

:func:`infer_shapes` walks the layers in order like Darknet (each layer sees the previous
layer's output as its input, references see earlier layers), reading every section through
a :class:`~cfgtool.layers.base.Reader` so the keys Darknet never reads are known
(:func:`unused_options`). Where Darknet would abort or build a degenerate layer the layer
gets ``None`` and an S2xx error diagnostic; layers that depend on it get ``None`` silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .diagnostics import ERROR, Diagnostic
from .layers.base import Context, LayerShape, MissingInput, Reader, ShapeError
from .layers.common import read_common
from .layers.network import net_values
from .model import Layer, Network
from .nogc import paused
from .syntax import Line, Section


@dataclass
class Shapes:
    net: dict[str, Any]
    layers: list[LayerShape | None]
    used: list[set[str]]  # keys read per layer (empty for unknown sections)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(d.severity == ERROR for d in self.diagnostics)

    @property
    def total_bflops(self) -> float:
        return sum(s.bflops for s in self.layers if s is not None and s.bflops > 0)

    @property
    def total_weights(self) -> int:
        return sum(s.nweights for s in self.layers if s is not None)


def unused_options(section: Section, used: set[str]) -> list[Line]:
    """The lines Darknet reports as ``Unused field``: every option line it stores (not ``key=``)
    except the first occurrence of each key it read."""
    out, seen = [], set()
    for ln in section.body:
        if ln.kind not in ("option", "bare") or ln.value == "":
            continue
        key = ln.key
        if key in used and key not in seen:
            seen.add(key)
            continue
        out.append(ln)
    return out


def _diagnostic(exc: ShapeError, section: Section, path: str | None, layer: int | None) -> Diagnostic:
    return Diagnostic(exc.code, exc.name, ERROR, exc.message, section.value_span(exc.key), path, layer)


@paused
def infer_shapes(network: Network, width: int | None = None, height: int | None = None) -> Shapes:
    """Shapes of every layer of ``network``; ``width``/``height`` override the [net] size."""
    path = network.path
    n = len(network.layers)
    shapes = Shapes({}, [None] * n, [set() for _ in range(n)])
    if network.net is None:  # no input size; the syntax checks report the missing [net] (P002, P008)
        return shapes
    try:
        shapes.net, _ = net_values(network.net, width, height)
    except ShapeError as exc:
        shapes.diagnostics.append(_diagnostic(exc, network.net, path, None))
        return shapes
    for layer in network.layers:
        shape, used, diag = infer_layer(layer, shapes.net, shapes.layers, path)
        shapes.layers[layer.index] = shape
        shapes.used[layer.index] = used
        if diag is not None:
            shapes.diagnostics.append(diag)
    return shapes


def infer_layer(layer: Layer, net: dict, done: list[LayerShape | None], path: str | None = None
                ) -> tuple[LayerShape | None, set[str], Diagnostic | None]:
    """(shape, keys read, error) of one layer given the shapes of the layers before it."""
    if layer.spec is None:
        return None, set(), None
    r = Reader(layer.section, layer.spec)
    try:
        shape = layer.spec.infer(r, Context(layer.index, net, done))
    except MissingInput:
        return None, r.used, None
    except ShapeError as exc:
        return None, r.used, _diagnostic(exc, layer.section, path, layer.index)
    shape.params = layer.spec.Params(**shape.params, **read_common(r))  # the spec's typed parameters
    return shape, r.used, None
