"""The files an app needs beside its model, in formats any JVM reads without libraries.

An artifact bundle (converters/bundle.py) holds JSON for Python; an app gets the same facts as
java.util.Properties files and a tab-separated vocabulary (dev.edgesdk.Assets reads them on
Android and on a plain JVM). Only what the device needs is written: the model file, the
tokenizer, the labels, and the exit plan when the model is staged.
"""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

from edgesdk.converters.bundle import BundleInfo
from edgesdk.converters.registry import backend_for_path, check_artifact_file
from edgesdk.converters.staged_plan import STAGED_TAG, StagedPlan, is_staged

from edgesdk.errors import PackageError
from edgesdk.ondevice.escape import properties_file
from edgesdk.ondevice.mcu_tables import normalizer_tables
from edgesdk.ondevice.wordpiece import TOKENIZER_PROPERTIES, VOCAB_FILE, WordPieceSpec
from edgesdk.tokenizer import load_artifact_tokenizer

LABELS_PROPERTIES = "labels.properties"
MODEL_PROPERTIES = "model.properties"
EXITS_PROPERTIES = "exits.properties"
TABLES_FILE = "tokenizer_tables.bin"
TABLES_MAGIC, TABLES_VERSION = b"EDGT", 1
APP_RUNTIMES = ("executorch", "litert")  # what the Android app can run (TFLM is for MCUs)


def runtime_for(artifact: Path) -> str:
    """executorch for .pte, litert for .tflite; anything else has no Android backend."""
    name = backend_for_path(artifact).name
    if name not in APP_RUNTIMES:
        raise PackageError(
            f"{artifact.name} is a {name} artifact; an Android app runs {' or '.join(APP_RUNTIMES)} only"
        )
    return name


def labels_properties(names) -> str:
    entries = {"count": str(len(names))} | {f"label.{i}": name for i, name in enumerate(names)}
    return properties_file(entries, "edgesdk labels, in class-id order")


def exits_properties(plan) -> str:
    """A StagedPlan for the Kotlin controller; thresholds as Python float reprs, which parse
    back to the identical doubles (the stop rule compares them with >=)."""
    entries = {
        "buckets": ",".join(str(b) for b in plan.buckets),
        "exit_layers": ",".join(str(n) for n in plan.exit_layers),
        "num_layers": str(plan.num_layers),
        "thresholds": ",".join(repr(float(t)) for t in plan.thresholds),
        "confidence": plan.confidence,
    }
    return properties_file(entries, "edgesdk early-exit plan (stage k answers when confidence >= thresholds[k])")


def model_properties(runtime: str, model_file: str, seq_len: int, staged: bool) -> str:
    entries = {"runtime": runtime, "model_file": model_file, "seq_len": str(seq_len), "staged": str(staged).lower()}
    return properties_file(entries, "edgesdk model")


def normalizer_flags(spec: WordPieceSpec) -> int:
    """The BertNormalizer flags as bits (clean_text 1, CJK 2, strip_accents 4, lowercase 8): the
    app refuses tables made for other flags than its tokenizer.properties."""
    bits = (spec.clean_text, spec.handle_chinese_chars, spec.strip_accents, spec.lowercase)
    return sum(1 << i for i, on in enumerate(bits) if on)


def tables_binary(spec: WordPieceSpec) -> bytes:
    """tokenizer_tables.bin: the C tokenizer's normalizer and pre-tokenizer tables
    (edgesdk/ondevice/mcu_tables.py, read off HF `tokenizers`) for dev.edgesdk.BertTables, so the app
    never asks java.text.Normalizer or Java's Character tables (another Unicode version).
    Big-endian int32s, as java.io.DataInputStream reads them, ~40 KB, read once at startup:
    magic "EDGT", version, flags; then ranges, marks and classes as a count and
    {kind << 24 | first, last} pairs; then the map as a count, sorted keys, count + 1 UTF-8
    byte offsets and the UTF-8 blob."""
    tables = normalizer_tables(spec.clean_text, spec.handle_chinese_chars, spec.strip_accents, spec.lowercase)
    keys = sorted(tables.explicit)
    blob = [tables.explicit[cp].encode() for cp in keys]
    offsets = [0]
    for b in blob:
        offsets.append(offsets[-1] + len(b))
    ints = [TABLES_VERSION, normalizer_flags(spec)]
    for table in (tables.ranges, tables.marks, tables.classes):
        ints.append(len(table))
        for first, last, kind in table:
            ints += [kind << 24 | first, last]
    ints += [len(keys), *keys, *offsets]
    return TABLES_MAGIC + struct.pack(f">{len(ints)}i", *ints) + b"".join(blob)


def write_tokenizer_assets(tokenizer, assets: Path, max_length: int) -> WordPieceSpec:
    """vocab.tsv, tokenizer.properties and tokenizer_tables.bin (PackageError for a tokenizer
    the apps cannot run)."""
    spec = WordPieceSpec.from_tokenizer(tokenizer)
    _write(assets / VOCAB_FILE, spec.vocab_tsv())
    _write(assets / TOKENIZER_PROPERTIES, spec.properties(max_length))
    (assets / TABLES_FILE).write_bytes(tables_binary(spec))
    return spec


def golden_name(artifact: Path, runtime: str) -> str:
    """golden_exits.<runtime>[.<precision>].json of a staged artifact model[.<precision>].staged.<ext>
    (the name edgesdk.steps.lower.golden_file gives it)."""
    stem = artifact.name.split(STAGED_TAG + ".")[0]
    return f"golden_exits.{runtime}{stem[stem.find('.') :] if '.' in stem else ''}.json"


def _write(path: Path, text: str) -> None:
    """UTF-8 with \\n line ends on every platform (Properties files are ASCII anyway)."""
    path.write_bytes(text.encode("utf-8"))


def write_assets(bundle_dir: Path, artifact: Path, assets: Path) -> dict:
    """Write everything the app loads into `assets` (an existing empty dir); returns what was
    written and its checks."""
    runtime = runtime_for(artifact)
    check_artifact_file(artifact, backend_for_path(artifact))
    info = BundleInfo.read(bundle_dir)
    spec = write_tokenizer_assets(load_artifact_tokenizer(bundle_dir), assets, info.seq_len)
    staged = is_staged(artifact)
    texts = {
        LABELS_PROPERTIES: labels_properties(info.labels.names),
        MODEL_PROPERTIES: model_properties(runtime, artifact.name, info.seq_len, staged),
    }
    if staged:
        texts[EXITS_PROPERTIES] = exits_properties(StagedPlan.read(bundle_dir))
    for name, text in texts.items():
        _write(assets / name, text)
    shutil.copyfile(artifact, assets / artifact.name)
    golden = [name for name in [golden_name(artifact, runtime)] if staged and (bundle_dir / name).is_file()]
    for name in golden:
        shutil.copyfile(bundle_dir / name, assets / name)
    return {
        "runtime": runtime,
        "staged": staged,
        "labels": len(info.labels.names),
        "vocab_entries": len(spec.vocab),
        "vocab_ids": len({i for _, i in spec.vocab}),
        "golden": golden,
    }
