"""Carry pretrained weights across an edit of the cfg.

Darknet reads a ``.weights`` file layer by layer, so a layer inserted into the cfg shifts
every later tensor. :func:`transplant` maps the old network's tensors onto the new network
instead:

*Alignment.* The layers of both networks are aligned in order by dynamic programming (a
longest-common-subsequence with scores): two layers may correspond when they have the same
type and the same tensors (names and shapes). The alignment first maximizes the layers with
tensors that correspond (their tensors are copied), then the weightless ones, then the inputs
whose layers agree (type and tensors; so an inserted ``[shortcut]`` is not taken for the
original one after it). Ties go to the earliest correspondence. ``inserted`` names new layers known to be new
(e.g. the blocks :func:`cfgtool.rewrite.insert_blocks` added): they never correspond to an old
layer. New layers with tensors and no counterpart are *initialized*; old ones without a
counterpart are *dropped*. A partial source (Darknet's ``*.conv.137``: tensors for the first
layers only) is fine: layers it does not cover are initialized.

*Initialization.* ``random``: Darknet-like (the executor's init), seeded per layer.
``identity`` makes the edited network compute the old function before fine-tuning, for any
block whose structure allows it (the built-in SE/SAM/CBAM templates and user templates alike):

- a *gate* -- an inserted ``[convolutional]`` with ``activation=logistic`` that is the scale
  input (the previous layer) of a ``[scale_channels]`` or ``[sam]`` -- outputs the constant
  ``sigmoid(gate_bias)``: weights 0 and biases ``gate_bias`` (batch-normalized: scales 0, biases
  ``gate_bias``, rolling mean 0, variance 1; its weights stay random so they can learn);
- an inserted ``[shortcut]`` adding a branch onto its ``from`` layer: the branch's last
  convolution (walking back from the shortcut's previous layer through ``[scale_channels]``/
  ``[sam]`` to the layer they scale) outputs 0 -- weights and biases 0 (batch-normalized:
  scales and biases 0), valid for activations with ``f(0) = 0`` -- so the shortcut passes its
  ``from`` input through exactly (the zero-init residual idea).

Every other new layer is random. The report then checks the claim over the graph: each layer
that corresponds to an old one must read exactly what the old one read (a block output that
passes its input through counts as that input); where this fails the report says which layer
breaks the identity and why. The gates make it approximate: each gate scales a feature map by
``sigmoid(gate_bias)`` (``1 - 4.5e-5`` for 10), so with ``k`` gates in series on the way to
an output the gated maps differ from the old ones by a relative ``1 - sigmoid(gate_bias)**k``
at most (:attr:`TransplantReport.max_deviation`); later layers pass on a perturbation of about that
size. A larger ``gate_bias`` is closer to the identity, but the gates then learn slower
(the logistic's slope at ``b`` is about ``exp(-b)``): by default it is 10, raised just
enough for the bound to stay below 5e-4 when many gates are in series (yolov4 with CBAM at
every residual: 46 gates, bias 11.5; see :func:`auto_gate_bias`).

Copied tensors are the source's arrays themselves (not duplicated).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .diagnostics import ERROR, CfgError
from .executor.activations import activate
from .executor.network import NETWORK_INPUT, init_tensor
from .model import Network, build
from .shapes import infer_shapes
from .syntax import Document
from .weights import Tensor, WeightsHeader, layout, read_weights, write_weights

INITS = ("identity", "random")
GATE_BIAS = 10.0  # the default bias of a gate: sigmoid(10) = 1 - 4.5e-5
DEVIATION_TARGET = 5e-4  # the default bias keeps the compounded deviation below this
# options that change training only: a layer that differs in them still computes the same output
_TRAINING_ONLY = frozenset({"stopbackward", "dont_update", "burnin_update", "train_only_bn", "learning_rate_scale",
                            "onlyforward"})

# alignment scores: tensors copied >> weightless layers aligned >> inputs of the same type
_WEIGHTED, _PLAIN = 1 << 40, 1 << 20


@dataclass
class Move:
    """One layer with tensors: ``copied`` (old -> new), ``initialized`` (new only) or
    ``dropped`` (old only). ``how`` says how an initialized layer was filled: ``gate``,
    ``zero`` (a residual branch's end), ``random``, or ``missing`` (it corresponds to an old
    layer the partial source has no tensors for: random); for a dropped layer ``missing``
    means the source had no tensors for it either."""

    action: str
    new: int | None
    old: int | None
    type: str
    tensors: tuple[Tensor, ...]
    how: str = ""

    @property
    def values(self) -> int:
        return sum(t.count for t in self.tensors)


@dataclass
class TransplantReport:
    init: str
    gate_bias: float
    moves: list[Move] = field(default_factory=list)
    source_layers: int = 0  # layers with tensors in the source
    old_layers: int = 0  # layers with tensors the old cfg has (more than source_layers: a partial source)
    inserted: list[int] = field(default_factory=list)  # new layers with no old counterpart (weightless too)
    removed: list[int] = field(default_factory=list)  # old layers with no new counterpart
    breaks: list[str] = field(default_factory=list)  # why the identity does not hold (identity init)
    gates_in_series: int = 0  # the most gates on one path to an output
    header: WeightsHeader | None = None  # set by transplant_files
    source: str | None = None
    output: str | None = None
    written: int = 0  # bytes

    def _of(self, action: str) -> list[Move]:
        return [m for m in self.moves if m.action == action]

    @property
    def copied(self) -> list[tuple[int, int]]:
        """(new index, old index) of every copied layer."""
        return [(m.new, m.old) for m in self._of("copied")]

    @property
    def initialized(self) -> list[int]:
        return [m.new for m in self._of("initialized")]

    @property
    def dropped(self) -> list[int]:
        return [m.old for m in self._of("dropped")]

    @property
    def gates(self) -> list[int]:
        return [m.new for m in self.moves if m.how == "gate"]

    @property
    def zeroed(self) -> list[int]:
        return [m.new for m in self.moves if m.how == "zero"]

    @property
    def partial(self) -> bool:
        return self.source_layers < self.old_layers

    @property
    def identity(self) -> bool:
        """The new network computes the old function, up to the gates."""
        return self.init == "identity" and not self.breaks

    @property
    def max_deviation(self) -> float | None:
        """Relative deviation bound of the gated feature maps (None: no identity claim)."""
        if not self.identity:
            return None
        return 1.0 - _sigmoid(self.gate_bias) ** self.gates_in_series


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _tensor_map(network: Network, shapes) -> dict[int, tuple[Tensor, ...]]:
    return {i: tuple(ts) for i, ts in layout(network, shapes)}


def _inputs(network: Network, shapes) -> list[list[int]]:
    """Per layer, the layers it reads in the executor's order (NETWORK_INPUT for the input)."""
    return [layer.spec.sources(shapes.layers[layer.index].params, layer.index) for layer in network.layers]


