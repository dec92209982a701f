"""Quantization that ships: int8 embedding tables, PT2E int8 graphs, int4 weights.

Why our own pieces around the stock quantizers:
- Every stock path leaves the word-embedding table in fp32 (it is a gather, not a matmul),
  and on a small student that table is 80-95% of the file. `Int8Embedding` stores it as int8
  with one fp32 scale per row and dequantizes the gathered rows, so the table is int8 in
  every runtime (ExecuTorch portable gather, LiteRT/TFLM GATHER on int8).
- PT2E quantizers annotate `add`, and the attention/max-pool mask is an add of a -1e4 bias:
  one per-tensor int8 scale cannot hold both -1e4 and attention scores, and accuracy
  collapses (SST-2 student: 82.0% -> 70.6%). `mask_bias_filter` keeps those adds in float.
- The model is exported with a dynamic batch so calibration and the eager reference run in
  batches; the converted graph is then re-exported at batch 1 for lowering.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
import torch
from torch import nn

from edgesdk.compress.losses import kd_loss
from edgesdk.devices import CPU
from edgesdk.models.qr_embedding import QuotientRemainderEmbedding
from edgesdk.train import Schedule, optimize

if TYPE_CHECKING:
    from edgesdk.recipe import QuantizeConfig
    from edgesdk.tokenizer import Tokenizer

FP32 = "fp32"
PRECISIONS = ("fp32", "int8", "int8-dynamic", "int4w")


class Int8Embedding(nn.Module):
    """Embedding table stored as int8 (symmetric, 127 levels) with an fp32 scale per row, or
    one per table where the converter would mangle a gathered scale column (ai-edge-quantizer
    quantizes it per channel and writes 30k scale/zero-point pairs: +366 KB)."""

    def __init__(self, weight: torch.Tensor, per_row: bool = True):
        super().__init__()
        weight = weight.detach().to(torch.float32)
        peak = weight.abs().amax(dim=1, keepdim=True) if per_row else weight.abs().max()
        scale = peak.clamp(min=1e-8) / 127.0
        self.per_row = per_row
        self.register_buffer("qweight", torch.round(weight / scale).clamp(-127, 127).to(torch.int8))
        self.register_buffer("scale", scale)

    def dequantized(self) -> torch.Tensor:
        return self.qweight.to(torch.float32) * self.scale

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        rows = nn.functional.embedding(input_ids, self.qweight).to(torch.float32)
        return rows * (nn.functional.embedding(input_ids, self.scale) if self.per_row else self.scale)


class Int4Embedding(nn.Module):
    """Embedding table at 4 bits per weight: symmetric int4 per row (levels -8..7), two weights
    per byte (column j of the first half in the high nibble, column j of the second half in the
    low one), stored as int8 so every runtime gathers it like Int8Embedding's table. Each row's
    scale (about its peak / 7) is an int8 code on a log grid between the table's smallest and
    largest scale (steps of under 2 % on real tables, against int4's ~14 % level spacing):
    an fp32 scale column would be re-quantized by ai-edge-quantizer per row, 12 B a row, a
    quarter of what int4 saves on a 96-wide table. The gathered bytes are unpacked with float
    ops that are exact on 0..255 (x/16 is a power-of-two scaling, floor, subtract), which is why
    only paths whose activations stay float take it (int8-dynamic, int4w: `embeddings: int4`);
    static int8 would quantize the unpacking itself."""

    def __init__(self, weight: torch.Tensor):
        super().__init__()
        weight = weight.detach().to(torch.float32)
        if weight.shape[1] % 2:
            raise ValueError(f"an int4 table packs two columns per byte; width {weight.shape[1]} is odd")
        log_scale = torch.log(weight.abs().amax(dim=1, keepdim=True).clamp(min=1e-8) / 7.0)
        low, high = float(log_scale.min()), float(log_scale.max())
        self.log_step = max(high - low, 1e-6) / 255.0
        self.log_base = low + 128.0 * self.log_step  # code -128 is the smallest scale
        code = torch.round((log_scale - low) / self.log_step).clamp(0, 255) - 128.0
        self.register_buffer("scale_code", code.to(torch.int8))
        q = torch.round(weight / self.scales(self.scale_code)).clamp(-8, 7).to(torch.int16) + 8  # 0..15
        half = weight.shape[1] // 2
        self.register_buffer("qweight", (q[:, :half] * 16 + q[:, half:] - 128).to(torch.int8))

    def scales(self, code: torch.Tensor) -> torch.Tensor:
        return torch.exp(code.to(torch.float32) * self.log_step + self.log_base)

    def unpacked(self, packed: torch.Tensor) -> torch.Tensor:
        byte = packed.to(torch.float32) + 128.0
        high = torch.floor(byte * 0.0625)
        return torch.cat([high, byte - 16.0 * high], dim=-1) - 8.0

    def dequantized(self) -> torch.Tensor:
        return self.unpacked(self.qweight) * self.scales(self.scale_code)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        rows = nn.functional.embedding(input_ids, self.qweight)
        return self.unpacked(rows) * self.scales(nn.functional.embedding(input_ids, self.scale_code))


@dataclass(frozen=True)
class Calibration:
    """Seeded training rows, padded to the export length, in batches: the inputs of the
    model (or of one stage of a staged artifact) the quantizer calibrates."""

    x: torch.Tensor  # first input: token ids [N, T] int32, or a later stage's hidden states [N, T, H]
    mask: torch.Tensor  # [N, T] int32

    def batches(self, size: int = 32):
        for start in range(0, len(self.x), size):
            yield self.x[start : start + size], self.mask[start : start + size]

    def example(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Two rows (export needs a batch > 1 to keep the batch dimension dynamic)."""
        return self.x[:1].repeat(2, *[1] * (self.x.ndim - 1)), self.mask[:1].repeat(2, 1)


def calibration_rows(texts: Sequence[str], samples: int, seed: int) -> list[str]:
    """The seeded training texts every quantizer calibrates on (single graphs and stages)."""
    chosen = sorted(random.Random(seed).sample(range(len(texts)), min(samples, len(texts))))
    return [texts[i] for i in chosen]


def calibration_set(texts: Sequence[str], tokenizer: "Tokenizer", samples: int, seq_len: int, seed: int) -> Calibration:
    ids, mask = tokenizer.pad(tokenizer.encode(calibration_rows(texts, samples, seed), seq_len), seq_len)
    return Calibration(torch.from_numpy(ids), torch.from_numpy(mask))


def deployable(model: nn.Module, seq_len: int) -> nn.Module:
    """A copy ready for lowering, with the position table cut to the export length (rows past
    it can never be read: 512 -> 64 rows saves 230 KB on a 128-wide student)."""
    model = copy.deepcopy(model).eval()
    positions = getattr(model, "position_embeddings", None)
    if isinstance(positions, nn.Embedding) and positions.num_embeddings > seq_len:
        model.position_embeddings = nn.Embedding.from_pretrained(positions.weight[:seq_len].detach().clone())
    return model


@torch.no_grad()
def clip_weight_outliers(model: nn.Module, method: str, value: float) -> list[dict]:
    """Clip every Linear/Conv1d weight, per output channel, to the `value` percentile of |w|
    or to k=`value` robust standard deviations (from the median absolute deviation), in place, so one outlier does not stretch the int8
    grid of its channel. Returns what was clipped per layer."""
    changed = []
    if method == "none":
        return changed
    for name, module in model.named_modules():
        if not isinstance(module, (nn.Linear, nn.Conv1d)):
            continue
        w = module.weight
        rows = w.reshape(w.shape[0], -1)
        if method == "percentile":
            limit = torch.quantile(rows.abs().double(), value / 100.0, dim=1, keepdim=True).to(w.dtype)
        else:  # robust sigma (median absolute deviation): the outliers must not inflate it
            centred = rows - rows.median(dim=1, keepdim=True).values
            limit = value * 1.4826 * centred.abs().median(dim=1, keepdim=True).values
        clipped = int((rows.abs() > limit).sum())
        rows.copy_(torch.maximum(torch.minimum(rows, limit), -limit))
        changed.append({"name": name, "clipped": clipped, "of": rows.numel()})
    return changed


def int8_embeddings(
    model: nn.Module, config: "QuantizeConfig", per_row: bool = True, float_activations: bool = False
) -> nn.Module:
    """Swap the word table for Int8Embedding (in place) unless the recipe keeps it fp32; for
    `embeddings: int4` on a path whose activations stay float (`float_activations`), for
    Int4Embedding (always per row), where other paths keep the int8 table."""
    words = getattr(model, "word_embeddings", None)
    if config.embeddings == "fp32" or words is None:
        return model
    owner, names = model, ("word_embeddings",)
    if isinstance(words, QuotientRemainderEmbedding):  # two plain tables
        owner, names = words, ("quotient", "remainder")
    for name in names:
        table = getattr(owner, name)
        if not isinstance(table, nn.Embedding):
            continue
        if config.embeddings == "int4" and float_activations and table.weight.shape[1] % 2 == 0:
            setattr(owner, name, Int4Embedding(table.weight))
        else:
            setattr(owner, name, Int8Embedding(table.weight, per_row))
    return model


def table_bits(config: "QuantizeConfig", precision: str, width: int) -> int:
    """Bits per word-table weight a (precision, recipe) ships: what int8_embeddings does."""
    if config.embeddings == "fp32" or precision == "fp32":
        return 32
    return 4 if config.embeddings == "int4" and precision in INT4_TABLE_PRECISIONS and width % 2 == 0 else 8


# Precisions whose activations stay float, so an int4 table's float unpacking stays exact.
INT4_TABLE_PRECISIONS = ("int8-dynamic", "int4w")


def token_example(seq_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.ones(2, seq_len, dtype=torch.int32), torch.ones(2, seq_len, dtype=torch.int32)


def export_batched(model: nn.Module, example: tuple[torch.Tensor, torch.Tensor]) -> torch.fx.GraphModule:
    """Export with a dynamic batch dimension (length fixed: it is what ships)."""
    batch = torch.export.Dim("batch", max=4096)
    return torch.export.export(model, example, dynamic_shapes=({0: batch}, {0: batch}), strict=True).module()


def mask_bias_filter(graph_module: torch.fx.GraphModule) -> Callable[[torch.fx.Node], bool]:
    """Quantizer node filter. False (stay float) for:
    - adds that mix token activations with a tensor computed from the attention mask alone
      (the -1e4 bias);
    - the mul of Int8Embedding's rows by their gathered per-row scales (quantizing the scales
      to one per-tensor int8 grid would undo the per-row precision);
    - integer ops (annotated, an add of row ids would come out float)."""
    placeholders = [n for n in graph_module.graph.nodes if n.op == "placeholder"]
    from_tokens = {placeholders[0]}  # input_ids: first positional input
    for node in graph_module.graph.nodes:
        if any(arg in from_tokens for arg in node.all_input_nodes):
            from_tokens.add(node)

    def gathers_scales(node: torch.fx.Node) -> bool:
        table = node.args[0] if node.op == "call_function" and "embedding" in str(node.target) else None
        return isinstance(table, torch.fx.Node) and table.op == "get_attr" and str(table.target).endswith("scale")

    def keep(node: torch.fx.Node) -> bool:
        if node.op != "call_function":
            return True
        value = node.meta.get("val")
        if isinstance(value, torch.Tensor) and not value.dtype.is_floating_point:
            return False  # integer arithmetic (a quotient-remainder table's row ids) is not quantized
        if "add" in str(node.target) and node in from_tokens:
            inputs = [a for a in node.all_input_nodes if a.op not in ("get_attr", "placeholder")]
            return all(a in from_tokens for a in inputs)
        if "mul" in str(node.target):
            return not any(gathers_scales(a) for a in node.all_input_nodes)
        return True

    return keep


@torch.no_grad()
def pt2e_quantize(model: nn.Module, quantizer, calibration: Calibration, seq_len: int) -> torch.fx.GraphModule:
    """prepare -> calibrate -> convert. Returns the converted graph (reference q/dq ops), which
    runs in eager as the fake-quant model the artifact is checked against."""
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    graph = export_batched(model, calibration.example())
    quantizer.set_filter_function(mask_bias_filter(graph))
    prepared = prepare_pt2e(graph, quantizer)
    for ids, mask in calibration.batches():
        prepared(ids, mask)
    return convert_pt2e(prepared)


def int4_weights(model: nn.Module, group_size: int) -> nn.Module:
    """int4 group-wise weights, int8 dynamic activations (XNNPACK's 8da4w) on every linear
    whose input width divides into groups; others stay fp32 (listed in the layer report)."""
    from torchao.quantization import Int8DynamicActivationIntxWeightConfig, quantize_
    from torchao.quantization.granularity import PerGroup

    model = copy.deepcopy(model)
    quantize_(
        model,
        Int8DynamicActivationIntxWeightConfig(weight_dtype=torch.int4, weight_granularity=PerGroup(group_size)),
        filter_fn=lambda module, _: isinstance(module, nn.Linear) and module.in_features % group_size == 0,
    )
    return model


@torch.no_grad()
def reference_logits(module: Callable, ids: np.ndarray, mask: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Eager logits of a (possibly fake-quant) module on padded inputs, as the artifact sees them."""
    out = []
    for start in range(0, len(ids), batch_size):
        sl = slice(start, start + batch_size)
        out.append(module(torch.from_numpy(ids[sl]), torch.from_numpy(mask[sl])).numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)


@dataclass(frozen=True)
class QatData:
    """Seeded training rows at the export length with the teacher's logits for them."""

    ids: torch.Tensor
    mask: torch.Tensor
    soft: torch.Tensor


def qat_texts(texts: Sequence[str], config: "QuantizeConfig", seed: int) -> list[str]:
    """The rows QAT trains on: steps x batch rows (or all of train), sampled with the seed."""
    wanted = min(len(texts), config.qat_steps * config.qat_batch_size)
    chosen = sorted(random.Random(seed + 1).sample(range(len(texts)), wanted))
    return [texts[i] for i in chosen]


def qat_finetune(model: nn.Module, data: QatData, config: "QuantizeConfig", seq_len: int, seed: int) -> nn.Module:
    """Fine-tune `model` (fp32, in place) with XNNPACK-style int8 fake quantization in the
    forward pass (straight-through gradients), on the teacher's soft labels. Returns the model
    with the trained float weights; every runtime then quantizes it through its int8 path, so
    QAT changes the weights the quantizers see, never the lowering."""
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )
    from torchao.quantization.pt2e import allow_exported_model_train_eval
    from torchao.quantization.pt2e.quantize_pt2e import prepare_qat_pt2e

    torch.manual_seed(seed)
    # Train through the int8 table the artifacts will read (it stays frozen).
    graph = export_batched(int8_embeddings(copy.deepcopy(model), config), token_example(seq_len))
    quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True, is_qat=True))
    quantizer.set_filter_function(mask_bias_filter(graph))
    prepared = allow_exported_model_train_eval(prepare_qat_pt2e(graph, quantizer))  # optimize() calls train()
    trainable = {k for k, _ in model.named_parameters() if not k.startswith("word_embeddings.")}
    for name, param in prepared.named_parameters():
        param.requires_grad_(name in trainable)

    def loss_fn(idx: list[int]) -> torch.Tensor:
        return kd_loss(prepared(data.ids[idx], data.mask[idx]), data.soft[idx], config.qat_temperature)

    epochs = config.qat_steps * config.qat_batch_size / max(1, len(data.ids))
    schedule = Schedule(epochs, config.qat_batch_size, config.qat_learning_rate, 0.0, 0.0)
    # An exported PT2E graph stays on the CPU it was traced on: QAT trains there.
    lengths = [seq_len] * len(data.ids)
    optimize([prepared], lengths, schedule, random.Random(seed), loss_fn, "QAT (int8 fake-quant)", device=CPU)
    trained = {k: v for k, v in prepared.state_dict().items() if k in trainable}
    missing = trainable - set(trained)
    if missing:
        raise RuntimeError(f"QAT graph lost parameters {sorted(missing)[:3]}")
    model.load_state_dict(trained, strict=False)
    return model.eval()
