"""`cfgtool summary`: JSON structure, totals, overrides and exit codes."""

from __future__ import annotations

import json
import math

from conftest import expected, invoke

SMALL = """\
[net]
width=32
height=32
channels=3

[convolutional]
filters=8
size=3
stride=2
pad=1
activation=leaky

[maxpool]
size=2
stride=2

[route]
layers=-1,-2
"""


def write(tmp_path, text, name="net.cfg"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_json_structure(tmp_path):
    result = invoke("summary", write(tmp_path, SMALL.replace("layers=-1,-2", "layers=-1")), "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["net"] == {"width": 32, "height": 32, "channels": 3, "inputs": 32 * 32 * 3}
    layers = data["layers"]
    assert [l["index"] for l in layers] == [0, 1, 2]
    assert [l["type"] for l in layers] == ["convolutional", "maxpool", "route"]
    assert [l["section"] for l in layers] == ["[convolutional]", "[maxpool]", "[route]"]
    for l in layers:
        assert set(l) == {"index", "type", "section", "input", "output", "outputs", "nweights", "bflops", "line",
                          "inputs"}
    conv, pool, route = layers
    assert conv["input"] == [32, 32, 3] and conv["output"] == [16, 16, 8]
    assert conv["nweights"] == 3 * 3 * 3 * 8 and conv["line"] == 6
    assert math.isclose(conv["bflops"], 2 * 216 * 16 * 16 / 1e9, rel_tol=1e-6)
    assert pool["output"] == [8, 8, 8] and pool["inputs"] == [0]
    assert route["inputs"] == [1] and route["outputs"] == 8 * 8 * 8
    assert data["total_weights"] == 216
    assert math.isclose(data["total_bflops"], conv["bflops"] + pool["bflops"], rel_tol=1e-6)


def test_width_height_override(tmp_path):
    cfg = write(tmp_path, SMALL.replace("layers=-1,-2", "layers=-1"))
    data = json.loads(invoke("summary", cfg, "--format", "json", "--width", "64", "--height", "48").stdout)
    assert data["net"]["width"] == 64 and data["net"]["height"] == 48
    assert data["layers"][0]["output"] == [32, 24, 8]


def test_table_shows_layers_and_totals(tmp_path):
    result = invoke("summary", write(tmp_path, SMALL.replace("layers=-1,-2", "layers=-1")))
    assert result.exit_code == 0
    out = result.stdout
    for text in ("convolutional", "maxpool", "route", "total", "216", "3x3/2"):
        assert text in out


def test_shape_error_exit_1_and_partial_table(tmp_path):
    cfg = write(tmp_path, SMALL)  # route of 8x8 and 16x16 maps
    result = invoke("summary", cfg, "--format", "json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["layers"][1]["output"] == [8, 8, 8]
    assert data["layers"][2]["output"] is None
    assert "S203" in result.stderr and "Traceback" not in result.stdout
    assert [d["code"] for d in data["diagnostics"]] == ["S203"]  # the JSON carries them too (issue 19)
    table = invoke("summary", cfg)
    assert table.exit_code == 1 and "maxpool" in table.stdout and "S203" in table.stderr


def test_parse_error_exit_1(tmp_path):
    cfg = write(tmp_path, "[convolutional]\nfilters=2\n")  # no [net] first
    result = invoke("summary", cfg)
    assert result.exit_code == 1
    assert "P002" in result.stderr


def test_missing_file_exit_2(tmp_path):
    result = invoke("summary", tmp_path / "nope.cfg")
    assert result.exit_code == 2


def test_bad_width_is_usage_error(tmp_path):
    result = invoke("summary", write(tmp_path, SMALL), "--width", "0")
    assert result.exit_code == 2


def test_corpus_file_matches_darknet(conformance_dir):
    cfg = conformance_dir / "darknet" / "cfg" / "yolov4.cfg"
    result = invoke("summary", cfg, "--format", "json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    exp = expected(cfg)
    assert data["net"] == exp["net"]
    for got, want in zip(data["layers"], exp["layers"], strict=True):
        for key in ("index", "type", "section", "output", "outputs", "nweights"):
            assert got[key] == want[key]
        assert math.isclose(got["bflops"], want["bflops"], rel_tol=1e-3, abs_tol=5e-7)


def test_piped_table_is_laid_out_like_the_terminal_table():
    """Piped, summary writes the table itself (no rich); the columns line up exactly as rich
    lays them out on a terminal, a layer without a shape included."""
    import io

    from rich.console import Console

    from cfgtool.cli.summary import plain_table, rich_table, table_rows
    from cfgtool.model import build
    from cfgtool.shapes import infer_shapes
    from cfgtool.syntax import parse

    network = build(parse(SMALL + "\n[shortcut]\nfrom=-3\n"))  # the shortcut's sizes differ: no shape
    shapes = infer_shapes(network)
    rows, footer = table_rows(network.layers, shapes)
    assert rows[-1][4] == "?"
    console = Console(file=io.StringIO(), width=300, color_system=None)
    console.print(rich_table(rows, footer, [s is None for s in shapes.layers]))
    terminal = [line.rstrip() for line in console.file.getvalue().splitlines()]
    assert plain_table(rows, footer).splitlines() == terminal
