"""[net] / [network]: the options parse_net_options reads, and the net dict shapes use.

Not a layer: NETWORK is not in the layer table (a [net] after the first section is a section
type Darknet does not handle). :func:`net_values` reads the section like parse_net_options
(plus parse_network_cfg_custom's show_receptive_field) and returns the values by key, with
``batch`` as Darknet stores it (batch/subdivisions*time_steps, at least time_steps), ``mini_batch``
(batch/subdivisions), and width/height/channels/inputs.
"""

from __future__ import annotations

from .base import FLOAT, FLOATS, INT, INTS, STR, Choice, LayerSpec, Opt, Reader
from .common import cdiv, darknet_list, error

POLICIES = ("random", "poly", "constant", "step", "exp", "sigmoid", "steps", "sgdr")


class NetSpec(LayerSpec):
    type = "network"
    sections = ("[net]", "[network]")
    layer = False  # [net] reads no COMMON options
    choices = {"policy": Choice(POLICIES, "falls back to policy=constant")}
    options = (
        Opt("max_batches", INT, 0),
        Opt("batch", INT, 1),
        Opt("learning_rate", FLOAT, 0.001),
        Opt("learning_rate_min", FLOAT, 0.00001),
        Opt("sgdr_cycle", INT, None, doc="default: max_batches"),
        Opt("sgdr_mult", INT, 2),
        Opt("momentum", FLOAT, 0.9),
        Opt("decay", FLOAT, 0.0001),
        Opt("subdivisions", INT, 1),
        Opt("time_steps", INT, 1),
        Opt("track", INT, 0),
        Opt("augment_speed", INT, 2),
        Opt("sequential_subdivisions", INT, None, doc="default: subdivisions"),
        Opt("try_fix_nan", INT, 0),
        Opt("weights_reject_freq", INT, 0),
        Opt("equidistant_point", INT, 0),
        Opt("badlabels_rejection_percentage", FLOAT, 0.0),
        Opt("num_sigmas_reject_badlabels", FLOAT, 0.0),
        Opt("ema_alpha", FLOAT, 0.0),
        Opt("use_cuda_graph", INT, 0),
        Opt("loss_scale", FLOAT, 1.0),
        Opt("dynamic_minibatch", INT, 0),
        Opt("optimized_memory", INT, 0),
        Opt("workspace_size_limit_MB", FLOAT, 1024.0),
        Opt("adam", INT, 0),
        Opt("B1", FLOAT, 0.9, doc="read only with adam=1"),
        Opt("B2", FLOAT, 0.999, doc="read only with adam=1"),
        Opt("eps", FLOAT, 0.000001, doc="read only with adam=1"),
        Opt("height", INT, 0),
        Opt("width", INT, 0),
        Opt("channels", INT, 0),
        Opt("inputs", INT, None, doc="default: height*width*channels"),
        Opt("max_crop", INT, None, doc="default: width*2"),
        Opt("min_crop", INT, None, doc="default: width"),
        Opt("flip", INT, 1),
        Opt("blur", INT, 0),
        Opt("gaussian_noise", INT, 0),
        Opt("mixup", INT, 0),
        Opt("cutmix", INT, 0),
        Opt("mosaic", INT, 0),
        Opt("letter_box", INT, 0),
        Opt("mosaic_bound", INT, 0),
        Opt("contrastive", INT, 0),
        Opt("contrastive_jit_flip", INT, 0),
        Opt("contrastive_color", INT, 0),
        Opt("unsupervised", INT, 0),
        Opt("label_smooth_eps", FLOAT, 0.0),
        Opt("resize_step", FLOAT, 32.0),
        Opt("attention", INT, 0),
        Opt("adversarial_lr", FLOAT, 0.0),
        Opt("max_chart_loss", FLOAT, 20.0),
        Opt("angle", FLOAT, 0.0),
        Opt("aspect", FLOAT, 1.0),
        Opt("saturation", FLOAT, 1.0),
        Opt("exposure", FLOAT, 1.0),
        Opt("hue", FLOAT, 0.0),
        Opt("power", FLOAT, 4.0),
        Opt("policy", STR, "constant", doc=", ".join(POLICIES)),
        Opt("burn_in", INT, 0),
        Opt("step", INT, 1, doc="policy=step or sigmoid"),
        Opt("scale", FLOAT, 1.0, doc="policy=step"),
        Opt("steps", INTS, None, doc="policy=steps or sgdr"),
        Opt("scales", FLOATS, None, doc="policy=steps or sgdr"),
        Opt("seq_scales", FLOATS, None, doc="policy=steps or sgdr"),
        Opt("gamma", FLOAT, 1.0, doc="policy=exp or sigmoid"),
        Opt("show_receptive_field", FLOAT, 0.0),
    )

    def infer(self, r, ctx):  # pragma: no cover - [net] is not a layer
        raise TypeError("[net] is not a layer")


