"""The Cortex-M profiler on a real firmware: a tiny int8 encoder exported to .micro.tflite,
compiled with arm-none-eabi-gcc against TFLM + CMSIS-NN, run under qemu-system-arm (mps2-an500,
Cortex-M7, the core the MCU package test builds for too, so a session compiles TFLM once) with the instruction-count plugin. Nothing is mocked: the toolchain and qemu are
the Debian packages the profiler names in its errors.

Cost: the cold library build (only this model's kernels) dominates, ~3 min on two cores; the
run builds it once (one EDGESDK_CACHE_DIR per test run, shared by the pytest workers; the
library build holds a file lock, so the other worker waits for it; see tests/conftest.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from edgesdk.targets.registry import get_target, load_target_file

from edgesdk.errors import TargetError
from edgesdk.recipe import ProfileConfig
from tests.conftest import sst2_rows
from tests.helpers import tiny_tflm_bundle

SEQ_LEN = 16
INPUTS = 6


def dev_texts(n: int) -> list[str]:
    return [line.split("\t")[0] for line in sst2_rows("dev", n)[1:]]


@pytest.fixture(scope="module")
def tiny_artifact(tmp_path_factory):
    """A 1-layer x 16 int8 encoder as a TFLM artifact bundle (model, bundle.json, tokenizer)."""
    return tiny_tflm_bundle(tmp_path_factory.mktemp("mcu_artifact"), seq_len=SEQ_LEN)


@pytest.fixture(scope="module")
def m7_profile(tiny_artifact):
    from edgesdk.targets.cortex_m.mcu_profiler import profile_mcu

    return profile_mcu(tiny_artifact, dev_texts(INPUTS), ProfileConfig(repetitions=INPUTS), get_target("cortex-m7"))


def test_firmware_outputs_equal_the_tflite_micro_python_interpreter(tiny_artifact, m7_profile):
    """Re-run the profiled firmware and compare its int8 outputs with the Python interpreter's
    here, independently of the profiler's own outputs_match."""
    from pathlib import Path

    from edgesdk.converters.bundle import open_artifact
    from edgesdk.targets.cortex_m.boards import BOARDS
    from edgesdk.targets.cortex_m.qemu import run_firmware
    from edgesdk.targets.cortex_m.toolchain import find_toolchain

    assert m7_profile["outputs_match"] is True, m7_profile["outputs_mismatched_inputs"]
    rerun = run_firmware(find_toolchain(), BOARDS["mps2-an500"], Path(m7_profile["firmware"]))
    loaded = open_artifact(tiny_artifact, 1)
    ids, mask = loaded.encode(dev_texts(INPUTS))
    expected = [
        loaded.session.run_quantized(ids[i : i + 1], mask[i : i + 1]).reshape(-1).tolist() for i in range(INPUTS)
    ]
    assert rerun.outputs == expected
    assert len({tuple(o) for o in expected}) > 1, "all inputs gave one output: the comparison would prove little"
    # Emulation is deterministic: the same image counts the same instructions every run.
    assert rerun.invoke_instructions == m7_profile["instructions_per_input"]


def test_firmware_arena_is_measured_and_close_to_the_python_interpreters(m7_profile):
    fw, py, capacity = m7_profile["arena_bytes"], m7_profile["arena_bytes_python"], m7_profile["arena_capacity_bytes"]
    print(f"arena: firmware (CMSIS-NN, M7) {fw} B used, {capacity} B needed to allocate; Python interpreter {py} B")
    assert fw > 0 and py > 0
    # Same planner and model, different kernels (CMSIS-NN vs reference) and build: the same
    # order of magnitude, not equal (11,876 vs 16,848 B when this was written).
    assert py / 2 <= fw <= py * 1.25 + 2048
    # The shipped image's arena: at least what stays allocated, found by bisection to 256 B.
    assert fw <= capacity <= 2 * py + (64 << 10)


def test_instructions_and_the_latency_estimate(m7_profile):
    target = get_target("cortex-m7")
    counts = m7_profile["instructions_per_input"]
    assert len(counts) == INPUTS and min(counts) > 10_000  # a real encoder layer, not a stub
    assert m7_profile["latency_kind"] == "estimate"
    assert (
        f"cpi={target.cpi}" in m7_profile["latency_method"]
        and f"clock_mhz={target.clock_mhz}" in m7_profile["latency_method"]
    )
    expected_mean = np.mean(counts) * target.cpi / (target.clock_mhz * 1e3)
    assert m7_profile["latency_ms"]["mean"] == pytest.approx(expected_mean, rel=1e-3)


