"""Corrupt artifacts: 1,000 mutated .pte and .tflite files (bit flips, truncation, wrong magic,
inflated size fields) through the guard `edgesdk eval`/`profile` use. The test process never
crashes; every file gets a verdict, and every rejection is one line naming the file."""

from __future__ import annotations

import collections
import random
import shutil

import pytest
import torch

from edgesdk.converters import get_backend
from edgesdk.converters.bundle import BundleInfo
from edgesdk.converters.guard import probe, structure_error
from edgesdk.data import LabelMap
from edgesdk.teacher import default_teacher_dir
from edgesdk.tokenizer import Tokenizer
from tests.conftest import assert_one_line_error, run_cli, sst2_rows
from tests.helpers import MUTATIONS, mutant, tiny_encoder

SEQ_LEN = 16
CASES_PER_RUNTIME = 500


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    d = tmp_path_factory.mktemp("pristine")
    model = tiny_encoder(vocab_size=200, hidden=8, heads=2, ffn=16, layers=1).eval()
    example = (torch.ones(1, SEQ_LEN, dtype=torch.int32), torch.ones(1, SEQ_LEN, dtype=torch.int32))
    for name in ("executorch", "litert"):
        backend = get_backend(name)
        (d / f"model{backend.suffix}").write_bytes(backend.lower(model, example))
    Tokenizer.from_dir(default_teacher_dir()).save(d)
    BundleInfo(SEQ_LEN, LabelMap(("neg", "pos"))).write(d)
    return d


@pytest.fixture(scope="module")
def fuzzed(pristine, tmp_path_factory):
    d = tmp_path_factory.mktemp("mutants")
    for name in ("tokenizer.json", "bundle.json"):
        shutil.copy(pristine / name, d / name)
    rng = random.Random(1234)
    cases = []
    for suffix in (".pte", ".tflite"):
        data = (pristine / f"model{suffix}").read_bytes()
        for i in range(CASES_PER_RUNTIME):
            kind = MUTATIONS[i % len(MUTATIONS)]
            path = d / f"m{i:04d}.{kind}{suffix}"
            path.write_bytes(mutant(data, kind, rng))
            cases.append((path, kind))
    return cases, probe([p for p, _ in cases])


def test_pristine_artifacts_pass_the_guard(pristine):
    assert probe([pristine / "model.pte", pristine / "model.tflite"]) == [None, None]


def test_a_thousand_mutants_never_crash_the_caller(fuzzed):
    cases, verdicts = fuzzed
    assert len(verdicts) == len(cases) >= 1000
    outcome = collections.Counter()
    for (path, kind), verdict in zip(cases, verdicts):
        if verdict is None:
            outcome[kind, "loads"] += 1
            continue
        assert "\n" not in verdict and path.name in verdict and "Traceback" not in verdict, verdict
        outcome[kind, "crashed child" if "crashed the runtime" in verdict else "rejected"] += 1
    for suffix in (".pte", ".tflite"):  # every truncation and wrong magic is caught before any runtime
        for path, kind in cases:
            if path.suffix == suffix and kind in ("truncation", "wrong_magic"):
                assert verdicts[cases.index((path, kind))] is not None
    print("fuzz outcomes:", dict(outcome))


def test_structure_check_catches_truncation_without_a_runtime(pristine):
    data = (pristine / "model.pte").read_bytes()
    assert structure_error(pristine / "model.pte", data) is None
    assert "truncated" in structure_error(pristine / "model.pte", data[: len(data) // 2])


def test_the_cli_turns_corrupt_files_into_one_line(fuzzed, tmp_path):
    cases, verdicts = fuzzed
    data = tmp_path / "dev.tsv"
    data.write_text("\n".join(sst2_rows("dev", 8)) + "\n")
    crashed = [p for (p, _), v in zip(cases, verdicts) if v and "crashed the runtime" in v][:1]
    rejected = [p for (p, k), v in zip(cases, verdicts) if v and k == "bit_flips" and "crashed" not in v][:1]
    assert rejected
    for path in crashed + rejected:
        assert_one_line_error(run_cli("eval", path, "--data", data), path.name)
