"""What each target (the program that will read the cfg) does differently: data, not code.

- ``alexeyab``: AlexeyAB/darknet, the reference every rule describes.
- ``hank-ai``: the Hank.ai Darknet/YOLO fork; its cfg reader aborts on a key no layer read,
  on a key given twice in a section and on a non-numeric value where a number is expected.
- ``opencv``: ``cv2.dnn.readNetFromDarknet`` (OpenCV 4.x, modules/dnn/src/darknet); it loads
  a subset of the layer types and activations, keeps the *last* of duplicate keys, and
  ignores some options (checked against opencv-python-headless 4.14).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..diagnostics import ERROR, WARNING
from ..layers import SPECS
from ..layers.base import atoi


@dataclass(frozen=True)
class OptionIssue:
    """An option a target rejects (``rejected``: it cannot load the file) or reads differently.

    ``bad(value, get)`` gets Darknet's value string (None when the key is absent) and the
    section's ``get`` for the other keys.
    """

    sections: tuple[str, ...]
    key: str
    bad: Callable[..., bool]
    message: str
    rejected: bool = True
    severity: str = ERROR


@dataclass(frozen=True)
class Target:
    name: str
    description: str
    severity: dict[str, str] = field(default_factory=dict)  # code -> severity for this target
    sections: frozenset[str] | None = None  # headers it loads; None: all of Darknet's
    activations: frozenset[str] | None = None  # activations it implements; None: Darknet's
    activation_everywhere: bool = False  # applies activation= on every layer type
    options: tuple[OptionIssue, ...] = ()
    duplicate_wins: str = "first"  # which of two equal keys the target reads


def loaded_by(target: str) -> frozenset[str]:
    """The section headers ``target`` loads: [net] and what the layer specs declare (``targets``)."""
    return frozenset(("[net]", *(h for spec in SPECS for h in spec.targets.get(target, ()))))


def _absent(v: str | None, get=None) -> bool:
    return v is None


def _nonzero(v: str | None, get=None) -> bool:
    return v is not None and atoi(v) != 0


CONV = ("[convolutional]",)

OPENCV_OPTIONS = (
    OptionIssue(CONV, "size", _absent, "OpenCV has no default for size= (Darknet uses 1) and refuses to load; write size=1"),
    OptionIssue(CONV, "filters", _absent, "OpenCV has no default for filters= (Darknet uses 1) and refuses to load; write filters=1"),
    OptionIssue(CONV, "flipped", _nonzero, "OpenCV does not implement flipped=1 (transposed weights); remove it"),
    OptionIssue(("[softmax]",), "groups", lambda v, get: v is not None and atoi(v) != 1,
                "OpenCV implements [softmax] only with groups=1"),
    OptionIssue(("[upsample]",), "stride", lambda v, get: v is not None and atoi(v) < 0,
                "OpenCV cannot load [upsample] with a negative stride (Darknet's downsampling); use a [maxpool] or a strided conv"),
    OptionIssue(("[yolo]",), "mask", _absent, "OpenCV needs mask= in [yolo]; write the anchor indices this head uses"),
    OptionIssue(("[yolo]", "[region]"), "anchors", _absent, "OpenCV needs anchors= in this head"),
    OptionIssue(("[region]",), "softmax", lambda v, get: v is None or atoi(v) == 0,
                "OpenCV's Region layer needs softmax=1 (it fails on the first forward pass otherwise)"),
    OptionIssue(("[scale_channels]",), "scale_wh", _nonzero,
                "OpenCV's Scale layer cannot do scale_wh=1 (it fails on the first forward pass)"),
    # loaded, but computed differently from Darknet
    OptionIssue(("[shortcut]",), "weights_type", lambda v, get: v is not None and v != "none",
                "OpenCV ignores shortcut weights, so every weight after this layer is read from the wrong "
                "offset of the .weights file; use weights_type=none for OpenCV", rejected=False),
    OptionIssue(("[maxpool]",), "stride", _absent,
                "OpenCV's default stride is 2, Darknet's 1: write stride= explicitly", rejected=False),
    OptionIssue(("[maxpool]",), "size", lambda v, get: v is None and atoi(get("stride", "1")) != 2,
                "OpenCV's default size is 2, Darknet's is the stride: write size= explicitly", rejected=False),
    OptionIssue(("[upsample]",), "stride", _absent,
                "OpenCV's default stride is 1, Darknet's 2: write stride=2 explicitly", rejected=False),
    OptionIssue(("[reorg]",), "stride", _absent,
                "OpenCV's default stride is 2, Darknet's 1: write stride= explicitly", rejected=False),
    OptionIssue(CONV, "dilation", lambda v, get: v is not None and atoi(v) > 1,
                "OpenCV ignores dilation= and computes an undilated convolution", rejected=False, severity=WARNING),
    OptionIssue(CONV + ("[maxpool]",), "stride_x", _nonzero,
                "OpenCV ignores stride_x=/stride_y= and uses stride= for both directions", rejected=False, severity=WARNING),
    OptionIssue(CONV + ("[maxpool]",), "stride_y", _nonzero,
                "OpenCV ignores stride_x=/stride_y= and uses stride= for both directions", rejected=False, severity=WARNING),
    OptionIssue(CONV, "antialiasing", _nonzero,
                "OpenCV ignores antialiasing= (Darknet's blur after the strided conv)", rejected=False, severity=WARNING),
    OptionIssue(CONV, "xnor", _nonzero, "OpenCV ignores xnor=1 and computes a float convolution",
                rejected=False, severity=WARNING),
    OptionIssue(CONV, "binary", _nonzero, "OpenCV ignores binary=1 and computes with float weights",
                rejected=False, severity=WARNING),
    OptionIssue(("[maxpool]",), "maxpool_depth", _nonzero, "OpenCV ignores maxpool_depth= (pooling across channels)",
                rejected=False, severity=WARNING),
)

TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target("alexeyab", "AlexeyAB/darknet (the default)"),
        Target("hank-ai", "Hank.ai Darknet/YOLO: unused keys, duplicate keys and non-numbers are fatal",
               severity={"W301": ERROR, "W303": ERROR, "W305": ERROR}),
        Target(
            "opencv", "cv2.dnn.readNetFromDarknet (OpenCV 4.x)",
            severity={"H405": ERROR},  # OpenCV asserts anchors == 2 * num (H403 is an error anyway)
            sections=loaded_by("opencv"),
            activations=frozenset(("linear", "leaky", "relu", "logistic", "tanh", "swish", "mish")),
            activation_everywhere=True,
            options=OPENCV_OPTIONS,
            duplicate_wins="last",
        ),
    )
}

DEFAULT_TARGET = "alexeyab"


def get_target(name: str) -> Target:
    try:
        return TARGETS[name]
    except KeyError:
        raise ValueError(f"unknown target {name!r}; choose one of {', '.join(TARGETS)}") from None
