"""`edgesdk build --target cortex-m7` end to end through the real CLI: a tiny student exported
to an int8 .micro.tflite, profiled as firmware under qemu, and packaged as a firmware project
whose own check tokenizes >= 200 SST-2 dev sentences on the emulated device and compares ids
and labels with Python. Shares the cortex-m7 TFLM library with tests/targets/test_cortex_m.py."""

from __future__ import annotations

import json

import pytest

from tests.conftest import TINY_RECIPE, run_cli, sst2_rows

DEV_ROWS = 240  # more than the 200 the package check classifies


@pytest.fixture(scope="module")
def mcu_build(tmp_path_factory, tiny_teacher):
    d = tmp_path_factory.mktemp("mcu_build")
    recipe = d / "mcu.yaml"
    text = TINY_RECIPE.replace("export: {seq_len: 32}", "export: {seq_len: 32, runtimes: [tflm]}")
    text = text.replace("quantize: {precisions: [fp32]}", "quantize: {precisions: [int8], calibration_samples: 64}")
    # a shared 512-row word table: the C tokenizer must emit the baked row ids Python does
    text = text.replace("ffn: 32}", "ffn: 32, word_rows: 512}")
    assert text.count("tflm") == 1 and "int8" in text and "word_rows" in text
    recipe.write_text(text)
    (d / "train.tsv").write_text("\n".join(sst2_rows("train", 300)) + "\n")
    (d / "dev.tsv").write_text("\n".join(sst2_rows("dev", DEV_ROWS)) + "\n")
    out = d / "out"
    args = ("build", "--target", "cortex-m7", "--recipe", recipe, "--train", d / "train.tsv", "--dev", d / "dev.tsv")
    proc = run_cli(*args, "--teacher", tiny_teacher, "--out", out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def test_the_firmware_labels_equal_python_on_200_dev_sentences(mcu_build):
    report = json.loads((mcu_build / "report.json").read_text())
    package = report["package"]
    print(f"package checks: {package['checks']}")
    assert package["kind"] == "mcu"
    assert package["checks"] and all(check["ok"] for check in package["checks"].values())
    device = package["checks"]["device"]
    assert device["texts"] >= 200
    assert device["labels_match"] == device["token_ids_match"] == device["texts"]
    assert package["checks"]["host_tokenizer"]["token_ids_match"] == device["texts"]
    # on-device tokenization, counted by the package firmware, lands on the shipped artifact's
    # row beside the profiler's Invoke-only count, and in report.md
    shipped = next(a for a in report["artifacts"] if a["path"] == package["artifact"])
    assert shipped["tokenize_instructions"] == device["tokenize_instructions"]
    assert 0 < shipped["tokenize_instructions"]["min"] <= shipped["tokenize_instructions"]["max"]
    assert shipped["tokenize_latency_kind"] == "estimate" == shipped["latency_kind"]
    assert shipped["tokenize_latency_method"] == shipped["latency_method"]  # same CPI and clock
    assert "200 dev sentences" in shipped["tokenize_measured_by"]
    others = [a for a in report["artifacts"] if a["path"] != package["artifact"]]
    assert not any("tokenize_instructions" in a for a in others)
    md = (mcu_build / "report.md").read_text()
    assert f"{device['tokenize_instructions']['mean']:,.0f} instructions per sentence" in md
    root = mcu_build / package["path"]
    assert (root / "Makefile").is_file() and (root / "src" / "tokenizer_tables.c").is_file()
    assert "MACHINE = mps2-an500" in (root / "Makefile").read_text()


def test_the_preflight_floor_is_a_true_lower_bound_of_the_built_image(mcu_build, tiny_teacher):
    """The flash floor checked before training (targets/budgets.py image_floor) is below what the
    linked firmware and its tokenizer tables really need, and not a trivial bound."""
    from edgesdk.targets.budgets import image_floor
    from edgesdk.targets.registry import get_target

    from edgesdk.models.hf_import import read_teacher_config
    from edgesdk.recipe import load_recipe
    from edgesdk.steps.prune import deployed_tokens
    from edgesdk.task import load_task

    recipe = load_recipe(str(mcu_build / "recipe.yaml"))
    data = mcu_build.parent
    task = load_task(recipe.data, recipe.seed, {"train": str(data / "train.tsv"), "dev": str(data / "dev.tsv")})
    floor = image_floor(
        get_target("cortex-m7"),
        recipe,
        read_teacher_config(tiny_teacher),
        2,
        deployed_tokens(tiny_teacher, task, recipe),
    )
    need = json.loads((mcu_build / "fit.json").read_text())["needs"]["flash_bytes"]
    print(f"floor {floor.total:,} B vs linked image + tables {need:,} B")
    assert 0.5 * need < floor.total <= need
