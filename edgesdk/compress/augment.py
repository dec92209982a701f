"""TinyBERT-style data augmentation without external word vectors or an MLM head.

Whole-word tokens are replaced, each with probability p, by one of their K nearest
neighbours (cosine) among the whole-word tokens of the teacher's own word-embedding table.
Augmentation works on token ids, so no detokenisation round trip can change the text; the
teacher then labels every augmented row with its soft outputs.
"""

from __future__ import annotations

import random
from typing import Sequence

import torch

from edgesdk.tokenizer import Tokenizer

CHUNK = 2048


def whole_word_ids(tokenizer: Tokenizer) -> list[int]:
    vocab = tokenizer.vocabulary()
    return sorted(i for tok, i in vocab.items() if tok.isalpha() and not tok.startswith("[") and len(tok) > 1)


@torch.no_grad()
def nearest_neighbours(
    table: torch.Tensor, queries: Sequence[int], candidates: Sequence[int], k: int
) -> dict[int, list[int]]:
    """For each query id, the k most cosine-similar candidate ids (itself excluded)."""
    cand = torch.tensor(list(candidates))
    normed = torch.nn.functional.normalize(table.float(), dim=-1)
    cand_vecs = normed[cand]
    out: dict[int, list[int]] = {}
    q_list = list(queries)
    for start in range(0, len(q_list), CHUNK):
        q = torch.tensor(q_list[start : start + CHUNK])
        sims = normed[q] @ cand_vecs.T
        sims[cand.unsqueeze(0) == q.unsqueeze(1)] = -2.0  # never propose the word itself
        top = sims.topk(min(k, len(cand) - 1), dim=-1).indices
        for qi, row in zip(q.tolist(), top.tolist()):
            out[qi] = cand[row].tolist()
    return out


def augment(
    encoded: Sequence[Sequence[int]],
    table: torch.Tensor,
    tokenizer: Tokenizer,
    factor: int,
    replace_prob: float,
    k: int,
    seed: int,
) -> list[list[int]]:
    """`factor` augmented copies of every id sequence ([CLS] ... [SEP] kept in place)."""
    if factor <= 0:
        return []
    whole = set(whole_word_ids(tokenizer))
    continuation = {i for tok, i in tokenizer.vocabulary().items() if tok.startswith("##")}
    used = sorted({t for seq in encoded for t in seq[1:-1] if t in whole})
    neighbours = nearest_neighbours(table, used, sorted(whole), k)
    rng = random.Random(seed)
    out = []
    for _ in range(factor):
        for seq in encoded:
            new = list(seq)
            for i in range(1, len(seq) - 1):
                # a whole word only: a token followed by a ##piece is the start of a longer word
                if seq[i] in neighbours and seq[i + 1] not in continuation and rng.random() < replace_prob:
                    new[i] = rng.choice(neighbours[seq[i]])
            out.append(new)
    return out
