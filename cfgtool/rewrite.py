"""Insert blocks of layers into a cfg and keep every layer reference right.

:func:`insert_blocks` puts a rendered block template after each insertion point and edits
only what must change: the inserted sections, and the index values (``layers=``,
``from=``, ``share_index=`` ... -- whatever a layer spec's ``references()`` reports) whose
number changes. The renumbering rule: every original layer still reads the same original
layer (relative values stay relative, absolute ones absolute), except that a read of an
insertion point sees the block's output (its last layer) instead; with ``keep_refs`` only
the layer right after the point does. Only data reads (the layers a layer takes as input:
``layers=``, ``from=``) follow a block; ``share_index=`` and the like keep the original
layer. References inside a block stay as its template wrote them.
"""

from __future__ import annotations

import copy
import re
from collections import Counter
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from .diagnostics import ERROR, CfgError, Diagnostic
from .lint import check
from .model import build
from .selection import point_problem
from .shapes import Shapes, infer_shapes
from .syntax import Document, Line, Section, darknet_strip, parse, read_text

BUILTIN = {"se_plain": "se_plain.cfg", "se_residual": "se_residual.cfg", "sam": "sam.cfg", "cbam": "cbam.cfg"}
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


class BlockError(Exception):
    """A template or an insertion that cannot be used; ``diagnostics`` locate template errors."""

    def __init__(self, message: str, diagnostics: list[Diagnostic] | None = None):
        super().__init__(message)
        self.message = message
        self.diagnostics = list(diagnostics or [])


