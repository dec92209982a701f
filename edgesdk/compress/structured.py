"""Structured pruning that removes weights instead of masking them.

Why slicing: a zeroed head or neuron still costs its full matmul in XNNPACK, LiteRT and
TFLM; only a smaller tensor makes the artifact smaller and faster. Importance is the
magnitude of the loss gradient with respect to a gate of ones on each head's context and on
each FFN neuron's activation (Michel et al. 2019, "Are Sixteen Heads Really Better than
One?"), summed over seeded training batches. Head scores are L2-normalised per layer (as in
that paper) so one global ranking can compare layers; FFN neurons are ranked within their
layer and every layer keeps the same fraction, which keeps widths kernel-friendly. The
result is an Encoder whose config carries each layer's own head count and FFN width.
"""

from __future__ import annotations

import contextlib
import math
import random
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import torch
from torch.nn import functional as F

from edgesdk.errors import RecipeError
from edgesdk.models.encoder import Encoder, LayerShape
from edgesdk.progress import progress_bar, status
from edgesdk.recipe import PruneConfig
from edgesdk.tokenizer import Tokenizer
from edgesdk.train import collate

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # ids, mask, labels


@dataclass(frozen=True)
class Importance:
    heads: list[torch.Tensor]  # per layer, [heads]
    neurons: list[torch.Tensor]  # per layer, [ffn]


@dataclass(frozen=True)
class Plan:
    """What survives: old layer indices, and per kept layer its head and neuron indices."""

    layers: list[int]
    heads: list[list[int]]
    neurons: list[list[int]]


@contextlib.contextmanager
def gates(model: Encoder) -> Iterator[list[torch.Tensor]]:
    """Install gates of ones on every head and FFN neuron; yields [head gates..., neuron gates...]."""
    head_gates = [torch.ones(layer.attention.heads, requires_grad=True) for layer in model.layers]
    neuron_gates = [torch.ones(layer.ffn.up.out_features, requires_grad=True) for layer in model.layers]
    try:
        for layer, hg, ng in zip(model.layers, head_gates, neuron_gates):
            layer.attention.head_gate, layer.ffn.neuron_gate = hg, ng
        yield head_gates + neuron_gates
    finally:
        for layer in model.layers:
            layer.attention.head_gate = layer.ffn.neuron_gate = None


def importance(model: Encoder, batches: Sequence[Batch]) -> Importance:
    """Sum over batches of |dL/d gate| for the task cross-entropy (dropout off)."""
    model.eval()
    n = model.config.num_layers
    totals: list[torch.Tensor] | None = None
    with gates(model) as all_gates, progress_bar("prune: importance", len(batches)) as bar:
        for ids, mask, labels in batches:
            loss = F.cross_entropy(model(ids, mask), labels)
            grads = torch.autograd.grad(loss, all_gates)
            absolute = [g.abs() for g in grads]
            totals = absolute if totals is None else [t + a for t, a in zip(totals, absolute)]
            bar.advance(1)
    assert totals is not None, "importance needs at least one batch"
    return Importance(totals[:n], totals[n:])


def importance_batches(
    tokenizer: Tokenizer, texts: Sequence[str], labels: Sequence[int], rows: int, max_length: int, seed: int
) -> list[Batch]:
    """A seeded sample of training rows in fixed batches of 32 (the same for every iteration)."""
    rng = random.Random(seed)
    idx = sorted(rng.sample(range(len(texts)), min(rows, len(texts))))
    encoded = tokenizer.encode([texts[i] for i in idx], max_length)
    target = torch.tensor([labels[i] for i in idx], dtype=torch.long)
    order = sorted(range(len(idx)), key=lambda i: len(encoded[i]))
    batches = []
    for start in range(0, len(order), 32):
        chunk = order[start : start + 32]
        ids, mask = collate(encoded, chunk, tokenizer)
        batches.append((ids, mask, target[chunk]))
    return batches


