"""Shared fixtures for the app packagers: the Kotlin core compiled once per session, and a
tiny real staged LiteRT artifact with its bundle and golden exit decisions."""

from __future__ import annotations

import csv
import dataclasses
import gzip
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from edgesdk.apps.jvm_check import compile_jvm_check

from edgesdk.task import LabelMap, demo_data_paths
from tests.helpers import tiny_encoder

WEIRD_LABEL = 'a"b\\c\n${x}*/é😀'
LABELS = ("neg", WEIRD_LABEL)
BANKING77_TEST = (
    Path(__file__).resolve().parents[1] / "data" / "banking77" / "test.csv.gz"
)  # shipped: tests/data/README.md


def sst2_dev_texts() -> list[str]:
    rows = gzip.decompress(demo_data_paths()[1].read_bytes()).decode("utf-8").splitlines()[1:]
    return [row.split("\t")[0] for row in rows]


def sst2_train_texts() -> list[str]:
    rows = gzip.decompress(demo_data_paths()[0].read_bytes()).decode("utf-8").splitlines()[1:]
    return [row.split("\t")[0] for row in rows]


def banking77_test_texts() -> list[str]:
    with gzip.open(BANKING77_TEST, "rt", newline="", encoding="utf-8") as fh:
        return [row["text"] for row in csv.DictReader(fh)]


HARD_CASES = [
    "Café naïve résumé Ångström façade",
    "北京欢迎你 and 東京タワー 한국어",
    "I ❤️ emoji 😀👍🏽 🇫🇷 family 👨‍👩‍👧",
    "a" * 101,
    "é" * 100 + " " + "😀" * 101,  # 100 accented letters: one word; 101 emoji (202 chars in Java)
    "x\u0000y\u0001z\ufffd\u200b w\u00ad\u2060v",
    "İstanbul İ ı ẞ ß Σίσυφος ΣΑΣ",
    "e\u0301 n\u0303 a\u0308\u0304 \u0301alone",
    "مرحبا بالعالم! שלום, עולם. \u200fRTL\u200e",
    "hello [MASK] [mask] x[CLS]y [SEP][SEP] [UNK]",
    "\u00a0nbsp\u2007figure\u202fnarrow\u3000ideographic\u0085nel\u000bvt",
    "tab\there\nnew\rline\r\n",
    "𠀀𠀁 𪜀 \U0002b820 \U0002ceb0 豈",
    "¡¿punctuation?! «quotes» “curly” — dash… ‰ § ¶ · ・ 、。",
    "$100 + 50% = ^_^ ~ `code` {json: [1,2]} <tag/> a|b \\ back",
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "",
    "   ",
]


def data_sets() -> dict:
    return {"sst2-dev": sst2_dev_texts(), "hard-cases": HARD_CASES, "banking77-test": banking77_test_texts()}


def c_token_ids(tokenizer, texts, max_length, tmp_path, labels=LABELS):
    """Ids from the MCU package's C tokenizer (its sources and tables as the packager writes
    them) compiled for this machine; also returns the executable."""
    from edgesdk.apps.mcu_check import compile_host_tokenizer, host_token_ids
    from edgesdk.apps.mcu_project import write_tokenizer_sources

    from edgesdk.ondevice.wordpiece import WordPieceSpec

    root = tmp_path / "tok"
    write_tokenizer_sources(root, WordPieceSpec.from_tokenizer(tokenizer), max_length, labels)
    exe = compile_host_tokenizer(root, tmp_path / "tokenize_host")
    return host_token_ids(exe, texts, max_length), exe


def _install_kotlin() -> None:
    if shutil.which("kotlinc"):
        return
    for cmd in (["apt-get", "install", "-y", "-q", "kotlin"], ["apt-get", "update", "-q"]):
        subprocess.run(cmd, capture_output=True, timeout=600)
        if cmd[1] == "update":
            subprocess.run(["apt-get", "install", "-y", "-q", "kotlin"], capture_output=True, timeout=600)
    assert shutil.which("kotlinc"), "kotlin could not be installed with apt-get; the app tests need kotlinc"