def _align(old: list[tuple], old_in: list[list[int]], new: list[tuple], new_in: list[list[int]],
           fixed: set[int]) -> list[tuple[int | None, int | None]]:
    """The alignment as a walk: (old, new) pairs, None on the side that has no counterpart.
    ``old``/``new`` hold per layer (type, tensors); ``fixed`` new layers never correspond."""
    n, m = len(old), len(new)

    def sig(sigs, i):
        return ("input", ()) if i == NETWORK_INPUT else sigs[i]

    def alike(a, b):  # 2: the same type and tensors, 1: the same type
        return 2 if a == b else int(a[0] == b[0])

    def score(i, j):
        if j in fixed or old[i] != new[j]:
            return None
        same = sum(alike(sig(old, a), sig(new, b)) for a, b in zip(old_in[i], new_in[j]))
        return (_WEIGHTED if old[i][1] else _PLAIN) + same

    best = [[0] * (m + 1) for _ in range(n + 1)]
    pair = [[None] * m for _ in range(n)]
    for i in range(n - 1, -1, -1):
        row, below = best[i], best[i + 1]
        for j in range(m - 1, -1, -1):
            s = pair[i][j] = score(i, j)
            v = max(below[j], row[j + 1])
            if s is not None:
                v = max(v, s + below[j + 1])
            row[j] = v
    walk, i, j = [], 0, 0
    while i < n or j < m:
        if i < n and j < m and pair[i][j] is not None and best[i][j] == pair[i][j] + best[i + 1][j + 1]:
            walk.append((i, j))
            i, j = i + 1, j + 1
        elif i < n and (j == m or best[i][j] == best[i + 1][j]):
            walk.append((i, None))
            i += 1
        else:
            walk.append((None, j))
            j += 1
    return walk


def _walk(old_network, old_t, old_in, new_network, new_t, new_in, inserted) -> list[tuple[int | None, int | None]]:
    sig_old = [(layer.type, old_t.get(layer.index, ())) for layer in old_network.layers]
    sig_new = [(layer.type, new_t.get(layer.index, ())) for layer in new_network.layers]
    return _align(sig_old, old_in, sig_new, new_in, _inserted_set(inserted))


