"""The graph/head ops on the conformance corpus: fed arrays of the shapes Darknet computed for
their inputs, with the params cfgtool's shape inference gives, each produces the output size
Darknet computed (float32, batch 1, the first two layers of each type per cfg), and its
backward gives float32 gradients of the input and weight shapes."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import corpus_params, expected

from cfgtool import model, syntax
from cfgtool.executor.ops import (batchnorm, cost, crop, detection, dropout, empty, gaussian_yolo, implicit,
                                  local_avgpool, normalization, region, reorg, reorg_old, route, sam,
                                  scale_channels, shortcut, softmax, upsample, yolo)
from cfgtool.shapes import infer_shapes

OPS = {
    "route": route, "shortcut": shortcut, "scale_channels": scale_channels, "sam": sam, "upsample": upsample,
    "reorg": reorg, "reorg_old": reorg_old, "yolo": yolo, "Gaussian_yolo": gaussian_yolo, "region": region,
    "detection": detection, "dropout": dropout, "softmax": softmax, "crop": crop, "cost": cost,
    "implicit": implicit, "empty": empty, "local_avgpool": local_avgpool, "batchnorm": batchnorm,
    "normalization": normalization,
}
PER_TYPE = 2


def array_shape(w: int, h: int, c: int, outputs: int) -> tuple[int, ...]:
    return (1, c, h, w) if w and h and c and w * h * c == outputs else (1, outputs, 1, 1)


@pytest.mark.parametrize("cfg", corpus_params())
def test_ops_reproduce_darknet_output_sizes(cfg):
    table = expected(cfg)
    if table.get("excluded") or "layers" not in table:
        pytest.skip("no Darknet oracle for this cfg")
    net = model.build(syntax.parse_file(cfg))
    shapes = infer_shapes(net)
    rows = {row["index"]: row for row in table["layers"]}
    rng = np.random.default_rng(0)
    seen: dict[str, int] = {}
    for layer in net.layers:
        op = OPS.get(layer.type)
        shape = shapes.layers[layer.index]
        if op is None or shape is None or layer.index not in rows or seen.get(layer.type, 0) >= PER_TYPE:
            continue
        seen[layer.type] = seen.get(layer.type, 0) + 1
        if layer.index == 0:  # the network input
            net_in = shapes.net
            dims = [array_shape(net_in["width"], net_in["height"], net_in["channels"], net_in["inputs"])]
        else:
            dims = [array_shape(*(shapes.layers[i].feeds or shapes.layers[i].output), shapes.layers[i].outputs)
                    for i in layer.inputs]
        xs = [rng.uniform(-1, 1, d).astype(np.float32) for d in dims]
        w = {name: rng.uniform(0.5, 1.5, d).astype(np.float32) for name, d in [(t.name, t.shape) for t in layer.spec.tensors(shape)]}
        p = shape.params
        if layer.type in ("region", "softmax") and p.get("tree"):
            with pytest.raises(ValueError, match="tree"):
                op.forward(p, w, xs, False)
            continue
        out, cache = op.forward(p, w, xs, False)
        row = rows[layer.index]
        where = f"{cfg.name} layer {layer.index} ({layer.type})"
        assert out.dtype == np.float32, where
        assert out[0].size == row["outputs"], where
        ow, oh, oc = row["output"]
        if ow and oh and oc and ow * oh * oc == row["outputs"]:
            assert out.shape == (1, oc, oh, ow), where
        dxs, dws = op.backward(p, w, np.ones_like(out), cache)
        assert [None if d is None else d.shape for d in dxs] == [x.shape for x in xs][:len(dxs)], where
        assert all(dws[k].shape == w[k].shape and dws[k].dtype == np.float32 for k in dws), where
        assert all(d is None or d.dtype == np.float32 for d in dxs), where
