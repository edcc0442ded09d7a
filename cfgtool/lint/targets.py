"""What each target (the program that will read the cfg) does differently: data, not code.

- ``alexeyab``: AlexeyAB/darknet, the reference every rule describes.
- ``hank-ai``: the Hank.ai Darknet/YOLO fork; its cfg reader aborts on a key no layer read,
  on a key given twice in a section and on a non-numeric value where a number is expected.
- ``opencv``: ``cv2.dnn.readNetFromDarknet`` (OpenCV 4.x, modules/dnn/src/darknet); it loads
  a subset of the layer types and activations, keeps the *last* of duplicate keys, and
  ignores some options (checked against opencv-python-headless 4.14).

What a target does with one layer type is declared on that type's spec: the headers it loads
(``LayerSpec.targets``) and the options it rejects or reads differently (``target_issues``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..diagnostics import ERROR
from ..layers import SPECS


@dataclass(frozen=True)
class Target:
    name: str
    description: str
    severity: dict[str, str] = field(default_factory=dict)  # code -> severity for this target
    sections: frozenset[str] | None = None  # headers it loads; None: all of Darknet's
    activations: frozenset[str] | None = None  # activations it implements; None: Darknet's
    activation_everywhere: bool = False  # applies activation= on every layer type
    duplicate_wins: str = "first"  # which of two equal keys the target reads
    # exits with SIGFPE after parsing a network in which no layer has l.w > 1 and l.h > 1
    divides_by_image_layers: bool = False


def loaded_by(target: str) -> frozenset[str]:
    """The section headers ``target`` loads: [net] and what the layer specs declare (``targets``)."""
    return frozenset(("[net]", *(h for spec in SPECS for h in spec.targets.get(target, ()))))


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target("alexeyab", "AlexeyAB/darknet (the default)", divides_by_image_layers=True),
        Target("hank-ai", "Hank.ai Darknet/YOLO: unused keys, duplicate keys and non-numbers are fatal",
               severity={"W301": ERROR, "W303": ERROR, "W305": ERROR}),
        Target(
            "opencv", "cv2.dnn.readNetFromDarknet (OpenCV 4.x)",
            severity={"H405": ERROR},  # OpenCV asserts anchors == 2 * num (H403 is an error anyway)
            sections=loaded_by("opencv"),
            activations=frozenset(("linear", "leaky", "relu", "logistic", "tanh", "swish", "mish")),
            activation_everywhere=True,
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
