"""W3xx: section types, keys and values -- what Darknet ignores, misreads or silently replaces."""

from __future__ import annotations

import functools
import re

from ..diagnostics import ERROR, WARNING
from ..layers import TABLE, spec_for
from ..layers.base import FLOAT, FLOATS, INT, INT_MAX, INT_MIN, INTS, atof, atoi, c_int
from ..layers.common import ACTIVATIONS
from ..layers.network import NET
from ..shapes import unused_options
from ..syntax import Line, Section
from .base import Rule

NET_HEADERS = NET.sections
KNOWN_HEADERS = tuple(sorted({*TABLE, *NET_HEADERS}))

# key -> the section headers whose schema has it (for "it is a [Gaussian_yolo] option")
_OWNERS: dict[str, list[str]] = {}
for _spec in {id(s): s for s in TABLE.values()}.values():
    for _opt in _spec.options:
        _OWNERS.setdefault(_opt.key, []).append(_spec.sections[0])

_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def suggest(word: str, choices, cutoff: float = 0.6) -> str | None:
    """The closest of ``choices`` (case-insensitive first), or None."""
    lower = {c.lower(): c for c in choices}
    if word.lower() in lower:
        return lower[word.lower()]
    import difflib

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=cutoff)
    return close[0] if close else None


def _did_you_mean(word: str, choices) -> str:
    best = suggest(word, choices)
    return f" (did you mean '{best}'?)" if best else ""


def schema_keys(spec) -> set[str]:
    return {opt.key for opt in spec.options}


def layer_sections(ctx):
    """(layer, section, spec) for every layer of a known type."""
    for layer in ctx.layers:
        if layer.spec is not None:
            yield layer, layer.section, layer.spec


def read_keys(ctx, layer) -> set[str]:
    """The keys Darknet reads in this layer. Where inference stopped early (an error, or a
    layer after one) every key of the type's schema counts as read: no false 'unused'."""
    used = ctx.shapes.used[layer.index] if ctx.shapes is not None else set()
    if ctx.shape(layer.index) is None:
        return used | schema_keys(layer.spec)
    return used


def without_comment(value: str) -> str:
    i = value.find("#")
    return value if i < 0 else value[:i]


_YOLOR = "YOLOR (WongKinYiu/yolor)"
_PT_YOLOV4 = "PyTorch_YOLOv4 (WongKinYiu/PyTorch_YOLOv4) and YOLOR (WongKinYiu/yolor)"
# section names of the PyTorch forks that read Darknet-style cfgs: (who uses it, the Darknet
# equivalent or why there is none), checked against those forks' models.py
FOREIGN_SECTIONS: dict[str, tuple[str, str]] = {
    "[route_lhalf]": (_PT_YOLOV4, "the Darknet equivalent is [route] with layers=... groups=2 group_id=0 "
                                  "(the first half of each input's channels)"),
    "[control_channels]": (_YOLOR, "it multiplies the previous layer by the 1x1xC from= layer; Darknet's "
                                   "[scale_channels] does that with the roles swapped (the scale is the previous "
                                   "layer, the feature map is from=)"),
    "[shift_channels]": (_YOLOR, "it adds a 1x1xC from= layer to every position; Darknet has no broadcast add "
                                 "([shortcut] needs equal width and height)"),
    "[implicit_add]": (_YOLOR, "Darknet's [implicit] (filters=C, a learned 1x1xC tensor) is the equivalent"),
    "[implicit_mul]": (_YOLOR, "Darknet's [implicit] with mean=1 (filters=C, a learned 1x1xC tensor) is the "
                               "equivalent"),
    "[BatchNorm2d]": (_PT_YOLOV4, "the Darknet equivalent is [batchnorm]"),
    "[deformableconvolutional]": (_PT_YOLOV4, "Darknet has no deformable convolution"),
}


def _foreign(name: str) -> str | None:
    found = FOREIGN_SECTIONS.get(name)
    if found is None:
        return None
    fork, equivalent = found
    return (f"{name} comes from {fork}, PyTorch code that reads Darknet-style cfgs: Darknet cannot read it (it "
            f"prints 'Type not recognized' and builds an empty layer); {equivalent}")


