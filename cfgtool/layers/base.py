"""What every layer module provides: names, an option schema, references and a shape rule.

A layer module defines one subclass of :class:`LayerSpec`. Its ``infer`` reads options
through a :class:`Reader` in the same order and under the same conditions as Darknet's
``parse_*`` function, so the keys the reader never saw are exactly Darknet's
``Unused field`` keys.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from ..syntax import Line, Section

INT, FLOAT, STR, INTS, FLOATS = "int", "float", "str", "ints", "floats"

# Darknet's "no value" for share_index and similar optional indices
NO_INDEX = -1000000000
STRIDE_WHY = "Darknet divides by the stride"  # Opt.why of stride options


@dataclass(frozen=True)
class Opt:
    """One key a ``parse_*`` function reads.

    ``default`` is Darknet's default; ``required`` keys make Darknet exit (or crash) when
    absent. ``index`` marks values that are layer indices (references: negative values
    are relative to the layer, others absolute); ``none`` is the value that names no layer.
    """

    key: str
    kind: str
    default: Any = None
    required: bool = False
    index: bool = False
    doc: str = ""
    none: int | None = None
    # the smallest value the layer can work with, and what goes wrong below it (lint W306)
    minimum: int | None = None
    why: str = ""


# The options every layer section reads: read by parse_network_cfg_custom for every layer section, after the layer's own parse_*.
COMMON: tuple[Opt, ...] = (
    Opt("clip", FLOAT, 0.0, doc="clip weights to [-clip, clip] after each update"),
    Opt("onlyforward", INT, 0),
    Opt("dont_update", INT, 0),
    Opt("burnin_update", INT, 0),
    Opt("stopbackward", INT, 0),
    Opt("train_only_bn", INT, 0),
    Opt("dontload", INT, 0),
    Opt("dontloadscales", INT, 0),
    Opt("learning_rate", FLOAT, 1.0, doc="per-layer learning rate scale (l.learning_rate_scale)"),
)
_C_INT = re.compile(r"[ \t\n\r\f\v]*([+-]?)0*([0-9]*)")
INT_MIN, INT_MAX = -(2**31), 2**31 - 1
_LONG_DIGITS = 19  # more significant digits than a 64-bit long holds: strtol saturates


def c_int(text: str) -> tuple[int, bool]:
    """(C's atoi of ``text``, whether the number it read fits in a C int).

    glibc's atoi is ``(int) strtol(s, NULL, 10)``: optional blanks and sign, then digits (0
    when there are none); strtol saturates at LONG_MIN/LONG_MAX and the cast keeps the low 32
    bits. Only the digits that can matter are converted, so a 5,000-digit value is no problem.
    """
    if text.isdigit() and text.isascii() and len(text) <= 9:  # the common case: plain digits, fits
        return int(text), True
    m = _C_INT.match(text)
    sign, digits = m.group(1), m.group(2)
    if len(digits) > _LONG_DIGITS:
        value = 2**63 - 1 if sign != "-" else -(2**63)
    else:
        value = int(digits or "0")
        value = max(-(2**63), min(2**63 - 1, -value if sign == "-" else value))
    return ((value + 2**31) % 2**32) - 2**31, INT_MIN <= value <= INT_MAX and len(digits) <= _LONG_DIGITS


def atoi(text: str) -> int:
    """C's atoi (see :func:`c_int`): never fails."""
    return c_int(text)[0]


@dataclass(frozen=True)
class TargetIssue:
    """An option a non-reference target (cfgtool/lint/targets.py) rejects (``rejected``: it
    cannot load the file) or reads differently from Darknet, declared on the spec of the type
    it concerns (:attr:`LayerSpec.target_issues`). ``bad(value, get)`` gets Darknet's value
    string (None when the key is absent) and the section's ``get`` for the other keys."""

    key: str
    bad: Callable[..., bool]
    message: str
    rejected: bool = True
    severity: str = "error"


@dataclass(frozen=True)
class Choice:
    """The names Darknet compares an option's value against (strcmp chains in parser.c), what
    it does with any other value, and how bad that is (:attr:`LayerSpec.choices`)."""

    names: tuple[str, ...]
    otherwise: str
    severity: str = "warning"


