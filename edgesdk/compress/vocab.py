"""Vocabulary pruning: ship only the word-embedding rows the task uses.

A 30k-token WordPiece table is most of a small student's bytes, and a sentiment or intent
task uses a fraction of it. Keeping the special tokens and the tokens seen in the training
texts leaves every training sentence tokenized exactly as before (see
Tokenizer.restricted), so the only prediction changes come from dev/test words whose pieces
were never seen in training; the build measures them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Optional, Sequence

from torch import nn

from edgesdk.models.registry import build_model
from edgesdk.tokenizer import Tokenizer

# Longer than any real sentence: count every token of the training text, not just the
# first export-length ones, so longer inputs at run time still find their pieces.
COUNT_MAX_LENGTH = 1_000_000


@dataclass(frozen=True)
class VocabPlan:
    keep: list[int]  # old ids, ascending
    before: int
    special: int


def plan_vocabulary(
    tokenizer: Tokenizer, texts: Sequence[str], min_count: int, max_size: Optional[int]
) -> VocabPlan:
    counts = Counter(i for ids in tokenizer.encode(texts, COUNT_MAX_LENGTH) for i in ids)
    special = tokenizer.special_ids()
    frequent = sorted((i for i, c in counts.items() if c >= min_count and i not in special), key=lambda i: (-counts[i], i))
    if max_size is not None:
        frequent = frequent[:max_size]
    return VocabPlan(sorted(special | set(frequent)), tokenizer.vocab_size, len(special))


def prune_vocabulary(model: nn.Module, tokenizer: Tokenizer, plan: VocabPlan) -> tuple[nn.Module, Tokenizer]:
    """A copy of `model` whose word table has only `plan.keep` rows, and the matching tokenizer."""
    import torch

    pruned_tokenizer = tokenizer.restricted(plan.keep)
    cfg = model.config.model_copy(update={"vocab_size": len(plan.keep), "pad_token_id": pruned_tokenizer.pad_id})
    state = dict(model.state_dict())
    state["word_embeddings.weight"] = state["word_embeddings.weight"][torch.tensor(plan.keep)].clone()
    pruned = build_model(cfg)
    pruned.load_state_dict(state)
    if hasattr(model, "mask_bias"):
        pruned.mask_bias = model.mask_bias
    return pruned.eval(), pruned_tokenizer
