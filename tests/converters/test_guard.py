"""Corrupt artifacts: 1,000 mutated files of every kind `edgesdk eval`/`profile` open (.pte,
.tflite, staged multi-method .pte and multi-signature .tflite, TFLite Micro .micro.tflite; bit
flips, truncation, wrong magic, inflated size fields) through the guard those commands use.
The test process never crashes; every file gets a verdict, and every rejection is one line
naming the file."""

from __future__ import annotations

import collections
import json
import random
import shutil

import pytest
from edgesdk.converters.guard import probe, structure_error
from edgesdk.converters.guard_child import dummy_batch

from edgesdk.errors import ArtifactError
from edgesdk.models.model_dir import default_teacher_dir
from edgesdk.tokenizer import Tokenizer
from tests.conftest import assert_one_line_error, run_cli, sst2_rows
from tests.helpers import ARTIFACT_KINDS, BUNDLE_FILES, fuzz_seeds, guard_outcome, write_mutants

CASES_PER_KIND = 200


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    return fuzz_seeds(tmp_path_factory.mktemp("pristine"))


@pytest.fixture(scope="module")
def fuzzed(seeds, tmp_path_factory):
    """[(path, artifact kind, mutation)] and the guard's verdict on each, all in one probe run."""
    d = tmp_path_factory.mktemp("mutants")
    rng = random.Random(1234)
    cases = [
        (path, kind, mutation)
        for kind in ARTIFACT_KINDS
        for path, mutation in write_mutants(seeds[kind], CASES_PER_KIND, d / kind, rng)
    ]
    return cases, probe([path for path, _, _ in cases])


@pytest.fixture
def sst2_dev_rows(tmp_path):
    data = tmp_path / "dev.tsv"
    data.write_text("\n".join(sst2_rows("dev", 8)) + "\n")
    return data


def test_pristine_artifacts_of_every_kind_pass_the_guard(seeds):
    assert set(seeds) == set(ARTIFACT_KINDS)
    assert probe([seeds[kind] for kind in ARTIFACT_KINDS]) == [None] * len(ARTIFACT_KINDS)


def test_a_thousand_mutants_never_crash_the_caller(fuzzed):
    cases, verdicts = fuzzed
    assert len(verdicts) == len(cases) >= 1000
    outcome = collections.Counter()
    for (path, kind, mutation), verdict in zip(cases, verdicts):
        if verdict is not None:
            assert "\n" not in verdict and path.name in verdict and "Traceback" not in verdict, verdict
        if mutation in ("truncation", "wrong_magic"):  # caught before any runtime, for every kind
            assert verdict is not None, f"{path.name} passed the guard"
        outcome[kind, mutation, guard_outcome(verdict)] += 1
    for kind in ARTIFACT_KINDS:
        assert sum(n for (k, _, _), n in outcome.items() if k == kind) == CASES_PER_KIND
    print("fuzz outcomes:", json.dumps({" / ".join(key): n for key, n in sorted(outcome.items())}, indent=1))


def test_the_probe_input_uses_the_artifacts_own_special_ids():
    """A pruned vocabulary renumbers [CLS]/[SEP]/[PAD]; BERT's 101/102 would index past a small table."""
    full = Tokenizer.from_dir(default_teacher_dir())
    small = full.restricted(sorted(full.special_ids()) + list(range(2000, 2040)))
    assert small.vocab_size < 102
    ids, mask = dummy_batch(small, 16, 5)
    cls_sep = small.encode([""], 16)[0]
    assert ids[0, :2].tolist() == cls_sep and ids.max() < small.vocab_size
    assert ids[0, 2:].tolist() == [small.pad_id] * 14 and mask[0].tolist() == [1] * 5 + [0] * 11


def test_structure_check_catches_truncation_without_a_runtime(seeds):
    for kind in ("model.pte", "model.staged.pte"):
        data = seeds[kind].read_bytes()
        assert structure_error(seeds[kind], data) is None
        assert "truncated" in structure_error(seeds[kind], data[: len(data) // 2])


# Exit plans that send eval to a method the staged file does not have, where the controller
# on a short sentence would never go: a larger bucket, or a later stage behind a sure exit.
PLAN_MISMATCHES = {
    "a bucket the file lacks": {"buckets": [16, 32]},
    "a stage the file lacks": {"exit_layers": [1, 2], "num_layers": 3, "thresholds": [0.0, 0.0]},
}


def test_the_guard_runs_every_method_of_a_staged_artifact(seeds, tmp_path):
    staged = []
    for kind in ("model.staged.pte", "model.staged.tflite", "model.int8.staged.micro.tflite"):
        for mismatch, change in PLAN_MISMATCHES.items():
            bundle = tmp_path / f"{kind} with {mismatch}"
            bundle.mkdir()
            for name in (kind, *BUNDLE_FILES):
                shutil.copy(seeds[kind].parent / name, bundle / name)
            plan = json.loads((bundle / "exits.json").read_text())
            (bundle / "exits.json").write_text(json.dumps({**plan, **change}))
            staged.append(bundle / kind)
    for path, verdict in zip(staged, probe(staged)):  # one child for all: one runtime start-up
        assert verdict is not None and str(path) in verdict and "\n" not in verdict, (path, verdict)


@pytest.mark.parametrize("kind", ["model.pte", "model.tflite"])
def test_a_row_the_runtime_fails_on_is_one_line_naming_the_row(seeds, tmp_path, kind):
    """The guard runs a dummy input; real rows reach further. With the full teacher tokenizer
    beside a 200-token model, the first SST-2 row has ids beyond the embedding table."""
    from edgesdk.converters.bundle import open_artifact
    from edgesdk.converters.evaluation import evaluate

    from edgesdk.task import Split

    shutil.copy(seeds[kind], tmp_path / kind)
    shutil.copy(seeds[kind].parent / "bundle.json", tmp_path / "bundle.json")
    shutil.copy(default_teacher_dir() / "tokenizer.json", tmp_path / "tokenizer.json")
    assert probe([tmp_path / kind]) == [None]
    artifact = open_artifact(tmp_path / kind, 1)
    rows = [line.split("\t") for line in sst2_rows("dev", 4)[1:]]
    split = Split(tuple(text for text, _ in rows), tuple(int(label) for _, label in rows))
    with pytest.raises(ArtifactError, match=r"failed on data row 1 in .*tokenizer\.json does not belong") as err:
        evaluate(artifact, split)
    assert "\n" not in str(err.value) and kind in str(err.value)


def test_the_cli_turns_corrupt_files_of_every_kind_into_one_line(fuzzed, sst2_dev_rows):
    cases, verdicts = fuzzed
    inner_damage = ("bit_flips", "inflated_field")  # mostly past the header check, up to the runtime
    runtime_rejected = {
        kind: next(
            p
            for (p, k, m), v in zip(cases, verdicts)
            if k == kind and m in inner_damage and guard_outcome(v) == "rejected"
        )
        for kind in ("model.staged.pte", "model.int8.micro.tflite")
    }
    # the last crash in ARTIFACT_KINDS order: one of the newer kinds when they crashed at all
    crashed = [p for (p, _, _), v in zip(cases, verdicts) if guard_outcome(v) == "crashed child"][-1:]
    for path in (runtime_rejected["model.staged.pte"], *crashed):
        assert_one_line_error(run_cli("eval", path, "--data", sst2_dev_rows), path.name)
    micro = runtime_rejected["model.int8.micro.tflite"]
    assert_one_line_error(run_cli("profile", micro, "--data", sst2_dev_rows, "--repetitions", "2"), micro.name)
