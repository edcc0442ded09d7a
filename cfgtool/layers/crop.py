"""[crop]: parse_crop and make_crop_layer: output crop_width x crop_height x c; at inference
Darknet takes the centre crop. params: crop_width/crop_height, flip, angle, saturation,
exposure, shift, noadjust, scale (= crop_height / h, a C float division)."""

from __future__ import annotations

from dataclasses import dataclass

from .base import FLOAT, INT, LayerShape, LayerSpec, Opt, Params
from .common import dims, error, image


@dataclass(frozen=True, kw_only=True)
class CropParams(Params):
    crop_height: int = 1
    crop_width: int = 1
    flip: int = 0
    angle: float = 0.0
    saturation: float = 1.0
    exposure: float = 1.0
    noadjust: int = 0
    shift: float = 0.0
    scale: float = 0.0


class Crop(LayerSpec):
    type = "crop"
    sections = ("[crop]",)
    Params = CropParams
    targets = {"opencv": ("[crop]",)}
    options = (
        Opt("crop_height", INT, 1),
        Opt("crop_width", INT, 1),
        Opt("flip", INT, 0),
        Opt("angle", FLOAT, 0.0),
        Opt("saturation", FLOAT, 1.0),
        Opt("exposure", FLOAT, 1.0),
        Opt("noadjust", INT, 0),
        Opt("shift", FLOAT, 0.0),
    )

    def infer(self, r, ctx):
        p = {k: r.get(k) for k in ("crop_height", "crop_width", "flip", "angle", "saturation", "exposure")}
        w, h, c = image(ctx, "[crop]")
        p["noadjust"] = r.get("noadjust")
        p["shift"] = r.get("shift")
        ch, cw = p["crop_height"], p["crop_width"]
        if ch <= 0 or cw <= 0 or ch > h or cw > w:
            raise error("bad-value", f"[crop] {cw}x{ch} must fit the input {dims((w, h, c))}",
                        "crop_width" if cw <= 0 or cw > w else "crop_height")
        p["scale"] = ch / h
        return LayerShape((w, h, c), (cw, ch, c), cw * ch * c, 0, 0.0, p)
