"""Weight sharing and factorization: fewer distinct weights in the same computation graph.

Cross-layer sharing (ALBERT) makes every layer call the same attention and/or FFN module.
The shared layer starts from the mean of the trained layers' weights and is then recovered
by distillation (the prune step does that). torch.export lifts a module's parameters once
however often it is called, so the .pte stores a shared weight once; see docs/pruning.md for
what each runtime's file holds (measured). Embedding factorization replaces the V x H word
table by V x E and E x H from the table's own SVD (the best rank-E approximation), so the
model starts close to where it was before distillation recovers the rest.
"""

from __future__ import annotations

import torch

from edgesdk.models.encoder import SHARED_PARTS, Encoder
from edgesdk.models.students import principal_directions


def share_layers(model: Encoder, mode: str) -> Encoder:
    """A copy of `model` whose layers share their `mode` parts, initialised to the layer mean."""
    cfg = model.config
    if len(set(cfg.layers)) != 1:
        raise ValueError(f"layer sharing needs identical layer shapes; the model has {[(s.heads, s.ffn) for s in cfg.layers]}")
    shared = Encoder(cfg.model_copy(update={"share": mode}))
    state = model.state_dict()
    parts = SHARED_PARTS[mode]
    new_state = dict(state)
    for key in state:
        if not key.startswith("layers.0.") or key.split(".")[2] not in parts:
            continue
        rest = key[len("layers.0.") :]
        mean = torch.stack([state[f"layers.{i}.{rest}"] for i in range(cfg.num_layers)]).mean(0)
        for i in range(cfg.num_layers):
            new_state[f"layers.{i}.{rest}"] = mean
    shared.load_state_dict(new_state)
    shared.mask_bias = model.mask_bias
    return shared.eval()


def factorize_embeddings(model: Encoder, size: int) -> Encoder:
    """A copy with a V x `size` word table and a `size` x H projection (truncated SVD)."""
    cfg = model.config
    if size >= cfg.hidden_size:
        raise ValueError(f"embedding size {size} must be below the hidden size {cfg.hidden_size} to save anything")
    with torch.no_grad():
        words = model.word_embeddings.weight
        if model.embedding_projection is not None:
            words = model.embedding_projection(words)
        basis = principal_directions(words, size, center=False)  # [H, E]
        table = words @ basis
    factorized = Encoder(cfg.model_copy(update={"embedding_size": size}))
    state = {k: v for k, v in model.state_dict().items() if not k.startswith(("word_embeddings.", "embedding_projection."))}
    state.update({"word_embeddings.weight": table, "embedding_projection.weight": basis})
    factorized.load_state_dict(state)
    factorized.mask_bias = model.mask_bias
    return factorized.eval()