def absent(value: str | None, get=None) -> bool:
    return value is None


def nonzero(value: str | None, get=None) -> bool:
    return value is not None and atoi(value) != 0


_FLOAT_PREFIX = re.compile(r"\s*([+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf(?:inity)?|nan))", re.IGNORECASE)


def atof(text: str) -> float:
    """C's atof: the longest prefix that is a decimal float (inf/nan too); 0.0 when none."""
    m = _FLOAT_PREFIX.match(text)
    return float(m.group(1)) if m else 0.0


def int_list(text: str) -> list[int]:
    """Darknet's list reading: one atoi per comma-separated field (``layers=-1,61``)."""
    return [atoi(part) for part in text.split(",")]


def float_list(text: str) -> list[float]:
    return [atof(part) for part in text.split(",")]


class ShapeError(Exception):
    """Darknet would abort (or build a degenerate layer) here.

    ``key`` names the option to point at (the header when None).
    """

    def __init__(self, message: str, key: str | None = None, code: str = "S200", name: str = "shape-error"):
        super().__init__(message)
        self.message = message
        self.key = key
        self.code = code  # S2xx diagnostic code
        self.name = name  # kebab-case diagnostic name


class MissingInput(ShapeError):
    """An input layer has no shape (its own error was reported already): no new diagnostic."""


class Reader:
    """Reads a section's options like Darknet's ``option_find_*`` and records what it read."""

    def __init__(self, section: Section, spec: LayerSpec):
        self.section = section
        self.spec = spec
        self._options = spec.option_table()
        self.used: set[str] = set()
        # key -> the line Darknet reads, as Section.option finds it, built in one pass
        self._lines: dict[str, Line] = {}
        self._values: dict[str, str | None] = {}
        for ln in section.body:
            kind = ln.kind
            if kind == "bare" or kind == "option":
                value = ln.value
                if value != "" and ln.key not in self._lines:
                    self._lines[ln.key] = ln
                    self._values[ln.key] = value

    def line(self, key: str) -> Line | None:
        return self._lines.get(key)

    def raw(self, key: str) -> str | None:
        """The value Darknet reads for ``key`` (the first occurrence), marking it used."""
        self.used.add(key)
        return self._values.get(key)

    def has(self, key: str) -> bool:
        return key in self._lines

    def get(self, key: str, default: Any = ...) -> Any:
        """The typed value of ``key`` (Darknet's atoi/atof reading), or the default."""
        opt = self._options.get(key) or self.spec.option(key)  # the latter raises for an undeclared key
        self.used.add(key)
        raw = self._values.get(key)
        if raw is None:
            return opt.default if default is ... else default
        kind = opt.kind
        if kind == INT:
            return atoi(raw)
        if kind == FLOAT:
            return atof(raw)
        if kind == INTS:
            return int_list(raw)
        if kind == FLOATS:
            return float_list(raw)
        return raw


@dataclass(frozen=True, kw_only=True)
class Params:
    """A layer's typed parameters: the Darknet layer-struct fields its kernel and the tools need.

    Each spec declares a subclass (``spec.Params``, e.g. ``ConvolutionalParams``) whose fields
    default to what the kernel assumes when a value is not given. Shape inference builds it
    (:func:`cfgtool.shapes.infer_layer`), with the options every section reads (below). The
    executor adds ``batch`` and ``rng`` (``dataclasses.replace``). Read-only mapping access
    (``p["n"]``, ``p.get("n", d)``, ``"n" in p``) serves code that handles several types alike.
    """

    # the options every layer section reads (layers/common.py COMMON; learning_rate's struct name)
    clip: float = 0.0
    onlyforward: int = 0
    dont_update: int = 0
    burnin_update: int = 0
    stopbackward: int = 0
    train_only_bn: int = 0
    dontload: int = 0
    dontloadscales: int = 0
    learning_rate_scale: float = 1.0
    # set by the runner, not read from the cfg: the batch size, the random generator of layers
    # that draw (dropout, crop) and the seed of a fresh one when there is none
    batch: int = field(default=1, compare=False)
    rng: Any = field(default=None, compare=False, repr=False)
    seed: int = field(default=0, compare=False)

    @classmethod
    def names(cls) -> frozenset[str]:
        table = cls.__dict__.get("_names")
        if table is None:
            table = frozenset(f.name for f in fields(cls))
            cls._names = table
        return table

    def __getitem__(self, key: str) -> Any:
        if key not in self.names():
            raise KeyError(key)
        return getattr(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key) if key in self.names() else default

    def __contains__(self, key: str) -> bool:
        return key in self.names()


