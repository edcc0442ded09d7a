"""``export --check``: the exported graph in onnxruntime against cfgtool's executor on the same
random input; the only module that imports onnxruntime."""

from __future__ import annotations

import numpy as np

try:
    import onnxruntime
except ModuleNotFoundError as exc:  # pragma: no cover - depends on the install
    if exc.name != "onnxruntime":
        raise
    raise ModuleNotFoundError("export --check needs onnxruntime: pip install onnxruntime", name="onnxruntime") from None

from . import OutputDiff


def session(model_bytes: bytes):
    opts = onnxruntime.SessionOptions()
    opts.log_severity_level = 3
    return onnxruntime.InferenceSession(model_bytes, opts, providers=["CPUExecutionProvider"])


def differences(got: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    """(max |got - ref|, max |got - ref| / max(1, |ref|)); NaN where both are NaN counts as equal."""
    got, ref = got.astype(np.float64), ref.astype(np.float64)
    both_nan = np.isnan(got) & np.isnan(ref)
    diff = np.where(both_nan | (got == ref), 0.0, np.abs(got - ref))
    diff = np.where(np.isnan(diff), np.inf, diff)
    if diff.size == 0:
        return 0.0, 0.0
    return float(diff.max()), float((diff / np.maximum(1.0, np.abs(np.nan_to_num(ref)))).max())


def reference_decode(exe, outs: dict, heads: list[int]):
    """(boxes, scores) of one image from the heads' kernels' ``decode`` (Darknet's
    get_yolo_box in numpy), as the graph lays them out; None when a kernel has no decode."""
    _, _, h, w = exe.input_shape
    boxes, scores = [], []
    for i in heads:
        step = exe.steps[i]
        decode = getattr(step.op, "decode", None)
        if decode is None:
            return None
        xywh, _, probs = decode(step.params, outs[i][0], w, h, -np.inf)
        x, y, bw, bh = (xywh.astype(np.float64) * [w, h, w, h]).T
        boxes.append(np.stack([x - bw / 2, y - bh / 2, x + bw / 2, y + bh / 2], axis=1))
        scores.append(probs)
    return np.concatenate(boxes)[None], np.concatenate(scores)[None]


def compare(model_bytes: bytes, exported, seed: int = 0, tolerance: float = 1e-4, x: np.ndarray | None = None
            ) -> list[OutputDiff]:
    """Per output, onnxruntime against the executor (``boxes``/``scores`` against the reference
    decode, when the heads' kernels have one)."""
    exe = exported.executor
    if x is None:
        x = np.random.default_rng(seed).normal(size=exe.input_shape).astype(np.float32)
    ref = exe.forward(x, keep=list(exported.outputs.values()) + exported.decoded)
    refs = {name: ref[i] for name, i in exported.outputs.items()}
    decoded = reference_decode(exe, ref, exported.decoded) if exported.decoded else None
    if decoded is not None:
        refs["boxes"], refs["scores"] = decoded
    names = list(refs)
    got = session(model_bytes).run(names, {"input": x})
    out = []
    for name, arr in zip(names, got):
        max_abs, max_rel = differences(arr, refs[name].reshape(arr.shape))
        out.append(OutputDiff(name, exported.outputs.get(name, -1), max_abs, max_rel, max_rel <= tolerance))
    return out