class UnknownSection(Rule):
    """A section type Darknet does not know: it prints "Type not recognized" and builds an empty layer.

    Bad:   ``[convolution]``
    Good:  ``[convolutional]``
    """

    code, name, severity = "W300", "unknown-section", ERROR

    def check(self, ctx):
        for index, section in ctx.sections():
            name = section.name
            if index is None or (name not in NET_HEADERS and name in TABLE):
                continue
            if name in NET_HEADERS:
                msg = f"{name} is only valid as the first section; Darknet does not know it as a layer: delete it"
            elif _foreign(name):
                msg = _foreign(name)
            else:
                msg = (f"unknown section type {name}: Darknet prints 'Type not recognized' and builds an empty layer"
                       f"{_did_you_mean(name, KNOWN_HEADERS)}")
            yield ctx.diag(self, msg, section.header.span(), index)


class UnknownKey(Rule):
    """A key Darknet never reads in this section: it prints "Unused field" and ignores it.

    Bad:   ``filter=32`` in a [convolutional] section
    Good:  ``filters=32``
    """

    code, name, severity = "W301", "unknown-key", WARNING

    def check(self, ctx):
        for layer, section, spec in layer_sections(ctx):
            used = read_keys(ctx, layer)
            for line in unused_options(section, used):
                if line.key in used:
                    continue  # a repeated key: duplicate-key reports it
                yield ctx.diag(self, _unknown_key_message(line, section, spec, used), line.key_span(), layer.index)


def _unknown_key_message(line: Line, section: Section, spec, used: set[str]) -> str:
    key = line.key
    what = f"'{key}' is not read in {section.name}: Darknet ignores it ('Unused field')"
    keys = schema_keys(spec)
    if key in keys:
        return f"{what} with these settings; delete it"
    best = suggest(key, keys, cutoff=0.75)
    owners = [o for o in _OWNERS.get(key, []) if o != section.name]
    if owners and not (best and best.lower() == key.lower()):
        return f"{what}; it is a {' / '.join(owners)} option: delete it or change the section type"
    if best:
        return f"{what}; did you mean '{best}'?"
    return f"{what}; delete it"


class UnknownNetKey(Rule):
    """A key parse_net_options never reads (Darknet does not warn about [net] keys at all).

    Bad:   ``[net]`` with ``widht=416``
    Good:  ``width=416``
    """

    code, name, severity = "W302", "unknown-net-key", WARNING

    def check(self, ctx):
        net = ctx.network.net
        if net is None:
            return
        keys = schema_keys(NET)
        for line in net.options:
            if line.key and line.key not in keys and line.value != "":
                best = suggest(line.key, keys, cutoff=0.75)
                hint = f"did you mean '{best}'?" if best else "delete it"
                yield ctx.diag(self, f"'{line.key}' is not a [net] option: Darknet ignores it; {hint}",
                               line.key_span())


class DuplicateKey(Rule):
    """A key given twice in one section: Darknet reads the first and reports the rest as unused.

    Bad:   ``batch=64`` then ``batch=1`` in [net]
    Good:  one ``batch=64``
    """

    code, name, severity = "W303", "duplicate-key", WARNING

    def check(self, ctx):
        last_wins = ctx.target.duplicate_wins == "last"
        for index, section in ctx.sections():
            seen: dict[str, list[Line]] = {}
            for key, line in ctx.keyed(section):
                if key:
                    seen.setdefault(key, []).append(line)
            for key, lines in seen.items():
                if len(lines) < 2:
                    continue
                first, last = lines[0], lines[-1]
                wins = last if last_wins else first
                reader = f"{ctx.target.name} reads" if last_wins else "Darknet reads"
                for line in lines[1:]:
                    msg = (f"'{key}' is set {len(lines)} times in {section.name}: {reader} line {wins.lineno} "
                           f"({key}={wins.value})")
                    if last_wins:
                        msg += f" but Darknet reads line {first.lineno}"
                    msg += "; keep one"
                    yield ctx.diag(self, msg, line.key_span(), index)


class InlineComment(Rule):
    """A comment after a value: Darknet removes the blanks and reads it as part of the value.

    Bad:   ``activation=leaky # was mish`` (Darknet reads 'leaky#wasmish', an unknown activation)
    Good:  ``# was mish`` on its own line, then ``activation=leaky``
    """

    code, name, severity = "W304", "inline-comment", WARNING

    def check(self, ctx):
        for index, section in ctx.sections():
            for _, line in ctx.keyed(section):
                raw = line.raw_value
                if raw is None or "#" not in raw[1:]:
                    continue
                cut = raw.index("#", 1)
                start = line.value_col + cut
                yield ctx.diag(
                    self,
                    f"inline comment: Darknet reads {line.key} as '{line.value}' (comments must start the line); "
                    f"move '{raw[cut:].strip()}' to its own line",
                    line.span(start, line.value_col + line.value_len), index)


