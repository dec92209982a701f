"""The ExecuTorch rewrite keeps the encoder inside XNNPACK and computes what the model computes."""

from __future__ import annotations

import collections

import torch
from torch import nn

from edgesdk.converters.xnnpack_rewrite import PooledLayerNorm, xnnpack_layer_norms
from tests.helpers import tiny_encoder


def test_pooled_layer_norm_equals_layer_norm():
    torch.manual_seed(0)
    norm = nn.LayerNorm(24, eps=1e-12)
    nn.init.normal_(norm.weight)
    nn.init.normal_(norm.bias)
    x = torch.randn(2, 7, 24) * 5 + 3
    assert torch.allclose(PooledLayerNorm(norm)(x), norm(x), atol=1e-5)
    assert torch.allclose(PooledLayerNorm(norm)(x[0]), norm(x[0]), atol=1e-5)  # other ranks: plain layer_norm


def test_the_rewrite_copies_and_leaves_the_model_alone():
    model = tiny_encoder(vocab_size=100).eval()
    rewritten = xnnpack_layer_norms(model)
    assert not any(isinstance(m, PooledLayerNorm) for m in model.modules())
    assert sum(isinstance(m, PooledLayerNorm) for m in rewritten.modules()) == 1 + 2 * len(model.layers)
    ids = torch.randint(1, 100, (3, 12), dtype=torch.int32)
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    assert torch.allclose(rewritten(ids, mask), model(ids, mask), atol=1e-5)


def test_the_lowered_encoder_runs_its_layers_in_one_delegate():
    """Before: a delegate call per LayerNorm and per matmul expand (19 for 4 layers). After: the
    embedding gather, the mask bias and the pooling sum stay outside; every layer is inside."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    model = tiny_encoder(vocab_size=100, layers=3).eval()
    example = (torch.ones(1, 16, dtype=torch.int32), torch.ones(1, 16, dtype=torch.int32))
    exported = torch.export.export(xnnpack_layer_norms(model), example, strict=True)
    graph = to_edge_transform_and_lower(exported, partitioner=[XnnpackPartitioner()]).exported_program().graph
    ops = collections.Counter(str(n.target) for n in graph.nodes if n.op == "call_function")
    assert not [op for op in ops if "layer_norm" in op or "expand_copy" in op or "bmm" in op]
    assert ops["executorch_call_delegate"] <= 3
