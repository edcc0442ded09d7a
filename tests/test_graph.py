"""cfgtool graph: the drawing holds exactly the model's layers and inputs, in every format."""

from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections import Counter

import pytest

from cfgtool.graph import make_graph
from cfgtool.model import build
from cfgtool.syntax import parse, parse_file

from conftest import EXAMPLES, corpus_params, invoke

SVG = "{http://www.w3.org/2000/svg}"


def svg_of(doc, **kw) -> ET.Element:
    return ET.fromstring(make_graph(doc, "svg", **kw).text)


def drawn(root: ET.Element) -> tuple[Counter, Counter, Counter]:
    """(nodes by data-layer, input edges, link edges) of an SVG."""
    nodes = Counter(int(g.get("data-layer")) for g in root.iter(f"{SVG}g") if g.get("data-layer") is not None)
    inputs, links = Counter(), Counter()
    for g in root.iter(f"{SVG}g"):
        if g.get("data-from") is not None:
            edge = (int(g.get("data-from")), int(g.get("data-to")))
            (links if "link" in g.get("class").split() else inputs)[edge] += 1
    return nodes, inputs, links


def model_edges(network) -> tuple[Counter, Counter]:
    """What the model says each layer reads: inputs (the network input as -1 for a layer 0 whose
    type reads its previous layer) and the spec's links (share_index ...)."""
    inputs, links = Counter(), Counter()
    for layer in network.layers:
        for i in layer.inputs:
            inputs[(i, layer.index)] += 1
        if layer.index == 0 and layer.spec is not None and 0 in layer.spec.inputs(layer.section, 1):
            inputs[(-1, 0)] += 1
        for r in layer.refs:
            if layer.spec is not None and r.key in layer.spec.links:
                links[(r.target, layer.index)] += 1
    return inputs, links


@pytest.mark.parametrize("cfg", corpus_params())
def test_svg_has_every_layer_once_and_exactly_the_model_inputs(cfg):
    doc = parse_file(cfg)
    network = build(doc)
    nodes, inputs, links = drawn(svg_of(doc, collapse_runs=False))
    assert nodes == Counter(range(-1, len(network.layers)))
    want_inputs, want_links = model_edges(network)
    assert inputs == want_inputs
    assert links == want_links


def test_share_index_is_a_link_not_an_input():
    doc = parse("[net]\nwidth=16\nheight=16\nchannels=3\n[convolutional]\nfilters=4\nsize=3\npad=1\n"
                "[convolutional]\nfilters=4\nsize=3\npad=1\n[convolutional]\nfilters=4\nsize=3\npad=1\nshare_index=-1\n")
    root = svg_of(doc)
    _, inputs, links = drawn(root)
    assert inputs == Counter({(-1, 0): 1, (0, 1): 1, (1, 2): 1})
    assert links == Counter({(1, 2): 1})
    link = next(g for g in root.iter(f"{SVG}g") if "link" in (g.get("class") or "").split())
    assert "share_index" in "".join(link.itertext())


def test_yolov4_marks_heads_input_and_backbone_end():
    root = svg_of(parse_file(EXAMPLES / "yolov4.cfg"))
    classes = {int(g.get("data-layer")): g.get("class").split() for g in root.iter(f"{SVG}g") if g.get("data-layer")}
    assert sorted(k for k, c in classes.items() if "head" in c) == [139, 150, 161]
    assert [k for k, c in classes.items() if "backbone-end" in c] == [104]  # as add-se selects it
    assert "input" in classes[-1]
    text = " ".join(root.itertext())
    assert "608x608x3" in text and "backbone ends at layer 104" in text
    # edge labels are the tensor shapes: route 113 reads the SPP branches of 19x19x512
    spp = [g for g in root.iter(f"{SVG}g") if g.get("data-to") == "113"]
    assert len(spp) == 4 and all("19x19x512" in "".join(g.itertext()) for g in spp)