def _number_problem(kind: str, value: str) -> str | None:
    """Why ``value`` is not a clean number (list) of ``kind``; None when it is."""
    value = without_comment(value)
    if kind in (INT, FLOAT):
        pattern = _INT if kind == INT else _FLOAT
        if pattern.fullmatch(value):
            return None
        if kind == INT:
            return f"'{abbreviate(value)}' is not an integer: Darknet reads {atoi(value)}"
        return f"'{abbreviate(value)}' is not a number: Darknet reads {atof(value):g}"
    pattern = _INT if kind == INTS else _FLOAT
    for part in value.split(","):
        if not pattern.fullmatch(part):
            read = atoi(part) if kind == INTS else atof(part)
            shown = "the empty field" if part == "" else f"'{abbreviate(part)}'"
            return f"{shown} in '{abbreviate(value, 60)}' is not a number: Darknet reads it as {read:g}"
    return None


def abbreviate(text: str, keep: int = 24) -> str:
    """``text``, or its ends and its length when it is longer than ``keep`` characters."""
    if len(text) <= keep:
        return text
    what = "digits" if text.lstrip("+-").isdigit() else "characters"
    return f"{text[:10]}...{text[-6:]} ({len(text)} {what})"


def _numeric_sections(ctx):
    """(layer index or None for [net], section, spec, keys read) for every section with a schema."""
    for layer, section, spec in layer_sections(ctx):
        yield layer.index, section, spec, read_keys(ctx, layer)
    if ctx.network.net is not None:
        yield None, ctx.network.net, NET, schema_keys(NET)


class NotANumber(Rule):
    """A non-numeric value where Darknet expects a number: atoi/atof read a prefix, or 0.

    Bad:   ``filters=3x2``, ``size=three``, ``layers=-1,,36``
    Good:  ``filters=6``, ``size=3``, ``layers=-1,36``
    """

    code, name, severity = "W305", "not-a-number", WARNING

    def check(self, ctx):
        for index, section, spec, used in _numeric_sections(ctx):
            kinds = _numeric_kinds(spec)
            for key, line in ctx.options(section).items():
                kind = kinds.get(key)
                if kind is None or key not in used or line.value is None:
                    continue
                problem = _number_problem(kind, line.value)
                if problem:
                    yield ctx.diag(self, f"{key}: {problem}; write a plain number", line.value_span(), index)


@functools.lru_cache(maxsize=None)
def _numeric_kinds(spec) -> dict[str, str]:
    return {o.key: o.kind for o in spec.options if o.kind in (INT, FLOAT, INTS, FLOATS)}


class OutOfRange(Rule):
    """A value outside what the layer can work with (sizes and strides below 1, groups that do
    not divide the channels, a route group_id outside 0..groups-1).

    Bad:   ``filters=0``; ``groups=3`` on a 32-channel input; ``groups=2`` with ``group_id=2``
    Good:  ``filters=32``; ``groups=2`` (or 4, 8, ...); ``group_id=1``
    """

    code, name, severity = "W306", "out-of-range", ERROR

    def check(self, ctx):
        too_big = set()  # lines already reported as not fitting in a C int
        for index, section, spec, used in _numeric_sections(ctx):
            kinds = _numeric_kinds(spec)
            for key, line in ctx.options(section).items():
                if kinds.get(key) not in (INT, INTS) or key not in used or line.value is None:
                    continue
                for field in without_comment(line.value).split(","):
                    value, fits = c_int(field)
                    if not fits:
                        too_big.add(id(line))
                        if index is not None:
                            ctx.explain(("S200", "S207", "S208", "S209", "S210", "S213"), index, line.lineno)
                        yield ctx.diag(self, f"{key}={abbreviate(field)} is out of range for C's int "
                                       f"({INT_MIN}..{INT_MAX}): Darknet's atoi reads {value}; write a number "
                                       "in that range", line.value_span(), index)
                        break
        for layer, section, spec in layer_sections(ctx):
            used = read_keys(ctx, layer)
            lines = ctx.options(section)
            for opt in spec.options:
                line = lines.get(opt.key)
                if (opt.minimum is None or opt.key not in used or line is None or line.value is None
                        or id(line) in too_big):
                    continue
                value, low = atoi(line.value), opt.minimum
                if value < low:
                    ctx.explain(("S207", "S208", "S210", "S213"), layer.index, line.lineno)
                    yield ctx.diag(self, f"{opt.key}={value} in {section.name}: {opt.why}; use {opt.key} >= {low}",
                                   line.value_span(), layer.index)
            if spec.is_conv or spec.combine == "concat":
                yield from self._groups(ctx, layer, section, spec)

    def _groups(self, ctx, layer, section, spec):
        line = section.option("groups")
        groups = atoi(line.value) if line is not None and line.value else 1
        if groups < 1:
            return
        if spec.is_conv and groups > 1 and not atoi(section.get("xnor", "0")):
            bad = []
            channels = _input_channels(ctx, layer.index)
            if channels and channels % groups:
                bad.append(f"the {channels} input channels")
            filters = atoi(section.get("filters", "1"))
            if filters > 0 and filters % groups:
                bad.append(f"filters={filters}")
            if bad:
                ctx.explain("S213", layer.index, line.lineno)
                yield ctx.diag(self, f"groups={groups} must divide {' and '.join(bad)}; use a divisor of both",
                               line.value_span(), layer.index)
        gid = section.option("group_id")
        if spec.combine == "concat" and gid is not None and gid.value and not 0 <= atoi(gid.value) < groups:
            ctx.explain("S210", layer.index, gid.lineno)
            yield ctx.diag(self, f"group_id={atoi(gid.value)} must be in 0..{groups - 1} (groups={groups}): "
                           "Darknet reads past the input otherwise", gid.value_span(), layer.index)


