"""Weights carried across a cfg edit (cfgtool.transplant, ``cfgtool transplant``).

The identity tests run the executor (float32) on the original network with random weights
(batch-norm statistics and biases random too) and on the edited one with the transplanted
weights, on one random input, and compare every [yolo] output. yolov4-tiny (64x64) covers the
presets backbone-end and stages with each block (it has no [shortcut], so ``residuals`` does
not apply); yolov4 (128x128: its weights alone are 258 MB) covers backbone-end and residuals
(23 blocks, the hardest case) but not stages, and runs --init random's forward for residuals
only, to keep this file near half a minute (most of it yolov4's 64M weights: written, read
back, batch norm folded).
"""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from conftest import EXAMPLES, invoke, shapes_of
from rich.console import Console

from cfgtool.cli.transplant import carry_weights
from cfgtool.executor.network import Executor
from cfgtool.model import build
from cfgtool.rewrite import Template, insert_blocks
from cfgtool.selection import select
from cfgtool.shapes import infer_shapes
from cfgtool.syntax import parse, parse_file
from cfgtool.transplant import DEVIATION_TARGET, GATE_BIAS, auto_gate_bias, transplant, transplant_files
from cfgtool.weights import WeightsHeader, expected_size, layout, read_weights, write_weights

BLOCKS = ("se_plain", "se_residual", "sam", "cbam")
SIZES = {"yolov4-tiny": 64, "yolov4": 128}


def random_tensors(network, shapes, seed=0):
    """Source weights: fan-in scaled weights, and random biases and batch-norm statistics
    (Darknet's fresh init has zero biases, which would hide a bias put in the wrong place)."""
    rng = np.random.default_rng(seed)
    out = {}
    for index, tensors in layout(network, shapes):
        named = {}
        for t in tensors:
            if t.name in ("scales", "rolling_variance"):
                v = rng.uniform(0.5, 1.5, t.shape)
            elif t.name in ("biases", "rolling_mean"):
                v = rng.normal(0, 0.1, t.shape)
            else:
                v = rng.uniform(-1, 1, t.shape) * np.sqrt(6.0 / max(1, int(np.prod(t.shape[1:]))))
            named[t.name] = v.astype(np.float32)
        out[index] = named
    return out


def outputs(network, shapes, tensors, x, executor=None):
    ex = executor or Executor(network, shapes)
    ex.load(tensors)
    result = ex.forward(x)
    return [result[i] for i in sorted(result)], ex


def deviation(ref, got) -> float:
    """The largest difference over all outputs, relative to each output's largest value."""
    assert len(ref) == len(got)
    return max(float(np.max(np.abs(a - b)) / np.max(np.abs(a))) for a, b in zip(ref, got))


class Source:
    def __init__(self, name, tmp):
        self.doc = parse_file(EXAMPLES / f"{name}.cfg")
        for key in ("width", "height"):
            self.doc.sections[0].set(key, str(SIZES[name]))
        self.network = build(self.doc)
        self.shapes = infer_shapes(self.network)
        self.tensors = random_tensors(self.network, self.shapes)
        self.weights = tmp / f"{name}.weights"
        write_weights(self.weights, WeightsHeader(0, 2, 5, 64000), self.tensors, self.network, self.shapes)
        self.x = np.random.default_rng(1).random((1, 3, SIZES[name], SIZES[name]), dtype=np.float32)
        self.reference, _ = outputs(self.network, self.shapes, self.tensors, self.x)


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    made = {}

    def get(name):
        if name not in made:
            made[name] = Source(name, tmp_path_factory.mktemp(name))
        return made[name]

    return get


CASES = [("yolov4-tiny", preset, block) for preset in ("backbone-end", "stages") for block in BLOCKS] + \
        [("yolov4", preset, block) for preset in ("backbone-end", "residuals") for block in BLOCKS]


