"""The teacher's lowered fp32 artifacts in the user cache, keyed by the model's content.

The teacher beside a student is lowered to every runtime in every build, although it is the
same fine-tuned teacher (the teacher cache hands it over unchanged) and fp32 lowering reads
nothing else: a sweep's variants, a second recipe on the same data and a rebuild for another
student all lowered it again (minutes for a MiniLM teacher, about half the lower step of a
test build). Quantized artifacts also depend on calibration rows and quantize settings and
staged ones on exit heads, so they are always lowered in the build.

A cached file is kept with its SHA-256 and re-checked when read; a mismatch (a damaged cache)
lowers again. Bump LOWERING_VERSION when lowering code would produce other bytes for the same
model, as TRAINER_VERSION does for teachers.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Optional

from edgesdk.fsutil import cache_root, first_writer_dir, sha256_file, sha256_json
from edgesdk.models.registry import CONFIG_FILE, WEIGHTS_FILE
from edgesdk.version import tool_versions

LOWERING_VERSION = 1
DIGEST_FILE = "sha256"


def model_digest(model_dir: Path) -> dict:
    """What of a model dir its artifacts depend on: the files the model is loaded from (not
    the dir's training records, whose timings differ run to run) and the code and tools that
    lower it. Computed once per model (the weights are ~90 MB for a MiniLM teacher)."""
    return {
        "lowering": LOWERING_VERSION,
        "versions": tool_versions(),
        "model": [sha256_file(model_dir / name) for name in (CONFIG_FILE, WEIGHTS_FILE)],
    }


def lowered_key(digest: dict, runtime: str, seq_len: int, seed: int) -> str:
    """Everything an fp32 artifact's bytes depend on: the model (`model_digest`), the runtime
    and length, and the seed lowering runs under."""
    return sha256_json(
        {
            **digest,
            "runtime": runtime,
            "seq_len": seq_len,
            "seed": seed,
        }
    )


def read_lowered(key: str, name: str) -> Optional[bytes]:
    """The cached artifact when it is there and whole, else None."""
    entry = cache_root() / "lowered" / key
    try:
        data = (entry / name).read_bytes()
        digest = (entry / DIGEST_FILE).read_text().strip()
    except OSError:
        return None
    if hashlib.sha256(data).hexdigest() == digest:
        return data
    shutil.rmtree(entry, ignore_errors=True)  # damaged: lowered again and published anew
    return None


def publish_lowered(key: str, name: str, data: bytes) -> None:
    """Keep a lowered artifact for the next build (first writer wins, as for teachers)."""
    try:  # the user cache is an optimisation; a read-only home must not fail the build
        with first_writer_dir(cache_root() / "lowered" / key) as tmp:
            (tmp / name).write_bytes(data)
            (tmp / DIGEST_FILE).write_text(hashlib.sha256(data).hexdigest())
    except OSError:
        pass


def cached_kind(role: str, spec) -> bool:
    """Whether the cache holds this artifact (an ArtifactSpec of model `role`): the teacher's
    fp32 single graphs, the ones every build on the same data lowers again. A student is new
    in nearly every build, so caching its files would only grow the cache (~4 files per
    build); the teacher's entries stay one per teacher, runtime and length."""
    return role == "teacher" and spec.precision == "fp32" and not spec.staged