def heads_to_keep(scores: list[torch.Tensor], remove: int) -> list[list[int]]:
    """Drop the `remove` globally least important heads (per-layer L2-normalised scores),
    never the last head of a layer."""
    normalized = [s / (s.norm() + 1e-12) for s in scores]
    ranked = sorted((float(v), li, h) for li, s in enumerate(normalized) for h, v in enumerate(s.tolist()))
    left = [len(s) for s in scores]
    removed: set[tuple[int, int]] = set()
    for _, li, h in ranked:
        if len(removed) == remove:
            break
        if left[li] > 1:
            removed.add((li, h))
            left[li] -= 1
    return [[h for h in range(len(s)) if (li, h) not in removed] for li, s in enumerate(scores)]


def neurons_to_keep(scores: list[torch.Tensor], widths: list[int]) -> list[list[int]]:
    """The `widths[l]` most important neurons of each layer, in their original order."""
    return [sorted(torch.topk(s, min(w, len(s))).indices.tolist()) for s, w in zip(scores, widths)]


def _index(groups: list[int], size: int) -> torch.Tensor:
    return torch.cat([torch.arange(g * size, (g + 1) * size) for g in groups])


def slice_encoder(model: Encoder, plan: Plan) -> Encoder:
    """A new, physically smaller Encoder holding only the planned layers, heads and neurons."""
    cfg = model.config
    shapes = tuple(LayerShape(heads=len(h), ffn=len(n)) for h, n in zip(plan.heads, plan.neurons))
    state = model.state_dict()
    new_state = {k: v for k, v in state.items() if not k.startswith("layers.")}
    for new_i, (old_i, heads, neurons) in enumerate(zip(plan.layers, plan.heads, plan.neurons)):
        old, new = f"layers.{old_i}.", f"layers.{new_i}."
        rows = _index(heads, cfg.head_dim)
        cols = torch.tensor(neurons, dtype=torch.long)
        for key, value in state.items():
            if not key.startswith(old):
                continue
            name = key[len(old) :]
            if name.split(".")[1] in ("query", "key", "value"):  # attention.query.weight -> out rows
                value = value[rows]
            elif name == "attention.output.weight":
                value = value[:, rows]
            elif name in ("ffn.up.weight", "ffn.up.bias"):
                value = value[cols]
            elif name == "ffn.down.weight":
                value = value[:, cols]
            new_state[new + name] = value.clone()
    pruned = Encoder(cfg.model_copy(update={"layers": shapes}))
    pruned.load_state_dict(new_state)
    pruned.mask_bias = model.mask_bias
    return pruned.eval()


def head_counts(model: Encoder) -> list[int]:
    return [s.heads for s in model.config.layers]


def ffn_widths(model: Encoder) -> list[int]:
    return [s.ffn for s in model.config.layers]


def _kept_width(width: int, keep: float, multiple: int) -> int:
    """Neurons kept of `width` when keeping the fraction `keep`: rounded down to a multiple
    (so at least the asked fraction goes), never below one multiple or above the width."""
    return min(width, max(multiple, math.floor(width * keep / multiple) * multiple))


def check_prunable(model, cfg: PruneConfig) -> None:
    if not isinstance(model, Encoder):
        raise RecipeError(
            f"prune.heads/ffn/layers need an encoder student, not {type(model).__name__}; "
            "use prune.vocab alone for CNN/BiLSTM students"
        )
    n = model.config.num_layers
    bad = [i for i in cfg.layers if i >= n]
    if bad:
        raise RecipeError(f"prune.layers {bad} out of range: the model has layers 0..{n - 1}")
    if len(cfg.layers) >= n:
        raise RecipeError(f"prune.layers removes all {n} layers; keep at least one")


@dataclass(frozen=True)
class StructuredResult:
    model: Encoder
    info: dict


