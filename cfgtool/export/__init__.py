"""``cfgtool export``: a Darknet network as an ONNX graph that computes, layer by layer, what
cfgtool's executor (and Darknet) computes at inference.

The network is planned by the executor (:class:`~cfgtool.executor.network.Executor`: it
refuses layers that cannot run, wires each layer's inputs, holds the weights -- from a
``.weights`` file or its deterministic random initialisation), then every layer is refused
or lowered by its module in :mod:`cfgtool.lowering` (found from the layer's spec) before
anything is written. The graph has one input ``input`` (float32 NCHW, batch 1 or a symbolic
``N``) and outputs ``layer_NNN`` shaped like ``cfgtool run --dump``'s arrays. onnx is imported
only here (through :mod:`.graph`), onnxruntime only by :mod:`.check`.

With ``decode``, the outputs ``boxes`` (N, B, 4: x1, y1, x2, y2 in input pixels) and ``scores``
(N, B, classes: objectness * class probability) follow Darknet's ``get_yolo_box`` for every
(cell, anchor) of every head, heads in layer order; each head's lowering module provides
``decode`` (a head whose module has none is refused).

Diagnostic codes: O701 a layer with no ONNX lowering (or an option it cannot express); O702
``--decode`` on a network whose heads cannot be decoded.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from ..diagnostics import ERROR, CfgError, Diagnostic
from ..executor.network import NETWORK_INPUT, Executor, dump_shape, network_time_steps
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
    decoded: list[int] = field(default_factory=list)  # the heads behind ``boxes``/``scores``


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


def refusals(exe: Executor, dynamic_batch: bool = False) -> list[Diagnostic]:
    """Why layers cannot be exported (empty when all can), located at their headers."""
    out = []
    for step in exe.steps:
        layer = step.layer
        if dynamic_batch and layer.spec.recurrent:
            out.append(_refuse(exe.network, layer, f"[{layer.type}] cannot be exported with a dynamic batch: a "
                               "recurrent layer is unrolled over its time steps, one image each"))
            continue
        module = lowering_for(layer.spec)
        if module is None:
            out.append(_refuse(exe.network, layer, f"[{layer.type}] has no ONNX lowering"))
            continue
        why = getattr(module, "unsupported", lambda p, s: None)(step.params, step.shape)
        if why:
            out.append(_refuse(exe.network, layer, f"[{layer.type}] cannot be exported: {why}"))
    return out


def heads(exe: Executor) -> list[int]:
    """The layers Darknet returns as the network's output: every detection head, or else (a
    classifier) the last layer that is not a loss layer, as get_network_output."""
    found = [s.layer.index for s in exe.steps if s.layer.spec.is_head]
    return found or [next(s.layer.index for s in reversed(exe.steps) if not s.layer.spec.scores_inputs)]


def decode_refusals(exe: Executor) -> list[Diagnostic]:
    """Why ``--decode`` cannot decode this network's heads (empty when it can)."""
    heads = [s for s in exe.steps if s.layer.spec.is_head]
    if not heads:
        net = exe.network
        span = net.net.header.span() if net.net is not None else None
        return [Diagnostic("O702", "no-decode", ERROR, "--decode: the network has no detection head", span, net.path)]
    out = []
    for step in heads:
        module = lowering_for(step.layer.spec)
        why = None if hasattr(module, "decode") else "box decoding is written for [yolo] heads only"
        why = why or getattr(module, "decode_unsupported", lambda p, s: None)(step.params, step.shape)
        if not why and step.params.get("classes") != heads[0].params.get("classes"):
            why = f"classes={step.params.get('classes')} differs from the first head's {heads[0].params.get('classes')}"
        if why:
            out.append(Diagnostic("O702", "no-decode", ERROR, f"[{step.layer.type}] cannot be decoded: {why}",
                                  step.layer.section.header.span(), exe.network.path, step.layer.index))
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
            dynamic_batch: bool = False, seed: int = 0, progress=None, executor: Executor | None = None,
            decode: bool = False, data_dir: str | Path | None = None) -> Exported:
    """The ONNX model of a network (CfgError when a layer cannot run or be lowered).
    ``tensors`` are learnable tensors as :func:`cfgtool.weights.read_weights` gives them;
    without them, the executor's random initialisation from ``seed`` (or the tensors of
    ``executor``, an Executor of this network, when given). ``data_dir``: the Executor's."""
    if outputs not in OUTPUT_SETS:
        raise ValueError(f"outputs must be one of {OUTPUT_SETS}, not {outputs!r}")
    exe = executor or Executor(net, shapes, seed=seed, batch=network_time_steps(net, shapes), data_dir=data_dir)
    if exe.batch != exe.time_steps:
        raise ValueError(f"the executor's batch is {exe.batch}: an exported graph takes one image per time step "
                         f"({exe.time_steps})")
    if tensors:
        exe.load(tensors)
    refused = refusals(exe, dynamic_batch) + (decode_refusals(exe) if decode else [])
    if refused:
        raise CfgError(refused)
    from . import graph  # imports onnx

    g = graph.Graph(exe.input_shape[1:], graph.DEFAULT_OPSET if opset is None else opset, dynamic_batch,
                    batch=exe.batch)
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
    wanted = heads(exe) if outputs == "heads" else [s.layer.index for s in exe.steps]
    names = {}
    for i in wanted:
        step = exe.steps[i]
        name = f"layer_{i:03d}"
        g.output(g.reshape(values[i], dump_shape(step.layer, step.shape, 1)[1:]), name)
        names[name] = i
    decoded = []
    if decode:
        _, h, w = exe.input_shape[1:]
        parts = []
        for step in exe.steps:
            if step.layer.spec.is_head:
                i = step.layer.index
                parts.append(lowering_for(step.layer.spec).decode(g, step.params, values[i], w, h))
                decoded.append(i)
        g.output(g.concat([b for b, _ in parts], 0), "boxes")
        g.output(g.concat([s for _, s in parts], 0), "scores")
    meta = {"cfgtool.cfg": str(net.path or ""), "cfgtool.weights": "given" if tensors else f"random init, seed {seed}"}
    model = g.model(doc=f"exported by cfgtool from {net.path}", metadata=meta)
    return Exported(model, exe, names, len(g.nodes), not tensors and executor is None, seed, decoded)


