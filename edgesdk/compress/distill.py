"""Knowledge distillation of a student from the fine-tuned teacher.

Losses and their weights come from the recipe (edgesdk/compress/losses.py). Teacher soft
labels for every training row (original and augmented) are computed once and cached on
disk under a content hash, so epochs and re-runs never pay for them again. Losses on
internals (hidden states, attention, MiniLM relations, embeddings) need the teacher's
internals for each batch, which are recomputed (caching them would take gigabytes); they
apply to encoder students only. The TinyBERT schedule (intermediate losses first, then the
prediction losses) is a recipe switch.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from edgesdk.compress.augment import augment
from edgesdk.compress.quant_noise import quant_noise
from edgesdk.compress.theseus import RisingRate, TheseusHybrid, theseus_problem
from edgesdk.compress.losses import attention_kl, hidden_mse, kd_loss, relation_kl
from edgesdk.devices import CPU, active, configured
from edgesdk.errors import RecipeError
from edgesdk.fsutil import atomic_write_npy, sha256_json
from edgesdk.models.encoder import Encoder
from edgesdk.models.mapping import layer_map
from edgesdk.progress import status
from edgesdk.recipe import DistillConfig, LossWeights
from edgesdk.task import Split
from edgesdk.tokenizer import Tokenizer
from edgesdk.train import Schedule, collate, logits_for_ids, optimize, schedule_steps, subsample


@dataclass(frozen=True)
class DistillResult:
    rows: int
    augmented_rows: int
    stages: list
    layer_map: Optional[list[int]] = None  # teacher layer per student layer, when internal losses ran
    quant_noise_tensors: int = 0  # weight tensors trained with Quant-Noise (0 = off)

    def to_json(self) -> dict:
        return asdict(self)


class Projections(nn.Module):
    """Learned student->teacher width maps for the hidden and embedding losses (not exported).
    Where the widths already match (a pruned teacher against its unpruned self) the map is the
    identity: a learned one would let the student's states drift by any invertible map, which
    is what the loss is there to stop."""

    def __init__(self, student_width: int, teacher_width: int, layers: int):
        super().__init__()

        def width_map() -> nn.Module:
            return nn.Identity() if student_width == teacher_width else nn.Linear(student_width, teacher_width)

        self.hidden = nn.ModuleList(width_map() for _ in range(layers))
        self.embedding = width_map()


def word_table(model: nn.Module) -> nn.Parameter | nn.Module:
    """The trainable word-table parameter (under a parametrization, e.g. clustering, the
    stored original rather than the computed `weight`); a composite table (quotient-remainder)
    is its module, whose parameters are all table."""
    emb = model.word_embeddings
    if hasattr(emb, "parametrizations"):
        return emb.parametrizations.weight.original
    return emb.weight if hasattr(emb, "weight") else emb


def labelling_teacher(teacher: Encoder, precision: str) -> nn.Module:
    """The model that computes the soft labels: the teacher itself, or for `int8-dynamic` a
    copy whose Linear layers run torch's dynamic-int8 kernels (int8 weights per output
    channel, activations quantized per batch; per-tensor weights flipped 3.0 % of the
    fine-tuned teacher's SST-2 decisions, per-channel 1.8 %). Labelling every training row and augmented copy is a
    full teacher pass over them, the largest cost of a kd-only distillation after the
    training itself; the int8 pass is cheaper on CPUs with int8 dot products (measured in
    bench/soft_labels.py) and the teacher used for the internal losses stays fp32."""
    if precision == "fp32":
        return teacher
    import copy
    import warnings

    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    with warnings.catch_warnings():
        # torch 2.13 marks its quantized tensors deprecated (pytorch#184982); they still work.
        warnings.filterwarnings("ignore", message=".*deprecated.*", category=UserWarning)
        return quantize_dynamic(
            copy.deepcopy(teacher).eval(), {nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8
        )


def teacher_soft_labels(
    teacher: Encoder,
    tokenizer: Tokenizer,
    encoded: list[list[int]],
    cache: Optional[Path],
    teacher_hash: str,
    precision: str = "fp32",
) -> np.ndarray:
    # fp32 keeps the key it had before precisions existed, so existing caches stay valid.
    key = sha256_json([teacher_hash, encoded] + ([precision] if precision != "fp32" else []))
    path = cache / f"{key}.npy" if cache is not None else None
    if path is not None and path.exists():
        status(f"distill: teacher soft labels from cache ({path.name[:12]}…)")
        return np.load(path, allow_pickle=False)
    status(f"distill: computing {precision} teacher soft labels for {len(encoded)} rows (cached afterwards)")
    model = labelling_teacher(teacher, precision)
    # fp32 labelling runs where the build trains; the int8 labelling teacher is a CPU model.
    device = configured() if precision == "fp32" else CPU
    logits = logits_for_ids(model, tokenizer, encoded, batch_size=128, description="teacher soft labels", device=device)
    if path is not None:
        atomic_write_npy(path, logits)
    return logits


def _check(student: nn.Module, teacher: Encoder, cfg: DistillConfig) -> Optional[list[int]]:
    """Recipe problems that only show against the models, raised before the teacher's pass
    over the data. Returns the layer map when internal losses need one."""
    weights = cfg.losses
    internal = weights.internal
    if internal and not isinstance(student, Encoder):
        raise RecipeError(
            f"distill.losses {', '.join(internal)} need an encoder student (internals); set them to 0 for "
            f"{type(student).__name__}"
        )
    if weights.all_zero:
        raise RecipeError("every distill.losses weight is 0; give at least kd or ce a positive weight")
    if cfg.theseus.epochs > 0:
        problem = theseus_problem(student, teacher)
        if problem:
            raise RecipeError(problem)
        if weights.kd + weights.ce == 0:
            raise RecipeError("distill.theseus trains on the kd/ce losses; give one a weight")
    if not internal:
        return None
    try:
        return layer_map(student.config.num_layers, teacher.config.num_layers, cfg.layer_map)
    except ValueError as exc:
        raise RecipeError(f"distill.layer_map: {exc}") from None


@dataclass(frozen=True)
class StudentRows:
    """The training rows in the student's own tokenization (a learned vocabulary,
    student.learned_vocab); the teacher's soft labels stay on the teacher's ids."""

    tokenizer: Tokenizer
    encoded: list


def own_rows(
    student_tokenizer: Tokenizer, teacher_tokenizer: Tokenizer, texts: Sequence[str], extra: list, max_length: int
) -> StudentRows:
    """The training texts in the student's pieces, then each augmented copy (which exists only
    as teacher ids) as text again in the student's pieces: the same sentences, whichever
    vocabulary reads them."""
    rows = student_tokenizer.encode(list(texts) + teacher_tokenizer.decode(extra), max_length)
    return StudentRows(student_tokenizer, rows)


class DistillObjective:
    """Weighted sum of the recipe's losses for one batch of row indices."""

    def __init__(
        self,
        student: nn.Module,
        teacher: Encoder,
        tokenizer: Tokenizer,
        encoded,
        hard,
        soft,
        cfg: DistillConfig,
        weights: LossWeights,
        projections: Optional[Projections],
        mapped: Optional[list[int]],
        student_rows: Optional["StudentRows"] = None,
    ):
        self.student, self.teacher, self.tokenizer = student, teacher, tokenizer
        self.encoded, self.hard, self.soft = encoded, hard, soft
        self.cfg, self.w, self.proj, self.map = cfg, weights, projections, mapped
        self.internal = bool(weights.internal)
        self.own = student_rows or StudentRows(tokenizer, encoded)

    def __call__(self, idx: list[int]) -> torch.Tensor:
        w, total = self.w, torch.zeros(())
        if not self.internal:
            logits = self.student(*collate(self.own.encoded, idx, self.own.tokenizer))
        else:
            ids, mask = collate(self.encoded, idx, self.tokenizer)
            s = self.student.trace(ids, mask)
            with torch.no_grad():
                t = self.teacher.trace(ids, mask)
            logits = s.logits
            mapped = [(i, m) for i, m in enumerate(self.map, start=1)]
            if w.hidden > 0:
                total = total + w.hidden * sum(
                    hidden_mse(s.hidden_states[i], t.hidden_states[m], mask, self.proj.hidden[i - 1]) for i, m in mapped
                ) / len(mapped)
            if w.embedding > 0:
                total = total + w.embedding * hidden_mse(
                    s.hidden_states[0], t.hidden_states[0], mask, self.proj.embedding
                )
            if w.attention > 0:
                pairs = [(i, m) for i, m in mapped if m >= 1]
                total = total + w.attention * sum(
                    attention_kl(s.attentions[i - 1].probs, t.attentions[m - 1].probs, mask) for i, m in pairs
                ) / max(1, len(pairs))
            if w.minilm > 0:
                sa, ta, r = s.attentions[-1], t.attentions[-1], self.cfg.relation_heads
                total = total + w.minilm * (
                    relation_kl(sa.query, sa.key, ta.query, ta.key, mask, r)
                    + relation_kl(sa.value, sa.value, ta.value, ta.value, mask, r)
                )
        device = active()
        if w.kd > 0:
            total = total + w.kd * kd_loss(logits, device.put(self.soft[idx]), self.cfg.temperature)
        if w.ce > 0:
            total = total + w.ce * F.cross_entropy(logits, device.put(self.hard[idx]))
        return total