def align(old_network: Network, old_shapes, new_network: Network, new_shapes, inserted=None
          ) -> list[tuple[int | None, int | None]]:
    """How :func:`transplant` matches the layers of two versions of a network: (old, new)
    index pairs in order, None on the side that has no counterpart (an inserted or a removed
    layer). Both networks need valid shapes; ``inserted`` as for :func:`transplant`."""
    old_t, new_t = _tensor_map(old_network, old_shapes), _tensor_map(new_network, new_shapes)
    old_in, new_in = _inputs(old_network, old_shapes), _inputs(new_network, new_shapes)
    return _walk(old_network, old_t, old_in, new_network, new_t, new_in, inserted)


def _inserted_set(inserted) -> set[int]:
    """New layer indices from a list of indices or a :class:`cfgtool.rewrite.EditReport`."""
    if inserted is None:
        return set()
    if hasattr(inserted, "insertions"):
        return {k for ins in inserted.insertions for k in range(ins.first, ins.last + 1)}
    return {int(k) for k in inserted}


def _zero_at_zero(activation: str) -> bool:
    y, _ = activate(activation, np.zeros(1, np.float64))
    return float(y[0]) == 0.0


def _identity_plan(network: Network, shapes, new_in, fresh: set[int], tensors) -> tuple[dict[int, str], list[str]]:
    """{new layer: "gate" | "zero"} for the inserted convolutions identity init sets, and notes
    on inserted shortcuts whose branch cannot be zeroed."""
    layers, plan, notes = network.layers, {}, []

    def conv(j):
        return j in fresh and layers[j].spec.is_conv and j in tensors

    for layer in layers:
        j = layer.index
        if layer.spec.combine == "scale":
            s = new_in[j][0]
            if s != NETWORK_INPUT and conv(s) and shapes.layers[s].params.get("activation") == "logistic":
                plan[s] = "gate"
    for layer in layers:
        j = layer.index
        if layer.spec.combine != "sum" or j not in fresh or not new_in[j] or new_in[j][0] == NETWORK_INPUT:
            continue
        end = new_in[j][0]
        while end != NETWORK_INPUT and layers[end].spec.combine == "scale":
            end = new_in[end][1]
        if end != NETWORK_INPUT and conv(end) and plan.get(end) != "gate" \
                and _zero_at_zero(shapes.layers[end].params.get("activation", "linear")):
            plan[end] = "zero"
        else:
            what = "the network input" if end == NETWORK_INPUT else f"layer {end} ([{layers[end].type}])"
            notes.append(f"the inserted [shortcut] at layer {j}: its branch ends at {what}, not an inserted "
                         "[convolutional] whose activation is 0 at 0, so it cannot be zeroed")
    return plan, notes


def _fill(how: str, tensors, params, rng, bias: float) -> dict[str, np.ndarray]:
    """Tensors for an initialized layer: random, then a gate's or a zeroed branch end's values."""
    out = {t.name: init_tensor(t, params, rng, np.float32) for t in tensors}
    if how in ("gate", "zero"):
        value = bias if how == "gate" else 0.0
        out["biases"][...] = value
        if "scales" in out:
            out["scales"][...] = 0.0
            out["rolling_mean"][...] = 0.0
            out["rolling_variance"][...] = 1.0
        else:
            out["weights"][...] = 0.0
    return out


def _settings(layer) -> dict[str, str]:
    """The options that make a layer's inference output, as Darknet reads them: reference
    values (renumbered by an insertion) and training-only switches left out."""
    skip = {r.key for r in layer.refs} | _TRAINING_ONLY
    return {ln.key: ln.value for ln in reversed(layer.section.options) if ln.key not in skip}