def _input_channels(ctx, index: int) -> int | None:
    """Darknet's params.c for layer ``index`` (None when unknown)."""
    if index == 0:
        return ctx.shapes.net.get("channels") if ctx.shapes is not None else None
    prev = ctx.shape(index - 1)
    return (prev.feeds or prev.output)[2] if prev is not None else None


class UnknownActivation(Rule):
    """An activation name Darknet does not know: it prints a warning and silently uses relu.

    Bad:   ``activation=leakyrelu``
    Good:  ``activation=leaky``
    """

    code, name, severity = "W307", "unknown-activation", ERROR

    def check(self, ctx):
        valid = ", ".join(ACTIVATIONS)
        for layer, section, spec in layer_sections(ctx):
            line = ctx.options(section).get("activation")
            if line is None or line.value is None or "activation" not in read_keys(ctx, layer):
                continue
            if line.value not in ACTIVATIONS:
                yield ctx.diag(self, f"unknown activation '{line.value}': Darknet silently uses relu; "
                               f"{activation_hint(without_comment(line.value))}valid: {valid}", line.value_span(),
                               layer.index)


# activation names people bring from PyTorch -> (Darknet's name or None, what to say)
ACTIVATION_SYNONYMS: dict[str, tuple[str | None, str]] = {
    "silu": ("swish", "SiLU is x*sigmoid(x), which Darknet calls swish"),
    "sigmoid": ("logistic", "Darknet calls the sigmoid logistic"),
    "identity": ("linear", "Darknet calls the identity linear"),
    "none": ("linear", "Darknet calls no activation linear"),
    "leakyrelu": ("leaky", "Darknet's leaky has slope 0.1 (PyTorch's LeakyReLU defaults to 0.01)"),
    "hardswish": (None, "Darknet has no hard-swish (x*relu6(x+3)/6); the nearest is swish (x*sigmoid(x)), "
                        "which computes something else: retrain with it"),
}


def activation_hint(name: str) -> str:
    """'write activation=swish (...)' for a known synonym, else 'did you mean ...?', else ''."""
    found = ACTIVATION_SYNONYMS.get(name.lower().replace("_", "").replace("-", ""))
    if found is not None:
        darknet, why = found
        return f"{why}: write activation={darknet}; " if darknet else f"{why}; "
    best = suggest(name, ACTIVATIONS)
    return f"did you mean '{best}'? " if best else ""


class UnknownChoice(Rule):
    """A value outside the names Darknet compares against (policy, iou_loss, nms_kind, weights_type, ...).

    Bad:   ``policy=step_s``; ``iou_loss=cIoU``
    Good:  ``policy=steps``; ``iou_loss=ciou``
    """

    code, name, severity = "W308", "unknown-choice", WARNING

    def check(self, ctx):
        for index, section in ctx.sections():
            spec = NET if section.name in NET_HEADERS else spec_for(section.name)
            for key, choice in (spec.choices if spec is not None else {}).items():
                line = ctx.options(section).get(key)
                if line is None or line.value is None or line.value in choice.names:
                    continue
                best = suggest(without_comment(line.value), choice.names)
                hint = f"did you mean '{best}'? " if best else ""
                if index is not None:
                    ctx.explain("S210", index, line.lineno)
                yield ctx.diag(self, f"{key}={line.value} is not one Darknet knows: it {choice.otherwise}; {hint}"
                               f"use one of {', '.join(choice.names)}", line.value_span(), index,
                               severity=choice.severity)


