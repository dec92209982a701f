"""The MCU firmware package: its C tokenizer against Python on whole data sets (host gcc), and
the generated project built with arm-none-eabi-gcc and run under qemu-system-arm on 200 SST-2
dev sentences tokenized on the device. Nothing is mocked. The firmware targets cortex-m7 and
the tiny model of tests/targets/test_cortex_m.py, so a test session compiles TFLM once."""

from __future__ import annotations

import pytest
from edgesdk.apps.mcu_check import host_labels
from edgesdk.apps.packager_registry import CHECK_TEXTS, PackageRequest, packager_for
from edgesdk.targets.registry import get_target

from edgesdk.errors import PackageError
from edgesdk.fsutil import sha256_dir
from edgesdk.ondevice.escape import c_string
from tests.apps.conftest import HARD_CASES, c_token_ids, sst2_dev_texts
from tests.helpers import tiny_tflm_bundle

C_LABEL = 'a"b\\c\n*/é??=😀'  # quote, backslash, newline, comment end, accent, trigraph, emoji
MORE_HARD_CASES = ["ﬁ ﬀ Ⅻ ① ℌ ㎏ Å K", "한국어 텍스트 각", "\U000e0001tag \ufeffbom \u00ad soft", "é" * 101]


@pytest.mark.parametrize("kind", ["teacher", "remapped", "learned"])
def test_c_tokenizer_equals_python_on_sst2_dev_and_hard_cases(kind, tokenizers, tmp_path):
    texts = sst2_dev_texts() + HARD_CASES + MORE_HARD_CASES
    assert len(texts) >= 872 + len(HARD_CASES)
    for max_length in (512, 8):  # whole sentences, then truncation keeping the final [SEP]
        got, _ = c_token_ids(tokenizers[kind], texts, max_length, tmp_path, ("neg", C_LABEL))
        want = tokenizers[kind].encode(texts, max_length)
        mismatches = [(texts[i], g, w) for i, (g, w) in enumerate(zip(got, want)) if g != w]
        assert len(got) == len(texts) and not mismatches, mismatches[:3]


def test_labels_reach_c_byte_for_byte(teacher_tokenizer, tmp_path):
    """Compiling with -Werror and reading the strings back proves the C escaping."""
    _, exe = c_token_ids(teacher_tokenizer, ["x"], 8, tmp_path, ("neg", C_LABEL))
    assert host_labels(exe) == ["neg", C_LABEL]


@pytest.fixture(scope="module")
def tiny_mcu_artifact(tmp_path_factory):
    return tiny_tflm_bundle(tmp_path_factory.mktemp("mcu_pkg_artifact"), labels=("neg", C_LABEL), seq_len=16)


@pytest.fixture(scope="module")
def package(tiny_mcu_artifact, tmp_path_factory):
    dest = tmp_path_factory.mktemp("mcu_pkg") / "mcu"
    texts = sst2_dev_texts()[:CHECK_TEXTS]
    request = PackageRequest(tiny_mcu_artifact, dest, "edgesdk */ test", texts, target=get_target("cortex-m7"))
    return request, packager_for("mcu")(request)


def test_firmware_tokenizes_and_classifies_like_python_in_qemu(package):
    _, result = package
    host, device = result.checks["host_tokenizer"], result.checks["device"]
    print(f"mcu package checks: {result.checks}")
    assert result.kind == "mcu"
    assert host["ok"] and host["texts"] == host["token_ids_match"] == CHECK_TEXTS >= 200 and host["labels_escaped"]
    assert device["ok"], device
    assert device["texts"] == device["token_ids_match"] == device["labels_match"] == device["outputs_match"] == 200
    assert "mps2-an500" in device["machine"]
    assert device["arena_used_bytes"] <= device["arena_bytes"] < device["ram_bytes"]
    assert device["model_bytes"] + device["vocab_bytes"] < device["flash_bytes"]


def test_device_check_counts_tokenization_and_invoke_per_sentence(package):
    """Exact counts for both regions on the 200 sentences, and the tokenizer's latency is the
    same estimate as the profiler's (instructions x CPI / clock of cortex-m7)."""
    request, result = package
    device = result.checks["device"]
    tok, inv = device["tokenize_instructions"], device["invoke_instructions"]
    print(f"tokenize instructions {tok}, invoke instructions {inv}")
    assert 0 < tok["min"] < tok["mean"] < tok["max"]  # sentences differ in length, so do their counts
    assert 0 < inv["min"] <= inv["mean"] <= inv["max"] and inv["mean"] == device["invoke_instructions_mean"]
    target = request.target
    estimate = device["tokenize_latency_ms"]
    assert device["tokenize_latency_kind"] == "estimate"
    assert f"cpi={target.cpi}, clock_mhz={target.clock_mhz}" in device["tokenize_latency_method"]
    assert estimate["mean"] == pytest.approx(tok["mean"] * target.cpi / (target.clock_mhz * 1e3), abs=1e-4)


