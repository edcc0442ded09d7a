"""The ONNX graph builder: the only module of cfgtool that imports ``onnx``.

Lowerings (cfgtool/lowering/*) receive a :class:`Graph` and add nodes through it; they never
import onnx. The builder tracks the static per-image shape of every value (the batch is the
first dimension, 1 or symbolic with ``dynamic_batch``), so a lowering knows what it got and
reshapes only where the layout really changes (``nchw`` / ``flat`` add nothing when the value
already has that shape). Nodes that depend on the opset (Reduce*, Split, Pad...) are written
here once.
"""

from __future__ import annotations

import numpy as np

try:
    import onnx
    from onnx import TensorProto, helper
except ModuleNotFoundError as exc:  # pragma: no cover - depends on the install
    if exc.name != "onnx":
        raise
    raise ModuleNotFoundError(
        "cfgtool export needs the 'onnx' package: pip install 'cfgtool[onnx]'", name="onnx") from None

MIN_OPSET, DEFAULT_OPSET = 13, 17
MAX_OPSET = onnx.defs.onnx_opset_version()
BATCH = "N"  # the symbolic batch dimension with dynamic_batch


class Graph:
    def __init__(self, input_shape: tuple[int, ...], opset: int = DEFAULT_OPSET, dynamic_batch: bool = False,
                 input_name: str = "input", batch: int = 1):
        """``batch``: the fixed first dimension without ``dynamic_batch`` (a recurrent network's
        time steps, one image each)."""
        if not MIN_OPSET <= opset <= MAX_OPSET:
            raise ValueError(f"opset {opset} is outside {MIN_OPSET}..{MAX_OPSET} (this onnx supports up to {MAX_OPSET})")
        self.opset = opset
        self.dynamic_batch = dynamic_batch
        self.batch = batch
        self.input = input_name
        self.nodes: list = []
        self.initializers: list[tuple[str, np.ndarray]] = []
        self.outputs: list = []
        self._shapes: dict[str, tuple[int, ...]] = {input_name: tuple(input_shape)}
        self._producer: dict[str, object] = {}
        self._read: set[str] = set()  # values some node reads
        self._count = 0
        self._consts: dict[tuple, tuple[str, np.ndarray]] = {}  # key -> (name, the bytes)

    # -- values -------------------------------------------------------------------------

    def shape(self, x: str) -> tuple[int, ...]:
        """The per-image shape of ``x`` (without the batch dimension)."""
        return self._shapes[x]

    def _name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, value, hint: str = "const", dtype=np.float32) -> str:
        """An initializer holding ``value``; equal values are stored once (a recurrent layer's
        weights serve every unrolled time step)."""
        arr = np.ascontiguousarray(value, dtype=dtype)
        raw = arr.reshape(-1).view(np.uint8)
        words = np.frombuffer(raw[:raw.size // 8 * 8], np.uint64)
        key = (arr.dtype.str, arr.shape, raw.tobytes() if raw.size <= 64 else
               (int(words.sum(dtype=np.uint64)), int((words ^ (words >> np.uint64(7))).sum(dtype=np.uint64))))
        hit = self._consts.get(key)
        if hit is not None and np.array_equal(hit[1], raw):
            return hit[0]
        name = self._name(hint)
        self.initializers.append((name, arr))
        if hit is None:
            self._consts[key] = (name, raw)
        return name

    def value(self, value: np.ndarray, hint: str = "const") -> str:
        """A float initializer used as a value of one image: ``value`` is ``(1, *per-image shape)``."""
        name = self.const(value, hint)
        self._shapes[name] = tuple(int(d) for d in np.shape(value)[1:])
        return name

    def op(self, op_type: str, inputs: list[str], shape: tuple[int, ...], hint: str | None = None, **attrs) -> str:
        """Add one node with one output of per-image ``shape``; returns the output's name."""
        out = self._name(hint or op_type.lower())
        node = helper.make_node(op_type, list(inputs), [out], name=out, **attrs)
        self._read.update(inputs)
        self.nodes.append(node)
        self._shapes[out] = tuple(int(d) for d in shape)
        self._producer[out] = node
        return out

    def ops(self, op_type: str, inputs: list[str], shapes: list[tuple[int, ...]], **attrs) -> list[str]:
        """A node with several outputs (Split)."""
        outs = [self._name(op_type.lower()) for _ in shapes]
        node = helper.make_node(op_type, list(inputs), outs, name=outs[0], **attrs)
        self._read.update(inputs)
        self.nodes.append(node)
        for o, s in zip(outs, shapes):
            self._shapes[o] = tuple(int(d) for d in s)
            self._producer[o] = node
        return outs

    def rename(self, old: str, new: str) -> str:
        """Give the value ``old`` the name ``new`` when it is made by a node, read by none and
        not an output; returns the value's name (``old`` when it cannot be renamed)."""
        node = self._producer.get(old)
        if node is None or new in self._shapes or old in self._read or old in self._outputs_names():
            return old
        node.output[list(node.output).index(old)] = new
        if node.name == old:
            node.name = new
        self._shapes[new] = self._shapes.pop(old)
        self._producer[new] = self._producer.pop(old)
        return new

    # -- layout helpers -----------------------------------------------------------------

    def reshape(self, x: str, shape: tuple[int, ...]) -> str:
        """``x`` as per-image ``shape`` (no node when it already is)."""
        shape = tuple(int(d) for d in shape)
        if self.shape(x) == shape:
            return x
        if int(np.prod(self.shape(x))) != int(np.prod(shape)):
            raise ValueError(f"cannot view {self.shape(x)} as {shape}")
        if len(shape) == 1:
            return self.op("Flatten", [x], shape, axis=1)
        return self.op("Reshape", [x, self.const([0, *shape], "shape", np.int64)], shape)

    def flat(self, x: str) -> str:
        """``x`` as (batch, values): Darknet's per-image buffer."""
        return self.reshape(x, (int(np.prod(self.shape(x))),))

    def slice(self, x: str, axis: int, start: int, end: int, step: int = 1) -> str:
        """``x[..., start:end:step, ...]`` on per-image ``axis`` (0 = the first after the batch)."""
        shape = list(self.shape(x))
        if (start, end, step) == (0, shape[axis], 1):
            return x
        shape[axis] = len(range(start, end, step))
        i64 = np.int64
        return self.op("Slice", [x, self.const([start], "start", i64), self.const([end], "end", i64),
                                 self.const([axis + 1], "axes", i64), self.const([step], "steps", i64)], shape)

    def split(self, x: str, axis: int, sizes: list[int]) -> list[str]:
        shapes = []
        for n in sizes:
            s = list(self.shape(x))
            s[axis] = n
            shapes.append(tuple(s))
        if len(sizes) == 1:
            return [x]
        return self.ops("Split", [x, self.const(sizes, "split", np.int64)], shapes, axis=axis + 1)

    def concat(self, xs: list[str], axis: int) -> str:
        if len(xs) == 1:
            return xs[0]
        shape = list(self.shape(xs[0]))
        shape[axis] = sum(self.shape(x)[axis] for x in xs)
        return self.op("Concat", xs, shape, axis=axis + 1)

    def pad(self, x: str, before: list[int], after: list[int], value: float = 0.0) -> str:
        """Constant padding of the per-image axes (``before``/``after`` per axis)."""
        if not any(before) and not any(after):
            return x
        shape = [d + b + a for d, b, a in zip(self.shape(x), before, after)]
        pads = self.const([0, *before, 0, *after], "pads", np.int64)
        return self.op("Pad", [x, pads, self.const(value, "value")], shape, mode="constant")

    def reduce(self, op_type: str, x: str, axes: list[int], keepdims: bool = True) -> str:
        """ReduceSum/ReduceMax/ReduceMean over per-image ``axes`` (axes as attribute or input,
        as the opset wants)."""
        shape = [1 if i in axes else d for i, d in enumerate(self.shape(x))]
        if not keepdims:
            shape = [d for i, d in enumerate(self.shape(x)) if i not in axes]
        onnx_axes = [a + 1 for a in axes]
        input_axes = op_type == "ReduceSum" or self.opset >= 18
        if input_axes:
            return self.op(op_type, [x, self.const(onnx_axes, "axes", np.int64)], shape, keepdims=int(keepdims))
        return self.op(op_type, [x], shape, axes=onnx_axes, keepdims=int(keepdims))

    def batch_shape(self, rest: tuple[int, ...]) -> str:
        """A 1-D int64 value: (the input's batch, *rest)."""
        i64 = np.int64
        if not self.dynamic_batch:
            return self.const([self.batch, *rest], "shape", i64)
        full = self.op("Shape", [self.input], (4,))
        batch = self.op("Slice", [full, self.const([0], "start", i64), self.const([1], "end", i64)], (1,))
        return self.op("Concat", [batch, self.const(list(rest), "shape", i64)], (1 + len(rest),), axis=0)

    def zeros(self, shape: tuple[int, ...]) -> str:
        """A float zero tensor of (batch, *shape)."""
        return self.op("ConstantOfShape", [self.batch_shape(shape)], shape,
                       value=helper.make_tensor("zero", TensorProto.FLOAT, [1], [0.0]))

    def broadcast(self, value: np.ndarray) -> str:
        """``value`` (per-image shape) repeated for every image of the batch."""
        c = self.const(np.asarray(value, np.float32)[None])
        return self.op("Expand", [c, self.batch_shape(value.shape)], value.shape)

    # -- result ---------------------------------------------------------------------------

    def output(self, x: str, name: str) -> None:
        """Declare ``x`` a graph output called ``name`` (an Identity only when ``x`` cannot take
        that name: the input, an initializer, or a value already output under another name)."""
        if x != name:
            if self.rename(x, name) != name:
                x = self.op("Identity", [x], self.shape(x))
                self.rename(x, name)
        batch = BATCH if self.dynamic_batch else self.batch
        self.outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [batch, *self.shape(name)]))

    def _outputs_names(self) -> set[str]:
        return {o.name for o in self.outputs}

    def model(self, doc: str = "", metadata: dict[str, str] | None = None):
        batch = BATCH if self.dynamic_batch else self.batch
        inp = helper.make_tensor_value_info(self.input, TensorProto.FLOAT, [batch, *self.shape(self.input)])
        graph = helper.make_graph(self.nodes, "cfgtool", [inp], self.outputs, [], doc_string=doc)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset)],
                                  producer_name="cfgtool")
        for name, arr in self.initializers:  # written in place: make_graph would copy every tensor twice
            t = model.graph.initializer.add()
            t.name = name
            t.data_type = helper.np_dtype_to_tensor_dtype(arr.dtype)
            t.dims.extend(arr.shape)
            t.raw_data = np.ascontiguousarray(arr, arr.dtype.newbyteorder("<")).tobytes()
        model.ir_version = min(model.ir_version, _IR_FOR_OPSET.get(self.opset, model.ir_version))
        for key, value in (metadata or {}).items():
            model.metadata_props.add(key=key, value=value)
        return model


# the IR version each opset was released with (older runtimes refuse newer IR versions)
_IR_FOR_OPSET = {13: 7, 14: 7, 15: 8, 16: 8, 17: 8, 18: 8, 19: 9, 20: 9, 21: 10, 22: 10, 23: 11, 24: 11}


def check(model) -> None:
    """onnx.checker with full shape inference on a ModelProto or its serialized bytes; raises
    ``onnx.checker.ValidationError``."""
    onnx.checker.check_model(model, full_check=True)


def serialize(model) -> bytes:
    return model.SerializeToString()

