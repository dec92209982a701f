"""Sharing, factorization and sparsity: the transforms, their persistence, and their exports
in both runtimes (the file stores what the model holds)."""

import numpy as np
import pytest
import torch
from edgesdk.converters import get_backend

from edgesdk.compress.share import factorize_embeddings, share_layers
from edgesdk.compress.structured import Plan, bake_masks, cubic_sparsity, layer_linears, mask_smallest, slice_encoder
from edgesdk.models.registry import load_model, param_count, save_model
from tests.helpers import tiny_encoder

SEQ = 16


def model():
    return tiny_encoder(seed=2, vocab_size=500, hidden=64, heads=4, ffn=128, layers=4, dropout=0.0).eval()


def inputs(n=4):
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1, 500, (n, SEQ), generator=g, dtype=torch.int32)
    mask = torch.ones(n, SEQ, dtype=torch.int32)
    mask[-1, 9:] = 0
    return ids, mask


@pytest.mark.parametrize(
    "mode, parts", [("all", ("attention", "ffn")), ("attention", ("attention",)), ("ffn", ("ffn",))]
)
def test_shared_layers_are_one_module_and_survive_save_load(mode, parts, tmp_path):
    shared = share_layers(model(), mode)
    for part in ("attention", "ffn"):
        same = all(getattr(layer, part) is getattr(shared.layers[0], part) for layer in shared.layers)
        assert same == (part in parts)
    save_model(shared, tmp_path)
    loaded = load_model(tmp_path)
    assert loaded.layers[3].attention is loaded.layers[0].attention or "attention" not in parts
    assert param_count(loaded) == param_count(shared) < param_count(model())
    torch.testing.assert_close(loaded(*inputs()), shared(*inputs()))


def test_sandwich_sharing_ties_the_middle_layers_only(tmp_path):
    base = tiny_encoder(seed=2, vocab_size=500, hidden=64, heads=4, ffn=128, layers=5, dropout=0.0).eval()
    shared = share_layers(base, "sandwich")
    first, *middle, last = shared.layers
    assert all(layer.attention is middle[0].attention and layer.ffn is middle[0].ffn for layer in middle)
    assert first.ffn is not middle[0].ffn and last.attention is not middle[0].attention
    # The outer layers keep their trained weights; the middle starts from the middle layers' mean.
    torch.testing.assert_close(first.ffn.up.weight, base.layers[0].ffn.up.weight)
    torch.testing.assert_close(last.attention.query.weight, base.layers[4].attention.query.weight)
    mean = torch.stack([layer.ffn.up.weight for layer in base.layers[1:4]]).mean(0)
    torch.testing.assert_close(middle[1].ffn.up.weight, mean)
    per_layer = (param_count(base) - param_count(share_layers(base, "all"))) // 4  # one layer's weights
    assert param_count(shared) == param_count(base) - 2 * per_layer
    save_model(shared, tmp_path)
    loaded = load_model(tmp_path)
    assert loaded.layers[3].ffn is loaded.layers[1].ffn and loaded.layers[4].ffn is not loaded.layers[1].ffn
    torch.testing.assert_close(loaded(*inputs()), shared(*inputs()))
    with pytest.raises(ValueError, match="at least 4 layers"):
        share_layers(tiny_encoder(seed=2, vocab_size=500, hidden=64, heads=4, ffn=128, layers=3), "sandwich")


def test_shared_layer_starts_from_the_mean_of_the_layers():
    base = model()
    shared = share_layers(base, "ffn")
    mean = torch.stack([layer.ffn.up.weight for layer in base.layers]).mean(0)
    torch.testing.assert_close(shared.layers[2].ffn.up.weight, mean)


def test_sharing_needs_equal_layer_shapes():
    uneven = slice_encoder(model(), Plan([0, 1, 2, 3], [[0], [0, 1], [0], [0]], [list(range(128))] * 4))
    with pytest.raises(ValueError, match="identical layer shapes"):
        share_layers(uneven, "all")


