"""A generated Darknet cfg of about N layers, for measuring how validate scales with file size.

The network is valid and exercises what real cfgs use: residual stages (1x1 and 3x3
convolutions with batch norm, ``[shortcut] from=-3``), CSP-style routes by relative and
absolute index, a maxpool, an upsample, and YOLO heads every few hundred layers reading
far-back layers by absolute index. Shapes stay small (a 64x64 input) so only the number of
layers grows.

Run: python benchmarks/bigcfg.py 20000 > big.cfg
"""

from __future__ import annotations

import sys

NET = """[net]
batch=1
subdivisions=1
width=64
height=64
channels=3
momentum=0.949
decay=0.0005
learning_rate=0.001
burn_in=1000
max_batches=500500
policy=steps
steps=400000,450000
scales=.1,.1

"""

CONV = "[convolutional]\nbatch_normalize=1\nfilters={f}\nsize={s}\nstride=1\npad=1\nactivation={a}\n\n"


def make_cfg(layers: int) -> str:
    """The text of a valid cfg with at least ``layers`` layers (a whole number of blocks)."""
    out = [NET, CONV.format(f=32, s=3, a="mish")]
    n = 1
    while n < layers:
        start = n  # absolute index of this block's first layer
        out.append(CONV.format(f=32, s=1, a="mish"))  # start: the block's input
        out.append("[route]\nlayers = -2\n\n")  # start + 1: CSP split
        out.append(CONV.format(f=32, s=1, a="mish"))
        for _ in range(4):  # residual units
            out.append(CONV.format(f=32, s=1, a="mish"))
            out.append(CONV.format(f=32, s=3, a="mish"))
            out.append("[shortcut]\nfrom=-3\nactivation=linear\n\n")
        out.append(CONV.format(f=32, s=1, a="mish"))
        out.append(f"[route]\nlayers = -1,{start}\n\n")  # CSP merge by absolute index: 64 channels
        out.append("[maxpool]\nsize=5\nstride=1\n\n")
        out.append(CONV.format(f=32, s=1, a="leaky"))
        n += 19
        if (n // 19) % 16 == 0:  # a YOLO head: upsample, detection conv, [yolo]
            out.append("[upsample]\nstride=2\n\n")
            out.append("[maxpool]\nsize=2\nstride=2\n\n")
            out.append("[convolutional]\nsize=1\nstride=1\npad=1\nfilters=24\nactivation=linear\n\n")
            out.append("[yolo]\nmask = 0,1,2\nanchors = 12, 16, 19, 36, 40, 28, 36, 75, 76, 55, 72, 146\n"
                       "classes=3\nnum=6\njitter=.3\nignore_thresh = .7\ntruth_thresh = 1\n"
                       "scale_x_y = 1.2\niou_thresh=0.213\ncls_normalizer=1.0\niou_normalizer=0.07\n"
                       "iou_loss=ciou\nnms_kind=greedynms\nbeta_nms=0.6\n\n")
            out.append(f"[route]\nlayers = {n - 1}\n\n")  # back to the trunk by absolute index
            n += 5
    out.append("[convolutional]\nsize=1\nstride=1\npad=1\nfilters=24\nactivation=linear\n\n")
    out.append("[yolo]\nmask = 3,4,5\nanchors = 12, 16, 19, 36, 40, 28, 36, 75, 76, 55, 72, 146\n"
               "classes=3\nnum=6\n")
    return "".join(out)


if __name__ == "__main__":
    sys.stdout.write(make_cfg(int(sys.argv[1]) if len(sys.argv) > 1 else 20000))
