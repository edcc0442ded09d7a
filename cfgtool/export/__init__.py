"""``cfgtool export``: a Darknet network as an ONNX graph that computes, layer by layer, what
cfgtool's executor (and Darknet) computes at inference.

The network is planned by the executor (:class:`~cfgtool.executor.network.Executor`: it
refuses layers that cannot run, wires each layer's inputs, holds the weights -- from a
``.weights`` file or its deterministic random initialisation), then every layer is refused
or lowered by its module in :mod:`cfgtool.lowering` (found from the layer's spec) before
anything is written. The graph has one input ``input`` (float32 NCHW, batch 1 or a symbolic
``N``) and outputs ``layer_NNN`` shaped like ``cfgtool run --dump``'s arrays. onnx is imported
only here (through :mod:`.graph`), onnxruntime only by :mod:`.check`.

Diagnostic codes: O701 a layer with no ONNX lowering (or an option it cannot express).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from ..diagnostics import ERROR, CfgError, Diagnostic
from ..executor.network import NETWORK_INPUT, Executor, dump_shape
from ..fileio import write_atomic
from ..lowering import lowering_for
from ..model import Network, build
from ..shapes import Shapes, infer_shapes
from ..syntax import parse_file

OUTPUT_SETS = ("heads", "all")


@dataclass
class OutputDiff:
    name: str
    layer: int
    max_abs: float
    max_rel: float  # max |onnx - executor| / max(1, |executor|)
    ok: bool


@dataclass
class Exported:
    """An exported graph: the onnx ModelProto, the executor that planned it, output -> layer."""

    model: object
    executor: Executor
    outputs: dict[str, int]
    nodes: int
    random_init: bool
    seed: int


@dataclass
class ExportReport:
    path: str
    outputs: dict[str, int]
    nodes: int
    bytes: int
    random_init: bool
    seed: int
    weights: str | None
    seconds: float
    tolerance: float
    check: list[OutputDiff] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.check is None or all(d.ok for d in self.check)


def _refuse(network: Network, layer, message: str) -> Diagnostic:
    return Diagnostic("O701", "no-onnx-lowering", ERROR, message, layer.section.header.span(), network.path,
                      layer.index)


def refusals(exe: Executor) -> list[Diagnostic]:
    """Why layers cannot be exported (empty when all can), located at their headers."""
    out = []
    for step in exe.steps:
        layer = step.layer
        module = lowering_for(layer.spec)
        if module is None:
            out.append(_refuse(exe.network, layer, f"[{layer.type}] has no ONNX lowering"))
            continue
        why = getattr(module, "unsupported", lambda p, s: None)(step.params, step.shape)
        if why:
            out.append(_refuse(exe.network, layer, f"[{layer.type}] cannot be exported: {why}"))
    return out


def load_network(cfg: str | Path, width: int | None = None, height: int | None = None) -> tuple[Network, Shapes]:
    """Parse a cfg and infer its shapes; CfgError with the errors when there are any."""
    doc = parse_file(cfg)
    errors = [d for d in doc.diagnostics if d.severity == ERROR]
    if errors:
        raise CfgError(errors)
    net = build(doc)
    shapes = infer_shapes(net, width, height)
    if not shapes.ok:
        raise CfgError([d for d in shapes.diagnostics if d.severity == ERROR])
    return net, shapes


def to_onnx(net: Network, shapes: Shapes, tensors: dict | None = None, outputs: str = "heads", opset: int | None = None,
            dynamic_batch: bool = False, seed: int = 0, progress=None) -> Exported:
    """The ONNX model of a network (CfgError when a layer cannot run or be lowered).
    ``tensors`` are learnable tensors as :func:`cfgtool.weights.read_weights` gives them;
    without them, the executor's random initialisation from ``seed``."""
    if outputs not in OUTPUT_SETS:
        raise ValueError(f"outputs must be one of {OUTPUT_SETS}, not {outputs!r}")
    exe = Executor(net, shapes, seed=seed)
    if tensors:
        exe.load(tensors)
    refused = refusals(exe)
    if refused:
        raise CfgError(refused)
    from . import graph  # imports onnx

    g = graph.Graph(exe.input_shape[1:], graph.DEFAULT_OPSET if opset is None else opset, dynamic_batch)
    values = {NETWORK_INPUT: g.input}
    for step in exe.steps:
        i = step.layer.index
        mark = len(g.nodes)
        xs = [values[j] for j in step.inputs]
        y = lowering_for(step.layer.spec).lower(g, step.params, exe.weights.get(step.owner, {}), xs, step.shape)
        if any(y in node.output for node in g.nodes[mark:]):
            y = g.rename(y, f"layer_{i:03d}")
        values[i] = y
        if progress is not None:
            progress(i)
    wanted = exe.output_layers if outputs == "heads" else [s.layer.index for s in exe.steps]
    names = {}
    for i in wanted:
        step = exe.steps[i]
        name = f"layer_{i:03d}"
        g.output(g.reshape(values[i], dump_shape(step.layer, step.shape, 1)[1:]), name)
        names[name] = i
    meta = {"cfgtool.cfg": str(net.path or ""), "cfgtool.weights": "given" if tensors else f"random init, seed {seed}"}
    model = g.model(doc=f"exported by cfgtool from {net.path}", metadata=meta)
    return Exported(model, exe, names, len(g.nodes), not tensors, seed)


def export_file(cfg: str | Path, out: str | Path, weights: str | Path | None = None, outputs: str = "heads",
                opset: int | None = None, dynamic_batch: bool = False, check: bool = False, tolerance: float = 1e-4,
                seed: int = 0, width: int | None = None, height: int | None = None, progress=None) -> ExportReport:
    """``cfgtool export``: write ``out`` (atomically, after the graph passed onnx.checker) and,
    with ``check``, compare onnxruntime with the executor on one random input."""
    t0 = time.perf_counter()
    net, shapes = load_network(cfg, width, height)
    tensors = None
    if weights is not None:
        from ..weights import read_weights

        _, tensors = read_weights(weights, net, shapes)
    exported = to_onnx(net, shapes, tensors, outputs, opset, dynamic_batch, seed, progress)
    from . import graph

    graph.check(exported.model)
    data = graph.serialize(exported.model)
    write_atomic(out, data)
    report = ExportReport(str(out), exported.outputs, exported.nodes, len(data), exported.random_init, seed,
                          None if weights is None else str(weights), time.perf_counter() - t0, tolerance)
    if check:
        from .check import compare

        report.check = compare(data, exported, seed=seed, tolerance=tolerance)
    return report
