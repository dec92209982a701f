"""Does the build fit the target? Flash and RAM needs of each artifact against the budgets.

Flash = the artifact + its vocabulary file + the runtime's code (an estimate per runtime,
below), or when the Cortex-M profiler linked a real firmware image, that image's size plus the
vocabulary. RAM = that image's data + bss, else TFLM's measured arena plus the firmware's other
RAM (estimate), or for the full runtimes the peak RSS the profiler measured (on the host unless
a device profiler ran: the method says which). A target without a budget (null in its spec) never fails on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from edgesdk.converters.bundle import BundleInfo
from edgesdk.targets.registry import TargetSpec

from edgesdk.errors import FitError
from edgesdk.models.qr_embedding import qr_shape
from edgesdk.ondevice.mcu_tables import tables_source
from edgesdk.ondevice.wordpiece import WordPieceSpec
from edgesdk.tokenizer import TOKENIZER_FILE, load_artifact_tokenizer

# Runtime code in flash, bytes. TFLM: person_detect firmware text (410,360 B) minus its
# 300 KB model, measured in ../shared/examples/cortex-m-qemu; LiteRT and ExecuTorch: their
# arm64 Android shared libraries (libtensorflowlite_jni.so, ExecuTorch + XNNPACK), rounded up.
RUNTIME_CODE_BYTES = {"tflm": 110_000, "litert": 3_500_000, "executorch": 2_000_000}
# Firmware RAM besides the arena (stack, interpreter objects, I/O buffers): the same example's
# bss minus its arena (107,620 - 82,432 B), rounded up.
TFLM_RAM_OVERHEAD_BYTES = 26_000
VOCAB_FILES = (TOKENIZER_FILE, "vocab.txt")  # what Tokenizer.from_dir reads, in its order

KNOBS = (
    "a smaller student (student.layers/hidden, or family cnn), vocabulary pruning (prune.vocab: train), "
    "int8 embeddings (quantize.embeddings: int8) and int8 weights (quantize.precisions: [int8])"
)


def artifact_needs(path: Path, runtime: str, profile: dict) -> dict:
    vocab = next((path.parent / f for f in VOCAB_FILES if (path.parent / f).exists()), None)
    vocab_bytes = vocab.stat().st_size if vocab else 0
    if profile.get("flash_bytes") is not None:  # a linked firmware image was measured (Cortex-M profiler)
        tables = firmware_tokenizer_bytes(path.parent)
        return {
            "flash_bytes": profile["flash_bytes"] + tables,
            "ram_bytes": profile["ram_bytes"],
            "method": {
                "flash": f"linked firmware image on {profile.get('target')} (arm-none-eabi-size) + the C tokenizer's "
                f"vocabulary and Unicode tables ({tables:,} B, as the MCU package stores them)",
                "ram": "linked firmware image: data + bss incl. the arena the image needs (arm-none-eabi-size)",
            },
        }
    flash = path.stat().st_size + vocab_bytes + RUNTIME_CODE_BYTES.get(runtime, 0)
    if profile.get("arena_bytes") is not None:
        ram, ram_method = profile["arena_bytes"] + TFLM_RAM_OVERHEAD_BYTES, "arena measured in TFLM + firmware estimate"
    else:
        ram = profile.get("peak_rss_bytes")
        ram_method = f"peak RSS measured on {profile.get('target', 'host')}" if ram is not None else "not measured"
    return {
        "flash_bytes": flash,
        "ram_bytes": ram,
        "method": {
            "flash": f"file + vocabulary + {runtime} code estimate ({RUNTIME_CODE_BYTES.get(runtime, 0):,} B)",
            "ram": ram_method,
        },
    }


def firmware_tokenizer_bytes(bundle_dir: Path) -> int:
    """Flash the on-device tokenizer needs (vocabulary blob + normalizer tables), computed the
    way the MCU package generates them, rather than the size of tokenizer.json."""
    spec = WordPieceSpec.from_tokenizer(load_artifact_tokenizer(bundle_dir))
    _, sizes = tables_source(spec, BundleInfo.read(bundle_dir).seq_len)
    return sizes.normalizer_bytes + sizes.classes_bytes + sizes.vocab_bytes


def _overflow(need: Optional[int], budget: Optional[int]) -> int:
    return 0 if need is None or budget is None else max(0, need - budget)


def check_fit(
    target: TargetSpec,
    out: Path,
    candidates: list[tuple[str, str]],
    profiles: dict,
    retime: Optional[Callable[[list[dict]], None]] = None,
) -> dict:
    """`candidates`: (artifact path relative to `out`, runtime) for the target's runtimes.
    The artifact that ships is `shipping_choice` of those that fit; FitError when none does.
    `retime` gets the `close_contenders` (when two or more) to time them again in place first."""
    budgets = {"flash_bytes": target.flash_bytes, "ram_bytes": target.ram_bytes}
    if not candidates:
        raise FitError(f"the build has no artifact for {target.id}'s runtimes ({', '.join(target.runtimes)})")
    rows = []
    for rel, runtime in candidates:
        need = artifact_needs(out / rel, runtime, profiles.get(rel, {}))
        over = {k: _overflow(need[k], budgets[k]) for k in budgets}
        latency = profiles.get(rel, {}).get("latency_ms", {}).get("mean")
        kind = profiles.get(rel, {}).get("latency_kind", "measured" if latency else None)
        rows.append(
            {
                "artifact": rel,
                "runtime": runtime,
                **need,
                "file_bytes": (out / rel).stat().st_size,
                "latency_ms_mean": latency,
                "latency_kind": kind,
                "overflow": over,
                "fits": not any(over.values()),
            }
        )
    fitting = [r for r in rows if r["fits"]]
    contenders = close_contenders(fitting)
    if retime is not None and contenders:
        retime(contenders)
    best = shipping_choice(fitting) if fitting else min(rows, key=lambda r: r["flash_bytes"])
    result = {
        "ok": bool(fitting),
        "target": target.id,
        "budgets": budgets,
        "needs": {k: best[k] for k in ("artifact", "flash_bytes", "ram_bytes")},
        "artifacts": rows,
    }
    if not fitting:
        parts = [
            f"{k.removesuffix('_bytes')} needs {best[k]:,} B of {budgets[k]:,} B (over by {best['overflow'][k]:,})"
            for k in budgets
            if best["overflow"][k]
        ]
        raise FitError(
            f"nothing fits {target.id}: smallest artifact {best['artifact']}: {'; '.join(parts)}; try {KNOBS}",
            result,
        )
    return result


# Files within this fraction of the smallest one are one size class: the same model at the same
# precision in two runtimes (the file sizes differ by a few %), between which speed decides.
SIZE_CLASS_SLACK = 0.10


def shipping_pool(fitting: list[dict]) -> list[dict]:
    """The rows speed decides between: staged artifacts when the build made some (early exit
    is why the recipe asked for stages); then the smallest size class (every artifact passed
    the recipe's accuracy gates, so the bytes a user downloads come first)."""
    pool = [r for r in fitting if ".staged." in r["artifact"]] or fitting
    smallest = min(r.get("file_bytes", r["flash_bytes"]) for r in pool)
    return [r for r in pool if r.get("file_bytes", r["flash_bytes"]) <= smallest * (1 + SIZE_CLASS_SLACK)]


def shipping_choice(fitting: list[dict]) -> dict:
    """The fit.json row that ships, among rows that fit: within `shipping_pool`, the fastest
    measured mean latency (the same weights run faster in one runtime than in another); then
    the smallest flash."""
    unmeasured = float("inf")
    return min(shipping_pool(fitting), key=lambda r: (r.get("latency_ms_mean") or unmeasured, r["flash_bytes"]))


# Measured means this close to the fastest (a fraction of it) are inside this machine's noise
# (one file timed twice in a row: 25 % apart): such contenders are timed again before one ships.
CLOSE_LATENCY = 0.25


def close_contenders(fitting: list[dict]) -> list[dict]:
    """The pool's rows whose measured latency is within CLOSE_LATENCY of the fastest: when there
    are two or more, one timing each cannot tell which ships."""
    if not fitting:  # nothing fits: nothing ships, nothing to rank
        return []
    timed = [r for r in shipping_pool(fitting) if r.get("latency_ms_mean") and r.get("latency_kind") == "measured"]
    if len(timed) < 2:
        return []
    fastest = min(r["latency_ms_mean"] for r in timed)
    close = [r for r in timed if r["latency_ms_mean"] <= fastest * (1 + CLOSE_LATENCY)]
    return close if len(close) > 1 else []


def check_runtimes(target: TargetSpec, runtimes: list[str]) -> None:
    """Before any training: the recipe must export at least one runtime the target runs."""
    if not set(runtimes) & set(target.runtimes):
        raise FitError(
            f"target {target.id} runs {', '.join(target.runtimes)} but the recipe exports only "
            f"{', '.join(runtimes)}; add one of them to export.runtimes"
        )


# Bytes per weight of the most compact form each precision stores layer weights in.
WEIGHT_BYTES = {"fp32": 4.0, "int8": 1.0, "int8-dynamic": 1.0, "int8-qat": 1.0, "int4w": 0.5}


@dataclass(frozen=True)
class ImageFloor:
    """A lower bound on what the deployed model needs in flash, known before any training."""

    tokens: int  # word-table rows after the recipe's vocabulary cut (or student.word_rows)
    width: int
    layer_weights: int  # matmul/conv/LSTM weights besides the word table
    weight_bytes: float  # per layer weight, at the recipe's most compact precision
    runtime_code: int
    tokenizer: int  # token strings the on-device tokenizer stores (TFLM firmware only)

    @property
    def word_table(self) -> int:
        return self.tokens * self.width  # int8: the smallest any precision stores it

    @property
    def layers(self) -> int:
        return int(self.layer_weights * self.weight_bytes)

    @property
    def total(self) -> int:
        return self.word_table + self.layers + self.runtime_code + self.tokenizer


def _encoder_weights(recipe, teacher_config: dict, labels: int) -> tuple[int, int, int]:
    """The pruned teacher or an encoder student: (table width, hidden, weights outside the table)."""
    student, prune = recipe.student, recipe.prune
    if student.family == "teacher":
        hidden, layers = teacher_config["hidden_size"], teacher_config["num_hidden_layers"]
        heads, ffn = teacher_config["num_attention_heads"], teacher_config["intermediate_size"]
        width = teacher_config.get("embedding_size") or hidden
    else:
        hidden, layers, heads, ffn = student.hidden, student.layers, student.heads, student.ffn
        width = student.embedding_size or hidden
    head_dim = hidden // heads
    layers -= len(set(prune.layers))
    heads_kept = max(layers, int(layers * heads * (1 - prune.heads)))  # at least one head per layer
    ffn_kept = max(prune.ffn_multiple, int(ffn * (1 - prune.ffn)) // prune.ffn_multiple * prune.ffn_multiple)
    weights = 4 * hidden * head_dim * heads_kept + 2 * hidden * ffn_kept * layers + hidden * labels
    if width != hidden:
        weights += width * hidden  # the factorized table's projection
    return width, (teacher_config["hidden_size"] if student.family == "teacher" else width), weights


def _cnn_weights(recipe, teacher_config: dict, labels: int) -> tuple[int, int, int]:
    student = recipe.student
    width = student.embedding_size or 128
    weights = sum(k * width * student.filters for k in student.kernel_sizes)
    return width, width, weights + student.filters * len(student.kernel_sizes) * labels


def _bilstm_weights(recipe, teacher_config: dict, labels: int) -> tuple[int, int, int]:
    """Two directions of four gates over [input, state]."""
    student = recipe.student
    width = student.embedding_size or 128
    return width, width, 2 * 4 * (width + student.lstm_hidden) * student.lstm_hidden + 2 * student.lstm_hidden * labels


# student.family -> (word-table width, the width a factorized table projects to, weights outside the table)
FAMILY_WEIGHTS = {
    "teacher": _encoder_weights,
    "encoder": _encoder_weights,
    "cnn": _cnn_weights,
    "bilstm": _bilstm_weights,
}


def layer_weight_count(recipe, teacher_config: dict, labels: int) -> tuple[int, int]:
    """(word-table width, weights outside the word table) of the model the recipe deploys,
    from shapes alone: the pruned teacher, an encoder, CNN or BiLSTM student."""
    width, projected, weights = FAMILY_WEIGHTS[recipe.student.family](recipe, teacher_config, labels)
    embedding_size = recipe.prune.embedding_size
    if embedding_size and embedding_size < width:
        weights += embedding_size * projected
        width = embedding_size
    return width, weights


def image_floor(target: TargetSpec, recipe, teacher_config: dict, labels: int, kept_tokens: list[str]) -> ImageFloor:
    """What the recipe's model needs in the target's flash at the least: `kept_tokens` are the
    word-table rows after the vocabulary cut (the training texts' tokens for `prune.vocab: train`)."""
    width, weights = layer_weight_count(recipe, teacher_config, labels)
    runtimes = [r for r in recipe.export.runtimes if r in target.runtimes] or list(target.runtimes)
    on_device_tokenizer = "tflm" in runtimes
    return ImageFloor(
        tokens=word_table_rows(recipe.student, len(kept_tokens)),
        width=width,
        layer_weights=weights,
        weight_bytes=min(WEIGHT_BYTES[p] for p in recipe.quantize.precisions),
        runtime_code=min(RUNTIME_CODE_BYTES.get(r, 0) for r in runtimes),
        tokenizer=sum(len(t.encode()) for t in kept_tokens) if on_device_tokenizer else 0,
    )


def word_table_rows(student, tokens: int) -> int:
    """Rows of the deployed word table over `tokens` tokens (the tokenizer still keeps every
    token): all of them, the shared rows, or a quotient-remainder table's two."""
    if student.word_rows is None:
        return tokens
    if student.word_table == "qr":  # the budget holds the tokens: the build's validation checked it first
        return sum(qr_shape(tokens, student.word_rows))
    return min(student.word_rows, tokens)


def check_fits_before_training(target: TargetSpec, floor: ImageFloor) -> None:
    """Fail in seconds, not after an hour of training, when the model cannot fit the flash."""
    if target.flash_bytes is None or floor.total <= target.flash_bytes:
        return
    tokenizer = f" + {floor.tokenizer:,} B of token strings for the on-device tokenizer" if floor.tokenizer else ""
    raise FitError(
        f"{target.id} has {target.flash_bytes:,} B flash but the recipe's model needs at least {floor.total:,} B "
        f"(over by {floor.total - target.flash_bytes:,} B): the word table alone needs at least "
        f"{floor.word_table:,} B ({floor.tokens:,} rows x {floor.width} at int8), the layers "
        f"{floor.layers:,} B ({floor.layer_weights:,} weights at {floor.weight_bytes:g} B), runtime code "
        f"~{floor.runtime_code:,} B{tokenizer}; shrink it with prune.vocab: train (keeps the tokens the training "
        "texts use, prune.vocab_max_size caps them), a smaller student.embedding_size or student, or int8 weights"
    )