@dataclass
class LayerShape:
    """What Darknet's layer struct holds after parsing; ``[w, h, c]`` like Darknet's tables."""

    input: tuple[int, int, int]
    output: tuple[int, int, int]
    outputs: int
    nweights: int = 0
    bflops: float = 0.0
    params: Params = field(default_factory=Params)  # Darknet struct fields the executor needs (spec.Params)
    # what the next layer receives as params.w/h/c when that is not ``output`` (antialiasing:
    # Darknet passes on the blur layer's output, l.input_layer->out_w/h/c)
    feeds: tuple[int, int, int] | None = None

    @property
    def inputs(self) -> int:
        w, h, c = self.input
        return w * h * c


@dataclass(frozen=True)
class Ref:
    """An index-valued option value: ``raw`` as written, ``target`` the absolute layer index."""

    key: str
    position: int  # position in a comma-separated list
    raw: int
    target: int


@dataclass
class Context:
    """What a shape rule sees: its index, the net, and the shapes inferred so far."""

    index: int
    net: dict[str, Any]  # [net] values: width, height, channels, batch, ...
    shapes: list[LayerShape | None]  # shapes of layers 0..index-1 (None where inference failed)

    def _previous(self) -> LayerShape:
        prev = self.shapes[self.index - 1]
        if prev is None:
            raise MissingInput(f"the previous layer ({self.index - 1}) has no shape")
        return prev

    @property
    def prev(self) -> tuple[int, int, int]:
        """Darknet's params.w/h/c: the previous layer's output, or the network input."""
        if self.index == 0:
            return (self.net["width"], self.net["height"], self.net["channels"])
        prev = self._previous()
        return prev.feeds or prev.output

    @property
    def prev_outputs(self) -> int:
        """Darknet's params.inputs: the previous layer's l.outputs, or the net's inputs."""
        if self.index == 0:
            return self.net["inputs"]
        prev = self._previous()
        if prev.feeds:
            w, h, c = prev.feeds
            return w * h * c
        return prev.outputs

    def layer(self, target: int) -> LayerShape:
        if not 0 <= target < self.index:
            raise ShapeError(f"layer index {target} is not an earlier layer (0..{self.index - 1})",
                             code="S202", name="bad-reference")
        shape = self.shapes[target]
        if shape is None:
            raise MissingInput(f"layer {target} has no shape")
        return shape


# how executor initialisation fills a tensor (see Tensor.init)
_INIT_BY_NAME = {"biases": "zeros", "rolling_mean": "zeros", "scales": "ones", "rolling_variance": "ones"}


@dataclass(frozen=True)
class Tensor:
    """One learnable tensor of a layer, as it is stored in a ``.weights`` file.

    ``name`` is the layer struct's field (``weights``, ``biases``, ...; sub-layers of the
    recurrent types prefixed: ``input.weights``). ``transposable``: stored ``(inputs,
    outputs)`` in files whose major or minor version is above 1000 (connected weights).
    ``flipped``: stored transposed in every file: the file holds the transpose of the tensor
    seen as a ``(shape[0], count/shape[0])`` matrix (convolutional ``flipped=1``:
    load_convolutional_weights reads ``(c/groups*size*size, n)`` values and transposes them).
    ``scales``: a batch-norm tensor that ``dontloadscales=1`` leaves out of the file.
    ``init``: how a fresh layer fills it: ``zeros``, ``ones``, ``uniform`` (fan-in scaled,
    Darknet-like) or ``normal`` (the layer's ``mean``/``std``); by default from the name
    (biases and rolling_mean 0, scales and rolling_variance 1, the rest uniform).
    """

    name: str
    shape: tuple[int, ...]
    transposable: bool = False
    scales: bool = False
    init: str = ""
    flipped: bool = False

    def __post_init__(self):
        object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))
        if not self.init:
            object.__setattr__(self, "init", _INIT_BY_NAME.get(self.name.rsplit(".", 1)[-1], "uniform"))

    @property
    def count(self) -> int:
        return math.prod(self.shape)