def test_diff_marks_inserted_layers_and_renumbered_references(tmp_path):
    new = tmp_path / "se.cfg"
    assert invoke("add-se", EXAMPLES / "yolov4.cfg", "--at", "54,85,104", "-o", new).exit_code == 0
    result = make_graph(parse_file(new), "svg", old=parse_file(EXAMPLES / "yolov4.cfg"))
    root = ET.fromstring(result.text)
    inserted = sorted(int(g.get("data-layer")) for g in root.iter(f"{SVG}g")
                      if "inserted" in (g.get("class") or "").split() and g.get("data-layer"))
    assert inserted == [*range(55, 59), *range(90, 94), *range(113, 117)]
    renumbered = sorted((int(g.get("data-from")), int(g.get("data-to"))) for g in root.iter(f"{SVG}g")
                        if g.get("data-from") and "renumbered" in g.get("class").split())
    assert renumbered == [(58, 141), (93, 131)]  # the neck's absolute routes now read the blocks
    labels = " ".join("".join(g.itertext()) for g in root.iter(f"{SVG}g")
                      if g.get("data-from") and "renumbered" in g.get("class").split())
    assert "layers=93 was 85" in labels and "layers=58 was 54" in labels
    assert "12 layer(s) inserted (55..58, 90..93, 113..116), 0 removed, 2 reference value(s) renumbered" \
        in result.notes[0]


def _covered(root):
    """layer -> how many nodes stand for it (a collapsed node: data-layer..data-last)."""
    cover = Counter()
    for g in root.iter(f"{SVG}g"):
        if g.get("data-layer") is not None:
            first = int(g.get("data-layer"))
            cover.update(range(first, int(g.get("data-last", first)) + 1))
    return cover


def test_collapse_folds_residual_units_and_keeps_the_other_edges():
    doc = parse_file(EXAMPLES / "yolov4.cfg")
    network = build(doc)
    root = svg_of(doc, collapse_runs=True)
    assert _covered(root) == Counter(range(-1, len(network.layers)))
    groups = {int(g.get("data-layer")): (int(g.get("data-last")), int(g.get("data-count")))
              for g in root.iter(f"{SVG}g") if g.get("data-last")}
    # yolov4's 8 residual units of the 1/8 stage: conv 1x1, conv 3x3, shortcut from=-3
    assert groups[28] == (51, 8)
    owner = {}
    for first, (last, _) in groups.items():
        owner.update({k: first for k in range(first, last + 1)})
    want, _ = model_edges(network)
    kept = Counter({e: c for e, c in want.items() if owner.get(e[0], e[0]) != owner.get(e[1], e[1])})
    _, inputs, _ = drawn(root)
    assert inputs == kept


def _residual_cfg(units: int) -> str:
    unit = ("[convolutional]\nbatch_normalize=1\nfilters=8\nsize=1\nstride=1\npad=1\nactivation=leaky\n\n"
            "[convolutional]\nbatch_normalize=1\nfilters=8\nsize=3\nstride=1\npad=1\nactivation=leaky\n\n"
            "[shortcut]\nfrom=-3\nactivation=linear\n\n")
    return ("[net]\nwidth=32\nheight=32\nchannels=3\n\n[convolutional]\nfilters=8\nsize=3\npad=1\n"
            "activation=leaky\n\n" + unit * units + "[avgpool]\n\n[softmax]\n")


def test_large_files_are_collapsed_automatically_with_a_note(tmp_path):
    cfg = tmp_path / "deep.cfg"
    cfg.write_text(_residual_cfg(700))  # 2,103 layers
    out = tmp_path / "deep.svg"
    result = invoke("graph", cfg, "-o", out)
    assert result.exit_code == 0, result.output
    assert "automatically" in result.output
    root = ET.parse(out).getroot()
    assert _covered(root) == Counter(range(-1, 2103))
    assert sum(1 for g in root.iter(f"{SVG}g") if g.get("data-layer") is not None) == 5
    assert invoke("graph", cfg, "--no-collapse", "-o", out).exit_code == 0
    assert "automatically" not in out.read_text()


