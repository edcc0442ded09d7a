"""[route]: parse_route and make_route_layer.

Quirks kept: ``outputs`` is the sum of the inputs' outputs divided by ``groups`` (C integer
division); the output is the first input's w x h with the channels summed, divided by
``groups`` (each input is cut into ``groups`` equal runs of w*h*c/groups values: a ``groups``
that does not divide an input's channels makes a slice that cuts through a channel, an error
here); ``input`` is ``first.w x first.h x out_c`` where w/h are the *input* size of the first
referenced layer. Inputs of different w x h make Darknet build a 0x0x0 layer: an error here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .base import INT, INTS, LayerShape, LayerSpec, Opt, Params
from .common import cdiv, dims, error, referenced, required


@dataclass(frozen=True, kw_only=True)
class RouteParams(Params):
    input_layers: list[int] = field(default_factory=list)
    input_sizes: list[int] = field(default_factory=list)
    n: int = 0
    groups: int = 1
    group_id: int = 0


class Route(LayerSpec):
    type = "route"
    sections = ("[route]",)
    Params = RouteParams
    combine = "concat"
    targets = {"opencv": ("[route]",)}
    options = (
        Opt("layers", INTS, None, required=True, index=True, doc="layers to concatenate (negative: relative)"),
        Opt("groups", INT, 1, doc="split each input's channels into groups ...", minimum=1,
            why="Darknet divides the channels by groups"),
        Opt("group_id", INT, 0, doc="... and take this one"),
        Opt("stream", INT, -1),
        Opt("wait_stream", INT, -1),
    )

    def inputs(self, section, index):
        return [ref.target for ref in self.references(section, index)]

    def sources(self, p, index):
        return list(p["input_layers"])

    def infer(self, r, ctx):
        refs = [referenced(ctx, v, "layers") for v in required(r, "layers", "[route]")]
        groups = r.get("groups")
        group_id = r.get("group_id")
        r.get("stream")
        r.get("wait_stream")
        if groups == 0:
            raise error("zero-divisor", "groups=0: Darknet divides by groups; use groups >= 1", "groups")
        if not 0 <= group_id < groups:
            raise error("bad-value", f"group_id={group_id} must be in 0..{groups - 1} (groups={groups})", "group_id")
        uneven = [(t, shape.output[2]) for t, shape in refs if shape.output[2] % groups]
        if uneven:
            t, c = uneven[0]
            divisors = [d for d in range(2, 9) if all(shape.output[2] % d == 0 for _, shape in refs)]
            fix = f"use groups={' or '.join(map(str, divisors[:3]))}" if divisors else "use groups=1"
            raise error("groups-mismatch",
                        f"groups={groups} does not divide the {c} channels of layer {t}: Darknet computes "
                        f"{c}/{groups} = {c // groups} channels by integer division and drops the remainder, so "
                        f"the route reads a slice that does not end on a channel boundary; {fix}", "groups")
        first = refs[0][1]
        fw, fh, out_c = first.output
        for t, shape in refs[1:]:
            w, h, c = shape.output
            if (w, h) != (fw, fh):
                listing = ", ".join(f"layer {i}: {dims(s.output)}" for i, s in refs)
                raise error("route-size-mismatch",
                            f"[route] inputs must have the same width and height ({listing}); Darknet makes this "
                            "route 0x0x0. Resize one input (maxpool/upsample/stride) or route other layers",
                            "layers")
            out_c += c
        out_c = cdiv(out_c, groups)
        sizes = [s.outputs for _, s in refs]
        outputs = cdiv(sum(sizes), groups)
        if outputs <= 0:
            raise error("empty-output", f"[route] output {dims((fw, fh, out_c))} is empty", "layers")
        params = dict(input_layers=[t for t, _ in refs], input_sizes=sizes, n=len(refs), groups=groups,
                      group_id=group_id)
        return LayerShape((first.input[0], first.input[1], out_c), (fw, fh, out_c), outputs, 0, 0.0, params)