@pytest.mark.parametrize("name,preset,block", CASES)
def test_identity_init_keeps_every_output(sources, tmp_path, name, preset, block):
    src = sources(name)
    points = select(src.network, src.shapes, preset).points
    new_doc, inserted = insert_blocks(src.doc, points, Template.builtin(block))
    new_net = build(new_doc)
    new_shapes = infer_shapes(new_net)
    out = tmp_path / "new.weights"

    report = transplant_files(src.doc, new_doc, src.weights, out, inserted=inserted)
    assert out.stat().st_size == expected_size(new_net, new_shapes)
    assert report.identity, report.breaks
    assert len(report.copied) == len(layout(src.network, src.shapes)) and report.dropped == []
    header, tensors = read_weights(out, new_net, new_shapes)
    out.unlink()
    assert header.seen == 64000  # the source's header is kept
    got, executor = outputs(new_net, new_shapes, tensors, src.x)
    dev = deviation(src.reference, got)
    assert dev <= 1e-3
    # within the bound the report states, up to float32 rounding: yolov4's outputs differ from a float64
    # run by ~2e-6 of their maximum (im2col and Winograd alike), so two float32 runs may differ by twice that
    assert dev <= report.max_deviation + 5e-6
    assert report.max_deviation <= DEVIATION_TARGET and report.gate_bias == auto_gate_bias(report.gates_in_series)
    gates = {"se_plain": 1, "se_residual": 1, "sam": 1, "cbam": 2}[block]
    on_the_path = {"se_plain": 1, "se_residual": 0, "sam": 1, "cbam": 2}[block]  # se_residual's is on the
    assert len(report.gates) == gates * len(points)                            # zeroed branch
    assert len(report.zeroed) == (len(points) if block == "se_residual" else 0)
    assert report.gates_in_series == on_the_path * len(points)  # every point is on the main path

    # without being told which layers were inserted, the alignment finds the same ones
    tensors, blind = transplant(src.network, src.shapes, src.tensors, new_net, new_shapes)
    assert blind.moves == report.moves and blind.breaks == []

    tensors, rand = transplant(src.network, src.shapes, src.tensors, new_net, new_shapes, init="random",
                               inserted=inserted)
    assert {m.how for m in rand.moves if m.action == "initialized"} == {"random"}
    assert rand.max_deviation is None
    if (name, preset) != ("yolov4", "backbone-end"):  # 2.5 s each; yolov4-tiny covers this preset
        got, _ = outputs(new_net, new_shapes, tensors, src.x, executor)
        assert deviation(src.reference, got) > 1e-2


SMALL = """[net]
width=16
height=16
channels=3

[convolutional]
batch_normalize=1
filters=8
size=3
stride=1
pad=1
activation=leaky

[convolutional]
batch_normalize=1
filters=16
size=3
stride=2
pad=1
activation=leaky

[convolutional]
batch_normalize=1
filters=8
size=1
stride=1
pad=1
activation=leaky

[convolutional]
batch_normalize=1
filters=16
size=3
stride=1
pad=1
activation=leaky

[shortcut]
from=-3
activation=linear

[convolutional]
filters=18
size=1
stride=1
activation=linear

[yolo]
mask=0,1,2
anchors=2,3, 4,5, 6,7
classes=1
num=3
"""

EXTRA = """[convolutional]
batch_normalize=1
filters=16
size=1
stride=1
activation=leaky

"""


def net_of(text):
    network, shapes = shapes_of(text, "small.cfg")
    assert shapes.ok, shapes.diagnostics
    return network, shapes


def transplanted(old_text, new_text, **kw):
    old, old_shapes = net_of(old_text)
    new, new_shapes = net_of(new_text)
    tensors, report = transplant(old, old_shapes, random_tensors(old, old_shapes), new, new_shapes, **kw)
    return tensors, report


def test_a_hand_inserted_layer_is_initialized_and_breaks_the_identity():
    # old: 0 conv, 1 conv, 2 conv 1x1, 3 conv 3x3, 4 shortcut, 5 conv, 6 yolo; a 1x1 conv after layer 1
    new = SMALL.replace("[convolutional]\nbatch_normalize=1\nfilters=8\nsize=1", EXTRA + "[convolutional]\n"
                        "batch_normalize=1\nfilters=8\nsize=1").replace("from=-3", "from=-4")
    _, report = transplanted(SMALL, new)
    assert report.copied == [(0, 0), (1, 1), (3, 2), (4, 3), (6, 5)]
    assert report.initialized == [2] and report.dropped == []
    assert report.inserted == [2] and report.removed == []
    assert [m.how for m in report.moves if m.action == "initialized"] == ["random"]
    assert not report.identity and report.max_deviation is None
    assert report.breaks[0].startswith("layer 3 ([convolutional]) (old layer 2) reads layer 2")