BN_TENSORS = ("scales", "rolling_mean", "rolling_variance")


def bn_tensors(prefix: str, n: int, scales: bool = False) -> list[Tensor]:
    """The batch-norm tensors of a layer with ``n`` outputs (scales, rolling mean and variance)."""
    return [Tensor(prefix + k, (n,), scales=scales) for k in BN_TENSORS]


@dataclass(frozen=True)
class HeadNeed:
    """What a detection head needs from the layer before it: ``channels`` at that layer's w x h
    (yolo, region), or ``outputs`` values in all (detection); ``formula`` shows the arithmetic."""

    channels: int | None
    outputs: int | None
    formula: str


# spec class -> key -> Opt, built at the first lookup
_OPTION_TABLES: dict[type, dict[str, Opt]] = {}


class EveryAnchor(Sequence):
    """The mask of a head without ``mask=``: 0..num-1, like Darknet, never materialised (``num``
    may be 1e9); equal to the tuple of the same indices."""

    def __init__(self, num: int):
        self._range = range(max(num, 0))

    def __len__(self) -> int:
        return len(self._range)

    def __getitem__(self, i):
        return self._range[i]

    def __iter__(self):
        return iter(self._range)

    def __contains__(self, i) -> bool:
        return i in self._range

    def __eq__(self, other) -> bool:
        if isinstance(other, EveryAnchor):
            return self._range == other._range
        return isinstance(other, tuple) and len(other) == len(self) and other == tuple(self._range)

    def __hash__(self) -> int:
        return hash(self._range)

    def __repr__(self) -> str:
        return f"EveryAnchor({len(self)})"


@dataclass(frozen=True)
class Head:
    """A detection head as Darknet reads it (defaults included), from :meth:`LayerSpec.head`.

    ``num``: the anchors listed in ``anchors=`` (num=); ``mask``: mask= as read (None where the
    type has no mask); ``anchors``: the values of anchors= as Darknet's loop reads them (not
    cut to 2*num; empty when absent); ``extra``: channels per anchor besides the classes (5 for
    [yolo], 9 for [Gaussian_yolo], coords+1 for [region]); ``anchored``: False for a head that
    has no anchor boxes ([detection]).
    """

    classes: int
    num: int
    mask: tuple[int, ...] | EveryAnchor | None
    anchors: tuple[float, ...]
    extra: int
    coords: int = 4
    anchored: bool = True

    @property
    def anchors_used(self) -> int:
        """The anchors this head predicts: len(mask), or num without a mask."""
        return self.num if self.mask is None else len(self.mask)

    def per_anchor(self, classes: int | None = None) -> int:
        """Channels per anchor for ``classes`` (default: this head's classes)."""
        return (self.classes if classes is None else classes) + self.extra

    def filters(self, classes: int | None = None) -> int:
        """The channels the layer feeding this head must output for ``classes``."""
        return self.per_anchor(classes) * self.anchors_used

    def formula(self, classes: int | None = None) -> str:
        """How :meth:`filters` is computed, for messages: ``(80 + 5) * 3``."""
        return f"({self.classes if classes is None else classes} + {self.extra}) * {self.anchors_used}"

    def need(self, classes: int | None = None) -> HeadNeed:
        """What the layer before this head must output for ``classes`` (default: this head's)."""
        return HeadNeed(self.filters(classes), None, self.formula(classes))


