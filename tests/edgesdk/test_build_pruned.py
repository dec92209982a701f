"""A pruned build through the real CLI: heads, FFN neurons and vocabulary removed from the
distilled student, lowered to ExecuTorch, LiteRT and TFLM, verified against its eager model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from edgesdk.tokenizer import Tokenizer
from tests.conftest import TINY_RECIPE, assert_eval_matches, assert_one_line_error, run_cli
from tests.edgesdk.test_build_quantized import build_args

PRUNE = "prune: {heads: 0.5, ffn: 0.5, iterations: 2, importance_rows: 64, recovery_rows: 64, recovery_augment: 1, cluster: 16, vocab: train}"


def pruned_recipe(
    tmp_path, student: str, prune: str, quantize: str = "precisions: [fp32]", teacher_artifacts: bool = True
) -> str:
    text = TINY_RECIPE.replace("student: {layers: 1, hidden: 16, heads: 2, ffn: 32}", f"student: {student}")
    export = f"seq_len: 32, runtimes: [executorch, litert, tflm], teacher: {str(teacher_artifacts).lower()}"
    text = text.replace("export: {seq_len: 32}", f"export: {{{export}}}")
    text = text.replace("quantize: {precisions: [fp32]}", f"quantize: {{{quantize}}}\n{prune}")
    assert text.count(student) == 1 and prune in text
    path = tmp_path / "p.yaml"
    path.write_text(text)
    return str(path)


@pytest.fixture(scope="module")
def built(tmp_path_factory, tiny_teacher, sst2_slice):
    tmp = tmp_path_factory.mktemp("pbuild")
    recipe = pruned_recipe(
        tmp,
        "{layers: 2, hidden: 32, heads: 4, ffn: 64}",
        PRUNE,
        "precisions: [fp32, int8], max_accuracy_drop: 1.0, min_agreement: 0.0",
    )
    text = Path(recipe).read_text()  # train-carved validation rows: the vocabulary cut reports on them
    held_out = "teacher: {epochs: 2, batch_size: 16, learning_rate: 1.0e-3, max_length: 32, validation_rows: 20}"
    Path(recipe).write_text(text.replace(TINY_RECIPE.splitlines()[1], held_out))
    assert held_out in Path(recipe).read_text()
    proc = run_cli(*build_args(recipe, sst2_slice, tiny_teacher, tmp / "b"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return tmp / "b", json.loads((tmp / "b" / "report.json").read_text())


def test_report_lists_what_was_removed(built):
    out, report = built
    p = report["pruning"]
    assert (p["heads_total"], p["heads_removed"]) == (8, 4)
    assert (p["ffn_total"], p["ffn_removed"]) == (128, 64) and p["ffn_per_layer"] == [32, 32]
    assert p["vocab_before"] == 30522 and 0 < p["vocab_after"] < 30522 // 5
    assert report["data"]["validation"]["rows"] == 20
    assert 0 <= p["vocab_validation_accuracy_before"] <= 1 and 0 <= p["vocab_validation_accuracy_after"] <= 1
    assert [h["stage"] for h in p["history"]] == ["before", "iteration 1", "iteration 2", "cluster 16"]
    assert all(h["recovery"]["stages"] for h in p["history"][1:])  # distillation ran each round
    assert [h["recovery"]["augmented_rows"] for h in p["history"][1:]] == [64, 64, 64]  # 1 copy of 64 rows
    assert 2 <= p["cluster_distinct_values"] <= 16
    assert p["after"]["params"] < p["before"]["params"] / 3
    assert report["student"]["config"]["vocab_size"] == p["vocab_after"]
    assert [s["heads"] for s in report["student"]["config"]["layers"]] == p["heads_per_layer"]
    assert "## Pruning" in (out / "report.md").read_text()


def test_the_summary_names_every_lever_the_shipped_artifact_combines(built):
    out, report = built
    s, p = report["summary"], report["pruning"]
    combined = s["combined"]
    assert combined[0] == "distilled from the teacher into an encoder student"
    assert combined[1] == "pruned: 4 of 8 heads, 64 of 128 FFN neurons, 0 of 2 layers"
    assert "weights clustered" in combined
    assert f"vocabulary cut to {p['vocab_after']:,} of 30,522 tokens (others map to nearest)" in combined
    precision = s["artifact"]["precision"]
    assert (f"{precision} {s['artifact']['runtime']}" in combined) == (precision != "fp32")
    assert "**Combined**: " + "; ".join(combined) in (out / "report.md").read_text()


def test_pruned_artifacts_ship_their_vocabulary_and_match_eager(built):
    out, report = built
    students = [a for a in report["artifacts"] if a["model"] == "student"]
    assert {(a["runtime"], a["precision"]) for a in students} >= {
        ("executorch", "fp32"),
        ("litert", "fp32"),
        ("tflm", "int8"),
    }
    for a in students:
        if a["precision"] == "fp32":
            assert a["agreement"] >= 0.99 and a["max_logit_diff"] < 1e-3, a
    tok = Tokenizer.from_dir(out / "artifacts")  # every id it emits indexes the pruned table
    ids = [i for seq in tok.encode(["an unseen xylophonist gives a ponderous recital"] * 2, 64) for i in seq]
    assert max(ids) < report["pruning"]["vocab_after"] and report["pruning"]["vocab_unseen"] == "nearest"
    teacher_fp32 = {a["runtime"]: a["size_bytes"] for a in report["artifacts"] if a["model"] == "teacher"}
    for a in students:  # the tiny teacher is ~all word table: the pruned vocabulary shows
        if a["precision"] == "fp32":
            assert a["size_bytes"] < teacher_fp32[a["runtime"]] / 4


def test_eval_of_a_pruned_artifact_uses_its_own_vocabulary(built, sst2_slice):
    out, report = built
    row = next(a for a in report["artifacts"] if a["model"] == "student" and a["runtime"] == "litert")
    assert_eval_matches(out / row["path"], sst2_slice[1], row["accuracy"])


def test_a_builds_pruned_model_teaches_the_next_build_as_an_assistant(built, tmp_path, sst2_slice):
    """Teacher -> pruned teacher -> student: `--teacher` takes an earlier build's model dir."""
    out, report = built
    recipe = pruned_recipe(tmp_path, "{layers: 1, hidden: 16, heads: 2, ffn: 32}", "prune: {vocab: none}")
    text = Path(recipe).read_text()
    Path(recipe).write_text(text.replace("runtimes: [executorch, litert, tflm]", "runtimes: [litert]"))
    proc = run_cli(*build_args(recipe, sst2_slice, out / "pruned", tmp_path / "b"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "using the fine-tuned model of an earlier build" in proc.stderr
    taught = json.loads((tmp_path / "b" / "report.json").read_text())
    assert taught["teacher"]["fine_tuned"] is False
    assert taught["teacher"]["params"] == report["pruning"]["after"]["params"]
    labels = tmp_path / "relabelled"
    shutil.copytree(out / "pruned", labels)
    (labels / "labels.json").write_text('{"labels": ["x", "y"]}')
    proc = run_cli(*build_args(recipe, sst2_slice, labels, tmp_path / "c"))
    assert_one_line_error(proc, "was trained for labels")
    assert not (tmp_path / "c").exists()


def test_pruning_the_teacher_itself_ships_it_beside_the_unpruned_teacher(tmp_path, tiny_teacher, sst2_slice):
    """Recovery with a hidden-state loss: the kept layer 0 learns from the teacher's layer 1
    (its own output), not from the last layer a fresh 1-of-2 uniform map would pick."""
    prune = "prune: {layers: [1], recovery_rows: 64, recovery_losses: {kd: 1.0, hidden: 1.0}}"
    recipe = pruned_recipe(tmp_path, "{family: teacher}", prune)
    proc = run_cli(*build_args(recipe, sst2_slice, tiny_teacher, tmp_path / "b"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((tmp_path / "b" / "report.json").read_text())
    assert report["pruning"]["layers_removed"] == [1] and len(report["student"]["config"]["layers"]) == 1
    recovery = report["pruning"]["history"][1]["recovery"]
    assert recovery["layer_map"] == [1] and recovery["stages"][0]["losses"] == {"kd": 1.0, "hidden": 1.0}
    sizes = {(a["model"], a["runtime"]): a["size_bytes"] for a in report["artifacts"] if a["precision"] == "fp32"}
    assert sizes[("student", "litert")] < sizes[("teacher", "litert")]


def test_pruning_a_cnn_student_by_heads_is_one_line(tmp_path, tiny_teacher, sst2_slice):
    recipe = pruned_recipe(tmp_path, "{family: cnn, filters: 8, embedding_size: 16}", "prune: {heads: 0.5}")
    text = (
        open(recipe)
        .read()
        .replace("losses: {kd: 1.0, hidden: 1.0, attention: 1.0, minilm: 1.0, embedding: 1.0}", "losses: {kd: 1.0}")
    )
    open(recipe, "w").write(text)
    proc = run_cli(*build_args(recipe, sst2_slice, tiny_teacher, tmp_path / "b"))
    assert_one_line_error(proc, "need an encoder student", "prune.vocab alone")


def test_shared_factorized_low_rank_sparse_student_builds_and_verifies(tmp_path, tiny_teacher, sst2_slice):
    prune = (
        "prune: {share_layers: sandwich, embedding_size: 16, low_rank: 0.25, sparsity: 0.5, sparsity_iterations: 2, "
        "recovery_rows: 64, vocab: train, vocab_max_size: 500}"
    )
    student = "{layers: 4, hidden: 32, heads: 2, ffn: 64, layer_init: [0, 0, 1, 1]}"  # the tiny teacher has 2
    recipe = pruned_recipe(tmp_path, student, prune, teacher_artifacts=False)
    text = (
        Path(recipe)
        .read_text()
        .replace("relation_heads: 2}", "relation_heads: 2, layer_map: [0, 0, 1, 1], quant_noise: {rate: 0.5}}")
    )
    Path(recipe).write_text(text)
    assert "quant_noise" in text
    proc = run_cli(*build_args(recipe, sst2_slice, tiny_teacher, tmp_path / "b"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((tmp_path / "b" / "report.json").read_text())
    p = report["pruning"]
    stages = ["share sandwich", "embedding 16", "low rank 0.25", "sparsity 0.438", "sparsity 0.500"]
    assert [h["stage"] for h in p["history"]] == stages
    assert p["share_layers"] == "sandwich" and p["embedding_size"] == 16 and 0.49 < p["sparsity"] < 0.52
    assert p["low_rank"] == {"fraction": 0.25, "rank": 8}
    assert p["vocab_after"] == 500 + 5
    config = report["student"]["config"]
    assert config["share"] == "sandwich" and config["embedding_size"] == 16 and config["vocab_size"] == 505
    assert all(layer["rank"] == 8 for layer in config["layers"])
    # Quant-Noise ran in the student's distillation and in the recoveries; under sparsity masks
    # only on what they leave plain (the word table, the classifier).
    noisy = [h["recovery"]["quant_noise_tensors"] for h in p["history"]]
    assert report["student"]["distill"]["quant_noise_tensors"] > noisy[-1] > 0 and noisy[0] > noisy[-1]
    assert "trained with Quant-Noise" in report["summary"]["combined"]
    assert "layer Linears at rank 8 (SVD)" in report["summary"]["combined"]
    fp32 = [a for a in report["artifacts"] if a["model"] == "student" and a["precision"] == "fp32"]
    assert {a["runtime"] for a in fp32} == {"executorch", "litert"}
    assert all(a["agreement"] >= 0.99 for a in fp32)