def distill(
    student: nn.Module,
    teacher: Encoder,
    tokenizer: Tokenizer,
    train: Split,
    cfg: DistillConfig,
    seed: int,
    cache: Optional[Path],
    teacher_hash: str,
    student_tokenizer: Optional[Tokenizer] = None,
) -> DistillResult:
    """Distil `student` from `teacher` in place on `train` (plus augmented copies) with the
    recipe's losses; soft labels come from `cache` when the teacher labelled these rows before."""
    # Long function: one training loop whose loss terms share the batch's teacher outputs.
    mapped = _check(student, teacher, cfg)
    torch.manual_seed(seed)
    rng = random.Random(seed)
    texts, labels = subsample(train.texts, train.labels, cfg.max_train_rows, rng)
    encoded = tokenizer.encode(texts, cfg.max_length)
    extra = augment(
        encoded,
        teacher.word_embeddings.weight,
        tokenizer,
        cfg.augment.factor,
        cfg.augment.replace_prob,
        cfg.augment.neighbours,
        seed,
    )
    if extra:
        status(f"distill: {len(extra)} augmented rows ({cfg.augment.factor}x, p={cfg.augment.replace_prob})")
    encoded = encoded + extra
    soft = torch.from_numpy(teacher_soft_labels(teacher, tokenizer, encoded, cache, teacher_hash, cfg.soft_labels))
    # Augmented rows have no gold label: the teacher's decision stands in for it.
    hard = torch.tensor(list(labels) + soft[len(labels) :].argmax(-1).tolist(), dtype=torch.long)
    teacher.eval()
    for p in teacher.parameters():
        p.requires_grad_(False)

    projections = None
    if mapped is not None:
        projections = Projections(student.config.hidden_size, teacher.config.hidden_size, student.config.num_layers)
    prediction = LossWeights(kd=cfg.losses.kd, ce=cfg.losses.ce)
    intermediate = cfg.losses.model_copy(update={"kd": 0.0, "ce": 0.0})
    if cfg.two_stage and intermediate.internal:
        stages = [("intermediate", cfg.intermediate_epochs, intermediate), ("prediction", cfg.epochs, prediction)]
    else:
        stages = [("joint", cfg.epochs, cfg.losses)]
    hybrid = TheseusHybrid(student, teacher, seed) if cfg.theseus.epochs > 0 else None
    if hybrid is not None:  # module replacement first, then the student alone
        stages.insert(0, ("theseus", cfg.theseus.epochs, prediction))
    if cfg.freeze_word_embeddings:
        word_table(student).requires_grad_(False)
    own = None
    if student_tokenizer is not None:
        own = own_rows(student_tokenizer, tokenizer, texts, extra, cfg.max_length)
    lengths = [len(e) for e in (own.encoded if own is not None else encoded)]
    done = []
    with quant_noise(student, cfg.quant_noise) as noisy:
        for name, epochs, weights in stages:
            trained = hybrid if name == "theseus" else student
            objective = DistillObjective(
                trained, teacher, tokenizer, encoded, hard, soft, cfg, weights, projections, mapped, own
            )
            modules = [student] + ([projections] if projections is not None and objective.internal else [])
            schedule = Schedule(epochs, cfg.batch_size, cfg.learning_rate, cfg.warmup_ratio, cfg.weight_decay)
            if trained is hybrid:
                steps = schedule_steps(len(lengths), schedule)
                objective = RisingRate(hybrid, objective, cfg.theseus.start_rate, steps)
            result = optimize(modules, lengths, schedule, rng, objective, f"distill ({name})", frozen=[teacher])
            losses = {k: v for k, v in weights.model_dump().items() if v > 0}
            done.append(
                {
                    "stage": name,
                    "losses": losses,
                    "steps": result.steps,
                    "final_loss": result.final_loss,
                    "seconds": result.seconds,
                }
            )
    word_table(student).requires_grad_(True)
    return DistillResult(len(texts), len(extra), done, mapped, noisy)