def _tiny():
    return parse_file(EXAMPLES / "yolov4-tiny.cfg")


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz's dot is not installed (apt-get install graphviz)")
@pytest.mark.parametrize("name", ["yolov4-tiny.cfg", "yolov4.cfg"])
def test_dot_output_is_accepted_by_graphviz(tmp_path, name):
    text = make_graph(parse_file(EXAMPLES / name), "dot").text
    done = subprocess.run(["dot", "-Tsvg"], input=text, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout.count('class="node"') == len(build(parse_file(EXAMPLES / name)).layers) + 1


def test_dot_structure_without_graphviz():
    text = make_graph(_tiny(), "dot").text
    edges = re.findall(r"^  (\w+) -> (\w+) \[", text, re.M)
    network = build(_tiny())
    want, _ = model_edges(network)
    name = {-1: "input", **{k: f"L{k}" for k in range(len(network.layers))}}
    assert Counter(edges) == Counter({(name[a], name[b]): c for (a, b), c in want.items()})


# Mermaid flowchart statements this renderer emits (https://mermaid.js.org/syntax/flowchart.html):
# an id with a double-quoted label, a labelled link (-->, ==> or -.->), classDef and class lines, %% comments
MERMAID_LINE = re.compile(
    r'^(flowchart TD'
    r'|  %% [^\n]*'
    r'|  (?P<id>[A-Za-z][\w]*)\["(?P<label>[^"]*)"\]'
    r'|  (?P<a>[A-Za-z]\w*) (?:-->|==>|-\.->)\|"[^"|]*"\| (?P<b>[A-Za-z]\w*)'
    r'|  classDef \w+ (?:[\w-]+:[#\w]+,?)+'
    r'|  class (?P<members>[A-Za-z]\w*(?:,[A-Za-z]\w*)*) \w+)$')


def test_mermaid_output_follows_the_flowchart_grammar(tmp_path):
    new = tmp_path / "se.cfg"
    assert invoke("add-se", EXAMPLES / "yolov4.cfg", "--at", "54,85", "-o", new).exit_code == 0
    text = make_graph(parse_file(new), "mermaid", old=parse_file(EXAMPLES / "yolov4.cfg")).text
    lines = text.rstrip("\n").split("\n")
    assert lines[0] == "flowchart TD"
    defined, used, edges = set(), set(), 0
    for line in lines:
        m = MERMAID_LINE.match(line)
        assert m, f"not a statement of the grammar: {line!r}"
        if m["id"]:
            assert m["id"] not in defined
            defined.add(m["id"])
            assert not re.search(r"[<>](?!br/>)", m["label"].replace("<br/>", "")), m["label"]
        if m["a"]:
            used |= {m["a"], m["b"]}
            edges += 1
        if m["members"]:
            used |= set(m["members"].split(","))
    assert used <= defined
    assert len(defined) == len(build(parse_file(new)).layers) + 1
    assert edges == sum(model_edges(build(parse_file(new)))[0].values())
    assert "class L55,L56,L57,L58,L90,L91,L92,L93 inserted" in text


def test_cli_formats_outputs_and_errors(tmp_path):
    cfg = tmp_path / "tiny.cfg"
    cfg.write_text((EXAMPLES / "yolov4-tiny.cfg").read_text())
    result = invoke("graph", cfg)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "tiny.html").read_text().startswith("<!DOCTYPE html>")
    result = invoke("graph", cfg, "-o", "-", "--format", "mermaid")
    assert result.exit_code == 0 and result.output.startswith("flowchart TD")
    for ext, start in ((".svg", "<svg"), (".dot", "digraph"), (".mmd", "flowchart")):
        assert invoke("graph", cfg, "-o", tmp_path / f"o{ext}").exit_code == 0
        assert (tmp_path / f"o{ext}").read_text().startswith(start)
    result = invoke("graph", cfg, "-o", tmp_path / "o.png")
    assert result.exit_code == 2 and "--format" in result.output and not (tmp_path / "o.png").exists()
    assert invoke("graph", tmp_path / "missing.cfg").exit_code == 2
    bad = tmp_path / "bad.cfg"
    bad.write_text("[net]\nwidth=16\nheight=16\nchannels=3\n[route]\nlayers=-5\n")
    result = invoke("graph", bad, "-o", tmp_path / "bad.svg")
    assert result.exit_code == 1 and "S202" in result.output  # drawn anyway, the error reported
    assert 'class="node error"' in (tmp_path / "bad.svg").read_text().replace(" output", "")
    result = invoke("graph", cfg, "--diff", bad, "-o", tmp_path / "d.svg")
    assert result.exit_code == 1 and not (tmp_path / "d.svg").exists()


def test_html_is_self_contained():
    text = make_graph(_tiny(), "html").text
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", text)
    assert "@import" not in text and "url(http" not in text
    assert text.count("<script") == 2  # the sections (JSON) and the viewer, both inline
    assert 'data-layer="-1"' in text


def test_broken_reference_is_drawn_and_reported():
    doc = parse("[net]\nwidth=16\nheight=16\nchannels=3\n[convolutional]\nfilters=4\nsize=1\n"
                "[shortcut]\nfrom=-7\n")
    nodes, inputs, _ = drawn(svg_of(doc))
    assert nodes == Counter({-1: 1, 0: 1, 1: 1})
    assert inputs == Counter({(-1, 0): 1, (0, 1): 1, (-6, 1): 1})