def _check_identity(old_net, old_in, new_net, new_shapes, new_in, new_to_old: dict[int, int],
                    copied: set[int], new_t: dict, plan: dict[int, str]) -> tuple[list[str], int]:
    """Follow the new graph: which layers reproduce an old layer's output (and through how many
    gates). Returns (why the identity fails, the most gates in series before an output)."""
    old_to_new = {o: j for j, o in new_to_old.items()}
    layers = new_net.layers
    kinds: dict[int, tuple] = {NETWORK_INPUT: ("pass", NETWORK_INPUT, 0)}
    breaks: list[str] = []

    def describe(j):
        return f"layer {j} ([{layers[j].type}])"

    def problem_of(j: int, o: int, ins: list[tuple]) -> str | None:
        here = f"{describe(j)} (old layer {o})"
        if j in new_t and j not in copied:
            return f"{here} has no tensors from the source"
        before, after = _settings(old_net.layers[o]), _settings(layers[j])
        if before != after:
            diff = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
            return f"{here} has other options: {', '.join(diff)}"
        if len(ins) != len(old_in[o]):
            return f"{here} reads {len(ins)} layer(s), the old one {len(old_in[o])}"
        for i, k, w in zip(new_in[j], ins, old_in[o]):
            want = NETWORK_INPUT if w == NETWORK_INPUT else old_to_new.get(w)
            if k[0] != "pass" or k[1] != want:
                source = "the network input" if w == NETWORK_INPUT else f"old layer {w}"
                return f"{here} reads {describe(i) if i >= 0 else 'the input'}, which does not reproduce {source}"
        return None

    for layer in layers:
        j, p = layer.index, new_shapes.layers[layer.index].params
        ins = [kinds[i] for i in new_in[j]]
        if any(k[0] == "broken" for k in ins):
            kinds[j] = ("broken",)
        elif j in new_to_old:
            problem = problem_of(j, new_to_old[j], ins)
            if problem:
                breaks.append(problem)
            kinds[j] = ("broken",) if problem else ("pass", j, max((k[2] for k in ins), default=0))
        else:
            kinds[j] = _inserted_kind(layer.spec, p, ins, plan.get(j))
    return breaks + _check_outputs(old_net, new_net, old_to_new, kinds), max(
        [kinds[j][2] for j in _output_layers(new_net) if kinds[j][0] == "pass"], default=0)


def _output_layers(network: Network) -> list[int]:
    """The layers whose outputs are the network's results: detection heads and the last layer."""
    last = {len(network.layers) - 1} if network.layers else set()
    return sorted({layer.index for layer in network.layers if layer.spec.is_head} | last)


def _check_outputs(old_net, new_net, old_to_new, kinds) -> list[str]:
    """Each old output reproduced by the corresponding new output, and no new output besides."""
    problems = []
    new_outputs = set(_output_layers(new_net))
    last_old, last_new = len(old_net.layers) - 1, len(new_net.layers) - 1
    for o in _output_layers(old_net):
        j = old_to_new.get(o)
        if j is None:
            problems.append(f"the old output layer {o} ([{old_net.layers[o].type}]) has no counterpart")
            continue
        new_outputs.discard(j)
        at = last_new if o == last_old else j
        new_outputs.discard(at)
        k = kinds[at]
        if k[0] == "broken":
            continue  # already explained
        if k[0] != "pass" or k[1] != j:
            problems.append(f"the output layer {at} ([{new_net.layers[at].type}]) does not reproduce old layer {o}")
    problems += [f"the output layer {j} ([{new_net.layers[j].type}]) is new" for j in sorted(new_outputs)]
    return problems


def _inserted_kind(spec, p: dict, ins: list[tuple], how: str | None) -> tuple:
    """What an inserted layer's output is: ("pass", src, gates) reproduces layer src's output,
    ("gate",) ~1 everywhere, ("zero",) 0 everywhere, ("other",) anything else."""
    linear = p.get("activation", "linear") == "linear"
    if spec.is_conv:
        return {"gate": ("gate",), "zero": ("zero",)}.get(how, ("other",))
    if spec.combine == "scale" and len(ins) == 2 and linear:
        s, x = ins
        if "zero" in (s[0], x[0]):
            return ("zero",)
        if s[0] == "gate" and x[0] == "pass":
            return ("pass", x[1], x[2] + 1)
        return ("other",)
    if spec.combine == "sum" and linear and p.get("weights_type", "none") == "none":
        terms = [k for k in ins if k[0] != "zero"]
        if not terms:
            return ("zero",)
        return terms[0] if len(terms) == 1 and terms[0][0] == "pass" else ("other",)
    if spec.combine == "concat" and len(ins) == 1 and p.get("groups", 1) == 1:
        return ins[0]
    if spec.passes_in_inference and ins:
        return ins[0]  # inference: the identity
    if spec.keeps_zero and ins and ins[0][0] == "zero":
        return ("zero",)
    return ("other",)


def auto_gate_bias(gates_in_series: int) -> float:
    """The default gate bias: GATE_BIAS, raised (to a tenth) when so many gates are in series
    that ``1 - sigmoid(b)**k`` (at most ``k * exp(-b)``) would exceed DEVIATION_TARGET."""
    if gates_in_series <= 0:
        return GATE_BIAS
    return max(GATE_BIAS, math.ceil(10 * math.log(gates_in_series / DEVIATION_TARGET)) / 10)


