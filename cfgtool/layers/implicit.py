"""[implicit]: make_implicit_layer: a learned constant 1 x atoms x filters that ignores its
input (input 1x1x1). nweights = atoms*filters. params: filters, atoms, mean and std (the
initialisation; not struct fields)."""

from __future__ import annotations

from dataclasses import dataclass

from .base import FLOAT, INT, LayerShape, LayerSpec, Opt, Params, Tensor
from .common import error


@dataclass(frozen=True, kw_only=True)
class ImplicitParams(Params):
    mean: float = 0.0
    std: float = 0.2
    filters: int = 128
    atoms: int = 1


class Implicit(LayerSpec):
    type = "implicit"
    sections = ("[implicit]",)
    Params = ImplicitParams
    options = (
        Opt("mean", FLOAT, 0.0),
        Opt("std", FLOAT, 0.2),
        Opt("filters", INT, 128),
        Opt("atoms", INT, 1),
    )
    named = False

    def inputs(self, section, index):
        return []

    def sources(self, p, index):
        return []

    def tensors(self, shape):
        w, h, c = shape.output
        return [Tensor("weights", (c, h, w), init="normal")]

    def infer(self, r, ctx):
        p = {k: r.get(k) for k in ("mean", "std", "filters", "atoms")}
        filters, atoms = p["filters"], p["atoms"]
        if filters <= 0 or atoms <= 0:
            raise error("empty-output", f"[implicit] filters={filters} atoms={atoms}: both must be > 0", "filters")
        n = filters * atoms
        return LayerShape((1, 1, 1), (1, atoms, filters), n, n, 0.0, p)
