"""Anchor boxes from YOLO label files: what ``darknet detector calc_anchors`` does, done better.

:func:`read_labels` reads YOLO-format label files (``class cx cy w h`` per line, normalised):
files, directories (every ``*.txt`` below them) and Darknet image lists (``train.txt``: one
image path per line, its labels in the ``.txt`` beside it, or where Darknet's
replace_image_to_label looks: ``images``/``JPEGImages`` -> ``labels``). Malformed lines become
located diagnostics (L001 a line that is not ``class cx cy w h``, L002 values out of range --
Darknet's calc_anchors flags w, h, x, y outside (0, 1] -- L003 an image without a label file);
their boxes are skipped. In a directory, an image list and labelImg's ``classes.txt`` are not
label files: skipped with a warning (L004).

:func:`cluster` runs k-means on the box sizes scaled to the network size with the distance
1 - IoU of boxes aligned at their centres (calc_anchors' metric), seeded with k-means++ on
that distance and restarted several times; the best run (highest average IoU of each box to
its best anchor) wins. Deterministic for a seed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .diagnostics import ERROR, WARNING, Diagnostic, Span

SAMPLE = 20000  # restarts on larger sets run on a sample this size; the best is refined on every box
TOLERANCE = 1e-4  # k-means stops when no centre moves by more than this times the largest size
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".ppm", ".pgm")


@dataclass
class Labels:
    boxes: np.ndarray  # (n, 2) normalised w, h
    files: int = 0
    diagnostics: list[Diagnostic] = field(default_factory=list)


def _diag(code: str, name: str, message: str, path: Path, line: int, text: str = "", severity: str = ERROR):
    span = Span(line, 1, line, max(2, len(text.rstrip()) + 1)) if line else None
    return Diagnostic(code, name, severity, message, span, str(path))


def _is_image_list(path: Path) -> bool:
    """A Darknet list (train.txt): its first non-blank line names an image."""
    try:
        with path.open(encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.strip():
                    return line.strip().lower().endswith(IMAGE_SUFFIXES)
    except OSError:
        return False
    return False


def _label_of(image: Path) -> Path | None:
    """The label file of an image: beside it, or where Darknet's replace_image_to_label looks."""
    beside = image.with_suffix(".txt")
    if beside.is_file():
        return beside
    parts = ["labels" if p in ("images", "JPEGImages") else p for p in image.parts]
    darknet = Path(*parts).with_suffix(".txt")
    return darknet if darknet.is_file() else None


def label_files(paths: Iterable[str | Path]) -> tuple[list[Path], list[Diagnostic]]:
    """The label files ``paths`` name (directories recursively, image lists resolved).
    Raises OSError for a path that does not exist."""
    files, diags = [], []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for found in sorted(p for p in path.rglob("*.txt") if p.is_file()):
                if found.name == "classes.txt" or _is_image_list(found):
                    diags.append(_diag("L004", "not-a-label-file", "an image list or labelImg's class names, not "
                                       "labels: skipped (give an image list as --labels itself)", found, 0,
                                       severity=WARNING))
                else:
                    files.append(found)
        elif not path.exists():
            raise FileNotFoundError(2, "No such file or directory", str(path))
        elif _is_image_list(path):
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
            for lineno, line in enumerate(lines, 1):
                name = line.strip()
                if not name:
                    continue
                image = Path(name)
                if not image.is_absolute() and not image.exists():
                    image = path.parent / image  # relative to the list when not to the working directory
                label = _label_of(image)
                if label is None:
                    diags.append(_diag("L003", "no-label-file", f"no label file for {name} (beside it, or under "
                                       "labels/ for images/): counted as an image without boxes", path, lineno,
                                       line, WARNING))
                else:
                    files.append(label)
        else:
            files.append(path)
    return files, diags