def transplant(old_network: Network, old_shapes, old_tensors: dict[int, dict[str, np.ndarray]],
               new_network: Network, new_shapes, init: str = "identity", seed: int = 0, inserted=None,
               gate_bias: float | None = None) -> tuple[dict[int, dict[str, np.ndarray]], TransplantReport]:
    """The new network's tensors from the old network's (see the module docstring).

    ``old_tensors`` is what :func:`cfgtool.weights.read_weights` returns (a prefix of the
    layers for a partial file). ``inserted``: new layer indices known to be new, or the
    :class:`cfgtool.rewrite.EditReport` of the insertion. ``gate_bias``: None picks
    :func:`auto_gate_bias`. Raises CfgError when a cfg has no valid shapes, ValueError for a
    bad ``init`` or source tensors of the wrong shape.
    """
    if init not in INITS:
        raise ValueError(f"init must be one of {', '.join(INITS)}, not {init!r}")
    old_t, new_t = _tensor_map(old_network, old_shapes), _tensor_map(new_network, new_shapes)
    old_in, new_in = _inputs(old_network, old_shapes), _inputs(new_network, new_shapes)
    walk = _walk(old_network, old_t, old_in, new_network, new_t, new_in, inserted)
    new_to_old = {j: o for o, j in walk if o is not None and j is not None}
    fresh = {j for o, j in walk if o is None}
    copied = {j for j, o in new_to_old.items() if j in new_t and o in old_tensors}
    report = TransplantReport(init, GATE_BIAS, source_layers=sum(1 for i in old_t if i in old_tensors),
                    old_layers=len(old_t), inserted=sorted(fresh), removed=[o for o, j in walk if j is None])
    plan: dict[int, str] = {}
    if init == "identity":
        plan, notes = _identity_plan(new_network, new_shapes, new_in, fresh, new_t)
        breaks, report.gates_in_series = _check_identity(old_network, old_in, new_network, new_shapes, new_in,
                                                         new_to_old, copied, new_t, plan)
        report.breaks = notes + breaks
        report.gate_bias = auto_gate_bias(report.gates_in_series) if gate_bias is None else float(gate_bias)

    result: dict[int, dict[str, np.ndarray]] = {}
    for o, j in walk:
        if j is None:
            if o in old_t:
                report.moves.append(Move("dropped", None, o, old_network.layers[o].type, old_t[o],
                                         "" if o in old_tensors else "missing"))
            continue
        if j not in new_t:
            continue
        layer, tensors = new_network.layers[j], new_t[j]
        if j in copied:
            src = old_tensors[o]
            for t in tensors:
                if t.name not in src or tuple(src[t.name].shape) != t.shape:
                    raise ValueError(f"source layer {o}: tensor {t.name!r} missing or not of shape {t.shape}")
            result[j] = {t.name: src[t.name] for t in tensors}
            report.moves.append(Move("copied", j, o, layer.type, tensors))
            continue
        how = "missing" if o is not None else plan.get(j, "random")
        rng = np.random.default_rng([seed, j])
        result[j] = _fill(how, tensors, new_shapes.layers[j].params, rng, report.gate_bias)
        report.moves.append(Move("initialized", j, o, layer.type, tensors, how))
    return result, report


def shape_errors(network: Network, shapes) -> None:
    """Raise CfgError when ``network`` has errors that keep it from having a weights layout."""
    errors = [d for d in shapes.diagnostics if d.severity == ERROR]
    if errors:
        raise CfgError(errors)
    layout(network, shapes)


def transplant_files(old_doc: Document, new_doc: Document, weights_in: str | Path, weights_out: str | Path,
                     init: str = "identity", seed: int = 0, inserted=None, gate_bias: float | None = None
                     ) -> TransplantReport:
    """Read ``weights_in`` (for ``old_doc``; a partial file is fine), transplant it onto
    ``new_doc`` and write ``weights_out`` atomically, with the source's header (version and
    ``seen``). ``inserted`` as for :func:`transplant` (pass the insertion's EditReport).
    Raises CfgError (invalid cfg, weights of the wrong size: located diagnostics) or OSError."""
    old_net, new_net = build(old_doc), build(new_doc)
    old_shapes, new_shapes = infer_shapes(old_net), infer_shapes(new_net)
    shape_errors(old_net, old_shapes)
    shape_errors(new_net, new_shapes)
    header, tensors = read_weights(weights_in, old_net, old_shapes, allow_partial=True)
    new_tensors, report = transplant(old_net, old_shapes, tensors, new_net, new_shapes, init, seed, inserted,
                                     gate_bias)
    report.written = write_weights(weights_out, header, new_tensors, new_net, new_shapes)
    report.header, report.source, report.output = header, str(weights_in), str(weights_out)
    return report