class LayerSpec:
    """One Darknet layer type: every fact about it that code outside its kernel needs.

    Subclasses live in ``layers/<type>.py`` and override what differs from the defaults
    here. Code elsewhere asks the spec (``layer.spec.is_head``, ``spec.tensors(shape)``);
    it never compares type names. CONTRIBUTING.md walks through adding a type.
    """

    type: ClassVar[str]  # Darknet's get_layer_string name, e.g. "convolutional"
    sections: ClassVar[tuple[str, ...]]  # headers, e.g. ("[convolutional]", "[conv]")
    options: ClassVar[tuple[Opt, ...]] = COMMON  # a subclass declares its own: COMMON is added
    # False where get_layer_string gives "none": Darknet's tables then show the section name
    named: ClassVar[bool] = True
    # keys Darknet's parse_* reads but its CPU forward and backward never use (its GPU code may)
    cpu_ignored: ClassVar[tuple[str, ...]] = ()
    # a layer section (parse_network_cfg_custom reads COMMON after its options); [net] is not
    layer: ClassVar[bool] = True
    # the module of this type in the per-type folders (executor/ops/<module>.py, ...):
    # by default the name of the spec's own module (layers/<module>.py)
    module: ClassVar[str]
    # the typed parameters of a layer of this type (LayerShape.params)
    Params: ClassVar[type[Params]] = Params

    # -- role facts ---------------------------------------------------------------------
    recurrent: ClassVar[bool] = False  # runs over time steps (rnn, lstm, ...)
    is_head: ClassVar[bool] = False  # a detection head: head() reads it; its output is a network result
    is_output: ClassVar[bool] = False  # its output is a result (a head, softmax, a loss), not a feature map
    scores_inputs: ClassVar[bool] = False  # a loss layer: the layers it reads are network results
    is_conv: ClassVar[bool] = False  # Darknet's convolutional layer (filters, size, stride, pad, groups)
    combine: ClassVar[str] = ""  # how it merges its inputs: "concat", "sum", "scale" (previous x from)
    pooling: ClassVar[str] = ""  # a pooling layer: "max" or "avg"
    passes_in_inference: ClassVar[bool] = False  # in inference its output is its input (dropout)
    keeps_zero: ClassVar[bool] = False  # an all-zero input gives an all-zero output, whatever its options
    vector_output: ClassVar[bool] = False  # Darknet's output is a plain vector, whatever w x h x c say
    unsupported_activations: ClassVar[tuple[str, ...]] = ()  # Darknet warns and outputs zeros for these
    # non-reference targets (lint/targets.py) that load this type -> the headers they accept
    targets: ClassVar[dict[str, tuple[str, ...]]] = {}
    # target -> the options of this type that target rejects or reads differently
    target_issues: ClassVar[dict[str, tuple[TargetIssue, ...]]] = {}
    # option -> the names Darknet knows for its value (lint W308 reports any other)
    choices: ClassVar[dict[str, Choice]] = {}
    # why the numpy executor cannot run this type ("" when executor/ops/<module>.py runs it)
    cannot_run: ClassVar[str] = ""

    # index-valued options that are not inputs: option -> what the link means (``graph`` draws
    # them apart from the data edges, e.g. share_index: the layer whose weights are used)
    links: ClassVar[dict[str, str]] = {}

    # -- facts for edits (cfgtool/heads.py) -----------------------------------------------
    # the option holding the number of classes the layer predicts (detection heads, [contrastive])
    classes_key: ClassVar[str | None] = None
    # the option that sets the layer's output channels (what an edit changes to feed a head)
    channels_key: ClassVar[str | None] = None
    # options that hold one value per class (set-classes removes them: their values no longer apply)
    per_class_keys: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "options" in cls.__dict__ and cls.layer:  # a type's own options, then the ones every layer reads
            cls.options = tuple(cls.options) + COMMON
        if "module" not in cls.__dict__:
            cls.module = cls.__module__.rsplit(".", 1)[-1]

    @classmethod
    def option_table(cls) -> dict[str, Opt]:
        """key -> Opt for the options this type reads (built once per class)."""
        table = _OPTION_TABLES.get(cls)
        if table is None:
            table = _OPTION_TABLES[cls] = {opt.key: opt for opt in cls.options}
        return table

    @classmethod
    def option(cls, key: str) -> Opt:
        try:
            return cls.option_table()[key]
        except KeyError:
            raise KeyError(f"{cls.__name__} declares no option {key!r}") from None

    def type_name(self, section_name: str) -> str:
        """The type Darknet's tables print: get_layer_string, or the section name for "none"."""
        return self.type if self.named else section_name.strip("[]")

    def references(self, section: Section, index: int) -> list[Ref]:
        """Every index-valued option value, resolved like Darknet (negative: relative)."""
        refs = []
        for opt in self.options:
            if not opt.index:
                continue
            raw = section.get(opt.key)
            if raw is None:
                continue
            for pos, value in enumerate(int_list(raw)):
                if value == opt.none:
                    continue
                refs.append(Ref(opt.key, pos, value, index + value if value < 0 else value))
        return refs

    def inputs(self, section: Section, index: int) -> list[int]:
        """Absolute indices of the layers this one reads (default: the previous layer)."""
        return [index - 1] if index > 0 else []

    def cpu_crash(self, params: dict) -> tuple[str, str] | None:
        """(key, why) when Darknet's CPU build crashes running a layer with these params, else None."""
        return None

    def read_files(self, shape: LayerShape, read: Callable[[str, Callable[[str], Any]], Any]) -> Params:
        """The layer's params with the files its options name read in, as Darknet reads them
        when it parses the layer ([softmax]/[region] ``tree=``: :mod:`cfgtool.hierarchy`).
        ``read(key, parse)`` finds the file option ``key`` names and returns ``parse(its
        text)``; ``parse`` raises ValueError for a file Darknet would misread, which the caller
        (the executor) reports, as a missing file, located at the option. Default: no files."""
        return shape.params

    def infer(self, r: Reader, ctx: Context) -> LayerShape:
        raise NotImplementedError

    def sources(self, p: dict, index: int) -> list[int]:
        """The layers whose outputs the kernel gets as ``xs``, in the order it expects; -1 is
        the network input. ``p``: the layer's LayerShape.params."""
        return [index - 1]

    def tensors(self, shape: LayerShape) -> list[Tensor]:
        """The learnable tensors of a layer of this shape, in ``.weights`` file order."""
        return []

    def head(self, r: Reader) -> Head | None:
        """A detection head's classes, anchors and mask as Darknet reads them (None: not a head)."""
        return None

    def filters_text(self, p: dict) -> str:
        """The "filters" column of Darknet's layer table: the layers a merging layer reads."""
        return " ".join(map(str, p["input_layers"])) if "input_layers" in p else ""

    def size_text(self, p: dict) -> str:
        """The "size/strd(dil)" column of Darknet's layer table."""
        if "size" not in p or "stride_x" not in p:
            return ""
        size, sx, sy = p["size"], p.get("blur_stride_x") or p["stride_x"], p.get("blur_stride_y") or p["stride_y"]
        if sx != sy:
            return f"{size}x{size}/{sx}x{sy}"
        dil = p.get("dilation", 1)
        return f"{size}x{size}/{sx}" + (f"({dil})" if dil > 1 else "")


