"""The generated app's BenchmarkActivity and the adb profiler that starts it agree, checked
without a phone: the `am start` line targets/adb.py builds is split by a real POSIX shell (as
the device's shell splits `adb shell` input) and read by the app's own Kotlin (BenchmarkOptions,
compiled with kotlinc, run on the JVM); the result lines the Kotlin writes are parsed by the
profiler. Not run here: Android's `am` itself (jvm-check's AmIntent stands in for its
--es/--ei parsing), the activity on a device, the runtimes."""

from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ET

import pytest
from edgesdk.apps.jvm_check import TEMPLATE, benchmark_extras, run_jvm_check
from edgesdk.targets import adb_app as adb_mod

from edgesdk.errors import TargetError
from edgesdk.recipe import ProfileConfig

APP_ID = "dev.edgesdk.sst2demo"


def device_shell_words(command: str) -> list[str]:
    """The words a POSIX sh makes of `command` (Android's mksh and dash agree on quoting)."""
    out = subprocess.run(["sh", "-c", f'set -- {command}; printf "%s\\0" "$@"'], capture_output=True, check=True)
    return out.stdout.decode().split("\0")[:-1]


@pytest.mark.parametrize("model", ["edgesdk-1a2b-model.int8.pte", "edgesdk-1a2b-it's a $model; rm -rf x.tflite"])
def test_the_profilers_am_command_is_what_benchmark_activity_reads(jvm_jar, model):
    config = ProfileConfig(threads=3, warmup=7, repetitions=5)
    command = adb_mod.benchmark_command(APP_ID, model, "edgesdk-1a2b-texts.txt", config)
    read = benchmark_extras(jvm_jar, device_shell_words(command))
    files = adb_mod.app_files_dir(APP_ID)
    assert read == {
        "component": f"{APP_ID}/{adb_mod.BENCHMARK_ACTIVITY}",
        "activity_is_benchmark": "true",
        "model": f"{files}/{model}",
        "texts": f"{files}/edgesdk-1a2b-texts.txt",
        "threads": "3",
        "warmup": "7",
        "result_file": adb_mod.BENCHMARK_RESULT,
    }


def test_without_a_model_extra_the_activity_times_the_apks_own_model(jvm_jar):
    read = benchmark_extras(jvm_jar, ["am", "start", "-W", "-n", f"{APP_ID}/{adb_mod.BENCHMARK_ACTIVITY}"])
    assert (read["model"], read["threads"], read["warmup"]) == ("null", "2", "5")
    assert read["texts"].endswith("/files/texts.txt")


def test_the_activity_the_command_names_is_the_one_the_manifest_declares():
    app = TEMPLATE / "app"
    namespace = next(
        line.split('"')[1] for line in (app / "build.gradle.kts").read_text().splitlines() if "namespace =" in line
    )
    names = [
        a.get("{http://schemas.android.com/apk/res/android}name")
        for a in ET.parse(app / "src/main/AndroidManifest.xml").iter("activity")
    ]
    assert adb_mod.BENCHMARK_ACTIVITY == namespace + ".BenchmarkActivity" and ".BenchmarkActivity" in names


def test_the_profiler_parses_the_result_lines_the_app_writes(jvm_jar):
    message = 'model "x.pte"\\ is not a litert model; this app runs litert\né'
    lines = run_jvm_check(jvm_jar, "benchmark-lines", message)
    parsed = adb_mod.parse_benchmark_activity("\n".join(lines[:3]))
    assert parsed["repetitions"] == 2
    assert parsed["latency_ms"]["mean"] == pytest.approx(0.875) and parsed["latency_ms"]["max"] == 1.5
    assert parsed["layers_mean"] == 2.0
    with pytest.raises(TargetError) as err:
        adb_mod.parse_benchmark_activity("\n".join(lines))
    one_line = message.replace("\n", " ")
    assert str(err.value) == f"the app's BenchmarkActivity failed: java.lang.IllegalStateException: {one_line}"
    with pytest.raises(TargetError, match=r"did not finish \(1 texts timed, done=None\)"):
        adb_mod.parse_benchmark_activity(lines[0])  # the activity still running, or killed
