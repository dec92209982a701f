"""Where quantization error comes from: per-layer SQNR and cosine vs fp32.

Weights: each Linear/Conv1d/embedding weight against its quantize-dequantize under the
precision's scheme (int8 per output channel, int4 per group, int8 per row or per table for
embeddings). Activations: each layer's output in the quantized eager graph (PT2E q/dq or
int4 subclass, i.e. what the ExecuTorch artifact computes) against the fp32 graph, on
calibration rows; errors accumulate, so a late layer shows everything before it. LiteRT and
TFLM artifacts are quantized on the flatbuffer, with no eager twin: they get weight rows only.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn

from edgesdk.compress.quant_methods import Int4Embedding, export_batched, table_bits

LAYER_TYPES = (".Linear", ".Conv1d", ".Embedding", ".Int8Embedding", ".Int4Embedding")
ROWS = 64  # calibration rows used for the activation comparison


EXACT_DB = 150.0  # reported when the error is zero (JSON has no infinity; fp32 itself is ~150 dB)


def sqnr_db(reference: torch.Tensor, approx: torch.Tensor) -> float:
    signal = float(reference.double().pow(2).sum())
    noise = float((reference.double() - approx.double()).pow(2).sum())
    return min(round(10 * math.log10(signal / noise), 2), EXACT_DB) if noise > 0 and signal > 0 else EXACT_DB


def cosine(reference: torch.Tensor, approx: torch.Tensor) -> float:
    a, b = reference.double().flatten(), approx.double().flatten()
    return round(float(torch.dot(a, b) / (a.norm() * b.norm()).clamp(min=1e-30)), 6)


def fake_quant_weight(
    weight: torch.Tensor, bits: int, group: Optional[int] = None, per_row: bool = True
) -> torch.Tensor:
    """Symmetric quantize-dequantize: per output channel, per `group` input channels, or per tensor."""
    w = weight.detach().double()
    levels = 2 ** (bits - 1) - 1
    shaped = w.reshape(w.shape[0], -1, group) if group else w.reshape(w.shape[0], -1)
    if per_row:
        scale = shaped.abs().amax(dim=-1, keepdim=True).clamp(min=1e-12) / levels
    else:
        scale = shaped.abs().max().clamp(min=1e-12) / levels
    return (torch.round(shaped / scale).clamp(-levels - 1, levels) * scale).reshape(w.shape)


def weight_scheme(module: nn.Module, precision: str, runtime: str, config) -> Optional[dict]:
    """The scheme each path applies (see compress/quant_methods.py and converters/litert.py)."""
    if isinstance(module, nn.Embedding):
        bits = table_bits(config, precision, module.weight.shape[1])
        if bits == 32:
            return None
        # Int8Embedding is per row in ExecuTorch; LiteRT paths use one scale per table; int4 is per row.
        return {"bits": bits, "per_row": runtime == "executorch" or bits == 4}
    if not isinstance(module, (nn.Linear, nn.Conv1d)):
        return None
    in_features = module.weight.shape[1] * (module.weight.shape[2] if module.weight.dim() == 3 else 1)
    if precision == "int4w" and isinstance(module, nn.Linear) and in_features % config.group_size == 0:
        return {"bits": 4, "group": config.group_size}
    return {"bits": 8}


class _Recorder(torch.fx.Interpreter):
    """Runs a graph and keeps, per layer module, the last float tensor computed in its scope
    (after convert that is the dequantized output, so output quantization is included)."""

    def __init__(self, graph_module: torch.fx.GraphModule):
        super().__init__(graph_module)
        self.outputs: dict[str, torch.Tensor] = {}

    def run_node(self, node: torch.fx.Node):
        out = super().run_node(node)
        stack = node.meta.get("nn_module_stack")
        if stack and isinstance(out, torch.Tensor) and out.is_floating_point():
            path, kind = list(stack.values())[-1]
            if str(kind).endswith(LAYER_TYPES):
                self.outputs[path] = out
        return out


@torch.no_grad()
def layer_outputs(graph_module: torch.fx.GraphModule, ids: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
    recorder = _Recorder(graph_module)
    recorder.run(ids, mask)
    return recorder.outputs


@torch.no_grad()
def layer_report(
    fp32_model: nn.Module,
    quantized: Optional[nn.Module],
    runtime: str,
    precision: str,
    calibration,
    seq_len: int,
    config,
) -> list[dict]:
    """One row per layer: weight SQNR/cosine, and activation SQNR/cosine when `quantized`
    (an eager fake-quant model) is given."""

    acts: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    if quantized is not None:
        ids, mask = calibration.x[:ROWS], calibration.mask[:ROWS]
        example = calibration.example()
        graph = quantized if isinstance(quantized, torch.fx.GraphModule) else export_batched(quantized, example)
        reference = layer_outputs(export_batched(fp32_model, example), ids, mask)
        approx = layer_outputs(graph, ids, mask)
        acts = {
            k: (reference[k], approx[k]) for k in reference if k in approx and reference[k].shape == approx[k].shape
        }
    rows = []
    for name, module in fp32_model.named_modules():
        if name == "position_embeddings":  # stays fp32 in every path
            continue
        scheme = weight_scheme(module, precision, runtime, config)
        if scheme is None:
            continue
        weight = module.weight.detach()
        if isinstance(module, nn.Embedding) and scheme["bits"] == 4:  # the table as Int4Embedding stores it
            approx_w = Int4Embedding(weight).dequantized()
        else:
            approx_w = fake_quant_weight(weight, **scheme)
        row = {
            "name": name,
            "runtime": runtime,
            "precision": precision,
            "weight_bits": scheme["bits"],
            "weight_sqnr_db": sqnr_db(weight, approx_w),
            "weight_cosine": cosine(weight, approx_w),
            "activation_sqnr_db": None,
            "activation_cosine": None,
        }
        if name in acts:
            row["activation_sqnr_db"] = sqnr_db(*acts[name])
            row["activation_cosine"] = cosine(*acts[name])
        row["sqnr_db"] = row["activation_sqnr_db"] if row["activation_sqnr_db"] is not None else row["weight_sqnr_db"]
        row["cosine"] = row["activation_cosine"] if row["activation_cosine"] is not None else row["weight_cosine"]
        rows.append(row)
    return rows


def worst_first(rows: list[dict]) -> list[dict]:
    return sorted(rows, key=lambda r: (r["sqnr_db"], r["name"]))
