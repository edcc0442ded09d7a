"""[conv_lstm]: parse_conv_lstm and make_conv_lstm_layer: an LSTM whose gates are
convolutions (U: c->output on the input, W: output->output on the state, V with peephole).
Darknet asserts the W and U convolutions give the same size, so only size-preserving
settings work. get_layer_string gives "none". bflops: all gate convolutions plus 9 (12 with
peephole) operations per output and image (Darknet multiplies by l.batch; this counts
one image, as Darknet prints it at inference); nweights stays 0."""

from __future__ import annotations

from dataclasses import dataclass

from .base import FLOAT, INT, RECURRENT, STR, LayerShape, LayerSpec, Opt, Params, conv_tensors
from .common import activation, dims, error, image
from .crnn import RECURRENT_CONV_OPTIONS, Crnn, conv, read_geometry


@dataclass(frozen=True, kw_only=True)
class ConvLstmParams(Params):
    size: int = 3
    stride: int = 1
    dilation: int = 1
    pad: int = 0
    n: int = 1
    groups: int = 1
    activation: str = "linear"
    batch_normalize: int = 0
    xnor: int = 0
    peephole: int = 0
    bottleneck: int = 0
    state_constrain: int = 32
    shortcut: int = 0
    lstm_activation: str = "tanh"
    time_normalizer: float = 1.0


class ConvLstm(LayerSpec):
    type = "conv_lstm"
    sections = ("[conv_lstm]",)
    Params = ConvLstmParams
    recurrent = True
    cannot_run = RECURRENT
    named = False
    filters_text, size_text = Crnn.filters_text, Crnn.size_text
    options = RECURRENT_CONV_OPTIONS + (
        Opt("output", INT, 1),
        Opt("groups", INT, 1),
        Opt("activation", STR, "linear"),
        Opt("batch_normalize", INT, 0),
        Opt("xnor", INT, 0),
        Opt("peephole", INT, 0),
        Opt("bottleneck", INT, 0),
        Opt("state_constrain", INT, None, doc="default: time_steps*32"),
        Opt("shortcut", INT, 0),
        Opt("lstm_activation", STR, "tanh"),
        Opt("time_normalizer", FLOAT, 1.0),
    )

    def tensors(self, shape):
        p = shape.params
        bn, c, n, size, groups = bool(p.get("batch_normalize")), shape.input[2], p["n"], p["size"], p.get("groups", 1)
        out = []
        if p.get("peephole"):
            out += [t for g in ("vf", "vi", "vo") for t in conv_tensors(g + ".", n, n, size, groups, bn)]
        out += conv_tensors("wf.", 2 * n if p.get("bottleneck") else n, n, size, groups, bn)
        if not p.get("bottleneck"):
            out += [t for g in ("wi", "wg", "wo") for t in conv_tensors(g + ".", n, n, size, groups, bn)]
        return out + [t for g in ("uf", "ui", "ug", "uo") for t in conv_tensors(g + ".", c, n, size, groups, bn)]

    def infer(self, r, ctx):
        size, stride, dilation, padding = read_geometry(r)
        output, groups = r.get("output"), r.get("groups")
        act = activation(r.get("activation"))
        batch_normalize, xnor = r.get("batch_normalize"), r.get("xnor")
        peephole, bottleneck = r.get("peephole"), r.get("bottleneck")
        w, h, c = image(ctx, "[conv_lstm]")
        groups = 1 if xnor or groups < 1 else groups
        uw, uh, _, bu = conv("[conv_lstm]", w, h, c, output, groups, size, stride, padding, xnor)
        bflops = 4 * bu
        state_c = output * 2 if bottleneck else output
        ww, wh, _, bw = conv("[conv_lstm]", w, h, state_c, output, groups, size, stride, padding, xnor)
        bflops += bw if bottleneck else 4 * bw
        if peephole:
            bflops += 3 * conv("[conv_lstm]", w, h, output, output, groups, size, stride, padding, xnor)[3]
        if (ww, wh) != (uw, uh):
            raise error("bad-value", f"[conv_lstm] gate convolutions disagree: {dims((uw, uh, output))} vs "
                        f"{dims((ww, wh, output))}; use stride=1 and pad=1", "stride")
        outputs = uw * uh * output
        bflops += (12 if peephole else 9) * outputs / 1e9  # times l.batch: 1 at inference
        p = dict(size=size, stride=stride, dilation=dilation, pad=padding, n=output, groups=groups, activation=act,
                 batch_normalize=batch_normalize, xnor=xnor, peephole=peephole, bottleneck=bottleneck,
                 state_constrain=r.get("state_constrain", ctx.net.get("time_steps", 1) * 32),
                 shortcut=r.get("shortcut"), lstm_activation=activation(r.get("lstm_activation")),
                 time_normalizer=r.get("time_normalizer"))
        return LayerShape((w, h, c), (uw, uh, output), outputs, 0, bflops, p)
