"""Darknet's window geometry as ONNX pads: padding before (``begin``) given, the padding
after chosen so that ONNX's floor formula yields Darknet's output size, and a crop where
ONNX would still produce more (dilated windows, where Darknet's size ignores dilation)."""

from __future__ import annotations


def pads_after(size: int, begin: int, extent: int, stride: int, out: int) -> int:
    """Padding after ``size`` values so that ``out`` windows of ``extent`` fit (>= 0)."""
    return max(0, (out - 1) * stride + extent - size - begin)


def onnx_out(size: int, begin: int, end: int, extent: int, stride: int) -> int:
    return (size + begin + end - extent) // stride + 1


def crop(g, y: str, oh: int, ow: int) -> str:
    """``y`` cut to ``oh x ow`` (no node when it already is)."""
    return g.slice(g.slice(y, 1, 0, oh), 2, 0, ow)
