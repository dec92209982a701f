"""The Android (adb) profiler without a device: detection and errors run the real `adb`
binary (Debian's `adb`, installed by the fixture when missing) against its real server with
nothing attached; the runners' output parsers read recorded real outputs from
tests/targets/recorded/ (each file's header names its source); the peak-memory sampler runs
for real under the host's POSIX sh. Nothing here has run on a phone."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from edgesdk.targets import adb as adb_mod
from edgesdk.targets.profiler_registry import profile_artifact, unavailable
from edgesdk.targets.registry import get_target

from edgesdk.errors import TargetError
from edgesdk.recipe import ProfileConfig
from tests.helpers import free_port

RECORDED = Path(__file__).with_name("recorded")
CONFIG = ProfileConfig(threads=1, warmup=2, repetitions=12)
ADB_ENV = ("EDGESDK_ADB", "EDGESDK_ADB_SERIAL", "ANDROID_SERIAL")


def recorded(name: str) -> str:
    return "".join(ln for ln in (RECORDED / name).read_text().splitlines(True) if not ln.startswith("# "))


def _install_adb() -> str:
    if shutil.which("adb") is None:
        for cmd in (
            ["apt-get", "install", "-y", "-q", "adb"],
            ["apt-get", "update", "-q"],
            ["apt-get", "install", "-y", "-q", "adb"],
        ):
            if shutil.which("adb") is None:
                subprocess.run(cmd, capture_output=True, timeout=600)
    assert shutil.which("adb"), "the adb package could not be installed with apt-get; these tests need it"
    return shutil.which("adb")


@pytest.fixture(scope="module")
def adb_binary():
    """The real adb, with a server of its own stopped at the end (the first adb command starts
    it). Its own port: test_cli's Android build, maybe in another pytest worker at the same
    time, talks to the default server, which this kill-server must not stop under it."""
    binary = _install_adb()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ANDROID_ADB_SERVER_PORT", str(free_port()))
        listing = subprocess.run([binary, "devices"], capture_output=True, text=True, timeout=60).stdout
        if adb_mod.parse_devices(listing):
            pytest.skip("a real Android device is attached; these tests assume none")
        yield binary
        subprocess.run([binary, "kill-server"], capture_output=True, timeout=30)


@pytest.fixture
def artifact(tmp_path):
    """A file that passes the .tflite structural check (the 'TFL3' identifier); no device
    ever runs it here, the profiler stops before pushing anything."""
    path = tmp_path / "model.tflite"
    path.write_bytes(b"\x1c\x00\x00\x00TFL3" + b"\x00" * 64)
    return path


@pytest.fixture
def clean_env(monkeypatch):
    for name in ADB_ENV:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_no_device_attached_is_the_fallback_reason_and_one_error_line(adb_binary, artifact, clean_env):
    phone = get_target("pixel-7")
    reason = unavailable(phone)
    assert reason.startswith("no Android device attached (adb devices lists none)")
    assert "EDGESDK_ADB_SERIAL" in reason
    with pytest.raises(TargetError) as err:
        profile_artifact(phone, artifact, ["a great film"], CONFIG)
    assert "\n" not in str(err.value) and str(err.value) == reason


def test_the_app_route_through_the_cli_needs_no_runner_but_still_a_device(adb_binary, clean_env, tmp_path):
    """`edgesdk profile --app` times the artifact with the installed app's BenchmarkActivity
    instead of a runner (none is configured here); with nothing attached it stops at the same
    one line as the runner route, through the real CLI and the real adb server."""
    from tests.conftest import assert_one_line_error, run_cli
    from tests.helpers import tiny_tflm_bundle

    clean_env.delenv("EDGESDK_ANDROID_TFLITE_BENCHMARK", raising=False)
    artifact = tiny_tflm_bundle(tmp_path)  # any artifact that loads; no phone will run it
    proc = run_cli("profile", artifact, "--target", "pixel-7", "--app", "dev.edgesdk.sst2demo")
    assert_one_line_error(proc, "no Android device attached (adb devices lists none)")
    proc = run_cli("profile", artifact, "--target", "cortex-m7", "--app", "dev.edgesdk.sst2demo")
    assert_one_line_error(proc, "--app times an Android app; cortex-m7 is a mcu target")


def test_missing_runner_is_named_with_its_variable(clean_env):
    clean_env.delenv("EDGESDK_ANDROID_TFLITE_BENCHMARK", raising=False)
    with pytest.raises(TargetError, match="set EDGESDK_ANDROID_TFLITE_BENCHMARK=/path/to/benchmark_model"):
        adb_mod.runner_binary("litert")
    clean_env.setenv("EDGESDK_ANDROID_EXECUTORCH_RUNNER", "/nonexistent/executor_runner")
    with pytest.raises(
        TargetError, match="EDGESDK_ANDROID_EXECUTORCH_RUNNER=/nonexistent/executor_runner does not exist"
    ):
        adb_mod.runner_binary("executorch")
    with pytest.raises(TargetError, match="no Android runner for tflm artifacts"):
        adb_mod.runner_binary("tflm")


def test_adb_binary_that_does_not_exist_is_a_clear_error(artifact, clean_env, tmp_path):
    clean_env.setenv("EDGESDK_ADB", str(tmp_path / "platform-tools" / "adb"))
    reason = unavailable(get_target("galaxy-a14"))
    assert (
        reason
        == f"EDGESDK_ADB={tmp_path / 'platform-tools' / 'adb'} is not an executable adb; point it at platform-tools/adb"
    )
    clean_env.setenv("PATH", str(tmp_path))  # no adb on PATH either
    clean_env.delenv("EDGESDK_ADB")
    assert unavailable(get_target("galaxy-a14")).startswith("adb not found: install it (Debian: apt-get install adb)")


def test_serial_that_is_not_attached_is_a_clear_error(adb_binary, clean_env):
    clean_env.setenv("EDGESDK_ADB_SERIAL", "R58M00NOTHERE")
    with pytest.raises(TargetError, match=r"^Android device R58M00NOTHERE is not attached \(adb lists: none\)"):
        adb_mod.connect()
    # and what real `adb -s` says when asked anyway: one line naming the serial
    with pytest.raises(TargetError, match=r"adb failed on R58M00NOTHERE \(probe, exit 1\): .*R58M00NOTHERE.*not found"):
        adb_mod.Adb(adb_binary, "R58M00NOTHERE").shell("true", "probe")


def test_adb_devices_listing_states():
    devices = adb_mod.parse_devices(recorded("adb_devices_l.txt"))
    assert [(d.serial, d.state) for d in devices] == [
        ("emulator-5554", "device"),
        ("27211JEGR06194", "unauthorized"),
        ("192.168.1.20:5555", "offline"),
        ("00000000", "no permissions"),
        ("R58M12ABCDE", "device"),
    ]
    assert devices[0].details.startswith("product:sdk_gphone64_arm64 model:sdk_gphone64_arm64")
    assert devices[3].details == "usb:1-2 transport_id:4"  # the help URL is not a field
    assert adb_mod.select_device(devices, "R58M12ABCDE") == "R58M12ABCDE"
    with pytest.raises(
        TargetError, match=r"^several Android devices attached: emulator-5554 \(device\), .*set EDGESDK_ADB_SERIAL"
    ):
        adb_mod.select_device(devices, None)
    advice = {
        "27211JEGR06194": "is unauthorized: unlock it and accept the USB debugging prompt",
        "192.168.1.20:5555": "is offline: reconnect the cable",
        "00000000": "is no permissions: add a udev rule",
    }
    for serial, expected in advice.items():
        with pytest.raises(TargetError, match=re_escape(f"Android device {serial} {expected}")):
            adb_mod.select_device(devices, serial)
        with pytest.raises(TargetError, match="^Android device " + re_escape(serial)):
            adb_mod.select_device([d for d in devices if d.serial == serial], None)  # the only one, not ready


def re_escape(text: str) -> str:
    import re

    return re.escape(text)


def test_benchmark_model_android_recording():
    parsed = adb_mod.parse_benchmark_model(recorded("benchmark_model_android_xiaomi_mi11.txt"))
    assert parsed["repetitions"] == 50
    assert parsed["latency_ms"] == {
        "mean": 249.684,
        "p50": None,
        "p90": None,
        "p99": None,
        "std": 1.442,
        "min": 247.067,
        "max": 254.474,
    }
    assert (parsed["init_ms"], parsed["first_inference_ms"], parsed["warmup_mean_ms"]) == (16.242, 360.262, 304.586)
    assert parsed["runner_memory_mb"] == {"init_delta": 4.92969, "overall_delta": 138.809, "peak_periodic": None}


def test_benchmark_model_recent_log_with_op_profiling():
    parsed = adb_mod.parse_benchmark_model(recorded("benchmark_model_qemu_riscv64.txt"))
    assert parsed["repetitions"] == 50  # not the warm-up's count=1, not op profiling's Timings line
    assert parsed["latency_ms"]["mean"] == 2950.34 and parsed["latency_ms"]["std"] == 109.798
    assert parsed["warmup_mean_ms"] == 3512.39 and parsed["init_ms"] == 17.187
    assert parsed["runner_memory_mb"]["overall_delta"] == 46.0859


def test_benchmark_model_without_timings_is_an_error():
    log = "STARTING!\nGraph: [/data/local/tmp/x.tflite]\nFailed to apply NNAPI delegate.\nBenchmarking failed.\n"
    with pytest.raises(TargetError, match="benchmark_model printed no timings: Benchmarking failed."):
        adb_mod.parse_benchmark_model(log)


def test_executor_runner_docs_recording_has_only_a_total():
    parsed = adb_mod.parse_executor_runner(recorded("executor_runner_docs_mv2.txt"), warmup=0)
    assert parsed["repetitions"] == 1
    assert parsed["latency_ms"] == {"mean": 15.0133, "p50": None, "p90": None, "p99": None}
    assert "incl. warm-up" in parsed["latency_scope"]


def test_executor_runner_per_iteration_lines_drop_warmup():
    # NOT recorded: built from the format strings in executor_runner.cpp
    # (pytorch/executorch @ 018a3a524425b33dcf8be85894ee5a1e83bc138c): "Model loaded in %f ms.",
    # "Iteration %u of %u: %f ms", "Model executed successfully %u time(s) in %f ms.".
    times = [9.5, 3.0, 2.0, 2.2, 2.1, 2.4]
    prefix = "I 00:00:00.000001 executorch:executor_runner.cpp:{}] "
    log = (
        prefix.format(718)
        + "Model loaded in 7.850000 ms.\n"
        + "".join(prefix.format(880) + f"Iteration {i + 1} of 6: {t:f} ms\n" for i, t in enumerate(times))
        + prefix.format(889)
        + f"Model executed successfully 6 time(s) in {sum(times):f} ms.\n"
    )
    parsed = adb_mod.parse_executor_runner(log, warmup=2)
    assert parsed["repetitions"] == 4 and parsed["load_ms"] == 7.85
    lat = parsed["latency_ms"]
    assert lat["mean"] == 2.175 and lat["min"] == 2.0 and lat["max"] == 2.4
    assert lat["p50"] == 2.15 and 2.15 < lat["p90"] <= lat["p99"] <= 2.4
    with pytest.raises(TargetError, match="executor_runner did not finish: .*Loading of method forward failed"):
        adb_mod.parse_executor_runner(
            "E 00:00:00.1 executorch:executor_runner.cpp:700] Loading of method forward failed with status 0x12\n", 0
        )


def test_peak_memory_sampler_reads_the_runners_vmhwm(tmp_path):
    """The shell wrapper the device runs, run here by the host's sh on a real process that
    allocates ~64 MB and exits 3: the peak comes back, and so does the exit status."""
    script = tmp_path / "grow.py"
    script.write_text(
        "import sys, time\nb = bytearray(64 << 20)\nb[::4096] = b'x' * len(b[::4096])\ntime.sleep(0.5)\nsys.exit(3)\n"
    )
    command = adb_mod.with_peak_memory(f"{sys.executable} {script}")
    proc = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 3
    peak = adb_mod.parse_peak_memory(proc.stdout)
    assert 64 << 20 < peak < 400 << 20
    quick = subprocess.run(["sh", "-c", adb_mod.with_peak_memory("true")], capture_output=True, text=True, timeout=30)
    assert quick.returncode == 0 and quick.stdout.strip().startswith(adb_mod.HWM_MARK)
