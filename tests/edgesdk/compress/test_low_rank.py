"""Low-rank layers: the SVD pair is the best rank-r approximation, only Linears that get
smaller are split, and the result saves, loads, counts FLOPs and exports in both runtimes."""

import numpy as np
import pytest
import torch
from edgesdk.converters import get_backend

from edgesdk.compress.low_rank import low_rank_layers, low_rank_rank
from edgesdk.compress.share import share_layers
from edgesdk.models.encoder import LowRankLinear
from edgesdk.models.flops import encoder_flops
from edgesdk.models.registry import load_model, param_count, save_model
from tests.edgesdk.compress.test_share import inputs, model


def test_each_pair_is_the_truncated_svd_of_its_weight():
    base = model()  # hidden 64, 4 heads x 16, ffn 128
    low = low_rank_layers(base, 0.25)
    assert low_rank_rank(64, 0.25) == 16 == low.config.layers[0].rank
    pair = low.layers[1].ffn.up
    assert isinstance(pair, LowRankLinear) and pair.first.weight.shape == (16, 64)
    dense = base.layers[1].ffn.up.weight.detach()
    rebuilt = (pair.second.weight @ pair.first.weight).detach()
    tail = torch.linalg.svdvals(dense)[16:].pow(2).sum()
    torch.testing.assert_close((dense - rebuilt).pow(2).sum(), tail, rtol=1e-3, atol=1e-4)
    torch.testing.assert_close(pair.second.bias, base.layers[1].ffn.up.bias)
    assert param_count(low) < param_count(base)
    assert encoder_flops(low, 16) < encoder_flops(base, 16)


def test_only_linears_that_get_smaller_are_split():
    low = low_rank_layers(model(), 0.4)  # rank 32: 64x64 attention stays dense, 64x128 FFN splits
    attention, ffn = low.layers[0].attention, low.layers[0].ffn
    assert isinstance(attention.query, torch.nn.Linear) and isinstance(ffn.down, LowRankLinear)
    with pytest.raises(ValueError, match="no layer Linear gets smaller"):
        low_rank_layers(model(), 0.9)


def test_low_rank_models_save_load_and_keep_sharing(tmp_path):
    low = low_rank_layers(share_layers(model(), "all"), 0.25)
    assert low.layers[3].ffn.up is low.layers[0].ffn.up  # still one shared pair
    save_model(low, tmp_path)
    loaded = load_model(tmp_path)
    assert param_count(loaded) == param_count(low)
    torch.testing.assert_close(loaded(*inputs()), low(*inputs()))


@pytest.mark.parametrize("runtime", ["executorch", "litert"])
def test_low_rank_models_export_and_run(runtime, tmp_path):
    low = low_rank_layers(model(), 0.25)
    backend = get_backend(runtime)
    ids, mask = inputs()
    path = tmp_path / f"model{backend.suffix}"
    path.write_bytes(backend.lower(low, (ids[:1].clone(), mask[:1].clone())))
    session = backend.open(path, 1)
    with torch.no_grad():
        eager = low(ids, mask).numpy()
    for i in range(len(ids)):
        np.testing.assert_allclose(session.run(ids[i : i + 1].numpy(), mask[i : i + 1].numpy())[0], eager[i], atol=1e-4)
