"""Darknet's tree files (``tree=`` of [softmax] and [region]: a hierarchical softmax), read as
src/tree.c ``read_tree`` reads them, and where cfgtool looks for them.

A tree file has one node per line, ``name parent`` (the parent's line index, -1 for a root;
Darknet reads it with ``sscanf("%s %d")`` and treats any negative parent as a root). Nodes
that follow each other with the same parent form a *group*: the hierarchical softmax is a
softmax over each group in turn, the groups laid end to end from the layer's first value.
Like Darknet, a group ends only where the parent changes, and a first line whose parent is
not -1 makes an empty first group.

What Darknet reads but then misuses is an error here (:class:`TreeError`, with the line): a
line without an integer parent (Darknet makes it a root silently), a blank line (a node with
no name), a parent index past the last line (Darknet writes and reads past its arrays), a
name longer than Darknet's 255-character buffer, a file without nodes.

Darknet opens the path relative to its working directory. cfgtool looks, in order, in the
directory given (``--data-dir``), else the current directory, the cfg's directory and the
directory above it (Darknet's layout: ``cfg/yolo9000.cfg`` names ``data/9k.tree``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

NAME_MAX = 255  # read_tree's id buffer is 256 chars


class TreeError(ValueError):
    """A tree file Darknet would misread; ``line`` is 1-based (None: the whole file)."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(f"line {line}: {message}" if line else message)
        self.line = line


@dataclass(frozen=True)
class Tree:
    """Darknet's ``tree`` struct: per node its name, parent (-1 or below: a root) and whether
    it is a leaf; per group its size and offset (groups are consecutive runs of nodes)."""

    names: tuple[str, ...]
    parent: tuple[int, ...]
    group_size: tuple[int, ...]
    group_offset: tuple[int, ...]

    @property
    def n(self) -> int:
        return len(self.names)

    @property
    def groups(self) -> tuple[tuple[int, int], ...]:
        """(offset, size) of every non-empty group, in order."""
        return tuple((o, s) for o, s in zip(self.group_offset, self.group_size) if s)


def parse_tree(text: str) -> Tree:
    """``read_tree`` on a file's text (lines split like fgetl: at LF, a CR before it dropped)."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the newline ending the last line
    names, parents = [], []
    for number, line in enumerate(lines, 1):
        fields = line.rstrip("\r").split()
        if not fields:
            raise TreeError("a blank line: Darknet reads it as a node without a name; remove it", number)
        if len(fields[0]) > NAME_MAX:
            raise TreeError(f"a name of {len(fields[0])} characters: Darknet's buffer holds {NAME_MAX}", number)
        try:
            parent = int(fields[1]) if len(fields) > 1 else None
        except ValueError:
            parent = None
        if parent is None:
            raise TreeError(f"{line.strip()!r} is not 'name parent' (the parent's line index, -1 for a root): "
                            "Darknet would make it a root", number)
        names.append(fields[0])
        parents.append(parent)
    if not names:
        raise TreeError("the file has no nodes")
    for number, parent in enumerate(parents, 1):
        if parent >= len(names):
            raise TreeError(f"parent {parent} is past the last node ({len(names) - 1}; parents are 0-based "
                            "line indices): Darknet reads and writes past its arrays", number)
    sizes, offsets = [], []
    last, size = -1, 0
    for i, parent in enumerate(parents):
        if parent != last:
            offsets.append(i - size)
            sizes.append(size)
            size, last = 0, parent
        size += 1
    offsets.append(len(names) - size)
    sizes.append(size)
    return Tree(tuple(names), tuple(parents), tuple(sizes), tuple(offsets))


def with_tree(p, read, misfit: Callable[[Tree], str | None]):
    """A layer's params ``p`` with ``hierarchy``, the tree file its ``tree=`` names (``read`` as
    ``LayerSpec.read_files`` gets it); ``misfit(tree)`` says why the tree cannot serve the layer."""
    if not p.tree:
        return p

    def parse(text: str) -> Tree:
        tree = parse_tree(text)
        why = misfit(tree)
        if why:
            raise TreeError(why)
        return tree

    return replace(p, hierarchy=read("tree", parse))


def search_dirs(cfg_path: str | Path | None, data_dir: str | Path | None = None) -> list[Path]:
    """Where a relative tree path is looked for, in order (see the module docstring)."""
    if data_dir is not None:
        return [Path(data_dir)]
    dirs = [Path.cwd()]
    if cfg_path:
        cfg_dir = Path(cfg_path).resolve().parent
        dirs += [cfg_dir, cfg_dir.parent]
    return list(dict.fromkeys(dirs))


def find(name: str, dirs: list[Path]) -> Path | None:
    """The first existing file ``name`` (absolute, or relative to one of ``dirs``)."""
    path = Path(name)
    for candidate in [path] if path.is_absolute() else [d / path for d in dirs]:
        if candidate.is_file():
            return candidate
    return None