class ActivationUnsupportedHere(Rule):
    """swish or mish on [scale_channels] or [sam] (a spec's ``unsupported_activations``): Darknet
    warns that these layers do not support them, and its activate() returns 0 for both, so the
    layer outputs zeros.

    Bad:   ``[sam]`` with ``activation=mish``
    Good:  ``activation=linear`` (or logistic) on the [sam], mish on the conv before it
    """

    code, name, severity = "W309", "activation-unsupported-here", WARNING

    def check(self, ctx):
        for layer, section, spec in layer_sections(ctx):
            line = ctx.options(section).get("activation")
            if line is not None and line.value in spec.unsupported_activations:
                yield ctx.diag(self, f"{section.name} does not support activation={line.value}: Darknet warns and "
                               "outputs zeros; use linear or logistic here", line.value_span(), layer.index)


class CpuIgnoredOption(Rule):
    """An option Darknet reads but only its GPU code uses: the CPU build (and cfgtool's
    executor, which computes what it computes) ignores it.

    Bad:   ``lstm_activation=relu``, ``time_normalizer=0.5`` or ``shortcut=1`` in [conv_lstm]
    Good:  leave them out when the network is meant to run on CPU as well as GPU
    """

    code, name, severity = "W310", "cpu-ignored-option", WARNING

    def check(self, ctx):
        for layer, section, spec in layer_sections(ctx):
            for key in spec.cpu_ignored:
                line = ctx.options(section).get(key)
                if line is not None:
                    yield ctx.diag(self, f"{key}={line.value} in {section.name} is used only by Darknet's GPU build: "
                                   "its CPU forward and backward (and cfgtool's executor) ignore it",
                                   line.value_span(), layer.index)


class CpuCrash(Rule):
    """A setting with which Darknet's CPU build crashes (its GPU build runs it); cfgtool's
    executor refuses it.

    Bad:   ``bottleneck=1`` in [conv_lstm]
    Good:  ``bottleneck=0`` (the default)
    """

    code, name, severity = "W311", "cpu-crash", WARNING

    def check(self, ctx):
        for layer, section, spec in layer_sections(ctx):
            shape = ctx.shape(layer.index)
            crash = spec.cpu_crash(shape.params) if shape is not None else None
            if crash:
                key, why = crash
                yield ctx.diag(self, why, section.value_span(key), layer.index)


class FlippedWeights(Rule):
    """``flipped=1`` on a [convolutional] layer (a tensor the spec marks ``flipped``): Darknet
    transposes the weights it reads from a .weights file (load_convolutional_weights) but
    save_weights writes them back untransposed, so a file Darknet saves (a training checkpoint)
    loads back transposed: the layer's weights are scrambled after every Darknet save -> load.
    cfgtool reads and writes the layout Darknet loads.

    Bad:   ``flipped=1`` on a layer you train with Darknet and reload
    Good:  ``flipped=0`` (store the weights in Darknet's normal layout), or load a Darknet-saved
           file only once
    """

    code, name, severity = "W312", "flipped-weights", WARNING

    def check(self, ctx):
        for layer, section, spec in layer_sections(ctx):
            if section.option("flipped") is None:  # (cheap: most layers never write it)
                continue
            shape = ctx.shape(layer.index)
            if shape is None or not any(t.flipped for t in spec.tensors(shape)):
                continue
            yield ctx.diag(self, "flipped=1: Darknet transposes these weights when it loads a .weights file but "
                           "saves them untransposed, so a file Darknet saves (e.g. a training checkpoint) loads "
                           "back transposed and the layer computes something else; cfgtool reads and writes the "
                           "layout Darknet loads", section.value_span("flipped"), layer.index)


RULES = (UnknownSection, UnknownKey, UnknownNetKey, DuplicateKey, InlineComment, NotANumber, OutOfRange,
         UnknownActivation, UnknownChoice, ActivationUnsupportedHere, CpuIgnoredOption, CpuCrash,
         FlippedWeights)