@pytest.fixture(scope="session")
def jvm_jar(tmp_path_factory) -> Path:
    _install_kotlin()
    return compile_jvm_check(tmp_path_factory.mktemp("jvm") / "jvm-check.jar")


@pytest.fixture(scope="session")
def teacher_tokenizer():
    from edgesdk.models.model_dir import default_teacher_dir
    from edgesdk.tokenizer import Tokenizer

    return Tokenizer.from_dir(default_teacher_dir())


@pytest.fixture(scope="session")
def staged_bundle(tmp_path_factory, teacher_tokenizer) -> Path:
    """A real staged .tflite (2 buckets x 2 stages) of a tiny encoder, with bundle.json (a
    label that stresses every escaper), tokenizer.json, exits.json and the golden decisions the
    pipeline writes for it. Returns the artifact path."""
    from edgesdk.converters import get_backend
    from edgesdk.converters.bundle import BundleInfo
    from edgesdk.converters.controller import ExitController
    from edgesdk.converters.staging import StagedPlan, stage_methods

    from edgesdk.compress.exit_heads import ExitHeads
    from edgesdk.exit_rule import softmax
    from edgesdk.fsutil import atomic_write_json

    d = tmp_path_factory.mktemp("staged_bundle")
    encoder = tiny_encoder(layers=2, dropout=0.0).eval()
    torch.manual_seed(1)
    heads = ExitHeads(encoder.config.hidden_size, 2, 1).eval()
    plan = StagedPlan(buckets=[16, 32], exit_layers=[1], num_layers=2, thresholds=[2.0], confidence="maxprob")
    backend = get_backend("litert")
    artifact = d / "model.staged.tflite"
    artifact.write_bytes(backend.lower_methods(stage_methods(encoder, heads, plan)))
    runner = backend.open_methods(artifact, 1)
    ids, mask = teacher_tokenizer.pad(teacher_tokenizer.encode(sst2_dev_texts()[:48], 32), 32)
    rows = [(ids[i : i + 1], mask[i : i + 1]) for i in range(len(ids))]
    # Threshold at the median stage-0 confidence of these inputs, so both exits answer.
    first = [next(ExitController(runner, plan).stage_logits(*row))[2] for row in rows]
    median = float(np.median([softmax(np.asarray(f, dtype=np.float64)[None])[0].max() for f in first]))
    plan = dataclasses.replace(plan, thresholds=[median])
    plan.write(d)
    teacher_tokenizer.save(d)
    BundleInfo(32, LabelMap(LABELS)).write(d)
    records = [ExitController(runner, plan).golden(*row) for row in rows]
    atomic_write_json(d / "golden_exits.litert.json", {"plan": plan.__dict__, "inputs": records})
    return artifact


@pytest.fixture(scope="session")
def tokenizers(teacher_tokenizer):
    """The teacher's tokenizer, a remapped one (pruned tokens -> [UNK], several strings per id),
    a restricted one (a smaller vocabulary, renumbered), planned on real SST-2 text, and one
    learned on SST-2 training text (student.learned_vocab: whole words the teacher splits)."""
    from edgesdk.compress.vocab import plan_vocabulary, unseen_targets

    plan = plan_vocabulary(teacher_tokenizer, sst2_dev_texts(), min_count=2, max_size=None)
    new_index = np.full(plan.before, -1)
    new_index[plan.keep] = np.arange(len(plan.keep))
    remapped = teacher_tokenizer.remapped(new_index[unseen_targets(None, plan, teacher_tokenizer, "unk")])
    return {
        "teacher": teacher_tokenizer,
        "remapped": remapped,
        "restricted": teacher_tokenizer.restricted(plan.keep),
        "learned": teacher_tokenizer.learned(sst2_train_texts(), 4000),
    }