def test_a_removed_layer_drops_it_and_reinitializes_the_next_if_its_input_changed():
    new = SMALL.replace("[convolutional]\nbatch_normalize=1\nfilters=8\nsize=1\nstride=1\npad=1\n"
                        "activation=leaky\n\n", "").replace("from=-3", "from=-2")
    _, report = transplanted(SMALL, new)
    assert report.copied == [(0, 0), (1, 1), (4, 5)]
    assert report.initialized == [2]  # now reads 16 channels, not 8
    assert report.dropped == [2, 3]
    assert [(m.action, m.new, m.old) for m in report.moves] == [
        ("copied", 0, 0), ("copied", 1, 1), ("dropped", None, 2), ("dropped", None, 3), ("initialized", 2, None),
        ("copied", 4, 5)]


def test_changed_filters_reinitialize_that_layer_and_its_reader():
    new = SMALL.replace("filters=8\nsize=1", "filters=12\nsize=1")
    tensors, report = transplanted(SMALL, new)
    assert report.copied == [(0, 0), (1, 1), (5, 5)]
    assert report.initialized == [2, 3] and report.dropped == [2, 3]
    assert tensors[2]["weights"].shape == (12, 16, 1, 1) and tensors[3]["weights"].shape == (16, 12, 3, 3)
    assert report.breaks == ["layer 4 ([shortcut]) (old layer 4) reads layer 3 ([convolutional]), which does not "
                             "reproduce old layer 3"]


def test_copied_tensors_are_the_source_values_and_init_is_seeded():
    old, old_shapes = net_of(SMALL)
    new, new_shapes = net_of(SMALL.replace("filters=8\nsize=1", "filters=12\nsize=1"))
    source = random_tensors(old, old_shapes)
    a, _ = transplant(old, old_shapes, source, new, new_shapes, init="random", seed=3)
    b, _ = transplant(old, old_shapes, source, new, new_shapes, init="random", seed=3)
    c, _ = transplant(old, old_shapes, source, new, new_shapes, init="random", seed=4)
    for name, arr in source[5].items():
        assert np.array_equal(a[5][name], arr)
    assert np.array_equal(a[2]["weights"], b[2]["weights"])
    assert not np.array_equal(a[2]["weights"], c[2]["weights"])


def test_changed_options_break_the_identity_claim_unless_they_only_affect_training():
    _, report = transplanted(SMALL, SMALL.replace("activation=linear\n\n[yolo]", "activation=logistic\n\n[yolo]"))
    assert report.copied == [(i, i) for i in (0, 1, 2, 3, 5)]
    assert report.breaks == ["layer 5 ([convolutional]) (old layer 5) has other options: activation"]
    _, report = transplanted(SMALL, SMALL.replace("activation=linear\n\n[yolo]", "activation=linear\n"
                                                  "stopbackward=1\n\n[yolo]"))
    assert report.identity and report.max_deviation == 0.0


def test_partial_source_copies_what_it_has_and_initializes_the_rest(tmp_path):
    old, old_shapes = net_of(SMALL)
    source = random_tensors(old, old_shapes)
    path = tmp_path / "small.conv.2"
    write_weights(path, WeightsHeader(), source, old, old_shapes, upto=2)  # layers 0 and 1 only
    new_doc = parse(SMALL.replace("filters=8\nsize=1", "filters=12\nsize=1"), "new.cfg")
    out = tmp_path / "new.weights"
    report = transplant_files(parse(SMALL, "small.cfg"), new_doc, path, out)
    assert report.partial and report.source_layers == 2 and report.old_layers == 5
    assert report.copied == [(0, 0), (1, 1)]
    assert [(m.new, m.how) for m in report.moves if m.action == "initialized"] == [
        (2, "random"), (3, "random"), (5, "missing")]
    assert [(m.old, m.how) for m in report.moves if m.action == "dropped"] == [(2, "missing"), (3, "missing")]
    new_net = build(new_doc)
    new_shapes = infer_shapes(new_net)
    assert out.stat().st_size == expected_size(new_net, new_shapes)
    _, tensors = read_weights(out, new_net, new_shapes)
    assert np.array_equal(tensors[1]["weights"], source[1]["weights"])
    assert not report.identity