def export_file(cfg: str | Path, out: str | Path, weights: str | Path | None = None, outputs: str = "heads",
                opset: int | None = None, dynamic_batch: bool = False, check: bool = False, tolerance: float = 1e-4,
                seed: int = 0, width: int | None = None, height: int | None = None, progress=None,
                decode: bool = False, data_dir: str | Path | None = None) -> ExportReport:
    """``cfgtool export``: write ``out`` (atomically, after the graph passed onnx.checker) and,
    with ``check``, compare onnxruntime with the executor on one random input."""
    t0 = time.perf_counter()
    net, shapes = load_network(cfg, width, height)
    tensors = None
    if weights is not None:
        from ..weights import read_weights

        _, tensors = read_weights(weights, net, shapes)
    exported = to_onnx(net, shapes, tensors, outputs, opset, dynamic_batch, seed, progress, decode=decode,
                       data_dir=data_dir)
    from . import graph

    data = graph.serialize(exported.model)
    graph.check(data)
    write_atomic(out, data)
    names = dict(exported.outputs, **({"boxes": -1, "scores": -1} if exported.decoded else {}))
    report = ExportReport(str(out), names, exported.nodes, len(data), exported.random_init, seed,
                          None if weights is None else str(weights), time.perf_counter() - t0, tolerance)
    if check:
        from .check import compare

        report.check = compare(data, exported, seed=seed, tolerance=tolerance)
    return report