def test_factorized_table_is_the_best_rank_e_approximation():
    base = model()
    fact = factorize_embeddings(base, 16)
    assert fact.word_embeddings.weight.shape == (500, 16) and fact.embedding_projection.weight.shape == (64, 16)
    words = base.word_embeddings.weight.detach()
    rebuilt = fact.embedding_projection(fact.word_embeddings.weight).detach()
    singular = torch.linalg.svdvals(words)
    torch.testing.assert_close((words - rebuilt).pow(2).sum(), singular[16:].pow(2).sum(), rtol=1e-3, atol=1e-3)
    with pytest.raises(ValueError, match="below the hidden size"):
        factorize_embeddings(base, 64)


def test_magnitude_masks_hold_through_training_and_bake_to_zeros():
    m = model()
    assert [round(cubic_sparsity(0.8, i, 3), 3) for i in (1, 2, 3)] == [0.563, 0.770, 0.8]
    mask_smallest(m, 0.5)
    mask_smallest(m, 0.7)  # gradual: the second round keeps the first round's zeros
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    m.train()
    m(*inputs()).sum().backward()
    opt.step()
    sparsity = bake_masks(m)
    assert 0.69 < sparsity < 0.71
    assert all(not hasattr(lin, "weight_orig") for lin in layer_linears(m))
    assert m.classifier.weight.ne(0).all()  # only layer weights are pruned


TRANSFORMS = {
    "sliced": lambda: slice_encoder(model(), Plan([0, 2, 3], [[0, 3], [1], [0, 1, 2]], [list(range(0, 128, 3))] * 3)),
    "shared": lambda: share_layers(model(), "all"),
    "sandwich": lambda: share_layers(model(), "sandwich"),
    "factorized": lambda: factorize_embeddings(model(), 16),
}


@pytest.fixture(scope="module")
def dense_sizes():
    ids, mask = inputs(1)
    example = (ids, mask)
    return {rt: len(get_backend(rt).lower(model(), example)) for rt in ("executorch", "litert")}


@pytest.mark.parametrize("runtime", ["executorch", "litert"])
@pytest.mark.parametrize("name", list(TRANSFORMS))
def test_transformed_models_export_run_and_store_what_they_hold(name, runtime, dense_sizes, tmp_path):
    m = TRANSFORMS[name]()
    backend = get_backend(runtime)
    ids, mask = inputs()
    data = backend.lower(m, (ids[:1].clone(), mask[:1].clone()))
    path = tmp_path / f"model{backend.suffix}"
    path.write_bytes(data)
    session = backend.open(path, 1)
    with torch.no_grad():
        eager = m(ids, mask).numpy()
    for i in range(len(ids)):
        np.testing.assert_allclose(
            session.run(ids[i : i + 1].numpy(), mask[i : i + 1].numpy())[0], eager[i], atol=1e-4, rtol=1e-4
        )
    # The file tracks the distinct parameters (a shared weight is stored once): within 5%.
    expected = dense_sizes[runtime] * param_count(m) / param_count(model())
    assert abs(len(data) - expected) < 0.05 * dense_sizes[runtime], (len(data), expected)


def test_clustered_weights_stay_clustered_through_training_and_zip_smaller():
    import zlib

    from edgesdk.compress.share import bake_clusters, cluster_weights, kmeans_1d

    w = torch.randn(64, 32)
    centroids, assignment = kmeans_1d(w, 16)
    assert centroids.numel() == 16 and torch.equal(assignment, (w.unsqueeze(-1) - centroids).abs().argmin(-1))
    m = model()
    dense = model()
    cluster_weights(m, 16, embeddings=True)
    opt = torch.optim.AdamW(m.parameters(), lr=1e-2)
    m.train()
    for _ in range(3):
        opt.zero_grad()
        m(*inputs()).pow(2).sum().backward()
        opt.step()
    assert bake_clusters(m, embeddings=True) <= 16
    assert m.layers[0].ffn.up.weight.unique().numel() <= 16 and m.word_embeddings.weight.unique().numel() <= 16
    assert not torch.equal(m.layers[0].ffn.up.weight, dense.layers[0].ffn.up.weight)  # fine-tuned
    ids, mask = inputs(1)
    zipped = {
        name: len(zlib.compress(get_backend("executorch").lower(x.eval(), (ids, mask)), 9))
        for name, x in [("dense", dense), ("clustered", m)]
    }
    assert zipped["clustered"] < zipped["dense"] / 2, zipped
