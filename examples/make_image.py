"""Makes examples/shapes.png, the small test image of `cfgtool run --image` (no photo needed):

    python examples/make_image.py            # needs numpy and Pillow

A 160 x 120 RGB picture: a sky and a ground band in gradients (no two places alike), a red box, a blue disc and a
yellow triangle. Deterministic: the same bytes every time.
"""

from pathlib import Path

import numpy as np
from PIL import Image

H, W = 120, 160


def picture() -> np.ndarray:
    y, x = np.mgrid[0:H, 0:W]
    img = np.zeros((H, W, 3), np.uint8)
    img[..., 0] = 90 + y * 60 // H + x * 40 // W
    img[..., 1] = 140 + y * 50 // H
    img[..., 2] = 230 - y * 40 // H - x * 30 // W
    ground = y > 85
    img[ground] = np.stack([70 + x * 50 // W, 130 - y * 30 // H, 60 + (x + y) % 7], axis=-1)[ground]
    img[(x >= 18) & (x < 58) & (y >= 50) & (y < 95)] = (200, 40, 40)
    img[(x - 95) ** 2 + (y - 60) ** 2 < 18 ** 2] = (40, 60, 200)
    img[(y >= 30) & (y < 70) & (abs(x - 135) < (y - 30) / 2)] = (230, 210, 40)
    return img


if __name__ == "__main__":
    out = Path(__file__).with_name("shapes.png")
    Image.fromarray(picture()).save(out, optimize=True)
    print(f"wrote {out} ({out.stat().st_size} bytes)")