def test_tokenizer_marks_bracket_the_tokenizer_only(package, tmp_path):
    """The package firmware rebuilt on three texts of growing length: tokenization counts grow
    with the text while Invoke (fixed sequence length) stays where it was, so neither region's
    count leaks into the other's."""
    import shutil

    from edgesdk.apps.mcu import preflight
    from edgesdk.apps.mcu_check import build_firmware
    from edgesdk.apps.mcu_project import texts_source
    from edgesdk.targets.cortex_m.kernels import bindings_for, library_sources, model_ops
    from edgesdk.targets.cortex_m.library import ensure_library
    from edgesdk.targets.cortex_m.qemu import run_firmware

    request, result = package
    board, tools = preflight(request.target)
    root = tmp_path / "project"
    shutil.copytree(result.path, root)
    (root / "src/texts.c").write_text(texts_source(["", "a gorgeous movie", "a gorgeous, witty movie " * 12]))
    bindings = bindings_for(tools.tflm_dir, model_ops(request.artifact.read_bytes()))
    library = ensure_library(tools, board, library_sources(tools.tflm_dir, bindings, cmsis_nn=True))
    run = run_firmware(tools, board, build_firmware(root, tmp_path / "build", library))
    tok, inv = run.tokenize_instructions, run.invoke_instructions
    print(f"tokenize {tok}, invoke {inv}")
    assert len(tok) == len(inv) == 3
    assert 0 < tok[0] < tok[1] < tok[2]
    assert max(inv) - min(inv) < tok[2] - tok[0]


def test_project_layout_ops_and_arena(package, tiny_mcu_artifact):
    from edgesdk.targets.cortex_m.kernels import model_ops

    request, result = package
    root = result.path
    for rel in (
        "Makefile",
        "README.md",
        "src/model_ops.h",
        "src/wordpiece.c",
        "board/memory.ld",
        "host/tokenize_host.c",
    ):
        assert (root / rel).is_file(), rel
    assert (root / "model" / tiny_mcu_artifact.name).read_bytes() == tiny_mcu_artifact.read_bytes()
    ops = (root / "src/model_ops.h").read_text()
    assert ops.count("TF_LITE_ENSURE_STATUS") == len(set(model_ops(tiny_mcu_artifact.read_bytes())))
    assert "MicroMutableOpResolver<" in ops
    assert (
        f"EDGESDK_ARENA_BYTES {result.checks['device']['arena_bytes']}"
        in (root / "src/classifier_config.h").read_text()
    )
    assert "MACHINE = mps2-an500" in (root / "Makefile").read_text()
    assert c_string(C_LABEL) in (root / "src/labels.c").read_text()


def test_generation_is_byte_identical(package, tmp_path):
    request, result = package
    from dataclasses import replace

    again = packager_for("mcu")(replace(request, dest=tmp_path / "again"))
    assert sha256_dir(again.path) == sha256_dir(result.path)
    assert again.checks == result.checks


def test_a_non_tflm_artifact_is_one_clear_line(tmp_path):
    artifact = tmp_path / "model.tflite"
    artifact.write_bytes(b"\0" * 64)
    with pytest.raises(PackageError, match="ships a .micro.tflite"):
        packager_for("mcu")(PackageRequest(artifact, tmp_path / "out", "x"))


@pytest.fixture(scope="module")
def staged_package(tmp_path_factory):
    from tests.helpers import tiny_staged_tflm_bundle

    texts = sst2_dev_texts()[:CHECK_TEXTS]
    artifact = tiny_staged_tflm_bundle(tmp_path_factory.mktemp("mcu_staged_artifact"), texts)
    dest = tmp_path_factory.mktemp("mcu_staged_pkg") / "mcu"
    request = PackageRequest(artifact, dest, "edgesdk staged", texts, target=get_target("cortex-m7"))
    return request, packager_for("mcu")(request)


def test_staged_firmware_exits_where_the_python_controller_does(staged_package):
    """Early exit on the MCU: the C controller (staged_classifier.cc) under qemu takes the same
    exit and bucket and gives the same label and int8 logits as converters/controller.py over the
    tflite-micro interpreter, on 200 SST-2 dev sentences; with exits it runs fewer
    instructions than the same controller built without them."""
    request, result = staged_package
    device = result.checks["device"]
    print(f"staged mcu package checks: {device}")
    assert device["ok"], device
    assert device["texts"] == device["exit_decisions_match"] == device["labels_match"] == device["outputs_match"] == 200
    early, final = device["exit_histogram"]
    assert early > 20 and final > 20  # the median threshold splits the sentences
    assert device["invoke_instructions"]["mean"] < device["invoke_instructions_no_exit"]["mean"]
    assert (request.dest / "src/exit_plan.h").is_file() and not (request.dest / "src/classifier.cc").exists()