def read_label_file(path: Path, out: list, diags: list[Diagnostic]) -> None:
    """Append (w, h) of every box of one label file to ``out``; problems to ``diags``."""
    text = path.read_text(encoding="utf-8", errors="replace")
    for lineno, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 5:
            diags.append(_diag("L001", "bad-label-line", f"{len(fields)} fields; a YOLO label line is "
                               "'class cx cy w h' (5 fields)", path, lineno, line))
            continue
        try:
            cls = int(fields[0])
            x, y, w, h = (float(v) for v in fields[1:])
        except ValueError:
            diags.append(_diag("L001", "bad-label-line", "not 'class cx cy w h' (an integer class, then 4 numbers)",
                               path, lineno, line))
            continue
        if cls < 0 or not (0 < w <= 1 and 0 < h <= 1 and 0 <= x <= 1 and 0 <= y <= 1):
            diags.append(_diag("L002", "label-out-of-range", f"class {cls}, x {x:g}, y {y:g}, w {w:g}, h {h:g}: the "
                               "class must be >= 0, w and h in (0, 1], x and y in [0, 1] (normalised to the image)",
                               path, lineno, line))
            continue
        out.append((w, h))


def read_labels(paths: Iterable[str | Path], progress: Callable[[int, int], None] | None = None) -> Labels:
    """Every box of the label files ``paths`` name; ``progress(done, total)`` after each file.
    Raises OSError for a path that does not exist or a file that cannot be read."""
    files, diags = label_files(paths)
    boxes: list[tuple[float, float]] = []
    for i, path in enumerate(files, 1):
        read_label_file(path, boxes, diags)
        if progress is not None:
            progress(i, len(files))
    return Labels(np.array(boxes, dtype=np.float64).reshape(-1, 2), len(files), diags)