NET = NetSpec()


def net_values(section, width: int | None = None, height: int | None = None,
               time_steps: int | None = None) -> tuple[dict, set[str]]:
    """(net dict, keys read). ``width``/``height`` override the cfg like resize_network
    (inputs becomes width*height*channels), ``time_steps`` like parse_network_cfg_custom's
    argument. Raises ShapeError where parse_net_options errors."""
    r = Reader(section, NET)
    get = r.get
    v: dict = {}
    v["max_batches"] = get("max_batches")
    v["batch"] = get("batch")
    for key in ("learning_rate", "learning_rate_min"):
        v[key] = get(key)
    v["sgdr_cycle"] = get("sgdr_cycle", v["max_batches"])
    for key in ("sgdr_mult", "momentum", "decay", "subdivisions", "time_steps", "track", "augment_speed"):
        v[key] = get(key)
    subdivs = v["subdivisions"]
    v["sequential_subdivisions"] = min(get("sequential_subdivisions", subdivs), subdivs)
    v["try_fix_nan"] = get("try_fix_nan")
    if subdivs == 0:
        raise error("zero-divisor", "subdivisions=0: Darknet divides batch by it; use subdivisions >= 1",
                    "subdivisions")
    v["mini_batch"] = cdiv(v["batch"], subdivs)
    for key in ("weights_reject_freq", "equidistant_point", "badlabels_rejection_percentage",
                "num_sigmas_reject_badlabels", "ema_alpha", "use_cuda_graph", "loss_scale", "dynamic_minibatch",
                "optimized_memory", "workspace_size_limit_MB", "adam"):
        v[key] = get(key)
    if v["adam"]:
        for key in ("B1", "B2", "eps"):
            v[key] = get(key)
    v["height"] = get("height")
    v["width"] = get("width")
    v["channels"] = get("channels")
    v["inputs"] = get("inputs", v["height"] * v["width"] * v["channels"])
    v["max_crop"] = get("max_crop", v["width"] * 2)
    v["min_crop"] = get("min_crop", v["width"])
    for key in ("flip", "blur", "gaussian_noise", "mixup", "cutmix", "mosaic", "letter_box", "mosaic_bound",
                "contrastive", "contrastive_jit_flip", "contrastive_color", "unsupervised"):
        v[key] = get(key)
    if v["contrastive"] and v["mini_batch"] < 2:
        raise error("bad-value", "contrastive=1 needs a mini-batch (batch/subdivisions) of at least 2", "contrastive")
    for key in ("label_smooth_eps", "resize_step", "attention", "adversarial_lr", "max_chart_loss", "angle",
                "aspect", "saturation", "exposure", "hue", "power"):
        v[key] = get(key)
    if not v["inputs"] and not (v["height"] and v["width"] and v["channels"]):
        raise error("no-input-size", "[net] gives no input size: set width=, height= and channels= (or inputs=)",
                    None)
    policy = get("policy")
    v["policy"] = policy if policy in POLICIES else "constant"
    v["burn_in"] = get("burn_in")
    if v["policy"] == "step":
        v["step"], v["scale"] = get("step"), get("scale")
    elif v["policy"] in ("steps", "sgdr"):
        steps, scales, seq = (r.raw(k) for k in ("steps", "scales", "seq_scales"))
        if v["policy"] == "steps" and (steps is None or scales is None):
            raise error("bad-value", "policy=steps needs steps= and scales=", "policy")
        if steps is not None:
            v["steps"] = darknet_list(steps, stop_at_hash=True)
            n = len(v["steps"])
            v["scales"] = (get("scales") + [1.0] * n)[:n] if scales is not None else [1.0] * n
            v["seq_scales"] = (get("seq_scales") + [1.0] * n)[:n] if seq is not None else [1.0] * n
    elif v["policy"] in ("exp", "sigmoid"):
        v["gamma"] = get("gamma")
        if v["policy"] == "sigmoid":
            v["step"] = get("step")
    v["show_receptive_field"] = get("show_receptive_field")
    # parse_network_cfg_custom: batch = mini_batch * time_steps, at least 1 and at least time_steps
    batch = v["mini_batch"] * v["time_steps"]
    if time_steps is not None:
        v["time_steps"] = time_steps
    v["time_steps"] = max(v["time_steps"], 1)
    v["batch"] = max(batch, 1, v["time_steps"])
    if width is not None or height is not None:
        v["width"] = width if width is not None else v["width"]
        v["height"] = height if height is not None else v["height"]
        v["inputs"] = v["width"] * v["height"] * v["channels"]
    return v, r.used