@dataclass(frozen=True)
class Template:
    """A cfg fragment of layer sections whose values may hold ``{C}`` (the channels of the
    layer the block follows) and ``{C_r}`` (``max(1, C // reduction)``)."""

    name: str
    text: str
    path: str | None = None

    @classmethod
    def builtin(cls, name: str) -> Template:
        res = resources.files("cfgtool").joinpath("blocks", BUILTIN[name])
        return cls(name, res.read_text(encoding="utf-8"), f"cfgtool/blocks/{BUILTIN[name]}")

    @classmethod
    def from_file(cls, path: str | Path) -> Template:
        """A user's template (OSError propagates; text that is not UTF-8 is a BlockError)."""
        path = Path(path)
        try:
            text = read_text(path)
        except CfgError as exc:
            raise BlockError(f"block template {path} is not UTF-8 text", exc.diagnostics) from None
        return cls(path.stem, text, str(path))

    def render(self, channels: int, reduction: int = 16) -> list[Section]:
        """The template's sections with the placeholders filled in, each followed by one blank line."""
        try:
            doc = parse(self.text, self.path)
        except CfgError as exc:  # a NUL byte
            raise BlockError(f"block template {self.path or self.name} has errors", exc.diagnostics) from None
        problems = [d for d in doc.diagnostics if d.severity == ERROR and d.code not in ("P002", "P008")]
        if problems:
            raise BlockError(f"block template {self.path or self.name} has errors", problems)
        if not doc.sections:
            raise BlockError(f"block template {self.path or self.name} has no sections")
        values = {"C": channels, "C_r": max(1, channels // reduction)}
        sections = []
        for section in copy.deepcopy(doc.sections):
            if section.name in ("[net]", "[network]"):
                raise BlockError(f"block template {self.path or self.name}:{section.header.lineno}: a block holds "
                                 f"layer sections only, not {section.name}")
            for i, ln in enumerate(section.body):
                raw = ln.raw_value
                if raw is None or "{" not in raw:
                    continue

                def fill(m, ln=ln):
                    if m.group(1) not in values:
                        raise BlockError(f"block template {self.path or self.name}:{ln.lineno}: unknown placeholder "
                                         f"{m.group(0)} (use {{C}} or {{C_r}})")
                    return str(values[m.group(1)])

                section.body[i] = ln.with_value(_PLACEHOLDER.sub(fill, raw))
            sections.append(_tidy(section))
        return sections


def _tidy(section: Section) -> Section:
    """Runs of blank lines collapsed, and exactly one blank line at the end."""
    body: list[Line] = []
    for ln in section.body:
        if ln.kind == "blank" and (not body or body[-1].kind == "blank"):
            continue
        body.append(ln)
    while body and body[-1].kind == "blank":
        body.pop()
    body.append(Line("", "\n", "blank"))
    section.body = body
    return section


@dataclass
class Insertion:
    point: int  # the original layer the block follows
    layer: int  # that layer's index in the output
    first: int  # the block's first and last layer in the output
    last: int
    channels: int
    lines: tuple[int, int]  # first and last inserted line in the output (1-based, blank lines included)


@dataclass
class Change:
    """One renumbered value: layer ``layer`` (original index) key ``key`` field ``position``."""

    layer: int
    key: str
    position: int
    old: int
    new: int
    target: int  # the original layer it reads
    redirected: bool  # it now reads the block inserted after ``target``
    layer_after: int  # the layer's index in the output


@dataclass
class EditReport:
    insertions: list[Insertion] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    errors: list[Diagnostic] = field(default_factory=list)  # errors the output has and the input had not
    input_errors: list[Diagnostic] = field(default_factory=list)  # errors the input had (the output keeps them)


    def line_pairs(self, before_lines: int, after_lines: int) -> list[tuple[int, int]] | None:
        """(input line, output line) 0-based indices of every line the edit kept (values may be
        renumbered in place): all output lines outside the inserted blocks, in order. None if
        the counts do not add up (then a diff matches what it can)."""
        inserted = set()
        for ins in self.insertions:
            inserted.update(range(ins.lines[0] - 1, ins.lines[1]))
        kept = [j for j in range(after_lines) if j not in inserted]
        if len(kept) != before_lines:
            return None
        return list(zip(range(before_lines), kept))


@dataclass(frozen=True)
class Mapping:
    """Original layer index -> output index, for blocks of ``sizes[p]`` layers after each point p."""

    sizes: dict[int, int]

    def new(self, index: int) -> int:
        return index + sum(k for p, k in self.sizes.items() if p < index)

    def output_of(self, point: int) -> int:
        """The output index of the last layer of the block after ``point``."""
        return self.new(point) + self.sizes[point]


def _replace_field(text: str, value: int) -> str:
    """One comma-separated field with the number Darknet's atoi reads replaced by ``value``."""
    lead = text[: len(text) - len(text.lstrip(" \t"))]
    rest = text[len(lead):]
    stripped = darknet_strip(rest)
    k = 1 if stripped[:1] in ("+", "-") else 0
    while k < len(stripped) and stripped[k].isdigit():
        k += 1
    if rest.startswith(stripped[:k]):
        return lead + str(value) + rest[k:]
    return lead + str(value) + stripped[k:]  # blanks inside the number: Darknet ignores them


def _set_fields(section: Section, key: str, values: dict[int, int]) -> None:
    line = section.option(key)
    fields = line.raw_value.split(",")
    for pos, value in values.items():
        fields[pos] = _replace_field(fields[pos], value)
    section.body[next(i for i, ln in enumerate(section.body) if ln is line)] = line.with_value(",".join(fields))


def _insert_after(doc: Document, point: int, block: list[Section]) -> tuple[int, int]:
    """Put ``block`` after layer ``point``: after the blank line that ends the layer, before
    any comments that introduce the next section. Returns (lines inserted before the block's
    first header, lines inserted in all)."""
    nl = doc.newline
    position = point + 1  # doc.sections[0] is [net]
    host = doc.sections[position]
    body = host.body
    last_option = max((i for i, ln in enumerate(body) if ln.kind in ("option", "bare")), default=-1)
    blank = next((i for i in range(last_option + 1, len(body)) if body[i].kind == "blank"), None)
    block = copy.deepcopy(block)
    if blank is None:  # no blank line after the layer's options: add one before the block
        cut = last_option + 1
        end = body[cut - 1] if cut else host.header
        end.ending = end.ending or nl
        host.body, moved, before = [*body[:cut], Line("", nl, "blank")], body[cut:], 1
        if position == len(doc.sections) - 1 and not moved:
            block[-1].body.pop()  # the file ended without a blank line: so does the output
    else:
        host.body, moved, before = body[: blank + 1], body[blank + 1:], 0
    doc.insert_sections(position + 1, block)
    doc.sections[position + len(block)].body.extend(moved)
    return before, before + sum(len(s.lines()) for s in block)


def _read_keys(layer) -> set[str]:
    """The index-valued keys that name layers this layer reads (its spec's ``inputs()`` change
    without them), as opposed to share_index= and the like."""
    out = set()
    for key in {ref.key for ref in layer.refs}:
        without = Section(layer.section.header, [ln for ln in layer.section.body if ln.key != key])
        if sorted(layer.spec.inputs(without, layer.index)) != sorted(layer.inputs):
            out.add(key)
    return out


def insert_blocks(doc: Document, points, block: Template, keep_refs: bool = False, reduction: int = 16,
                  shapes: Shapes | None = None, input_errors: list[Diagnostic] | None = None
                  ) -> tuple[Document, EditReport]:
    """A new document with ``block`` inserted after each layer in ``points`` (original indices);
    ``doc`` is not changed. Raises BlockError for a point a block cannot follow or a bad
    template. ``EditReport.errors`` lists the errors the result has that ``doc`` had not: a
    caller must not write such a result; a result without new errors whose blocks change the
    w x h x C of their insertion point raises BlockError. ``shapes``: ``doc``'s shapes if already inferred;
    ``input_errors``: ``errors(doc, shapes)`` if already found."""
    network = build(doc)
    if shapes is None:
        shapes = infer_shapes(network)
    points = sorted(set(points))
    problems = [p for p in (point_problem(network, shapes, j) for j in points) if p]
    if problems:
        raise BlockError("cannot insert there: " + "; ".join(problems))
    rendered: dict[int, list[Section]] = {}
    channels: dict[int, int] = {}
    for p in points:
        shape = shapes.layers[p]
        channels[p] = (shape.feeds or shape.output)[2]
        rendered[p] = block.render(channels[p], reduction)
    mapping = Mapping({p: len(rendered[p]) for p in points})

    new = copy.deepcopy(doc)
    n = len(network.layers)
    report = EditReport()
    for layer in network.layers:
        edits: dict[str, dict[int, int]] = {}
        reads = _read_keys(layer)
        for ref in layer.refs:
            if not 0 <= ref.target < n:
                continue
            # a data read of a point sees the block (share_index= and the like never do)
            follows = ref.target in mapping.sizes and ref.key in reads \
                and (not keep_refs or layer.index == ref.target + 1)
            target = mapping.output_of(ref.target) if follows else mapping.new(ref.target)
            value = target - mapping.new(layer.index) if ref.raw < 0 else target
            if value != ref.raw:
                edits.setdefault(ref.key, {})[ref.position] = value
                report.changes.append(Change(layer.index, ref.key, ref.position, ref.raw, value, ref.target, follows,
                                             mapping.new(layer.index)))
        for key, values in edits.items():
            _set_fields(new.sections[layer.index + 1], key, values)
    added = {p: _insert_after(new, p, rendered[p]) for p in reversed(points)}
    new = new.reparsed()

    for p in points:
        first, last = mapping.new(p) + 1, mapping.output_of(p)
        before, count = added[p]
        start = new.sections[first + 1].header.lineno - before
        report.insertions.append(Insertion(p, mapping.new(p), first, last, channels[p], (start, start + count - 1)))
    report.input_errors = errors(doc, shapes) if input_errors is None else list(input_errors)
    new_shapes = infer_shapes(build(new))
    report.errors = new_errors(report.input_errors, new, mapping, new_shapes)
    if not report.errors:  # a result Darknet takes, but with another network around the block
        _check_contract(block, report.insertions, shapes, new_shapes)
    return new, report


def _check_contract(block: Template, insertions: list[Insertion], before: Shapes, after: Shapes) -> None:
    """A block's output keeps the w x h x C of the layer it follows (so the network around it
    is unchanged): a BlockError when it does not."""
    for ins in insertions:
        want = before.layers[ins.point]
        got = after.layers[ins.last] if ins.last < len(after.layers) else None
        if want is None or got is None:
            continue  # a shape error: new_errors reports it
        want_whc, got_whc = tuple(want.feeds or want.output), tuple(got.feeds or got.output)
        if want_whc != got_whc:
            raise BlockError(
                f"block template {block.path or block.name}: after layer {ins.point} its output is "
                f"{'x'.join(map(str, got_whc))} but the layer it follows outputs {'x'.join(map(str, want_whc))}: "
                "a block must keep w x h x C (its last layer should give {C} channels at the same size); "
                "nothing was written")


def errors(doc: Document, shapes: Shapes | None = None) -> list[Diagnostic]:
    return [d for d in check(doc, shapes=shapes) if d.severity == ERROR]


def new_errors(before: list[Diagnostic], after: Document, mapping: Mapping, shapes: Shapes | None = None
               ) -> list[Diagnostic]:
    """The errors of ``after`` (whose shapes are ``shapes``, if inferred) not among the
    input's errors ``before`` (matched by code and layer, mapped to the output's numbering)."""
    old = Counter((d.code, None if d.layer is None else mapping.new(d.layer)) for d in before)
    out = []
    for d in errors(after, shapes):
        key = (d.code, d.layer)
        if old[key]:
            old[key] -= 1
        else:
            out.append(d)
    return out
