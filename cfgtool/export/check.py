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


def compare(model_bytes: bytes, exported, seed: int = 0, tolerance: float = 1e-4, x: np.ndarray | None = None
            ) -> list[OutputDiff]:
    exe = exported.executor
    if x is None:
        x = np.random.default_rng(seed).normal(size=exe.input_shape).astype(np.float32)
    names = list(exported.outputs)
    got = session(model_bytes).run(names, {"input": x})
    ref = exe.forward(x, keep=list(exported.outputs.values()))
    out = []
    for name, arr in zip(names, got):
        i = exported.outputs[name]
        r = ref[i].reshape(arr.shape)
        max_abs, max_rel = differences(arr, r)
        out.append(OutputDiff(name, i, max_abs, max_rel, max_rel <= tolerance))
    return out
