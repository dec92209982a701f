"""Shared word-table rows: the codebook groups like vectors and gives each used token its own
row when there is room, specials keep their rows, the hash is fixed, and baking into the
tokenizer remap is exact (same logits from the real tokenizer's ids) and survives save/load."""

import numpy as np
import pytest
import torch

from edgesdk.compress.vocab import token_counts
from edgesdk.compress.word_rows import SharedRowEmbedding, bake_word_rows, row_index, share_word_rows
from edgesdk.models.model_dir import default_teacher_dir
from edgesdk.models.registry import load_model, save_model
from edgesdk.models.small import CNNClassifier, CNNConfig
from edgesdk.tokenizer import Tokenizer
from edgesdk.train import predict_logits
from tests.conftest import sst2_rows


def counts_of(vocab: int, used: dict[int, int]) -> torch.Tensor:
    counts = torch.zeros(vocab, dtype=torch.long)
    for token, n in used.items():
        counts[token] = n
    return counts


def test_codebook_groups_like_vectors_and_keeps_specials_apart():
    # tokens 2..7 in two tight groups around +/-10; 0, 1 special
    table = torch.tensor([[0.0, 0], [0, 0], [10, 0], [10.1, 0], [9.9, 0], [-10, 0], [-10.1, 0], [-9.9, 0]])
    index = row_index("codebook", table, counts_of(8, {2: 5, 3: 1, 4: 1, 5: 5, 6: 1, 7: 1}), [0, 1], rows=4)
    assert index[:2].tolist() == [0, 1]
    assert len(set(index[2:5].tolist())) == 1 and len(set(index[5:].tolist())) == 1
    assert index[2] != index[5] and set(index[2:].tolist()) <= {2, 3}


def test_codebook_gives_every_used_token_a_row_when_there_is_room():
    torch.manual_seed(0)
    table = torch.randn(50, 4)
    used = {i: 1 for i in range(2, 12)}
    index = row_index("codebook", table, counts_of(50, used), [0, 1], rows=20)
    assert len(set(index[2:12].tolist())) == 10  # each used token its own row
    for token in range(12, 50):  # unused tokens join the nearest used one
        nearest = 2 + int(((table[2:12] - table[token]) ** 2).sum(1).argmin())
        assert index[token] == index[nearest]


def test_hash_is_fixed_and_stays_in_range():
    table = torch.zeros(1000, 2)
    a = row_index("hash", table, counts_of(1000, {}), [0], rows=64)
    b = row_index("hash", table, counts_of(1000, {5: 3}), [0], rows=64)
    assert torch.equal(a, b) and int(a.max()) < 64 and a[0] == 0 and int(a[1:].min()) >= 1
    assert len(set(a.tolist())) == 64  # every row gets tokens
    with pytest.raises(ValueError, match="no row beside"):
        row_index("hash", table, counts_of(1000, {}), list(range(8)), rows=8)
    with pytest.raises(ValueError, match="not fewer than the vocabulary's 1000 tokens"):
        row_index("codebook", table, counts_of(1000, {}), [0], rows=1000)


@pytest.mark.parametrize("method", ["codebook", "hash"])
def test_baking_into_the_tokenizer_is_exact_and_saves(method, tmp_path):
    tokenizer = Tokenizer.from_dir(default_teacher_dir())
    texts = [line.split("\t")[0] for line in sst2_rows("train", 200)[1:]]
    torch.manual_seed(0)
    cfg = CNNConfig(vocab_size=tokenizer.vocab_size, embedding_size=16, filters=8, pad_token_id=tokenizer.pad_id)
    model = CNNClassifier(cfg).eval()
    counts = counts_of(tokenizer.vocab_size, token_counts(tokenizer, texts))
    info = share_word_rows(model, method, 300, counts, tokenizer.special_ids())
    assert isinstance(model.word_embeddings, SharedRowEmbedding) and info["rows"] == 300
    shared_logits = predict_logits(model, tokenizer, texts, 32)
    baked, baked_tokenizer = bake_word_rows(model, tokenizer)
    assert baked.word_embeddings.weight.shape == (300, 16) and baked.config.vocab_size == 300
    ids = np.concatenate([np.asarray(r) for r in baked_tokenizer.encode(texts, 32)])
    assert ids.max() < 300
    np.testing.assert_allclose(predict_logits(baked, baked_tokenizer, texts, 32), shared_logits, atol=1e-5)
    save_model(baked, tmp_path)
    baked_tokenizer.save(tmp_path)
    reloaded = Tokenizer.from_dir(tmp_path)
    np.testing.assert_allclose(predict_logits(load_model(tmp_path), reloaded, texts, 32), shared_logits, atol=1e-5)
