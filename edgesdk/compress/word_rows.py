"""Shared word-table rows: many tokens, one row (a k-means codebook or the hashing trick).

The word table is most of a small student's bytes (the tiny CNN: 1.11 M of its 1.28 MB). A
table of `rows` shared rows replaces it: the student trains with an index token -> row in
front of a `rows` x E table, and `bake_word_rows` writes that index into the tokenizer's id
remap (the mechanism vocabulary pruning's `nearest` ships), so the deployed graph is a plain
lookup into `rows` entries and every runtime and tokenizer (Python, C, Kotlin) runs it as
before. Nothing in a lowering or an app changes.

- `codebook`: tokens the training texts use are clustered (k-means on the student's initial
  word vectors, the teacher's table projected by PCA, weighted by sqrt of each token's count,
  seeded with the most frequent tokens' vectors); every other token joins its nearest
  centroid, as `nearest` vocabulary pruning would send it to a kept neighbour. When the
  training texts use no more tokens than there are rows, each keeps a row of its own.
- `hash`: the hashing trick (Weinberger et al. 2009): a fixed multiplicative hash of the
  token id picks the row; colliding tokens are unrelated, so it is the baseline to beat.
- `qr`: quotient-remainder (models/qr_embedding.py): no token shares a vector; the rows are
  reached from the id inside the graph, so nothing is baked and the tokenizer is unchanged.

Special tokens ([PAD], [CLS], ...) always keep rows of their own (rows 0..S-1).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from edgesdk.compress.vocab import best_matches, with_word_table
from edgesdk.models.qr_embedding import qr_shape
from edgesdk.models.registry import build_model
from edgesdk.tokenizer import Tokenizer

KMEANS_ITERATIONS = 15
_HASH_MULTIPLIER = 2654435761  # Knuth's multiplicative hash


class SharedRowEmbedding(nn.Module):
    """Embedding whose `weight` has `rows` entries, reached through a fixed token -> row
    index. `weight` keeps its name so word-table code (freezing, augmentation) finds it."""

    def __init__(self, index: torch.Tensor, weight: torch.Tensor):
        super().__init__()
        self.register_buffer("index", index.to(torch.long))
        self.weight = nn.Parameter(weight.detach().clone())

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return nn.functional.embedding(self.index[input_ids.long()], self.weight)


def row_index(
    method: str, table: torch.Tensor, counts: torch.Tensor, special: Sequence[int], rows: int
) -> torch.Tensor:
    """token id -> row. `table` [V, E]: the vectors clustering sees; `counts` [V]: how often
    each token occurs in the training texts."""
    vocab = table.shape[0]
    special = sorted(special)
    free = rows - len(special)
    if rows >= vocab:
        raise ValueError(f"student.word_rows {rows} is not fewer than the vocabulary's {vocab} tokens; nothing to share")
    if free < 1:
        raise ValueError(f"student.word_rows {rows} leaves no row beside the {len(special)} special tokens")
    index = torch.empty(vocab, dtype=torch.long)
    index[special] = torch.arange(len(special))
    others = torch.ones(vocab, dtype=torch.bool)
    others[special] = False
    ids = others.nonzero().squeeze(1)
    if method == "hash":
        index[ids] = len(special) + (ids * _HASH_MULTIPLIER) % (2**32) % free
        return index
    seen = ids[counts[ids] > 0]
    if len(seen) <= free:  # every used token keeps its own row; the rest join the nearest
        centroids = table[seen].float()
    else:
        weights = counts[seen].float().sqrt()
        centroids = _kmeans(table[seen].float(), weights, free, seen_order=counts[seen])
    index[ids] = len(special) + _nearest(table[ids].float(), centroids)
    return index


def _nearest(points: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """Nearest centroid by Euclidean distance: argmax of 2 p.c - |c|^2."""
    return best_matches(points, 2 * centroids, -(centroids * centroids).sum(1))


def _kmeans(points: torch.Tensor, weights: torch.Tensor, k: int, seen_order: torch.Tensor) -> torch.Tensor:
    """Weighted Lloyd iterations from the k most frequent points (deterministic: no random
    init). An emptied cluster keeps its previous centroid."""
    order = sorted(range(len(points)), key=lambda i: (-int(seen_order[i]), i))
    centroids = points[order[:k]].clone()
    for _ in range(KMEANS_ITERATIONS):
        assign = _nearest(points, centroids)
        mass = torch.zeros(k).index_add_(0, assign, weights)
        sums = torch.zeros_like(centroids).index_add_(0, assign, points * weights[:, None])
        filled = mass > 0
        centroids[filled] = sums[filled] / mass[filled, None]
    return centroids


def initial_rows(index: torch.Tensor, table: torch.Tensor, counts: torch.Tensor, rows: int) -> torch.Tensor:
    """Each row starts as the mean of its tokens' vectors, weighted as the clustering was
    (tokens the texts never use weigh almost nothing)."""
    weights = counts.float().sqrt() + 1e-3
    sums = torch.zeros(rows, table.shape[1]).index_add_(0, index, table.float() * weights[:, None])
    mass = torch.zeros(rows).index_add_(0, index, weights)
    return sums / mass.clamp(min=1e-12)[:, None]


def share_word_rows(model: nn.Module, method: str, rows: int, counts: torch.Tensor, special: Sequence[int]) -> dict:
    """Put a SharedRowEmbedding of `rows` rows in front of `model` (in place); what it did."""
    table = model.word_embeddings.weight.detach()
    with torch.no_grad():
        index = row_index(method, table, counts, special, rows)
        model.word_embeddings = SharedRowEmbedding(index, initial_rows(index, table, counts, rows))
    used = torch.unique(index[counts > 0])
    return {
        "method": method,
        "rows": rows,
        "tokens": int(table.shape[0]),
        "tokens_seen": int((counts > 0).sum()),
        "rows_used_by_seen_tokens": int(len(used)),
    }


def bake_word_rows(model: nn.Module, tokenizer: Tokenizer) -> tuple[nn.Module, Tokenizer]:
    """The deployable pair: a model with a plain `rows`-entry table and a tokenizer that emits
    row ids (exact: every input gets the same vector as before)."""
    shared = model.word_embeddings
    baked = with_word_table(model, shared.weight, int(shared.index[tokenizer.pad_id]))
    return baked, tokenizer.remapped(shared.index.tolist())


def to_quotient_remainder(model: nn.Module, rows: int) -> tuple[nn.Module, dict]:
    """A copy of a CNN/BiLSTM student whose word table is quotient-remainder within `rows`
    rows, started from the factorization nearest its current table; what it did."""
    table = model.word_embeddings.weight.detach()
    remainders, quotients = qr_shape(table.shape[0], rows)
    replaced = build_model(model.config.model_copy(update={"word_remainders": remainders}))
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("word_embeddings.")}
    missing = replaced.load_state_dict(state, strict=False).missing_keys
    assert all(k.startswith("word_embeddings.") for k in missing), missing
    replaced.word_embeddings.fit(table)
    with torch.no_grad():
        fitted = replaced.word_embeddings(torch.arange(table.shape[0])[None])[0]
        error = float((fitted - table).norm() / table.norm().clamp(min=1e-12))
    info = {"method": "qr", "rows": remainders + quotients, "remainders": remainders, "quotients": quotients}
    return replaced, {**info, "tokens": int(table.shape[0]), "initial_relative_error": round(error, 4)}
