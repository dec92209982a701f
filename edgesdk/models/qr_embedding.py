"""Quotient-remainder word table (Shi et al. 2020, "Compositional Embeddings Using
Complementary Partitions", arXiv 1909.02107): token i's vector is the element-wise product of
row i // m of a quotient table and row i % m of a remainder table, so V tokens need
m + ceil(V / m) rows instead of V, and no two tokens share a vector (unlike the hashing trick).

The deployed graph computes both rows from the token id itself, so tokenizers, apps and
firmware see the plain id stream they always did. The id -> row maps are int8 lookup tables
(row - 128, cast to int32, + 128), not integer division: TFLM's FLOOR_DIV/FLOOR_MOD take float
only, and its GATHER/EMBEDDING_LOOKUP take float or int8 tables only. Hence at most 256 rows
per table (V <= 65,536), and the maps cost V bytes each, next to the V x E bytes of a plain
int8 table.
"""

from __future__ import annotations

import math

import torch
from torch import nn

MAX_TABLE_ROWS = 256  # an int8 id -> row map reaches 256 rows
_OFFSET = 128
FIT_ROUNDS = 100


def qr_shape(vocab: int, rows: int) -> tuple[int, int]:
    """(remainder rows m, quotient rows ceil(vocab / m)) within a budget of `rows` rows: half
    the budget for the remainders (at most 256), the quotients whatever that leaves them."""
    if _fits(vocab, rows):
        return _split(vocab, rows)
    if not _fits(vocab, 2 * MAX_TABLE_ROWS):
        raise ValueError(f"a qr table holds at most {MAX_TABLE_ROWS**2:,} tokens (two int8 id maps), not {vocab:,}")
    least = next(r for r in range(4, 2 * MAX_TABLE_ROWS + 1) if _fits(vocab, r))
    raise ValueError(
        f"student.word_rows {rows} is too few for a qr table over {vocab:,} tokens; it needs at least {least}"
    )


def quotient_rows(vocab: int, remainders: int) -> int:
    return math.ceil(vocab / remainders)


def _split(vocab: int, rows: int) -> tuple[int, int]:
    remainders = min(rows // 2, MAX_TABLE_ROWS)
    return remainders, quotient_rows(vocab, max(remainders, 1))


def _fits(vocab: int, rows: int) -> bool:
    remainders, quotients = _split(vocab, rows)
    return remainders >= 2 and quotients <= min(MAX_TABLE_ROWS, rows - remainders)


def _row_map(rows: torch.Tensor) -> torch.Tensor:
    return (rows - _OFFSET).to(torch.int8)[:, None]


class QuotientRemainderEmbedding(nn.Module):
    """`quotient` and `remainder` are plain nn.Embedding tables, so int8 table quantization and
    quant-noise treat them like any word table; the id maps are derived from the shape and
    not saved."""

    def __init__(self, vocab_size: int, embedding_size: int, remainders: int):
        super().__init__()
        ids = torch.arange(vocab_size)
        self.quotient = nn.Embedding(quotient_rows(vocab_size, remainders), embedding_size)
        self.remainder = nn.Embedding(remainders, embedding_size)
        self.register_buffer("quotient_of", _row_map(ids // remainders), persistent=False)
        self.register_buffer("remainder_of", _row_map(ids % remainders), persistent=False)
        # an int32 tensor, not the literal: export lifts a literal as a float32 constant, and the
        # graph then adds float to the row ids
        self.register_buffer("offset", torch.tensor(_OFFSET, dtype=torch.int32), persistent=False)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.quotient(self._rows(input_ids, self.quotient_of)) * self.remainder(
            self._rows(input_ids, self.remainder_of)
        )

    def _rows(self, input_ids: torch.Tensor, row_map: torch.Tensor) -> torch.Tensor:
        return nn.functional.embedding(input_ids, row_map)[..., 0].to(torch.int32) + self.offset

    @torch.no_grad()
    def fit(self, table: torch.Tensor) -> None:
        """Start from the factorization nearest `table` [V, E]: per dimension, the V entries
        laid out as a quotients x remainders matrix and its best rank-1 approximation (SVD),
        the product's optimum in the least-squares sense. The ids past V (the last quotient row's
        tail) are filled with the approximation itself and the SVD repeated, so they do not pull it."""
        quotients, remainders = self.quotient.num_embeddings, self.remainder.num_embeddings
        vocab, width = table.shape
        padded = torch.zeros(quotients * remainders, width)
        padded[:vocab] = table.float()
        grid = padded.T.reshape(width, quotients, remainders)  # [E, Q, R]
        known = (torch.arange(quotients * remainders) < vocab).reshape(quotients, remainders)
        for _ in range(FIT_ROUNDS if not known.all() else 1):
            u, s, vh = torch.linalg.svd(grid, full_matrices=False)
            approx = s[:, :1, None] * u[:, :, :1] * vh[:, :1, :]
            grid = torch.where(known, grid, approx)
        scale = s[:, :1].sqrt()  # [E, 1]
        self.quotient.weight.copy_((u[:, :, 0] * scale).T)
        self.remainder.weight.copy_((vh[:, 0, :] * scale).T)


def word_embeddings(vocab_size: int, embedding_size: int, pad_token_id: int, remainders: int | None) -> nn.Module:
    """A small student's word table: plain, or quotient-remainder when `remainders` is set."""
    if remainders is None:
        return nn.Embedding(vocab_size, embedding_size, padding_idx=pad_token_id)
    return QuotientRemainderEmbedding(vocab_size, embedding_size, remainders)
