"""Head editing: ``set-classes``, ``resize``, ``anchors`` (cfgtool.heads, cfgtool.anchors).

Darknet's filter rules are written out here on purpose (not asked of the specs the library
uses): [yolo] (N + 5) * len(mask), [Gaussian_yolo] (N + 9) * len(mask), [region]
num * (N + coords + 1), [detection] side^2 * ((1 + coords) * num + N) values.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import CONFORMANCE, DARKNET_RUNS_WRONGLY, EXAMPLES, conformance_cfgs, invoke

from cfgtool.anchors import cluster, iou, read_labels
from cfgtool.executor.network import Executor
from cfgtool.heads import EditError, assign_masks, resize, set_anchors, set_classes, total_stride
from cfgtool.lint import check
from cfgtool.model import build
from cfgtool.shapes import infer_shapes
from cfgtool.syntax import parse, parse_file
from cfgtool.weights import WeightsHeader, layout, read_weights, write_weights

HEADS = ("yolo", "Gaussian_yolo", "region", "detection")


def darknet_rule(layer, classes: int, values: dict) -> int:
    """What Darknet requires of the layer before a head (channels; [detection]: all values)."""
    num = int(values.get("num", 1))
    if layer.type in ("yolo", "Gaussian_yolo"):
        mask = values.get("mask")
        n = len(mask.split("#")[0].split(",")) if mask else num
        return (classes + (5 if layer.type == "yolo" else 9)) * n
    if layer.type == "region":
        return num * (classes + int(values.get("coords", 4)) + 1)
    side = int(values.get("side", 7))
    return side * side * ((1 + int(values.get("coords", 1))) * num + classes)


def detectors():
    out = []
    for path in conformance_cfgs():
        text = path.read_text(encoding="utf-8", errors="replace")
        if any(f"[{h}]" in text for h in HEADS):
            out.append(path)
    return out


def test_set_classes_on_every_corpus_detector(conformance_dir):
    paths = detectors()
    assert len(paths) >= 60
    for path in paths:
        doc = parse_file(path)
        edit = set_classes(doc, 3)
        # the result's errors (validate's rules) not in the input: none; the input's: none, but for
        # the files Darknet runs wrongly (their errors stay as they were)
        assert edit.errors == [], (path.name, [d.one_line() for d in edit.errors])
        assert [(d.code, d.span.line) for d in edit.input_errors] == DARKNET_RUNS_WRONGLY.get(path.stem, [])
        network = build(edit.doc)
        shapes = infer_shapes(network)
        heads = [layer for layer in network.layers if layer.type in HEADS]
        assert heads, path.name
        for head in heads:
            values = {ln.key: ln.value for ln in reversed(head.section.options)}
            assert int(values["classes"]) == 3, (path.name, head.index)
            feeder = shapes.layers[head.index - 1]
            w, h, c = feeder.feeds or feeder.output
            have = w * h * c if head.type == "detection" else c
            assert have == darknet_rule(head, 3, values), (path.name, head.index)


def test_set_classes_refuses_a_head_after_a_layer_without_filters():
    doc = parse("[net]\nwidth=32\nheight=32\nchannels=3\n\n[convolutional]\nfilters=21\nsize=1\n\n"
                "[maxpool]\nsize=1\nstride=1\n\n[yolo]\nmask=0,1,2\nnum=3\nclasses=2\n", "t.cfg")
    with pytest.raises(EditError, match=r"t.cfg:14: \[yolo\] layer 2 reads layer 1 \(\[maxpool\]\), which has no "
                                        r"option that sets its output; it needs \(3 \+ 5\) \* 3 = 24"):
        set_classes(doc, 3)


def test_set_classes_cli_writes_nothing_when_it_cannot(tmp_path):
    cfg = tmp_path / "t.cfg"
    cfg.write_text("[net]\nwidth=32\nheight=32\nchannels=3\n\n[convolutional]\nfilters=21\nsize=1\n\n"
                   "[maxpool]\nsize=1\nstride=1\n\n[yolo]\nmask=0,1,2\nnum=3\nclasses=2\n")
    result = invoke("set-classes", 3, cfg)
    assert result.exit_code == 1 and "no option that sets its output" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.cfg"]


def test_set_classes_removes_counts_per_class_and_sets_the_schedule():
    doc = parse_file(EXAMPLES / "yolov4-tiny.cfg")
    head = doc.sections[31]
    head.set("counters_per_class", ",".join(["5"] * 80))
    edit = set_classes(doc, 25, train_schedule=True)
    assert edit.errors == []
    net = edit.doc.sections[0]
    assert net.get("max_batches") == "50000" and net.get("steps") == "40000,45000"
    assert edit.doc.sections[31].get("counters_per_class") is None
    assert [c.key for c in edit.changes if c.new is None] == ["counters_per_class"]
    small = set_classes(parse_file(EXAMPLES / "yolov4-tiny.cfg"), 2, train_schedule=True)
    assert small.doc.sections[0].get("max_batches") == "6000" and small.doc.sections[0].get("steps") == "4800,5400"


def test_set_classes_dry_run_and_stdout(tmp_path):
    cfg = tmp_path / "tiny.cfg"
    cfg.write_bytes((EXAMPLES / "yolov4-tiny.cfg").read_bytes())
    diff = invoke("set-classes", 3, cfg, "--dry-run")
    assert diff.exit_code == 0
    assert "-filters=255\n+filters=24\n" in diff.output and "-classes=80\n+classes=3\n" in diff.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.cfg"]
    out = invoke("set-classes", 3, cfg, "-o", "-")
    assert out.exit_code == 0 and out.output.count("filters=24\n") == 2
    written = invoke("set-classes", 3, cfg)
    assert written.exit_code == 0 and (tmp_path / "tiny-classes3.cfg").is_file()
    again = invoke("set-classes", 3, cfg)
    assert again.exit_code == 2 and "exists" in again.output  # a usage error (issue 19)


def _random_weights(network, shapes, seed=0):
    rng = np.random.default_rng(seed)
    return {i: {t.name: (rng.standard_normal(t.shape) * 0.1 + (1.0 if t.name == "rolling_variance" else 0.0))
                .astype(np.float32) for t in ts} for i, ts in layout(network, shapes)}


def test_set_classes_weights_keep_untouched_layers_byte_identical(tmp_path):
    doc = parse_file(EXAMPLES / "yolov4-tiny.cfg")
    for key in ("width", "height"):
        doc.sections[0].set(key, "64")
    cfg = tmp_path / "tiny.cfg"
    cfg.write_text(doc.dumps())
    network, shapes = build(doc), infer_shapes(build(doc))
    tensors = _random_weights(network, shapes)
    write_weights(tmp_path / "tiny.weights", WeightsHeader(0, 2, 5, 1234), tensors, network, shapes)
    outs = []
    for name in ("a", "b"):
        result = invoke("set-classes", 3, cfg, "--weights", tmp_path / "tiny.weights", "-o", tmp_path / f"{name}.cfg")
        assert result.exit_code == 0, result.output
        assert "fresh init (seed 0) of the layer(s) whose filters changed: 29, 36" in result.output
        new_doc = parse_file(tmp_path / f"{name}.cfg")
        new_net = build(new_doc)
        new_shapes = infer_shapes(new_net)
        header, new_tensors = read_weights(tmp_path / f"{name}.weights", new_net, new_shapes)
        assert header.seen == 1234
        outs.append((new_net, new_shapes, new_tensors))
    new_net, new_shapes, new_tensors = outs[0]
    assert sorted(new_tensors) == sorted(tensors)
    for index, named in tensors.items():
        for key, value in named.items():
            if index in (29, 36):  # the head convolutions: 24 filters now, fresh and deterministic
                assert new_tensors[index][key].shape[0] == 24
                assert new_tensors[index][key].tobytes() == outs[1][2][index][key].tobytes()
            else:
                assert new_tensors[index][key].tobytes() == value.tobytes(), (index, key)
    ex = Executor(new_net, new_shapes)
    ex.load(new_tensors)
    result = ex.forward(np.random.default_rng(1).random((1, 3, 64, 64), dtype=np.float32))
    assert sorted(result) == [30, 37]
    assert [r.shape[1] for r in (result[30], result[37])] == [24, 24]
    assert all(np.isfinite(r).all() for r in result.values())


def test_resize_yolov4_stride():
    doc = parse_file(EXAMPLES / "yolov4.cfg")
    for size in (608, 640):
        edit = resize(doc, size, size)
        assert edit.errors == [] and edit.stride == (32, 32)
        assert edit.doc.sections[0].get("width") == str(size) == edit.doc.sections[0].get("height")
    with pytest.raises(EditError, match=r"^width=600 not a multiple of the network's total stride 32x32 .*nearest "
                                        r"valid sizes: width 576, 608$"):
        resize(doc, 600, 608)


def test_resize_cli(tmp_path):
    out = tmp_path / "y.cfg"
    ok = invoke("resize", EXAMPLES / "yolov4.cfg", "--width", 640, "--height", 640, "-o", out)
    assert ok.exit_code == 0 and "total stride 32x32" in ok.output and "grid 19x19 -> 20x20" in ok.output
    assert "width=640\n" in out.read_text()
    bad = invoke("resize", EXAMPLES / "yolov4.cfg", "--width", 600, "--height", 600, "-o", tmp_path / "z.cfg")
    assert bad.exit_code == 1 and "nearest valid sizes: width 576, 608; height 576, 608" in bad.output
    assert not (tmp_path / "z.cfg").exists()
    assert invoke("resize", EXAMPLES / "yolov4.cfg").exit_code == 2


@pytest.mark.parametrize("name,stride", [("yolov4-p5", 32), ("yolov4-p6", 64), ("cspx-p7-mish", 128),
                                         ("yolov3-tiny", 32)])
def test_total_stride_of_corpus_models(conformance_dir, name, stride):
    network = build(parse_file(conformance_dir / "darknet" / "cfg" / f"{name}.cfg"))
    shapes = infer_shapes(network)
    assert total_stride(network, shapes) == (stride, stride)
    width = shapes.net["width"]
    assert infer_shapes(network, width + stride, width + stride).ok
    assert not infer_shapes(network, width + stride // 2, width + stride // 2).ok


def test_resize_refuses_size_dependent_weights():
    doc = parse("[net]\nwidth=32\nheight=32\nchannels=3\n\n[convolutional]\nfilters=4\nsize=3\nstride=2\npad=1\n\n"
                "[connected]\noutput=10\n", "c.cfg")
    with pytest.raises(EditError, match=r"layer 1 \[connected\] \(line 12\) has 10,250 weights at 32x32 but 40,970 "
                                        r"at 64x64: its weights depend on the input size"):
        resize(doc, 64, 64)


# ------------------------------------------------------------------ anchors

TRUE = np.array([[10, 14], [23, 27], [37, 58], [81, 82], [135, 169], [344, 319], [12, 40], [60, 20], [200, 90]],
                dtype=np.float64)


def synthetic(rng, centres, per, spread=0.06):
    return np.concatenate([c * np.exp(rng.normal(0, spread, (per, 2))) for c in centres])


def write_labels(folder, boxes, size=416, per_file=20):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    for start in range(0, len(boxes), per_file):
        lines = [f"{rng.integers(5)} {rng.uniform(0.2, 0.8):.4f} {rng.uniform(0.2, 0.8):.4f} "
                 f"{min(w / size, 1):.6f} {min(h / size, 1):.6f}" for w, h in boxes[start:start + per_file]]
        (folder / f"img{start // per_file}.txt").write_text("\n".join(lines) + "\n")


def lloyd_euclidean(boxes, k, seed, iterations=100):
    """Plain k-means on (w, h) with Euclidean distance, centres drawn from the boxes."""
    rng = np.random.default_rng(seed)
    centres = boxes[rng.choice(len(boxes), k, replace=False)]
    for _ in range(iterations):
        assign = ((boxes[:, None, :] - centres[None]) ** 2).sum(-1).argmin(1)
        centres = np.array([boxes[assign == j].mean(0) if (assign == j).any() else centres[j] for j in range(k)])
    return float(iou(boxes, centres).max(1).mean())


def test_anchors_recover_known_clusters(tmp_path):
    rng = np.random.default_rng(7)
    boxes = synthetic(rng, TRUE, 120)
    write_labels(tmp_path / "labels" / "sub", boxes)
    result = invoke("anchors", "--labels", tmp_path / "labels", "--num", 9, "--width", 416, "--height", 416,
                    "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["boxes"] == len(boxes) and sum(data["counts"]) == len(boxes)
    found = np.array(data["anchors"])
    areas = found[:, 0] * found[:, 1]
    assert (np.diff(areas) >= 0).all()
    best = iou(TRUE, found).max(axis=1)
    assert best.min() >= 0.95, best


def test_anchors_beat_plain_lloyd():
    rng = np.random.default_rng(11)
    # clusters of very different scales and aspect ratios plus a broad spread of sizes
    boxes = np.concatenate([synthetic(rng, TRUE, 80, 0.25), rng.uniform(5, 400, (300, 2))])
    ours = cluster(boxes, 9, seed=0).avg_iou
    plain = [lloyd_euclidean(boxes, 9, s) for s in range(10)]
    assert ours >= max(plain), (ours, plain)
    assert cluster(boxes, 9, seed=0).anchors.tolist() == cluster(boxes, 9, seed=0).anchors.tolist()


def test_anchors_into_yolov4_tiny(tmp_path):
    rng = np.random.default_rng(5)
    write_labels(tmp_path / "labels", synthetic(rng, TRUE[:6], 60))
    out = tmp_path / "tiny.cfg"
    result = invoke("anchors", "--labels", tmp_path / "labels", "--num", 6, EXAMPLES / "yolov4-tiny.cfg", "-o", out)
    assert result.exit_code == 0, result.output
    network = build(parse_file(out))
    heads = [layer for layer in network.layers if layer.type == "yolo"]
    assert [h.section.get("mask") for h in heads] == ["3,4,5", "0,1,2"]  # not Darknet's 1,2,3
    assert {h.section.get("num") for h in heads} == {"6"}
    assert infer_shapes(network).ok
    nine = invoke("anchors", "--labels", tmp_path / "labels", "--num", 9, EXAMPLES / "yolov4-tiny.cfg", "-o", "-")
    assert nine.exit_code == 0, nine.output
    network = build(parse(nine.stdout))
    shapes = infer_shapes(network)
    heads = [layer for layer in network.layers if layer.type == "yolo"]
    assert [h.section.get("mask") for h in heads] == ["4,5,6,7,8", "0,1,2,3"]
    assert [shapes.layers[h.index - 1].output[2] for h in heads] == [85 * 5, 85 * 4]
    assert [d for d in check(parse(nine.stdout)) if d.severity == "error"] == []


def test_assign_masks_by_stride():
    assert assign_masks({161: 32, 150: 16, 139: 8}, 9) == {161: [6, 7, 8], 150: [3, 4, 5], 139: [0, 1, 2]}
    with pytest.raises(EditError, match="2 anchors cannot serve 3 head scales"):
        assign_masks({1: 32, 2: 16, 3: 8}, 2)


def test_set_anchors_refuses_region_heads(conformance_dir):
    doc = parse_file(conformance_dir / "darknet" / "cfg" / "yolov2.cfg")
    with pytest.raises(EditError, match=r"no head takes anchors in pixels"):
        set_anchors(doc, [(10, 10)] * 5)


def test_label_problems_are_located(tmp_path):
    folder = tmp_path / "labels"
    folder.mkdir()
    (folder / "a.txt").write_text("0 0.5 0.5 0.1 0.2\n\n0 0.5 0.5 0.1\n1 0.5 0.5 1.5 0.2\nx 1 2 3 4\n")
    labels = read_labels([folder])
    assert labels.boxes.tolist() == [[0.1, 0.2]]
    assert [(d.code, d.span.line) for d in labels.diagnostics] == [("L001", 3), ("L002", 4), ("L001", 5)]
    skipped = invoke("anchors", "--labels", folder, "--num", 1, "--width", 100, "--height", 100)
    assert skipped.exit_code == 0 and "a.txt:3:1: error[L001]" in skipped.output
    strict = invoke("anchors", "--labels", folder, "--num", 1, "--width", 100, "--height", 100, "--strict")
    assert strict.exit_code == 1 and "nothing was written" in strict.output
    assert invoke("anchors", "--labels", tmp_path / "missing", "--num", 1, "--width", 9, "--height", 9).exit_code == 2
    assert invoke("anchors", "--labels", folder, "--num", 1).exit_code == 2  # no size, no cfg


def test_train_list_finds_labels_beside_and_under_labels(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    (tmp_path / "images" / "a.jpg").write_bytes(b"")
    (tmp_path / "images" / "a.txt").write_text("0 0.5 0.5 0.25 0.5\n")
    (tmp_path / "images" / "b.jpg").write_bytes(b"")
    (tmp_path / "labels" / "b.txt").write_text("0 0.5 0.5 0.5 0.5\n")
    (tmp_path / "images" / "c.jpg").write_bytes(b"")
    (tmp_path / "train.txt").write_text("images/a.jpg\nimages/b.jpg\nimages/c.jpg\n")
    labels = read_labels([tmp_path / "train.txt"])
    assert labels.boxes.tolist() == [[0.25, 0.5], [0.5, 0.5]]
    assert [(d.code, d.span.line) for d in labels.diagnostics] == [("L003", 3)]
    (tmp_path / "labels" / "classes.txt").write_text("cat\ndog\n")
    folder = read_labels([tmp_path])  # the list and classes.txt are not labels
    assert sorted(folder.boxes.tolist()) == [[0.25, 0.5], [0.5, 0.5]]
    assert sorted((d.code, d.path.split("/")[-1]) for d in folder.diagnostics) == \
        [("L004", "classes.txt"), ("L004", "train.txt")]


def test_set_classes_schedule_without_steps_policy_and_missing_scales():
    doc = parse("[net]\nwidth=32\nheight=32\nchannels=3\nmax_batches=10\n\n[convolutional]\nfilters=21\nsize=1\n\n"
                "[yolo]\nmask=0,1,2\nnum=3\nclasses=2\n", "t.cfg")
    edit = set_classes(doc, 4, train_schedule=True)
    assert edit.doc.sections[0].get("max_batches") == "8000" and edit.doc.sections[0].get("steps") is None
    assert edit.notes == ["policy=constant reads no steps=: only max_batches was set"]
    doc.sections[0].set("policy", "steps")
    doc.sections[0].set("steps", "8")
    edit = set_classes(doc, 4, train_schedule=True)
    net = edit.doc.sections[0]
    assert (net.get("steps"), net.get("scales")) == ("6400,7200", ".1,.1")  # Darknet reads a scale per step
    assert edit.errors == []


def test_set_classes_gaussian_and_region_and_detection_rules(conformance_dir):
    folder = conformance_dir / "darknet" / "cfg"
    gaussian = set_classes(parse_file(folder / "Gaussian_yolov3_BDD.cfg"), 3)
    assert {c.new for c in gaussian.changes if c.key == "filters"} == {"36"}  # (3 + 9) * 3
    region = set_classes(parse_file(folder / "yolov2.cfg"), 3)
    assert [c.new for c in region.changes if c.key == "filters"] == ["40"]  # 5 * (3 + 4 + 1)
    detection = set_classes(parse_file(folder / "yolov1__yolo.cfg"), 3)
    assert [(c.section, c.key, c.new) for c in detection.changes if c.key == "output"] == \
        [("[connected]", "output", str(7 * 7 * ((1 + 4) * 3 + 3)))]  # coords=4, num=3


def test_resize_one_side_in_place(tmp_path):
    cfg = tmp_path / "t.cfg"
    cfg.write_bytes((EXAMPLES / "yolov4-tiny.cfg").read_bytes())
    result = invoke("resize", cfg, "--width", 608, "--in-place")
    assert result.exit_code == 0, result.output
    doc = parse_file(cfg)
    assert (doc.sections[0].get("width"), doc.sections[0].get("height")) == ("608", "416")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.cfg"]


def test_anchors_gaussian_heads_and_size_note(conformance_dir, tmp_path):
    rng = np.random.default_rng(2)
    write_labels(tmp_path / "labels", synthetic(rng, TRUE, 30), size=416)
    out = tmp_path / "g.cfg"
    cfg = conformance_dir / "darknet" / "cfg" / "Gaussian_yolov3_BDD.cfg"
    result = invoke("anchors", "--labels", tmp_path / "labels", "--num", 12, "--width", 416, "--height", 416, cfg,
                    "-o", out)
    assert result.exit_code == 0, result.output
    assert "the anchors are for 416x416 but the cfg's [net] is 512x512" in result.output
    network = build(parse_file(out))
    shapes = infer_shapes(network)
    heads = [layer for layer in network.layers if layer.type == "Gaussian_yolo"]
    assert [h.section.get("mask") for h in heads] == ["8,9,10,11", "4,5,6,7", "0,1,2,3"]
    assert [shapes.layers[h.index - 1].output[2] for h in heads] == [(10 + 9) * 4] * 3


def test_anchor_table_on_a_terminal_and_progress():
    import io

    from rich.console import Console

    from cfgtool.anchors import Labels, Result, summarize
    from cfgtool.cli.heads import _anchor_table, _progress

    boxes = np.array([[10.0, 10.0], [20.0, 40.0]])
    result = Result(Labels(boxes / 100, 1), summarize(boxes, boxes.copy()), 100, 100)
    buf = io.StringIO()
    _anchor_table(Console(file=buf, force_terminal=True, width=100), result)
    assert "2 anchors at 100x100" in buf.getvalue() and "┃" in buf.getvalue()
    plain = io.StringIO()
    _anchor_table(Console(file=plain, force_terminal=False, width=100), result)
    assert "  width 20  height 40  area 800  boxes 1" in plain.getvalue() and "┃" not in plain.getvalue()
    bar = io.StringIO()
    update = _progress(Console(file=bar, force_terminal=True, width=80))
    for i in range(1, 2001):
        update(i, 2000)
    assert "reading labels" in bar.getvalue()
    quiet = io.StringIO()
    small = _progress(Console(file=quiet, force_terminal=True, width=80))
    small(1, 10)
    assert quiet.getvalue() == ""


def test_large_label_sets_cluster_on_a_sample_then_refine(monkeypatch):
    import cfgtool.anchors as anchors_module

    rng = np.random.default_rng(4)
    boxes = synthetic(rng, TRUE, 200)
    full = cluster(boxes, 9, seed=1)
    monkeypatch.setattr(anchors_module, "SAMPLE", 300)  # restarts on 300 of the 1800 boxes
    sampled = cluster(boxes, 9, seed=1)
    assert sampled.boxes == len(boxes) and sum(sampled.counts) == len(boxes)
    assert iou(TRUE, sampled.anchors).max(axis=1).min() >= 0.95
    assert sampled.avg_iou >= full.avg_iou - 0.005
    assert cluster(boxes, 9, seed=1).anchors.tolist() == sampled.anchors.tolist()