USER_BLOCK = """# a residual branch gated by a point-wise map: zeroed, so exact
[convolutional]
batch_normalize=1
filters={C}
size=3
stride=1
pad=1
activation=mish

[convolutional]
filters={C}
size=1
stride=1
activation=logistic

[sam]
from=-2

[shortcut]
from=-4
activation=linear
"""


def test_identity_init_is_generic_over_user_templates(sources, tmp_path):
    src = sources("yolov4-tiny")
    new_doc, inserted = insert_blocks(src.doc, [16, 24], Template("user", USER_BLOCK))
    new_net = build(new_doc)
    new_shapes = infer_shapes(new_net)
    tensors, report = transplant(src.network, src.shapes, src.tensors, new_net, new_shapes)
    firsts = [ins.first for ins in inserted.insertions]  # the mish convolution opens each block
    assert report.zeroed == firsts and report.gates == [j + 1 for j in firsts]
    assert report.identity and report.max_deviation == 0.0  # the gate sits on the zeroed branch
    got, _ = outputs(new_net, new_shapes, tensors, src.x)
    assert deviation(src.reference, got) == 0.0
    zero, gate = tensors[firsts[0]], tensors[firsts[0] + 1]
    assert not zero["scales"].any() and not zero["biases"].any() and zero["weights"].any()
    assert not gate["weights"].any() and np.all(gate["biases"] == 10)


def test_a_block_that_cannot_start_as_identity_is_reported(sources):
    src = sources("yolov4-tiny")
    plain = Template("plain", "[convolutional]\nfilters={C}\nsize=1\nstride=1\nactivation=leaky\n")
    new_doc, inserted = insert_blocks(src.doc, [24], plain)
    new_net = build(new_doc)
    _, report = transplant(src.network, src.shapes, src.tensors, new_net, infer_shapes(new_net), inserted=inserted)
    assert report.initialized == [25] and not report.identity
    assert report.breaks == ["layer 26 ([maxpool]) (old layer 25) reads layer 25 ([convolutional]), which does "
                             "not reproduce old layer 24"]
    broken_shortcut = Template("s", "[convolutional]\nfilters={C}\nsize=1\nstride=1\nactivation=logistic\n\n"
                                    "[shortcut]\nfrom=-2\nactivation=linear\n")
    new_doc, inserted = insert_blocks(src.doc, [24], broken_shortcut)
    new_net = build(new_doc)
    _, report = transplant(src.network, src.shapes, src.tensors, new_net, infer_shapes(new_net))
    assert report.breaks[0].startswith("the inserted [shortcut] at layer 26: its branch ends at layer 25")


def sigmoid(x):
    return 1 / (1 + math.exp(-x))


def test_the_default_gate_bias_keeps_the_compounded_deviation_below_the_target():
    assert auto_gate_bias(0) == auto_gate_bias(1) == GATE_BIAS == 10
    for k in (12, 23, 46, 200):
        b = auto_gate_bias(k)
        assert b > GATE_BIAS and 1 - sigmoid(b) ** k <= DEVIATION_TARGET < 1 - sigmoid(b - 0.1) ** k


def test_an_explicit_gate_bias_is_used(sources):
    src = sources("yolov4-tiny")
    new_doc, inserted = insert_blocks(src.doc, [8, 16], Template.builtin("sam"))
    new_net = build(new_doc)
    tensors, report = transplant(src.network, src.shapes, src.tensors, new_net, infer_shapes(new_net), gate_bias=6)
    gates = [ins.first for ins in inserted.insertions]
    assert report.gates == gates and report.gate_bias == 6 and report.gates_in_series == 2
    for j in gates:  # batch-normalized gates: scales 0, biases 6, unit statistics; weights left random
        assert np.all(tensors[j]["biases"] == 6) and not tensors[j]["scales"].any()
        assert not tensors[j]["rolling_mean"].any() and np.all(tensors[j]["rolling_variance"] == 1)
        assert tensors[j]["weights"].any()
    assert report.max_deviation == pytest.approx(1 - sigmoid(6) ** 2)


