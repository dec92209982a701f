""".tflite flatbuffer reading and the two rewrites the int8 path needs.

Why rewrite the flatbuffer: ai-edge-quantizer's static int8 recipe quantizes GATHER but not
EMBEDDING_LOOKUP, which is what a word-embedding table lowers to, so the table (most of a
small model's bytes) stays float32; and it stores large constants after the root table by
file offset, which TFLM does not treat as constant (it copies them into the arena: a 15.8 MB
"arena" for a CNN). `int8_embedding_tables` gives the table an int8 per-tensor scale and makes
the lookup emit int8 with that scale; `inline_buffers` puts every constant back inline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LAYOUT_OPS = ("RESHAPE", "TRANSPOSE", "SQUEEZE", "EXPAND_DIMS")
LOOKUP_OPS = ("EMBEDDING_LOOKUP", "GATHER")


def _schema():
    from ai_edge_litert import schema_py_generated

    return schema_py_generated


def _names(enum) -> dict[int, str]:
    return {v: k for k, v in vars(enum).items() if not k.startswith("_")}


@dataclass(frozen=True)
class LookupInfo:
    op: str
    shape: tuple[int, ...]
    table_dtype: str
    output_dtype: str


@dataclass(frozen=True)
class ModelSummary:
    ops: tuple[str, ...]  # distinct builtin op names, sorted
    lookups: tuple[LookupInfo, ...]  # embedding tables
    input_dtypes: tuple[str, ...]
    output_dtypes: tuple[str, ...]
    float_activations: int  # non-constant float32 tensors (0 in a full-int8 graph but the mask path)


class _Model:
    def __init__(self, data: bytes):
        s = _schema()
        self.s = s
        self.data = data
        self.model = s.ModelT.InitFromObj(s.Model.GetRootAsModel(data, 0))
        self.graph = self.model.subgraphs[0]
        self.op_names = _names(s.BuiltinOperator)
        self.type_names = _names(s.TensorType)

    def op_name(self, op) -> str:
        code = self.model.operatorCodes[op.opcodeIndex]
        return self.op_names.get(max(code.builtinCode, code.deprecatedBuiltinCode), str(code.builtinCode))

    def buffer_bytes(self, index: int) -> bytes:
        buf = self.model.buffers[index]
        if (buf.offset or 0) > 1:
            return self.data[buf.offset : buf.offset + buf.size]
        return bytes(bytearray(buf.data)) if buf.data is not None else b""

    def is_constant(self, tensor) -> bool:
        return bool(tensor.buffer) and len(self.buffer_bytes(tensor.buffer)) > 0

    def inline(self) -> None:
        for buf in self.model.buffers:
            if (buf.offset or 0) > 1:
                buf.data = np.frombuffer(self.data, np.uint8, count=buf.size, offset=buf.offset).copy()
                buf.offset, buf.size = 0, 0

    def serialize(self) -> bytes:
        import flatbuffers

        self.inline()
        builder = flatbuffers.Builder(len(self.data) + (1 << 20))
        builder.Finish(self.model.Pack(builder), file_identifier=b"TFL3")
        return bytes(builder.Output())

    def quant(self, scale: float):
        q = self.s.QuantizationParametersT()
        q.scale, q.zeroPoint = [scale], [0]
        return q


def summarize(data: bytes) -> ModelSummary:
    m = _Model(data)
    g, tn = m.graph, m.type_names
    lookups = []
    for op in g.operators:
        name = m.op_name(op)
        if name in LOOKUP_OPS:
            table = g.tensors[op.inputs[1 if name == "EMBEDDING_LOOKUP" else 0]]
            if m.is_constant(table) and len(table.shape) == 2 and table.shape[0] > 1:
                out = g.tensors[op.outputs[0]]
                lookups.append(LookupInfo(name, tuple(int(d) for d in table.shape), tn[table.type], tn[out.type]))
    float_acts = sum(1 for t in g.tensors if not m.is_constant(t) and tn[t.type] == "FLOAT32")
    return ModelSummary(
        tuple(sorted({m.op_name(op) for op in g.operators})),
        tuple(lookups),
        tuple(tn[g.tensors[i].type] for i in g.inputs),
        tuple(tn[g.tensors[i].type] for i in g.outputs),
        float_acts,
    )


def io_counts(data: bytes) -> tuple[int, int]:
    """(inputs, outputs) of the first subgraph, read off the flatbuffer without unpacking it."""
    graph = _schema().Model.GetRootAsModel(data, 0).Subgraphs(0)
    return graph.InputsLength(), graph.OutputsLength()


def inline_buffers(data: bytes) -> bytes:
    return _Model(data).serialize()


def int8_embedding_tables(data: bytes) -> tuple[bytes, list[dict]]:
    """Make every float32 constant lookup table int8 (symmetric per-tensor scale, zero point 0)
    and its output int8 at the same scale, through layout-only ops, so the QUANTIZE that the
    static quantizer put after the lookup becomes an int8 -> int8 requantize. Only for graphs
    whose lookup output feeds a QUANTIZE or int8 op (ai-edge-quantizer static int8). Every
    subgraph (a staged artifact's signatures) is rewritten; a table buffer shared by several
    of them is quantized once."""
    m = _Model(data)
    s = m.s
    report = []
    scales: dict[int, float] = {}  # buffer index -> scale, for tables already rewritten
    for g, op in ((graph, op) for graph in m.model.subgraphs for op in graph.operators):
        name = m.op_name(op)
        if name not in LOOKUP_OPS:
            continue
        table = g.tensors[op.inputs[1 if name == "EMBEDDING_LOOKUP" else 0]]
        if table.type != s.TensorType.FLOAT32 or not m.is_constant(table):
            continue
        if table.buffer not in scales:
            weights = np.frombuffer(m.buffer_bytes(table.buffer), np.float32)
            scale = max(float(np.abs(weights).max()), 1e-8) / 127.0
            q = np.clip(np.round(weights / scale), -127, 127).astype(np.int8)
            buf = m.model.buffers[table.buffer]
            buf.data, buf.offset, buf.size = q.view(np.uint8), 0, 0
            scales[table.buffer] = scale
            error = float(np.abs(weights - q.astype(np.float32) * scale).max())
            report.append({"op": name, "shape": [int(d) for d in table.shape], "scale": scale, "max_abs_error": error})
        table.type, table.quantization = s.TensorType.INT8, m.quant(scales[table.buffer])
        _int8_outputs(m, g, op, scales[table.buffer])
    return m.serialize(), report


def _int8_outputs(m: _Model, g, op, scale: float) -> None:
    """The lookup output and layout-only ops after it carry the table's scale."""
    s = m.s
    frontier = [op.outputs[0]]
    while frontier:
        tid = frontier.pop()
        tensor = g.tensors[tid]
        if tensor.type == s.TensorType.FLOAT32:
            tensor.type, tensor.quantization = s.TensorType.INT8, m.quant(scale)
            frontier += [c.outputs[0] for c in g.operators if tid in list(c.inputs) and m.op_name(c) in LAYOUT_OPS]
