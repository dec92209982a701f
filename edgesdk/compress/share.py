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

from edgesdk.compress.structured import layer_linears
from edgesdk.compress.vocab import word_table_rows
from edgesdk.models.encoder import SHARED_PARTS, Encoder, tied_layers
from edgesdk.models.mapping import principal_directions


def share_layers(model: Encoder, mode: str) -> Encoder:
    """A copy of `model` whose tied layers (see `tied_layers`) share their `mode` parts,
    initialised to the mean of those layers."""
    cfg = model.config
    tied = tied_layers(mode, cfg.num_layers)
    if len({cfg.layers[i] for i in tied}) > 1:
        raise ValueError(
            f"layer sharing needs identical layer shapes; the model has {[(s.heads, s.ffn) for s in cfg.layers]}"
        )
    # Validated (model_copy would skip the config's checks, e.g. sandwich's layer count).
    shared = Encoder(type(cfg).model_validate({**cfg.model_dump(), "share": mode}))
    state = model.state_dict()
    parts = SHARED_PARTS[mode]
    new_state = dict(state)
    owner = f"layers.{tied[0]}."
    for key in state:
        if not key.startswith(owner) or key.split(".")[2] not in parts:
            continue
        rest = key[len(owner) :]
        mean = torch.stack([state[f"layers.{i}.{rest}"] for i in tied]).mean(0)
        for i in tied:
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
        words = word_table_rows(model)
        basis = principal_directions(words, size, center=False)  # [H, E]
        table = words @ basis
    factorized = Encoder(cfg.model_copy(update={"embedding_size": size}))
    state = {
        k: v for k, v in model.state_dict().items() if not k.startswith(("word_embeddings.", "embedding_projection."))
    }
    state.update({"word_embeddings.weight": table, "embedding_projection.weight": basis})
    factorized.load_state_dict(state)
    factorized.mask_bias = model.mask_bias
    return factorized.eval()


# -- weight clustering -------------------------------------------------------------------


def kmeans_1d(values: torch.Tensor, k: int, iterations: int = 25) -> tuple[torch.Tensor, torch.Tensor]:
    """(centroids [k], assignment per value) by Lloyd's algorithm on scalars, from centroids
    spaced linearly over the value range (TF-MOT's default init: keeps the rare large weights
    their own clusters, which density-based inits merge away)."""
    flat = values.detach().flatten().float()
    centroids = torch.linspace(float(flat.min()), float(flat.max()), k)
    for _ in range(iterations):
        # 1-D: the nearest centroid is found by bisecting the midpoints of sorted centroids.
        centroids = centroids.sort().values
        assignment = torch.bucketize(flat, (centroids[1:] + centroids[:-1]) / 2)
        sums = torch.zeros(k).index_add_(0, assignment, flat)
        counts = torch.bincount(assignment, minlength=k).float()
        centroids = torch.where(counts > 0, sums / counts.clamp(min=1), centroids)
    centroids = centroids.sort().values
    return centroids, torch.bucketize(flat, (centroids[1:] + centroids[:-1]) / 2).view_as(values)


class ClusterMeans(torch.nn.Module):
    """Parametrization: the weight seen by forward is the per-cluster mean of the trained one,
    so fine-tuning moves whole clusters (every member gets its cluster's mean gradient) and the
    weight never holds more than k distinct values."""

    def __init__(self, assignment: torch.Tensor, k: int):
        super().__init__()
        self.register_buffer("assignment", assignment.flatten())
        self.k = k

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        flat = weight.flatten()
        sums = torch.zeros(self.k, dtype=weight.dtype).index_add(0, self.assignment, flat)
        counts = torch.bincount(self.assignment, minlength=self.k).to(weight.dtype).clamp(min=1)
        return (sums / counts)[self.assignment].view_as(weight)


def clustered_modules(model: torch.nn.Module, embeddings: bool) -> list[torch.nn.Module]:
    return layer_linears(model) + ([model.word_embeddings] if embeddings else [])


def cluster_weights(model: torch.nn.Module, k: int, embeddings: bool) -> None:
    """Cluster each chosen weight tensor into k values, in place, and keep it clustered while
    training (see ClusterMeans) until `bake_clusters`."""
    from torch.nn.utils import parametrize

    for module in clustered_modules(model, embeddings):
        centroids, assignment = kmeans_1d(module.weight, k)
        with torch.no_grad():
            module.weight.copy_(centroids[assignment])
        parametrize.register_parametrization(module, "weight", ClusterMeans(assignment, k))


def bake_clusters(model: torch.nn.Module, embeddings: bool) -> int:
    """Replace the parametrizations by their clustered weights; returns the largest number of
    distinct values in any clustered tensor (measured, for the report)."""
    from torch.nn.utils import parametrize

    most = 0
    for module in clustered_modules(model, embeddings):
        if parametrize.is_parametrized(module, "weight"):
            parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
        most = max(most, int(module.weight.detach().unique().numel()))
    return most