def count_text(p: dict) -> str:
    """The filters column of a layer with ``n`` outputs in ``groups`` groups: ``n`` or ``n/groups``."""
    if "n" not in p:
        return ""
    groups = p.get("groups", 1)
    return f"{p['n']}/{groups}" if groups > 1 else str(p["n"])


def stride_text(p: dict) -> str:
    """The size column of a layer that has a stride and maybe a size but no stride_x."""
    if "stride" not in p:
        return ""
    return f"{p.get('size', '')}/{p['stride']}" if "size" in p else f"/{p['stride']}"


def connected_tensors(prefix: str, inputs: int, outputs: int, bn: bool, scales: bool = False) -> list[Tensor]:
    """A connected layer's tensors (load_connected_weights order): biases, weights, [batch norm]."""
    out = [Tensor(prefix + "biases", (outputs,)), Tensor(prefix + "weights", (outputs, inputs), True)]
    return out + (bn_tensors(prefix, outputs, scales) if bn else [])


def conv_tensors(prefix: str, c: int, n: int, size: int, groups: int, bn: bool, scales: bool = False,
                 flipped: bool = False) -> list[Tensor]:
    """A convolutional layer's tensors (load_convolutional_weights order): biases, [batch norm], weights
    (``flipped``: stored transposed, see :class:`Tensor`)."""
    out = [Tensor(prefix + "biases", (n,))]
    out += bn_tensors(prefix, n, scales) if bn else []
    return out + [Tensor(prefix + "weights", (n, c // max(groups, 1), size, size), flipped=flipped)]
