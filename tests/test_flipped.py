"""[convolutional] flipped=1: Darknet's load_convolutional_weights transposes the weights it reads
(parser.c ``transpose_matrix(l.weights, (l.c/l.groups)*l.size*l.size, l.n)``); cfgtool reads
files that way and writes the layout Darknet reads. The references below parse the raw file
bytes the way Darknet's loader does, with its transpose_matrix written out as loops."""

from __future__ import annotations

import struct

import numpy as np

from cfgtool.executor.network import Executor
from cfgtool.lint import check
from cfgtool.model import build
from cfgtool.syntax import parse
from cfgtool.shapes import infer_shapes
from cfgtool.transplant import transplant_files
from cfgtool.weights import WeightsHeader, expected_size, read_weights, write_weights
from conftest import invoke

CFG = """[net]
width=5
height=5
channels=4

[convolutional]
batch_normalize=1
filters=6
groups=2
size=3
pad=1
flipped=1
activation=leaky

[convolutional]
filters=2
size=1
activation=linear
"""

N, CG, K = 6, 2, 3  # layer 0: filters, channels per group, size


def network(text=CFG):
    net = build(parse(text, "flipped.cfg"))
    shapes = infer_shapes(net)
    assert shapes.ok, [d.one_line() for d in shapes.diagnostics]
    return net, shapes


def darknet_file(path, seed=0):
    """A .weights file of random floats (version 0.2.5): the values as they lie in the file."""
    rng = np.random.default_rng(seed)
    counts = [N, N, N, N, N * CG * K * K, 2, 2 * N]  # biases, scales, mean, variance, weights; layer 1
    floats = [rng.normal(size=c).astype("<f4") for c in counts]
    floats[3] = np.abs(floats[3]) + 0.5  # rolling_variance
    path.write_bytes(struct.pack("<iiiQ", 0, 2, 5, 0) + b"".join(f.tobytes() for f in floats))
    return floats


def transpose_matrix(a, rows, cols):
    """parser.c transpose_matrix: transpose[y*rows + x] = a[x*cols + y]."""
    out = np.empty_like(a)
    for x in range(rows):
        for y in range(cols):
            out[y * rows + x] = a[x * cols + y]
    return out


def conv_ref(x, weights, biases, groups, bn=None, leaky=False):
    """A direct convolution, stride 1, pad size//2, then Darknet's inference batch norm and bias."""
    b, c, h, w = x.shape
    n, cg, k, _ = weights.shape
    pad = k // 2
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((b, n, h, w))
    ng = n // groups
    for f in range(n):
        g = f // ng
        for i in range(k):
            for j in range(k):
                out[:, f] += np.einsum("bchw,c->bhw", xp[:, g * cg:(g + 1) * cg, i:i + h, j:j + w], weights[f, :, i, j])
    if bn is not None:
        scales, mean, var = (v.reshape(1, -1, 1, 1) for v in bn)
        out = (out - mean) / np.sqrt(var + 1e-5) * scales
    out += biases.reshape(1, -1, 1, 1)
    return np.where(out > 0, out, 0.1 * out) if leaky else out


def test_forward_with_a_flipped_file_equals_darknets_load_time_transpose(tmp_path):
    net, shapes = network()
    path = tmp_path / "raw.weights"
    biases, scales, mean, var, filed, b1, w1 = darknet_file(path)
    memory = transpose_matrix(filed, CG * K * K, N).reshape(N, CG, K, K)
    assert not np.array_equal(memory.reshape(-1), filed)
    _, tensors = read_weights(path, net, shapes)
    np.testing.assert_array_equal(tensors[0]["weights"], memory)
    exe = Executor(net, shapes, dtype=np.float64)
    exe.load(tensors)
    x = np.random.default_rng(3).normal(size=(1, 4, 5, 5))
    out = exe.forward(x, keep=(0,))
    y0 = conv_ref(x, memory.astype(np.float64), biases, 2, (scales, mean, var), leaky=True)
    np.testing.assert_allclose(out[0], y0, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out[1], conv_ref(y0, w1.reshape(2, N, 1, 1), b1, 1), rtol=1e-5, atol=1e-6)


def test_written_files_hold_the_layout_darknet_reads_and_round_trip_byte_identical(tmp_path):
    net, shapes = network()
    path = tmp_path / "raw.weights"
    darknet_file(path)
    header, tensors = read_weights(path, net, shapes)
    again = tmp_path / "again.weights"
    write_weights(again, header, tensors, net, shapes)
    assert again.read_bytes() == path.read_bytes()  # read -> write gives Darknet's file back
    rng = np.random.default_rng(5)
    fresh = {i: {k: rng.normal(size=v.shape).astype(np.float32) for k, v in ts.items()} for i, ts in tensors.items()}
    write_weights(path, header, fresh, net, shapes)
    start = 20 + 4 * 4 * N  # header, biases and batch norm of layer 0
    filed = np.frombuffer(path.read_bytes(), "<f4", N * CG * K * K, start)
    np.testing.assert_array_equal(transpose_matrix(filed, CG * K * K, N).reshape(N, CG, K, K), fresh[0]["weights"])
    _, back = read_weights(path, net, shapes)
    write_weights(again, header, back, net, shapes)
    assert again.read_bytes() == path.read_bytes()


def test_size_check_and_transplant_are_unchanged_by_flipped(tmp_path):
    net, shapes = network()
    plain_net, plain_shapes = network(CFG.replace("flipped=1", "flipped=0"))
    assert expected_size(net, shapes) == expected_size(plain_net, plain_shapes) == 20 + 4 * (4 * N + 108 + 2 + 12)
    path = tmp_path / "raw.weights"
    darknet_file(path)
    short = tmp_path / "short.weights"
    short.write_bytes(path.read_bytes()[:-4])
    (tmp_path / "f.cfg").write_text(CFG)
    result = invoke("validate", tmp_path / "f.cfg", "--weights", short)
    assert result.exit_code == 1 and "X102" in result.output and "W312" in result.output
    # an inserted layer: the flipped tensors move unchanged (in memory order) and are written transposed again
    new_text = CFG.replace("[convolutional]\nfilters=2", "[maxpool]\nsize=1\nstride=1\n\n[convolutional]\nfilters=2")
    out = tmp_path / "new.weights"
    transplant_files(parse(CFG, "old.cfg"), parse(new_text, "new.cfg"), path, out)
    assert out.read_bytes() == path.read_bytes()  # the maxpool has no tensors: the same file


def test_validate_warns_on_flipped_with_the_consequence():
    (d,) = [d for d in check(parse(CFG, "f.cfg")) if d.code == "W312"]
    assert d.span.line == 12 and "saves them untransposed" in d.message and d.layer == 0
    assert not [d for d in check(parse(CFG.replace("flipped=1", "flipped=0"), "f.cfg")) if d.code == "W312"]
