"""TFLM LUT compression of clustered int8 weights (tflite-micro's compression tool).

Why: clustered weights (prune.cluster) hold at most k values per output channel; TFLM can
store them as b-bit indices into a per-channel value table and decode them at run time
(DECODE operator), which shrinks the artifact itself, not only its zip. Only per-channel
tables are used: TFLM's decoder takes the channel count from the decoded tensor's scales, so
a per-tensor table on a per-channel-quantized weight decodes wrong values (measured on
tflite-micro 0.dev20261023182759; the tool accepts such a spec silently). The decoded weight
lives in the arena while its op runs, so the arena grows by about the largest weight.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

MAX_INDEX_BITS = 7  # the tool's limit: at most 128 values per table


def _bits(values: int) -> int:
    return max(1, (values - 1).bit_length())


def lut_candidates(data: bytes, max_bits: int) -> list[tuple[int, int, int, int]]:
    """(subgraph, tensor, axis, bits) for each constant int8 weight read only as input 1 of
    FULLY_CONNECTED whose per-channel table makes it smaller."""
    from tflite_micro.tensorflow.lite.micro.compression import model_editor

    model = model_editor.read(data)
    found = []
    for sg_i, sg in enumerate(model.subgraphs):
        for t_i, tensor in enumerate(sg.tensors):
            array = tensor.array
            if array is None or array.dtype != np.int8 or array.ndim != 2:
                continue
            consumers = sg.consumers_of(tensor)
            if not consumers or not all(
                op.opcode_name == "FULLY_CONNECTED" and op.inputs[1] is tensor for op in consumers
            ):
                continue
            q = tensor.quantization
            axis = q.axis if q is not None and q.axis is not None else 0
            per_channel = max(len(np.unique(s)) for s in np.moveaxis(array, axis, 0))
            bits = _bits(per_channel)
            channels = array.shape[axis]
            # indices + value tables + what the tool adds: the scales/zero points copied onto
            # the index tensor (12 B per channel) and the DECODE op's tensors (~100 B).
            packed = math.ceil(array.size * bits / 8) + channels * (per_channel + 12) + 100
            if bits <= max_bits and packed < array.size:
                found.append((sg_i, t_i, axis, bits))
    return found


def lut_compress(data: bytes, max_bits: int = 6) -> tuple[bytes, int]:
    """(compressed flatbuffer, number of tensors compressed); the input unchanged when no
    weight qualifies (unclustered weights have ~256 values per channel) or the result would
    not be smaller (narrow layers: a 16-value table per 32-weight row saves nothing)."""
    from tflite_micro.tensorflow.lite.micro.compression import spec
    from tflite_micro.tensorflow.lite.micro.compression.compress import compress

    found = lut_candidates(data, min(max_bits, MAX_INDEX_BITS))
    if not found:
        return data, 0
    specs = [
        spec.Tensor(
            subgraph=sg,
            tensor=t,
            compression=[spec.LookUpTableCompression(index_bitwidth=bits, mode=spec.PerChannel(axis=axis))],
        )
        for sg, t, axis, bits in found
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        packed = bytes(compress(data, specs))
    return (packed, len(specs)) if len(packed) < len(data) else (data, 0)