def prune_structure(
    model: Encoder,
    cfg: PruneConfig,
    batches: Sequence[Batch],
    recover: Callable[[Encoder, int], dict],
    evaluate: Callable[[Encoder], float],
) -> StructuredResult:
    """Drop `cfg.layers`, then remove heads and FFN neurons over `cfg.iterations` rounds of
    importance -> slice -> recover. `recover(model, iteration)` trains in place; `evaluate`
    gives a dev accuracy for the history (reporting only, never for choices)."""
    # Long function: the importance -> slice -> recover rounds, each recorded in one history.
    check_prunable(model, cfg)
    heads_before, ffn_before, layers_before = head_counts(model), ffn_widths(model), model.config.num_layers
    history = [{"stage": "before", "heads": sum(heads_before), "ffn": sum(ffn_before), "accuracy": evaluate(model)}]
    kept_layers = [i for i in range(layers_before) if i not in cfg.layers]
    if cfg.layers:
        status(f"prune: removing layers {sorted(cfg.layers)}")
        model = slice_encoder(
            model,
            Plan(
                kept_layers,
                [list(range(heads_before[i])) for i in kept_layers],
                [list(range(ffn_before[i])) for i in kept_layers],
            ),
        )
    start_heads, start_ffn = head_counts(model), ffn_widths(model)
    remove_total = round(cfg.heads * sum(start_heads))
    final_widths = [_kept_width(w, 1 - cfg.ffn, cfg.ffn_multiple) for w in start_ffn]
    for it in range(1, cfg.iterations + 1):
        scores = importance(model, batches)
        already = sum(start_heads) - sum(head_counts(model))
        remove = round(remove_total * it / cfg.iterations) - already
        widths = [
            wf if it == cfg.iterations else _kept_width(w0, 1 - (1 - wf / w0) * it / cfg.iterations, cfg.ffn_multiple)
            for w0, wf in zip(start_ffn, final_widths)
        ]
        plan = Plan(
            list(range(model.config.num_layers)),
            heads_to_keep(scores.heads, remove),
            neurons_to_keep(scores.neurons, widths),
        )
        model = slice_encoder(model, plan)
        status(f"prune: iteration {it}/{cfg.iterations}: heads per layer {head_counts(model)}, FFN {ffn_widths(model)}")
        pruned_accuracy = evaluate(model)
        recovery = recover(model, it) if cfg.recovery_epochs > 0 else {}
        history.append(
            {
                "stage": f"iteration {it}",
                "heads": sum(head_counts(model)),
                "ffn": sum(ffn_widths(model)),
                "accuracy_pruned": pruned_accuracy,
                "accuracy": evaluate(model) if recovery else pruned_accuracy,
                "recovery": recovery,
            }
        )
    info = {
        "heads_total": sum(heads_before),
        "heads_removed": sum(heads_before) - sum(head_counts(model)),
        "ffn_total": sum(ffn_before),
        "ffn_removed": sum(ffn_before) - sum(ffn_widths(model)),
        "layers_total": layers_before,
        "layers_removed": sorted(cfg.layers),
        "heads_per_layer": head_counts(model),
        "ffn_per_layer": ffn_widths(model),
        "history": history,
    }
    return StructuredResult(model, info)


# -- unstructured magnitude pruning ------------------------------------------------------


def layer_linears(model: Encoder) -> list[torch.nn.Linear]:
    """The encoder layers' Linear modules, each once (shared layers call the same ones)."""
    seen: dict[int, torch.nn.Linear] = {}
    for layer in model.layers:
        for module in layer.modules():
            if isinstance(module, torch.nn.Linear):
                seen.setdefault(id(module), module)
    return list(seen.values())


def cubic_sparsity(final: float, iteration: int, iterations: int) -> float:
    """Zhu & Gupta's gradual schedule: most weights go early, while the model can still adapt."""
    return final * (1.0 - (1.0 - iteration / iterations) ** 3)


def mask_smallest(model: Encoder, sparsity: float) -> None:
    """Zero the `sparsity` fraction of smallest-|w| weights of every layer Linear; the zeros
    stay zero while training (torch.nn.utils.prune's mask re-applied on each forward)."""
    from torch.nn.utils import prune as torch_prune

    for module in layer_linears(model):
        weight = module.weight.detach()
        k = int(round(sparsity * weight.numel()))
        if k == 0:
            continue
        threshold = weight.abs().flatten().kthvalue(k).values
        torch_prune.custom_from_mask(module, "weight", weight.abs() > threshold)


def bake_masks(model: Encoder) -> float:
    """Make the masks permanent (plain zeros in `weight`); returns the measured sparsity."""
    from torch.nn.utils import prune as torch_prune

    zeros = total = 0
    for module in layer_linears(model):
        if torch_prune.is_pruned(module):
            torch_prune.remove(module, "weight")
        zeros += int((module.weight == 0).sum())
        total += module.weight.numel()
    return zeros / max(total, 1)
