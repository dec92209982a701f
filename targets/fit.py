"""Does the build fit the target? Flash and RAM needs of each artifact against the budgets.

Flash = the artifact + its vocabulary file + the runtime's code (an estimate per runtime,
below), or when the Cortex-M profiler linked a real firmware image, that image's size plus the
vocabulary. RAM = that image's data + bss, else TFLM's measured arena plus the firmware's other
RAM (estimate), or for the full runtimes the peak RSS the profiler measured (on the host unless
a device profiler ran: the method says which). A target without a budget (null in its spec) never fails on it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from edgesdk.errors import FitError
from edgesdk.targets.registry import TargetSpec
from edgesdk.tokenizer import TOKENIZER_FILE

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
    from edgesdk.apps.mcu_tables import tables_source
    from edgesdk.apps.wordpiece import WordPieceSpec
    from edgesdk.converters.bundle import BundleInfo
    from edgesdk.tokenizer import load_artifact_tokenizer

    spec = WordPieceSpec.from_tokenizer(load_artifact_tokenizer(bundle_dir))
    _, sizes = tables_source(spec, BundleInfo.read(bundle_dir).seq_len)
    return sizes.normalizer_bytes + sizes.classes_bytes + sizes.vocab_bytes


def _overflow(need: Optional[int], budget: Optional[int]) -> int:
    return 0 if need is None or budget is None else max(0, need - budget)


def check_fit(target: TargetSpec, out: Path, candidates: list[tuple[str, str]], profiles: dict) -> dict:
    """`candidates`: (artifact path relative to `out`, runtime) for the target's runtimes.
    The artifact that ships is `shipping_choice` of those that fit; FitError when none does."""
    budgets = {"flash_bytes": target.flash_bytes, "ram_bytes": target.ram_bytes}
    if not candidates:
        raise FitError(f"the build has no artifact for {target.id}'s runtimes ({', '.join(target.runtimes)})")
    rows = []
    for rel, runtime in candidates:
        need = artifact_needs(out / rel, runtime, profiles.get(rel, {}))
        over = {k: _overflow(need[k], budgets[k]) for k in budgets}
        latency = profiles.get(rel, {}).get("latency_ms", {}).get("mean")
        rows.append(
            {
                "artifact": rel,
                "runtime": runtime,
                **need,
                "file_bytes": (out / rel).stat().st_size,
                "latency_ms_mean": latency,
                "overflow": over,
                "fits": not any(over.values()),
            }
        )
    fitting = [r for r in rows if r["fits"]]
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


def shipping_choice(fitting: list[dict]) -> dict:
    """The fit.json row that ships, among rows that fit: a staged artifact when the build made
    one (early exit is why the recipe asked for stages); then the smallest size class (every
    artifact passed the recipe's accuracy gates, so the bytes a user downloads come first);
    within it the fastest measured mean latency (the same weights run faster in one runtime than
    in another); then the smallest flash."""
    pool = [r for r in fitting if ".staged." in r["artifact"]] or fitting
    smallest = min(r.get("file_bytes", r["flash_bytes"]) for r in pool)
    pool = [r for r in pool if r.get("file_bytes", r["flash_bytes"]) <= smallest * (1 + SIZE_CLASS_SLACK)]
    unmeasured = float("inf")
    return min(pool, key=lambda r: (r.get("latency_ms_mean") or unmeasured, r["flash_bytes"]))


def check_runtimes(target: TargetSpec, runtimes: list[str]) -> None:
    """Before any training: the recipe must export at least one runtime the target runs."""
    if not set(runtimes) & set(target.runtimes):
        raise FitError(
            f"target {target.id} runs {', '.join(target.runtimes)} but the recipe exports only "
            f"{', '.join(runtimes)}; add one of them to export.runtimes"
        )


def word_table_floor(recipe, teacher_config: dict) -> Optional[tuple[int, int]]:
    """(tokens, width) of the word table the deployed model will have, or None when vocabulary
    pruning will shrink it (by how much is known only after the data step). At one byte per
    value (int8, the smallest any precision stores it) this is a floor on flash."""
    if recipe.prune.vocab != "none":
        return None
    student = recipe.student
    if student.family == "teacher":
        width = teacher_config.get("embedding_size") or teacher_config["hidden_size"]
    elif student.family == "encoder":
        width = student.embedding_size or student.hidden
    else:
        width = student.embedding_size or 128
    if recipe.prune.embedding_size:
        width = min(width, recipe.prune.embedding_size)
    return int(teacher_config["vocab_size"]), int(width)


def check_fits_before_training(target: TargetSpec, recipe, teacher_config: dict) -> None:
    """Fail in seconds, not after an hour of training, when the word table alone cannot fit."""
    floor = word_table_floor(recipe, teacher_config)
    if floor is None or target.flash_bytes is None:
        return
    tokens, width = floor
    need = tokens * width + RUNTIME_CODE_BYTES.get(target.runtimes[0], 0)
    if need > target.flash_bytes:
        raise FitError(
            f"{target.id} has {target.flash_bytes:,} B flash but the word table alone needs at least "
            f"{tokens * width:,} B ({tokens:,} tokens x {width} at int8) plus ~{need - tokens * width:,} B of "
            f"runtime code (over by {need - target.flash_bytes:,} B); add prune.vocab: train (keeps the tokens "
            "the training texts use) or a smaller student.embedding_size"
        )