def test_bad_init_is_rejected():
    old, shapes = net_of(SMALL)
    with pytest.raises(ValueError, match="init must be one of"):
        transplant(old, shapes, {}, old, shapes, init="zeros")


# -- the command --------------------------------------------------------------------------

@pytest.fixture
def files(tmp_path):
    old = tmp_path / "small.cfg"
    old.write_text(SMALL)
    new = tmp_path / "new.cfg"
    new.write_text(SMALL.replace("[convolutional]\nbatch_normalize=1\nfilters=8\nsize=1", EXTRA + "[convolutional]"
                                 "\nbatch_normalize=1\nfilters=8\nsize=1").replace("from=-3", "from=-4"))
    network, shapes = net_of(SMALL)
    weights = tmp_path / "small.weights"
    write_weights(weights, WeightsHeader(), random_tensors(network, shapes), network, shapes)
    return old, weights, new, tmp_path / "out.weights"


def test_cli_writes_and_prints_the_table(files):
    old, weights, new, out = files
    result = invoke("transplant", old, weights, new, "-o", out)
    assert result.exit_code == 0, result.output
    network, shapes = net_of(new.read_text())
    assert out.stat().st_size == expected_size(network, shapes)
    rows = [line.split("│") for line in result.stdout.splitlines() if "│" in line]
    assert [[c.strip() for c in r[:4]] for r in rows] == [
        ["0", "0", "convolutional", "copied"], ["1", "1", "convolutional", "copied"],
        ["2", "-", "convolutional", "initialized"], ["3", "2", "convolutional", "copied"],
        ["4", "3", "convolutional", "copied"], ["6", "5", "convolutional", "copied"]]
    assert "copied 5 layer(s)" in result.stdout and "initialized 1 layer(s)" in result.stdout
    assert "dropped 0 layer(s)" in result.stdout
    assert "identity does not hold" in result.stdout and "warning" in result.stderr
    assert f"wrote {out}" in result.stdout


def test_cli_compact_folds_copied_runs(files):
    old, weights, new, out = files
    result = invoke("transplant", old, weights, new, "-o", out, "--compact", "--init", "random")
    assert result.exit_code == 0, result.output
    rows = [[c.strip() for c in line.split("│")[:4]] for line in result.stdout.splitlines() if "│" in line]
    assert rows == [["0..1", "0..1", "2 layers", "copied"], ["2", "-", "convolutional", "initialized"],
                    ["3..6", "2..5", "3 layers", "copied"]]
    assert "init random" in result.stdout


def test_cli_identity_message(tmp_path):
    src = tmp_path / "tiny.cfg"
    doc = parse_file(EXAMPLES / "yolov4-tiny.cfg")
    doc.sections[0].set("width", "64")
    doc.sections[0].set("height", "64")
    src.write_text(doc.dumps())
    network = build(doc)
    shapes = infer_shapes(network)
    weights = tmp_path / "tiny.weights"
    write_weights(weights, WeightsHeader(), random_tensors(network, shapes), network, shapes)
    new_doc, _ = insert_blocks(doc, [24], Template.builtin("cbam"))
    new = tmp_path / "tiny-cbam.cfg"
    new.write_text(new_doc.dumps())
    result = invoke("transplant", src, weights, new, "-o", tmp_path / "out.weights")
    assert result.exit_code == 0, result.output
    assert "up to 2 gate(s) in series" in result.stdout and f"{1 - sigmoid(10) ** 2:.2e}" in result.stdout
    assert "gate (bias 10)" in result.stdout
    result = invoke("transplant", src, weights, new, "-o", tmp_path / "out.weights", "--gate-bias", "8", "--force")
    assert result.exit_code == 0, result.output
    assert f"sigmoid(8)^2 = {1 - sigmoid(8) ** 2:.2e}" in result.stdout and "gate (bias 8)" in result.stdout