def test_flash_and_ram_come_from_the_linked_image(tiny_artifact, m7_profile):
    size = tiny_artifact.stat().st_size
    flash, ram, model = m7_profile["flash_bytes"], m7_profile["ram_bytes"], m7_profile["model_bytes"]
    print(f"image: flash {flash} B (model {model} B), RAM {ram} B, stack high-water {m7_profile['stack_bytes']} B")
    assert model >= size  # the whole flatbuffer is in the image (16-byte aligned)
    assert model < flash < model + 400_000  # plus the TFLM runtime and this model's kernels
    # RAM = the arena (trimmed to what the model used) + stack/heap reservations + runtime data.
    assert m7_profile["arena_capacity_bytes"] < ram < m7_profile["arena_capacity_bytes"] + 64_000
    assert 0 < m7_profile["stack_bytes"] < 16_384
    assert m7_profile["peak_rss_bytes"] == ram  # all of a bare-metal image's RAM is static


def test_a_bogus_tflm_tree_is_one_clear_line(tiny_artifact, tmp_path, monkeypatch):
    from edgesdk.targets.cortex_m.mcu_profiler import profile_mcu

    monkeypatch.setenv("EDGESDK_TFLM_DIR", str(tmp_path / "no-such-tree"))
    with pytest.raises(TargetError) as err:
        profile_mcu(tiny_artifact, dev_texts(2), ProfileConfig(repetitions=2), get_target("cortex-m7"))
    message = str(err.value)
    assert "EDGESDK_TFLM_DIR" in message and "no-such-tree" in message and "\n" not in message


def test_the_tflm_sources_ship_with_edgesdk(monkeypatch):
    """A clone or wheel with nothing beside it builds firmware: the default tree is the one in
    the package, with every upstream licence beside its sources."""
    import edgesdk.targets.cortex_m as cortex_m
    from edgesdk.targets.cortex_m.toolchain import TFLM_ENV, find_tflm_dir

    monkeypatch.delenv(TFLM_ENV, raising=False)
    tree = find_tflm_dir()
    assert tree.is_relative_to(Path(cortex_m.__file__).resolve().parent)
    for licence in ("LICENSE", "third_party/cmsis_nn/LICENSE", "third_party/flatbuffers/LICENSE"):
        assert (tree / licence).is_file(), licence


def test_a_target_without_a_machine_model_is_one_clear_line(tiny_artifact, tmp_path):
    from edgesdk.targets.cortex_m.mcu_profiler import profile_mcu

    spec = tmp_path / "my-board.yaml"
    spec.write_text(
        "id: my-board\nfamily: mcu\ndescription: custom\ncpu: Cortex-M33\nclock_mhz: 100\nruntimes: [tflm]\n"
    )
    with pytest.raises(TargetError, match="my-board has no qemu machine model"):
        profile_mcu(tiny_artifact, dev_texts(2), ProfileConfig(repetitions=2), load_target_file(spec))


def test_the_library_compiles_only_the_models_kernels(tiny_artifact):
    from edgesdk.targets.cortex_m.kernels import bindings_for, library_sources, model_ops
    from edgesdk.targets.cortex_m.toolchain import find_tflm_dir

    tree = find_tflm_dir()
    ops = model_ops(tiny_artifact.read_bytes())
    bindings = bindings_for(tree, ops)
    assert {b.op for b in bindings} == set(ops)
    names = {str(p.relative_to(tree)) for p in library_sources(tree, bindings, cmsis_nn=True)}
    kernels = "tensorflow/lite/micro/kernels/"
    assert kernels + "cmsis_nn/fully_connected.cc" in names and kernels + "fully_connected.cc" not in names
    assert kernels + "conv.cc" not in names and kernels + "cmsis_nn/conv.cc" not in names  # no conv in this model


def test_the_registry_routes_cortex_m_targets_to_the_firmware_profiler():
    from edgesdk.targets.profiler_registry import unavailable

    for name in ("cortex-m4", "cortex-m7", "cortex-m55"):
        assert unavailable(get_target(name)) is None, name
    # An MCU without a qemu machine model keeps falling back to the host, with the reason.
    assert "no qemu machine model" in unavailable(get_target("esp32-s3"))


def test_tokenizer_marks_are_counted_apart_or_not_at_all():
    """The plugin's two mark kinds (Invoke, tokenizer) are paired per input; firmware without
    the tokenizer hook (this profiler's: ids compiled in) has none, and an unpaired count is
    an error, not a silently shifted figure."""
    from edgesdk.targets.cortex_m.qemu import parse_run

    stdout = "EDGESDK arena_used_bytes=100\nEDGESDK output 0: 1 -2\nEDGESDK output 1: 3 4\nEDGESDK done\n"
    invoke = "".join(f"EDGESDK-PLUGIN mark {n}\n" for n in (100, 150, 300, 370))
    tokenize = "".join(f"EDGESDK-PLUGIN tokenize_mark {n}\n" for n in (80, 95, 200, 290))
    run = parse_run(stdout, "EDGESDK-PLUGIN total 999\n" + invoke + tokenize)
    assert (run.invoke_instructions, run.tokenize_instructions) == ([50, 70], [15, 90])
    assert parse_run(stdout, invoke).tokenize_instructions == []
    with pytest.raises(TargetError, match="saw 3 tokenizer marks for 2 inputs"):
        parse_run(stdout, invoke + "".join(f"EDGESDK-PLUGIN tokenize_mark {n}\n" for n in (80, 95, 200)))
