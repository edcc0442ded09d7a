"""S2xx: shapes. cfgtool.shapes finds the errors (where Darknet aborts or builds a
degenerate layer, S200-S215); the classes here give each code its place in the rule table
(S200 also carries any code without a class of its own; mask indices are H402's).
S250 is lint's own: a shortcut over layers with different channel counts."""

from __future__ import annotations

from ..diagnostics import ERROR, WARNING
from ..layers.common import dims
from .base import Rule
from .references import item_span


class ShapeRule(Rule):
    severity = ERROR

    def check(self, ctx):
        if ctx.shapes is None:
            return []
        return [d for d in ctx.shapes.diagnostics if d.code == self.code]


class ShapeFailure(ShapeRule):
    """A layer Darknet cannot build with these settings (the generic shape error; it also
    carries any shape code no other rule describes).

    Bad:   a layer whose settings contradict its input
    Good:  settings that fit the input
    """

    code, name = "S200", "shape-error"

    def check(self, ctx):
        if ctx.shapes is None:
            return []
        claimed = {r.code for r in RULES} - {self.code}
        return [d for d in ctx.shapes.diagnostics if d.code not in claimed]


class NotAnImage(ShapeRule):
    """A layer that needs a w x h x c input after one that outputs a flat vector.

    Bad:   ``[convolutional]`` right after ``[connected]``
    Good:  ``[convolutional]`` after a conv, pool, route ... (or move the [connected] to the end)
    """

    code, name = "S201", "not-an-image"


class BadReference(ShapeRule):
    """A reference to a layer that has no output yet (itself, a later layer, out of range).

    Bad:   ``from=2`` in layer 2
    Good:  ``from=-2``
    """

    code, name = "S202", "bad-reference"


class RouteSizeMismatch(ShapeRule):
    """[route] over layers of different width x height: Darknet makes a 0x0x0 layer.

    Bad:   ``layers=-1,36`` joining a 19x19 and a 38x38 map
    Good:  an [upsample] before the route so both maps are 38x38
    """

    code, name = "S203", "route-size-mismatch"


class ShortcutSizeMismatch(ShapeRule):
    """[shortcut] from a layer of different width x height: Darknet aborts (an assertion).

    Bad:   ``from=-3`` where layer -3 is 76x76 and the previous layer 38x38
    Good:  ``from=`` a layer of the previous layer's size
    """

    code, name = "S204", "shortcut-size-mismatch"


class ScaleChannelsShape(ShapeRule):
    """[scale_channels] whose scale input is not 1x1xC (or WxHx1 with scale_wh=1): Darknet aborts.

    Bad:   ``[scale_channels] from=-3`` right after a 19x19x64 conv
    Good:  after ``[avgpool]`` and a 1x1 conv with the from layer's channel count
    """

    code, name = "S205", "scale-channels-shape"


class SamShapeMismatch(ShapeRule):
    """[sam] whose two inputs differ in shape: Darknet aborts.

    Bad:   ``[sam] from=-3`` with a 38x38x128 from layer after a 38x38x64 conv
    Good:  the conv before [sam] with ``filters=128``
    """

    code, name = "S206", "sam-shape-mismatch"


class ZeroDivisor(ShapeRule):
    """A zero Darknet divides by (stride, groups, subdivisions): a crash.

    Bad:   ``stride=0``
    Good:  ``stride=1``
    """

    code, name = "S207", "zero-divisor"


class EmptyOutput(ShapeRule):
    """A layer whose output has no elements (a kernel larger than its padded input ...).

    Bad:   ``size=7`` without padding on a 4x4 input
    Good:  ``size=3`` with ``pad=1``
    """

    code, name = "S208", "empty-output"


class DetectorInputMismatch(ShapeRule):
    """A [yolo]/[region]/[detection] head whose input size does not match classes, mask and
    anchors: Darknet exits ("filters= ... doesn't correspond to classes= or mask=").

    Bad:   ``filters=255`` before a ``[yolo]`` with ``classes=1`` and three masks
    Good:  ``filters=18`` ((1 + 5) * 3)
    """

    code, name = "S209", "detector-input-mismatch"


class BadValue(ShapeRule):
    """A value Darknet rejects with an error message and exits.

    Bad:   ``weights_type=per_pixel`` in [shortcut]
    Good:  ``weights_type=per_channel``
    """

    code, name = "S210", "bad-value"


class ShareMismatch(ShapeRule):
    """``share_index=`` names a conv of another size: the shared weights do not fit.

    Bad:   ``share_index=3`` where layer 3 has 64 filters and this layer 128
    Good:  ``share_index`` of a conv with the same size, filters and input channels
    """

    code, name = "S211", "share-mismatch"


class NoInputSize(ShapeRule):
    """[net] without an input size: Darknet exits ("No input parameters supplied").

    Bad:   ``[net]`` with only ``batch=1``
    Good:  ``width=416``, ``height=416``, ``channels=3``
    """

    code, name = "S212", "no-input-size"


class GroupsMismatch(ShapeRule):
    """``groups=`` that does not divide the input channels and the filters.

    Bad:   ``groups=3`` on a 32-channel input
    Good:  ``groups=2``
    """

    code, name = "S213", "groups-mismatch"


class BadReferenceType(ShapeRule):
    """A reference to a layer of the wrong kind (e.g. [contrastive] ``yolo_layer=`` not a [yolo]).

    Bad:   ``yolo_layer=-2`` naming a conv
    Good:  ``yolo_layer=`` the index of a [yolo] layer
    """

    code, name = "S215", "bad-reference-type"


class ShortcutChannelMismatch(Rule):
    """[shortcut] over layers with different channel counts: Darknet allows it (it adds the
    common channels) but it is almost always a from= left stale by an inserted layer.

    Bad:   ``from=-3`` naming a 52x52x128 layer after a 52x52x64 conv
    Good:  ``from=`` a 52x52x64 layer
    """

    code, name, severity = "S250", "shortcut-channel-mismatch", WARNING

    def check(self, ctx):
        for layer in ctx.layers:
            shape = ctx.shape(layer.index)
            if layer.spec is None or layer.spec.combine != "sum" or shape is None:
                continue
            line = layer.section.option("from")
            for ref in layer.refs:
                other = ctx.shape(ref.target) if 0 <= ref.target < layer.index else None
                if other is None or other.output[2] == shape.input[2]:
                    continue
                yield ctx.diag(
                    self,
                    f"[shortcut] adds layer {ref.target} ({dims(other.output)}) to layer {layer.index - 1} "
                    f"({dims(shape.input)}): the channel counts differ, Darknet adds only the first "
                    f"{min(other.output[2], shape.input[2])}; point from= at a layer with {shape.input[2]} channels",
                    item_span(line, ref.position), layer.index)


RULES = (
    ShapeFailure, NotAnImage, BadReference, RouteSizeMismatch, ShortcutSizeMismatch, ScaleChannelsShape,
    SamShapeMismatch, ZeroDivisor, EmptyOutput, DetectorInputMismatch, BadValue, ShareMismatch, NoInputSize,
    GroupsMismatch, BadReferenceType, ShortcutChannelMismatch,
)
