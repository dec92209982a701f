"""Staged artifacts: one method (.pte) or signature (.tflite) per (length bucket, stage).

Why stages and not one graph with `torch.cond`: XNNPACK's partitioner and litert-torch cannot
lower data-dependent control flow, so the decision to stop lives in a small controller
(converters/controller.py) and each stage is a straight-line graph. Stage 0 takes token ids and
the mask and returns hidden states and its exit's logits; a middle stage takes hidden states
and the mask; the last stage returns the final classifier's logits alone. Each bucket has its
own copy of the stages at that input length, so a 12-token sentence runs a 16-token graph.
"""

from __future__ import annotations

from typing import Optional

import torch
from edgesdk.converters.staged_plan import EXITS_FILE, STAGED_TAG, StagedPlan, is_staged, method_name
from torch import nn

from edgesdk.compress.quant_methods import Calibration
from edgesdk.models.encoder import Encoder

__all__ = [
    "EXITS_FILE",
    "STAGED_TAG",
    "Stage",
    "StagedPlan",
    "is_staged",
    "method_name",
    "stage_calibrations",
    "stage_methods",
]


class Stage(nn.Module):
    """Layers [start, end) of an Encoder, with the embedding in front (stage 0) and an exit
    head or the final classifier behind. It holds only the modules it runs (so each exported
    method carries only its own weights) and reuses Encoder's own embed/bias/pool/classify
    code (borrowed methods): the stage computes exactly what the single graph computes."""

    embed, attention_bias, pool, classify = Encoder.embed, Encoder.attention_bias, Encoder.pool, Encoder.classify

    def __init__(self, encoder: Encoder, start: int, end: int, head: Optional[nn.Linear]):
        super().__init__()
        self.config, self.mask_bias, self.first = encoder.config, encoder.mask_bias, start == 0
        if self.first:
            for name in ("word_embeddings", "embedding_projection", "position_embeddings", "embedding_norm"):
                setattr(self, name, getattr(encoder, name))
            self.segment_embedding = encoder.segment_embedding
            self.embedding_dropout = encoder.embedding_dropout
        self.layers = nn.ModuleList(encoder.layers[start:end])
        self.head = head
        self.pooler = encoder.pooler
        if head is None:
            self.classifier, self.head_dropout = encoder.classifier, encoder.head_dropout

    def forward(self, x: torch.Tensor, mask: torch.Tensor):
        bias = self.attention_bias(mask)
        hidden = self.embed(x) if self.first else x
        for layer in self.layers:
            hidden = layer(hidden, bias)
        if self.head is None:
            return self.classify(hidden, mask)
        return hidden, self.head(self.pool(hidden, mask))


def stage_methods(encoder: Encoder, heads, plan: StagedPlan) -> dict[str, tuple[nn.Module, tuple]]:
    """{method name: (stage module, example inputs)} for every bucket and stage."""
    ends = plan.stage_ends
    methods = {}
    for bucket in plan.buckets:
        ids = torch.ones(1, bucket, dtype=torch.int32)
        mask = torch.ones(1, bucket, dtype=torch.int32)
        hidden = torch.zeros(1, bucket, encoder.config.hidden_size)
        for s, end in enumerate(ends):
            start = 0 if s == 0 else ends[s - 1]
            head = heads.heads[s] if s < len(plan.exit_layers) else None
            stage = Stage(encoder, start, end, head).eval()
            methods[method_name(bucket, s)] = (stage, (ids.clone() if s == 0 else hidden.clone(), mask.clone()))
    return methods


@torch.no_grad()
def stage_calibrations(methods: dict, plan: StagedPlan, tokenizer, texts) -> dict:
    """{method name: Calibration}: each bucket's calibration rows (truncated to the bucket)
    run through the fp32 stages in order, so every stage is calibrated on the inputs it gets
    in deployment: token ids for stage 0, the previous stage's hidden states after it."""
    out = {}
    for bucket in plan.buckets:
        ids, mask = (torch.from_numpy(a) for a in tokenizer.pad(tokenizer.encode(texts, bucket), bucket))
        x = ids
        for s in range(len(plan.stage_ends)):
            name = method_name(bucket, s)
            out[name] = Calibration(x, mask)
            stage = methods[name][0]
            if s < len(plan.exit_layers):
                x = stage(x, mask)[0]
    return out
