"""Darknet ``.weights`` files: read, write, expected size (src/parser.c load/save_weights_upto).

A file is a header -- int32 major, minor, revision, then ``seen`` as uint64 when
``major*10 + minor >= 2`` (uint32 before) -- followed by float32 tensors, layer after layer,
each layer's as its spec declares them (``spec.tensors(shape)``, in file order). A layer with
``dontload=1`` is not in the file; ``dontloadscales=1`` leaves out the tensors marked
``scales`` (a convolutional/connected layer's batch norm; reading and writing alike, so a
round trip is byte-identical). When major or minor is above 1000 the ``transposable`` tensors
(connected weights) are stored transposed, ``(inputs, outputs)``; ``flipped`` tensors
(convolutional ``flipped=1``) are stored transposed in every file, ``(c/groups*size*size, n)``.
Both are written in the layout Darknet reads, so a file cfgtool writes loads into the same
network. (Darknet's own save_weights writes a flipped layer's memory layout, untransposed, so a
Darknet save -> load round trip transposes it twice: validate's W312.)

Tensors come back as float32 arrays named as in Darknet's layer struct (``weights``,
``biases``, ...; sub-layers prefixed: ``input.weights``, ``uf.biases``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .codes import diagnostic
from .diagnostics import CfgError
from .fileio import write_atomic
from .layers.base import Tensor, atoi
from .model import Layer, Network


@dataclass(frozen=True)
class WeightsHeader:
    major: int = 0
    minor: int = 2
    revision: int = 5
    seen: int = 0

    @property
    def seen_bytes(self) -> int:
        return 8 if self.major * 10 + self.minor >= 2 else 4

    @property
    def size(self) -> int:
        return 12 + self.seen_bytes

    @property
    def transpose(self) -> bool:
        """Connected weights are stored (inputs, outputs) in this file."""
        return self.major > 1000 or self.minor > 1000

    def pack(self) -> bytes:
        seen = struct.pack("<Q" if self.seen_bytes == 8 else "<I", self.seen)
        return struct.pack("<iii", self.major, self.minor, self.revision) + seen


def layer_tensors(layer: Layer, shape) -> list[Tensor]:
    """The tensors ``layer`` has in a .weights file, in file order: its spec's tensors, none
    with ``dontload=1``, without the batch-norm ones with ``dontloadscales=1``."""
    if atoi(layer.section.get("dontload", "0")):
        return []
    tensors = layer.spec.tensors(shape)
    if atoi(layer.section.get("dontloadscales", "0")):
        tensors = [t for t in tensors if not t.scales]
    return tensors


def _layer_shapes(network: Network, shapes) -> list:
    layers = getattr(shapes, "layers", shapes)
    for layer in network.layers:
        if layer.spec is None or layers[layer.index] is None:
            raise CfgError([diagnostic("X101",
                                       f"layer {layer.index} ({layer.section.name}) has no valid shape: "
                                       "fix the cfg before reading or writing weights",
                                       layer.section.header.span(), network.path, layer.index)])
    return layers


def layout(network: Network, shapes) -> list[tuple[int, list[Tensor]]]:
    """(layer index, tensors) for every layer that has tensors in the file, in file order."""
    layers = _layer_shapes(network, shapes)
    out = []
    for layer in network.layers:
        tensors = layer_tensors(layer, layers[layer.index])
        if tensors:
            out.append((layer.index, tensors))
    return out


def expected_size(network: Network, shapes, header: WeightsHeader | None = None) -> int:
    """Bytes of a complete .weights file for this network (header of ``header``'s version)."""
    header = header or WeightsHeader()
    return header.size + 4 * sum(t.count for _, ts in layout(network, shapes) for t in ts)


def read_header(data: bytes) -> WeightsHeader | None:
    """The header at the start of ``data``; None when ``data`` is too short to hold one."""
    if len(data) < 12:
        return None
    probe = WeightsHeader(*struct.unpack_from("<iii", data))
    if len(data) < probe.size:
        return None
    (seen,) = struct.unpack_from("<Q" if probe.seen_bytes == 8 else "<I", data, 12)
    return WeightsHeader(probe.major, probe.minor, probe.revision, seen)


def _error(code: str, message: str, network: Network, layer: Layer | None, notes=()) -> CfgError:
    span = layer.section.header.span() if layer is not None else (
        network.net.header.span() if network.net is not None else None)
    return CfgError([diagnostic(code, message, span, network.path, layer.index if layer is not None else None, notes)])


def _stored_transposed(t: Tensor, header: WeightsHeader) -> bool:
    """The file holds ``t`` transposed (as a ``(count/shape[0], shape[0])`` matrix)."""
    return t.flipped or (t.transposable and header.transpose)


def read_weights(path: str | Path, network: Network, shapes, allow_partial: bool = False
                 ) -> tuple[WeightsHeader, dict[int, dict[str, np.ndarray]]]:
    """Read ``path`` for ``network``: (header, {layer index: {tensor name: float32 array}}).

    A file shorter or longer than the cfg needs is a CfgError saying how many bytes were
    expected and which layer is the first one not covered. With ``allow_partial`` a shorter
    file is fine if it ends between two layers (like Darknet's ``yolov4.conv.137``): only the
    layers it covers are in the result.
    """
    data = Path(path).read_bytes()
    plan = layout(network, shapes)
    header = read_header(data)
    problem = size_error(path, len(data), header, network, shapes, allow_partial)
    if problem is not None:
        raise problem
    result: dict[int, dict[str, np.ndarray]] = {}
    offset = header.size
    for index, tensors in plan:
        if offset + 4 * sum(t.count for t in tensors) > len(data):
            break  # a partial file (allow_partial) ends here
        tensors_out = {}
        for t in tensors:
            arr = np.frombuffer(data, "<f4", t.count, offset)
            if _stored_transposed(t, header):
                arr = arr.reshape(-1, t.shape[0]).T
            tensors_out[t.name] = np.ascontiguousarray(arr.reshape(t.shape), dtype=np.float32)
            offset += 4 * t.count
        result[index] = tensors_out
    return header, result


def size_error(path, size: int, header: WeightsHeader | None, network: Network, shapes,
               allow_partial: bool = False) -> CfgError | None:
    """The X102 error of a .weights file of ``size`` bytes starting with ``header`` (None: too
    short for one) that does not hold exactly the tensors the cfg needs: which layer is the
    first one not covered, or how many bytes are left over. With ``allow_partial`` a file that
    ends between two layers is fine. ``read_weights`` and ``validate --weights`` both ask this."""
    if header is None:
        return _error("X102", f"{path}: {size} bytes is shorter than a .weights header", network, None)
    plan = layout(network, shapes)
    need = header.size + 4 * sum(t.count for _, ts in plan for t in ts)
    offset = header.size
    for index, tensors in plan:
        nbytes = 4 * sum(t.count for t in tensors)
        if offset + nbytes > size:
            layer = network.layers[index]
            at_boundary = offset == size
            if allow_partial and at_boundary:
                return None
            where = "ends before" if at_boundary else "ends inside"
            return _error("X102",
                          f"{path} is too short: {size} bytes, the cfg needs {need}; it {where} layer {index} "
                          f"({layer.type}, {nbytes} bytes from offset {offset}), the first layer not covered",
                          network, layer,
                          ["a truncated download, or weights for a different cfg (compare filters= and classes=)"]
                          + (["Darknet's partial files (e.g. *.conv.137) end between layers: read them as a prefix"]
                             if at_boundary else []))
        offset += nbytes
    if size > need:
        return _error("X102",
                      f"{path} is too long: {size} bytes, the cfg needs {need} ({size - need} bytes left "
                      "over after the last layer)", network, None,
                      ["weights for a different (larger) cfg, or a cfg missing layers"])
    return None


def write_weights(path: str | Path, header: WeightsHeader, tensors: dict[int, dict[str, np.ndarray]],
                  network: Network, shapes, upto: int | None = None) -> int:
    """Write a .weights file atomically: ``header`` then the tensors of every layer (of the
    layers before ``upto`` when given, like Darknet's cutoff). Returns the bytes written."""
    parts = [header.pack()]
    for index, plan in layout(network, shapes):
        if upto is not None and index >= upto:
            break
        have = tensors.get(index, {})
        for t in plan:
            if t.name not in have:
                raise KeyError(f"layer {index}: tensor {t.name!r} missing")
            arr = np.asarray(have[t.name], dtype="<f4")
            if arr.shape != t.shape:
                raise ValueError(f"layer {index}: tensor {t.name!r} has shape {arr.shape}, expected {t.shape}")
            if _stored_transposed(t, header):
                arr = arr.reshape(t.shape[0], -1).T
            parts.append(np.ascontiguousarray(arr).tobytes())
    data = b"".join(parts)
    write_atomic(path, data)
    return len(data)


def initial_weights(network: Network, shapes, seed: int = 0) -> dict[int, dict[str, np.ndarray]]:
    """Darknet-like fresh tensors for every layer of the file layout (fan-in scaled uniform
    weights, zero biases, unit batch-norm scales and variances), reproducible from ``seed``."""
    from .executor.network import init_tensor

    rng = np.random.default_rng(seed)
    return {index: {t.name: init_tensor(t, shapes.layers[index].params, rng, np.float32) for t in plan}
            for index, plan in layout(network, shapes)}
