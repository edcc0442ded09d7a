"""What every layer module provides: names, an option schema, references and a shape rule.

A layer module defines one subclass of :class:`LayerSpec`. Its ``infer`` reads options
through a :class:`Reader` in the same order and under the same conditions as Darknet's
``parse_*`` function, so the keys the reader never saw are exactly Darknet's
``Unused field`` keys.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..syntax import Line, Section

INT, FLOAT, STR, INTS, FLOATS = "int", "float", "str", "ints", "floats"

# Darknet's "no value" for share_index and similar optional indices
NO_INDEX = -1000000000


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


_INT_PREFIX = re.compile(r"[ \t\n\r\f\v]*([+-]?[0-9]+)")


def atoi(text: str) -> int:
    """C's atoi: optional blanks and sign, then digits; 0 when there are none."""
    m = _INT_PREFIX.match(text)
    if m is None:
        return 0
    value = int(m.group(1))
    if -2**31 <= value < 2**31:
        return value
    # C int overflow wraps in practice; clamp to 32 bits like glibc's strtol -> int
    return ((value + 2**31) % 2**32) - 2**31


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
        opt = self.spec.option(key)
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


@dataclass
class LayerShape:
    """What Darknet's layer struct holds after parsing; ``[w, h, c]`` like Darknet's tables."""

    input: tuple[int, int, int]
    output: tuple[int, int, int]
    outputs: int
    nweights: int = 0
    bflops: float = 0.0
    params: dict[str, Any] = field(default_factory=dict)  # Darknet struct fields the executor needs
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


@dataclass(frozen=True)
class HeadNeed:
    """What a detection head needs from the layer before it: ``channels`` at that layer's w x h
    (yolo, region), or ``outputs`` values in all (detection); ``formula`` shows the arithmetic."""

    channels: int | None
    outputs: int | None
    formula: str


# spec class -> key -> Opt, built at the first lookup
_OPTION_TABLES: dict[type, dict[str, Opt]] = {}


class LayerSpec:
    type: ClassVar[str]  # Darknet's get_layer_string name, e.g. "convolutional"
    sections: ClassVar[tuple[str, ...]]  # headers, e.g. ("[convolutional]", "[conv]")
    options: ClassVar[tuple[Opt, ...]] = ()
    recurrent: ClassVar[bool] = False
    # False where get_layer_string gives "none": Darknet's tables then show the section name
    named: ClassVar[bool] = True
    # the option holding the number of classes the layer predicts (detection heads, [contrastive])
    classes_key: ClassVar[str | None] = None
    # the option that sets the layer's output channels (what an edit changes to feed a head)
    channels_key: ClassVar[str | None] = None
    # options that hold one value per class (set-classes removes them: their values no longer apply)
    per_class_keys: ClassVar[tuple[str, ...]] = ()
    # anchors= in input pixels with mask= picking this head's ones ([yolo], [Gaussian_yolo])
    masked_anchors: ClassVar[bool] = False

    @classmethod
    def option(cls, key: str) -> Opt:
        table = _OPTION_TABLES.get(cls)
        if table is None:
            table = _OPTION_TABLES[cls] = {opt.key: opt for opt in cls.options}
        try:
            return table[key]
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

    def head_need(self, r: Reader, classes: int) -> HeadNeed | None:
        """A detection head: what the layer before it must output when it predicts ``classes``
        classes (its other options read through ``r``); None for every other layer."""
        return None

    def infer(self, r: Reader, ctx: Context) -> LayerShape:
        raise NotImplementedError
