"""Typed build recipes.

A recipe is YAML in, a validated pydantic object out. Every model forbids unknown keys so a
typo fails at parse time with the offending key named, not silently later. The resolved
recipe (defaults filled in) is written into every build dir for provenance, and each
pipeline step hashes only its own section, so editing the profile section never retrains
the teacher.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal, Optional, Union

import yaml
from pydantic import Field, ValidationError, model_validator

from edgesdk.errors import RecipeError
from edgesdk.recipe_distill import (  # noqa: F401  (re-exported: the distillation sections)
    INTERNAL_LOSSES,
    AugmentConfig,
    DistillConfig,
    LossWeights,
    QuantNoiseConfig,
    TheseusConfig,
    _Section,
)

# Top-level recipes/ is installed as edgesdk.recipes (see pyproject package-dir).
RECIPES_DIR = Path(str(resources.files("edgesdk.recipes")))
DEFAULT_RECIPE = "default"


class DataConfig(_Section):
    """Where the labelled text comes from. Paths left empty use the bundled SST-2 demo."""

    train: Optional[str] = None
    dev: Optional[str] = None
    text_column: Optional[str] = None
    label_column: Optional[str] = None
    dev_fraction: float = Field(0.1, gt=0.0, lt=0.5, description="carved from train when no dev file")
    max_train_rows: Optional[int] = Field(None, gt=0, description="seeded subsample of train")


class TeacherConfig(_Section):
    """Fine-tuning of the teacher. `path` empty means the packaged all-MiniLM-L6-v2."""

    path: Optional[str] = None
    pooling: Literal["mean", "cls"] = "mean"
    max_length: int = Field(64, ge=8, le=512)
    epochs: float = Field(1.0, gt=0.0)
    batch_size: int = Field(32, ge=1)
    learning_rate: float = Field(5e-5, gt=0.0)
    warmup_ratio: float = Field(0.06, ge=0.0, lt=1.0)
    weight_decay: float = Field(0.01, ge=0.0)
    freeze_word_embeddings: bool = True
    layerwise_lr_decay: float = Field(1.0, gt=0.0, le=1.0, description="1 = one learning rate for every layer")
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    max_train_rows: Optional[int] = Field(None, gt=0, description="cap on fine-tuning rows")
    min_steps: Optional[int] = Field(
        None, ge=1, description="train at least this many optimizer steps: a small data set gets more epochs"
    )
    validation_rows: int = Field(
        0, ge=0, description="train rows held out of every step to score the teacher (at most a tenth of train)"
    )


class StudentConfig(_Section):
    """The deployed model. `family: teacher` ships the fine-tuned teacher itself.

    Encoder fields (layers, hidden, heads, ffn, activation, embedding_size, layer_init,
    hidden_init) apply to `encoder`; cnn uses embedding_size, kernel_sizes, filters;
    bilstm uses embedding_size and lstm_hidden. CNN/BiLSTM embeddings start from a PCA
    projection of the teacher's word-embedding table.
    """

    family: Literal["teacher", "encoder", "cnn", "bilstm"] = "encoder"
    layers: int = Field(4, ge=1)
    hidden: int = Field(128, ge=8)
    heads: int = Field(2, ge=1)
    ffn: int = Field(512, ge=8)
    activation: Literal["gelu", "relu"] = "gelu"
    embedding_size: Optional[int] = Field(None, ge=8, description="factorized (encoder) or embedding width")
    layer_init: Union[Literal["uniform", "bottom", "none"], list[int]] = "uniform"
    hidden_init: Literal["truncate", "pca"] = "pca"
    kernel_sizes: list[int] = Field(default_factory=lambda: [3, 4, 5])
    filters: int = Field(128, ge=1)
    lstm_hidden: int = Field(128, ge=1)
    word_rows: Optional[int] = Field(
        None, ge=8, description="share the word table: this many rows, tokens mapped to them in the tokenizer"
    )
    word_table: Literal["codebook", "hash", "qr"] = Field(
        "codebook",
        description="with word_rows: k-means of the word vectors, the hashing trick, or quotient-remainder "
        "(cnn/bilstm: each token the product of two rows, computed in the graph)",
    )
    learned_vocab: Optional[int] = Field(
        None, ge=64, description="the student's own WordPiece vocabulary of this many pieces, learned on train"
    )

    @model_validator(mode="after")
    def _shapes(self) -> "StudentConfig":
        if self.family == "encoder" and self.hidden % self.heads:
            raise ValueError(f"student.hidden {self.hidden} must be divisible by student.heads {self.heads}")
        if self.word_table == "qr" and (self.family not in ("cnn", "bilstm") or self.word_rows is None):
            raise ValueError(
                f"student.word_table: qr needs family cnn or bilstm (not {self.family}) and student.word_rows "
                f"(its row budget; here {self.word_rows})"
            )
        return self


class PruneConfig(_Section):
    """Reshaping of the deployed model after distillation, each stage recovered by distillation
    from the teacher, in this order: layers, heads and FFN neurons sliced out (importance
    ranked, over `iterations`), cross-layer sharing, word-table factorization, low-rank
    layers, then sparsity or clustering; `vocab: train` then cuts the word table to the
    training texts' tokens. What each does to the weights and why: docs/pruning.md; every
    option: docs/recipes.md.
    """

    heads: float = Field(0.0, ge=0.0, lt=1.0, description="fraction of all heads removed")
    ffn: float = Field(0.0, ge=0.0, lt=1.0, description="fraction of FFN neurons removed per layer")
    ffn_multiple: int = Field(8, ge=1, description="kept FFN width rounded down to a multiple of this")
    layers: list[int] = Field(default_factory=list, description="layer indices (0-based) removed")
    iterations: int = Field(1, ge=1)
    importance_rows: int = Field(2048, ge=1, description="seeded training rows for importance")
    recovery_epochs: float = Field(1.0, ge=0.0, description="distillation after each iteration (0 = none)")
    recovery_rows: Optional[int] = Field(None, gt=0, description="cap on recovery rows per iteration")
    recovery_learning_rate: Optional[float] = Field(None, gt=0.0, description="default: distill.learning_rate")
    recovery_augment: int = Field(
        0, ge=0, description="augmented copies per row in each recovery (distill.augment's word replacement)"
    )
    recovery_losses: Optional[LossWeights] = Field(
        None, description="recovery's loss weights (default: distill.losses' kd and ce only)"
    )
    share_layers: Literal["none", "all", "attention", "ffn", "sandwich"] = Field(
        "none", description="cross-layer sharing (sandwich: all but the first and last layer)"
    )
    embedding_size: Optional[int] = Field(None, ge=8, description="factorize the word table to V x E + E x H")
    low_rank: Optional[float] = Field(
        None, gt=0.0, lt=1.0, description="SVD: layer Linears as two of rank = this fraction of the hidden size"
    )
    sparsity: float = Field(0.0, ge=0.0, lt=1.0, description="unstructured: fraction of layer weights zeroed")
    sparsity_iterations: int = Field(3, ge=1, description="gradual (cubic) schedule rounds, each recovered")
    cluster: Optional[int] = Field(None, ge=2, le=256, description="k-means centroids per weight tensor")
    cluster_embeddings: bool = Field(False, description="cluster the word table too")
    vocab: Literal["none", "train"] = "none"
    vocab_unseen: Literal["nearest", "unk", "pieces"] = Field(
        "nearest", description="pruned tokens -> nearest kept token, [UNK], or a smaller WordPiece vocabulary"
    )
    vocab_min_count: int = Field(1, ge=1)
    vocab_max_size: Optional[int] = Field(None, ge=1, description="keep at most this many non-special tokens")

    @property
    def structured(self) -> bool:
        return self.heads > 0 or self.ffn > 0 or bool(self.layers)

    @property
    def reshapes(self) -> bool:
        """Anything that needs an encoder and distillation recovery."""
        return (
            self.structured
            or self.share_layers != "none"
            or self.embedding_size is not None
            or self.low_rank is not None
            or self.sparsity > 0
            or self.cluster is not None
        )

    @property
    def active(self) -> bool:
        return self.reshapes or self.vocab != "none"

    @model_validator(mode="after")
    def _distinct_layers(self) -> "PruneConfig":
        if len(set(self.layers)) != len(self.layers) or any(i < 0 for i in self.layers):
            raise ValueError("prune.layers must list distinct non-negative layer indices")
        if self.sparsity > 0 and self.cluster is not None:
            raise ValueError("prune.sparsity and prune.cluster both rewrite the same weights; choose one")
        if self.recovery_losses is not None and self.recovery_losses.all_zero:
            raise ValueError("every prune.recovery_losses weight is 0; give at least kd a positive weight")
        return self


class ExitConfig(_Section):
    """Early exit and length buckets for the deployed encoder (DeeBERT/FastBERT).

    An exit head (the encoder's pooling, then `head`: an MLP with one hidden x hidden GELU
    layer (default) or a single linear layer) follows each layer in `layers` (1 = after the first);
    the final classifier always ends the last stage. `training: self-distill` (default) trains
    the heads on the final classifier's soft outputs (FastBERT); `two-stage` on the gold labels
    (DeeBERT's second stage); the backbone is frozen either way. Per-exit confidence thresholds are calibrated on
    `calibration_rows` stratified, seeded training rows removed from train before any model
    trains (never dev/test) to minimise executed layers while losing at most `accuracy_budget`
    against no exit, with `budget_confidence` that the loss holds beyond those rows. The staged
    artifact holds one method/signature per (bucket, stage); `buckets` are the input lengths
    (empty: `export.seq_len` alone).
    """

    layers: list[int] = Field(default_factory=list, description="exit after these layers (1-based)")
    confidence: Literal["maxprob", "entropy"] = "maxprob"
    head: Literal["mlp", "linear"] = "mlp"
    training: Literal["two-stage", "self-distill"] = "self-distill"
    epochs: float = Field(1.0, gt=0.0)
    batch_size: int = Field(32, ge=1)
    learning_rate: float = Field(1e-3, gt=0.0)
    max_length: int = Field(64, ge=8, le=512)
    calibration_rows: int = Field(2000, ge=10)
    accuracy_budget: float = Field(0.005, ge=0.0, le=1.0, description="allowed accuracy loss vs no exit")
    budget_confidence: float = Field(
        0.95,
        ge=0.5,
        lt=1.0,
        description="confidence that the budget holds beyond the calibration rows (0.5 = point estimate)",
    )
    buckets: list[int] = Field(default_factory=list, description="staged input lengths, ascending")
    max_accuracy_drop: float = Field(0.01, ge=0.0, le=1.0, description="gate: staged artifact on dev vs fp32 eager")
    min_agreement: float = Field(0.9, ge=0.0, le=1.0, description="gate: label agreement with the fp32 eager model")

    @property
    def active(self) -> bool:
        return bool(self.layers)

    @model_validator(mode="after")
    def _ordered(self) -> "ExitConfig":
        if self.layers != sorted(set(self.layers)) or any(i < 1 for i in self.layers):
            raise ValueError("exits.layers must be ascending, distinct layer counts >= 1")
        if self.buckets != sorted(set(self.buckets)) or any(b < 4 for b in self.buckets):
            raise ValueError("exits.buckets must be ascending, distinct lengths >= 4")
        return self


class ExportConfig(_Section):
    """Lowering to deployable artifacts: one per runtime and precision (see quantize)."""

    seq_len: int = Field(64, ge=4, le=512)
    runtimes: list[Literal["executorch", "litert", "tflm"]] = Field(default_factory=lambda: ["executorch", "litert"])
    # The teacher's fp32 artifacts beside the student's, so the report compares the two on
    # their runtimes; false saves their lowering, verification and profiling (the report
    # still gives the teacher's eager accuracy, params and FLOPs).
    teacher: bool = True

    @model_validator(mode="after")
    def _non_empty(self) -> "ExportConfig":
        if not self.runtimes:
            raise ValueError("export.runtimes must name at least one runtime")
        return self


Precision = Literal["fp32", "int8", "int8-dynamic", "int4w", "int8-qat"]


class QuantizeConfig(_Section):
    """Precisions shipped per runtime, and the gate each quantized artifact must pass.

    int8: static int8 weights (per channel) and activations, calibrated on
    `calibration_samples` seeded training rows; int8-dynamic: int8 weights, activations
    quantized at run time; int4w: int4 group-wise weights with int8 dynamic activations
    (ExecuTorch/XNNPACK only); int8-qat: the student fine-tuned for `qat_steps` with int8
    fake quantization in the loop against the teacher's soft labels, then lowered as int8.
    Every quantized artifact stores the word-embedding table as int8 unless `embeddings:
    fp32`; `embeddings: int4` packs it at 4 bits where activations stay float (int8-dynamic,
    int4w; the static int8 paths keep int8). A runtime skips precisions it cannot run (see
    docs/quantization.md).
    """

    precisions: list[Precision] = Field(default_factory=lambda: ["fp32", "int8"])
    embeddings: Literal["int8", "int4", "fp32"] = Field(
        "int8", description="word table: int4 (per row, 2 per byte) where activations stay float (int8-dynamic, int4w)"
    )
    calibration_samples: int = Field(256, ge=1)
    group_size: int = Field(32, ge=32, multiple_of=32, description="int4w weight group (XNNPACK: a multiple of 32)")
    max_accuracy_drop: float = Field(0.01, ge=0.0, le=1.0, description="vs the fp32 eager model (fraction)")
    min_agreement: float = Field(0.97, ge=0.0, le=1.0, description="label agreement with the eager fake-quant model")
    clip: Literal["none", "percentile", "kstd"] = Field("none", description="weight outlier clipping before quantizing")
    clip_value: float = Field(99.99, gt=0.0, description="percentile of |w| per output channel, or k for k-std")
    tflm_lut: bool = Field(False, description="TFLM: LUT-compress weights with few values per channel (prune.cluster)")
    qat_steps: int = Field(0, ge=0, description="int8-qat: fine-tuning steps with fake quantization")
    qat_batch_size: int = Field(32, ge=1)
    qat_learning_rate: float = Field(1e-5, gt=0.0)
    qat_temperature: float = Field(2.0, gt=0.0, description="soft-label KL temperature")

    @model_validator(mode="after")
    def _non_empty(self) -> "QuantizeConfig":
        if not self.precisions:
            raise ValueError("quantize.precisions must name at least one precision")
        if len(set(self.precisions)) != len(self.precisions):
            raise ValueError("quantize.precisions lists a precision twice")
        if self.clip == "percentile" and not 50.0 < self.clip_value <= 100.0:
            raise ValueError(
                f"quantize.clip_value {self.clip_value} must be a percentile in (50, 100] for clip: percentile"
            )
        if "int8-qat" in self.precisions and self.qat_steps == 0:
            raise ValueError("quantize.precisions has int8-qat but quantize.qat_steps is 0; set the QAT steps")
        return self


class VerifyConfig(_Section):
    """Accuracy gate: the artifact may lose at most this much accuracy (fraction) vs eager."""

    max_accuracy_drop: float = Field(0.005, ge=0.0, le=1.0)
    min_agreement: float = Field(0.98, ge=0.0, le=1.0)


class ProfileConfig(_Section):
    """Latency runs per artifact; `per_op` adds an ExecuTorch ETDump per-op breakdown of each
    single-graph .pte profiled on the host (after the timed runs, so latency excludes tracing)."""

    threads: int = Field(2, ge=1)
    warmup: int = Field(10, ge=0)
    repetitions: int = Field(200, ge=1)
    per_op: bool = True
    retime_rounds: int = Field(
        5, ge=0, description="interleaved re-timing rounds when artifacts are too close to rank (0 = one timing each)"
    )


class TrainConfig(_Section):
    """Where training and labelling run (edgesdk/devices.py, docs/scale.md): `auto` = CUDA, then
    MPS, then CPU; precision `auto` = bf16 on a CUDA GPU that has it, else fp32."""

    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"


class Recipe(_Section):
    version: Literal[1] = 1
    name: str = "default"
    seed: int = 0
    data: DataConfig = DataConfig()
    teacher: TeacherConfig = TeacherConfig()
    student: StudentConfig = StudentConfig()
    distill: DistillConfig = DistillConfig()
    prune: PruneConfig = PruneConfig()
    exits: ExitConfig = ExitConfig()
    export: ExportConfig = ExportConfig()
    quantize: QuantizeConfig = QuantizeConfig()
    verify: VerifyConfig = VerifyConfig()
    profile: ProfileConfig = ProfileConfig()
    train: TrainConfig = TrainConfig()

    @model_validator(mode="after")
    def _prunable(self) -> "Recipe":
        if self.prune.reshapes and self.student.family in ("cnn", "bilstm"):
            raise ValueError(
                f"prune.heads/ffn/layers/share_layers/embedding_size/low_rank/sparsity/cluster need an encoder student, not {self.student.family}; "
                "use prune.vocab alone for CNN/BiLSTM students"
            )
        kept = self.student.layers - len(self.prune.layers)
        if self.prune.share_layers == "sandwich" and self.student.family == "encoder" and kept < 4:
            raise ValueError(
                f"prune.share_layers: sandwich needs 4+ layers (first, 2 shared, last); the student keeps {kept}"
            )
        if self.distill.theseus.epochs > 0 and self.student.family != "encoder":
            raise ValueError(
                f"distill.theseus needs an encoder student (its layers replace the teacher's), not {self.student.family}"
            )
        if self.student.word_rows is not None and (self.student.family == "teacher" or self.prune.active):
            raise ValueError(
                "student.word_rows shares a distilled student's word table and is baked into its tokenizer: "
                "it needs a distilled student (family encoder/cnn/bilstm) and no prune section (it already cuts the table)"
            )
        if self.student.learned_vocab is not None:
            clash = [
                name
                for name, on in (
                    ("student.family: teacher", self.student.family == "teacher"),
                    ("internal distill.losses", bool(self.distill.losses.internal)),
                    ("distill.theseus", self.distill.theseus.epochs > 0),
                    ("prune reshaping", self.prune.reshapes),
                    ("student.word_rows", self.student.word_rows is not None and self.student.word_table != "qr"),
                )
                if on
            ]
            if clash:
                raise ValueError(
                    f"student.learned_vocab gives a distilled student its own token ids; {', '.join(clash)} "
                    "needs the teacher's ids: drop one of them"
                )
        return self

    @model_validator(mode="after")
    def _exits_fit(self) -> "Recipe":
        if self.exits.active:
            if self.student.family in ("cnn", "bilstm"):
                raise ValueError(f"exits need an encoder student (layers to exit after), not {self.student.family}")
            if self.student.family == "encoder" and self.exits.layers[-1] >= self.student.layers:
                raise ValueError(
                    f"exits.layers {self.exits.layers} must be below student.layers {self.student.layers} "
                    "(the last layer always answers)"
                )
            if self.exits.buckets and self.exits.buckets[-1] > self.export.seq_len:
                raise ValueError(
                    f"exits.buckets {self.exits.buckets} go beyond export.seq_len {self.export.seq_len}; "
                    "the longest bucket must fit the export length"
                )
        return self

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


def format_validation_error(source: str, err: ValidationError) -> str:
    first = err.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "(top level)"
    if first["type"] == "extra_forbidden":
        return f"recipe {source}: unknown key '{where}'; check the spelling against docs/recipes.md"
    if not first["loc"]:  # a rule across sections: its message says what to change
        return f"recipe {source}: {first['msg'].removeprefix('Value error, ')}"
    return f"recipe {source}: '{where}': {first['msg']} (got {first.get('input')!r}); fix that value"


def parse_recipe(text: str, source: str = "<string>") -> Recipe:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RecipeError(f"recipe {source} is not valid YAML ({str(exc).splitlines()[0]}); fix the syntax") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise RecipeError(f"recipe {source} must be a YAML mapping of sections, got {type(raw).__name__}")
    try:
        return Recipe.model_validate(raw)
    except ValidationError as exc:
        raise RecipeError(format_validation_error(source, exc)) from None


def load_recipe(path_or_name: Optional[str] = None) -> Recipe:
    """Load a recipe file, or a bundled recipe by name (default: the SST-2 demo)."""
    name = path_or_name or DEFAULT_RECIPE
    path = Path(name)
    bundled = RECIPES_DIR / f"{name}.yaml"
    if path.is_dir() and path.name == name and bundled.exists():
        path = bundled  # a bundled name, though the working dir holds a folder of that name (a build dir)
    if not path.exists():
        if bundled.exists():
            path = bundled
        else:
            known = ", ".join(sorted(p.stem for p in RECIPES_DIR.glob("*.yaml")))
            raise RecipeError(f"recipe '{name}' not found: give a YAML file path or one of: {known}")
    if path.is_dir():
        raise RecipeError(f"recipe path {path} is a directory; give a YAML file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RecipeError(f"cannot read recipe {path}: {exc}") from None
    return parse_recipe(text, str(path))