def test_cli_missing_files_exit_2(files, tmp_path):
    old, weights, new, out = files
    assert invoke("transplant", old, tmp_path / "nope.weights", new, "-o", out).exit_code == 2
    assert invoke("transplant", tmp_path / "nope.cfg", weights, new, "-o", out).exit_code == 2
    result = invoke("transplant", old, weights, new, "-o", tmp_path / "no" / "dir" / "out.weights")
    assert result.exit_code == 2 and "out.weights" in result.stderr
    assert not out.exists()


def test_cli_wrong_size_weights_exit_1_located(files):
    old, weights, new, out = files
    data = weights.read_bytes()
    weights.write_bytes(data[:-6])  # ends inside the last convolution
    result = invoke("transplant", old, weights, new, "-o", out)
    assert result.exit_code == 1
    line = net_of(SMALL)[0].layers[5].line  # the last convolution's header
    assert f"small.cfg:{line}:1" in result.stderr and "too short" in result.stderr
    weights.write_bytes(data + b"\0" * 8)
    result = invoke("transplant", old, weights, new, "-o", out)
    assert result.exit_code == 1 and "too long" in result.stderr
    assert not out.exists()


def test_cli_invalid_cfg_exit_1(files, tmp_path):
    old, weights, new, out = files
    bad = tmp_path / "bad.cfg"
    bad.write_text(SMALL.replace("from=-3", "from=-30"))
    result = invoke("transplant", old, weights, bad, "-o", out)
    assert result.exit_code == 1 and "bad.cfg:" in result.stderr
    assert not out.exists()


def test_carry_weights_is_one_call_for_the_block_commands(sources, tmp_path):
    src = sources("yolov4-tiny")
    new_doc, inserted = insert_blocks(src.doc, [24], Template.builtin("se_residual"))
    buffer = io.StringIO()
    out = tmp_path / "out.weights"
    report = carry_weights(src.doc, new_doc, src.weights, out, inserted=inserted,
                           console=Console(file=buffer, width=120))
    text = buffer.getvalue()
    assert report.identity and out.exists()
    assert "0..23" in text and "zero (branch end)" in text and "gate (bias 10)" in text
    assert "computes the old network's function exactly" in text
    with pytest.raises(SystemExit) as exc:  # weights for another cfg: exit 1
        carry_weights(new_doc, src.doc, src.weights, tmp_path / "other.weights")
    assert exc.value.code == 1 and not (tmp_path / "other.weights").exists()


def test_add_se_with_weights_writes_cfg_and_identity_weights(sources, tmp_path):
    src = sources("yolov4-tiny")
    cfg = tmp_path / "tiny.cfg"
    cfg.write_text(src.doc.dumps())
    result = invoke("add-se", cfg, "--weights", src.weights)
    assert result.exit_code == 0, result.output
    new_cfg, new_weights = tmp_path / "tiny-se.cfg", tmp_path / "tiny-se.weights"
    network = build(parse_file(new_cfg))
    shapes = infer_shapes(network)
    assert new_weights.stat().st_size == expected_size(network, shapes)
    _, tensors = read_weights(new_weights, network, shapes)
    got, _ = outputs(network, shapes, tensors, src.x)
    assert deviation(src.reference, got) < 1e-3
    # a second run refuses to overwrite either file
    again = invoke("add-se", cfg, "--weights", src.weights, "-o", tmp_path / "other.cfg", "--weights-out", new_weights)
    assert again.exit_code == 2 and "exists" in again.output  # a usage error (issue 19)
    assert not (tmp_path / "other.cfg").exists()


def test_add_se_weights_refuse_stdout_and_dry_run(sources, tmp_path):
    src = sources("yolov4-tiny")
    cfg = tmp_path / "tiny.cfg"
    cfg.write_text(src.doc.dumps())
    for extra in (["-o", "-"], ["--dry-run"]):
        result = invoke("add-se", cfg, "--weights", src.weights, *extra)
        assert result.exit_code == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.cfg"]