def iou(boxes: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """(n, k) IoU of boxes and anchors (w, h) aligned at their centres."""
    inter = np.minimum(boxes[:, None, 0], anchors[None, :, 0]) * np.minimum(boxes[:, None, 1], anchors[None, :, 1])
    union = (boxes[:, 0] * boxes[:, 1])[:, None] + (anchors[:, 0] * anchors[:, 1])[None, :] - inter
    return inter / union


@dataclass
class Clusters:
    anchors: np.ndarray  # (k, 2) sorted by area
    avg_iou: float  # mean over boxes of the IoU with their best anchor
    counts: list[int]  # boxes whose best anchor is each one
    boxes: int


def summarize(boxes: np.ndarray, anchors: np.ndarray) -> Clusters:
    """Anchors sorted by area, with the average best IoU and the boxes per anchor."""
    anchors = anchors[np.lexsort((anchors[:, 0], anchors[:, 0] * anchors[:, 1]))]
    m = iou(boxes, anchors)
    best = m.argmax(axis=1)
    counts = np.bincount(best, minlength=len(anchors)).tolist()
    return Clusters(anchors, float(m.max(axis=1).mean()), counts, len(boxes))


def _seed(boxes: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ on 1 - IoU: each next centre drawn with probability ~ distance^2 to the nearest."""
    centres = [boxes[rng.integers(len(boxes))]]
    d = 1.0 - iou(boxes, np.array(centres))[:, 0]
    for _ in range(1, k):
        weights = d ** 2
        total = weights.sum()
        index = rng.choice(len(boxes), p=weights / total) if total > 0 else rng.integers(len(boxes))
        centres.append(boxes[index])
        d = np.minimum(d, 1.0 - iou(boxes, boxes[index:index + 1])[:, 0])
    return np.array(centres)


def _lloyd_iou(boxes: np.ndarray, centres: np.ndarray, iterations: int) -> np.ndarray:
    """Assign each box to its highest-IoU centre, move each centre to the mean of its boxes,
    until no assignment changes or no centre moves by more than TOLERANCE (relative); an empty
    cluster takes the box worst served."""
    k = len(centres)
    assign = None
    for _ in range(iterations):
        m = iou(boxes, centres)
        new_assign = m.argmax(axis=1)
        if assign is not None and np.array_equal(new_assign, assign):
            break
        assign = new_assign
        counts = np.bincount(assign, minlength=k)
        sums = np.stack([np.bincount(assign, boxes[:, 0], k), np.bincount(assign, boxes[:, 1], k)], axis=1)
        empty = counts == 0
        new = sums / np.maximum(counts, 1)[:, None]
        if empty.any():
            worst = np.argsort(m.max(axis=1))[: int(empty.sum())]
            new[empty] = boxes[worst]
            assign = None  # the reseeded centres change the assignment
        elif np.abs(new - centres).max() <= TOLERANCE * np.abs(centres).max():
            return new
        centres = new
    return centres


def cluster(boxes: np.ndarray, k: int, seed: int = 0, restarts: int = 10, iterations: int = 300) -> Clusters:
    """Anchors for ``boxes`` ((n, 2) sizes in pixels): the best of ``restarts`` k-means runs
    on 1 - IoU seeded with k-means++ (on more than SAMPLE boxes the runs use a random sample of
    SAMPLE boxes and the best is then refined on all of them). Raises ValueError when there are
    fewer distinct box sizes than ``k``."""
    boxes = np.asarray(boxes, dtype=np.float64)
    distinct = len(np.unique(boxes, axis=0)) if len(boxes) else 0
    if distinct < k:
        raise ValueError(f"{len(boxes)} boxes with {distinct} distinct sizes cannot make {k} anchors")
    rng = np.random.default_rng(seed)
    sample = boxes[rng.choice(len(boxes), SAMPLE, replace=False)] if len(boxes) > SAMPLE else boxes
    best, best_iou = None, -1.0
    for _ in range(restarts):
        centres = _lloyd_iou(sample, _seed(sample, k, rng), iterations)
        score = float(iou(sample, centres).max(axis=1).mean())
        if score > best_iou:
            best, best_iou = centres, score
    if sample is not boxes:
        best = _lloyd_iou(boxes, best, iterations)
    return summarize(boxes, best)


@dataclass
class Result:
    labels: Labels
    clusters: Clusters
    width: int
    height: int
    edit: object | None = None  # cfgtool.heads.Edit when a cfg was given
    heads: list = field(default_factory=list)  # cfgtool.heads.HeadAnchors


def anchors(paths: Iterable[str | Path], k: int, width: int | None = None, height: int | None = None,
            seed: int = 0, doc=None, restarts: int = 10,
            progress: Callable[[int, int], None] | None = None, input_errors=None) -> Result:
    """Read the labels, cluster their sizes at ``width`` x ``height`` (default: ``doc``'s
    [net] size) into ``k`` anchors rounded to whole pixels as Darknet writes them (the
    statistics are those of the rounded anchors); with ``doc`` also the edit that writes them
    into its heads (:func:`cfgtool.heads.set_anchors`). Raises OSError (unreadable paths),
    ValueError (no size, too few boxes) or cfgtool.heads.EditError."""
    from .heads import net_size, set_anchors

    size = net_size(doc) if doc is not None else None
    if size is not None:
        width, height = width or size[0], height or size[1]
    if width is None or height is None:
        raise ValueError("give the network size (--width and --height) or a cfg to read it from")
    labels = read_labels(paths, progress)
    if not len(labels.boxes):
        raise ValueError(f"no boxes in {labels.files} label file(s)")
    boxes = labels.boxes * np.array([width, height], dtype=np.float64)
    found = cluster(boxes, k, seed, restarts)
    result = Result(labels, summarize(boxes, np.maximum(1.0, np.round(found.anchors))), width, height)
    if doc is not None:
        result.edit, result.heads = set_anchors(doc, [(float(w), float(h)) for w, h in result.clusters.anchors],
                                                input_errors)
        if (width, height) != size:
            result.edit.notes.append(f"the anchors are for {width}x{height} but the cfg's [net] is "
                                     f"{size[0]}x{size[1]}: resize it (cfgtool resize) or recompute at its size")
    return result
