"""The app route of the Android profiler (`edgesdk profile --app APP_ID`): time an artifact
with an installed edgesdk app's own code (its BenchmarkActivity: tokenizer, exit controller and
runtime, over the dev sentences). Only on request: a build never uses it, since an installed
app from another build would time its new artifacts with the wrong tokenizer.

The artifact and the texts go into the app's external files dir and the activity starts with
the command `benchmark_command` builds; its extras are a contract with apps/android_template
(BenchmarkExtras in Benchmark.kt), which the tests check by running the Kotlin on that very
command line.
"""

from __future__ import annotations

import json
import shlex
import tempfile
import time
import uuid
from pathlib import Path
from typing import Optional, Sequence

from edgesdk.converters.evaluation import percentiles
from edgesdk.converters.registry import backend_for_path
from edgesdk.errors import TargetError
from edgesdk.recipe import ProfileConfig
from edgesdk.targets.adb import RUN_TIMEOUT_S, Adb, connect

# The contract with apps/android_template (BenchmarkExtras in edgesdk/.../Benchmark.kt).
BENCHMARK_ACTIVITY = "dev.edgesdk.app.BenchmarkActivity"
BENCHMARK_RESULT = "bench.jsonl"
POLL_S = 1.0


def app_files_dir(app_id: str) -> str:
    """The app's getExternalFilesDir(null) as adb's shell sees it: adb can push there and the
    app can read it without any storage permission."""
    return f"/sdcard/Android/data/{app_id}/files"


def benchmark_command(app_id: str, model: str, texts: str, config: ProfileConfig) -> str:
    """The `am start` line (for `adb shell`) that runs BenchmarkActivity on `model` and `texts`
    (names in the app's files dir): -W waits for the launch, -S restarts the app's process so
    no earlier run's state is timed."""
    argv = ["am", "start", "-W", "-S", "-n", f"{app_id}/{BENCHMARK_ACTIVITY}",
            "--es", "model", model, "--es", "texts", texts,
            "--ei", "threads", str(config.threads), "--ei", "warmup", str(config.warmup)]  # fmt: skip
    return " ".join(shlex.quote(a) for a in argv)


def parse_benchmark_activity(output: str) -> dict:
    """bench.jsonl: one {"i", "ms", "label", "exit", "layers", "bucket"} per text, then
    {"done": N}; or one {"error": ...} line. `ms` is the app's TextClassifier.classify, tokenization
    included."""
    rows = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    errors = [r["error"] for r in rows if "error" in r]
    if errors:
        first = " ".join(errors[0].splitlines())
        raise TargetError(f"the app's BenchmarkActivity failed: {first[:240]}")
    done = next((r["done"] for r in rows if "done" in r), None)
    timed = [r for r in rows if "ms" in r]
    if done is None or done != len(timed) or not timed:
        raise TargetError(f"the app's BenchmarkActivity did not finish ({len(timed)} texts timed, done={done})")
    ms = [float(r["ms"]) for r in timed]
    return {
        "repetitions": len(ms),
        "latency_ms": {**percentiles(ms), "min": min(ms), "max": max(ms)},
        "layers_mean": round(sum(r["layers"] for r in timed) / len(timed), 4),
    }


def app_installed(adb: Adb, app_id: str) -> bool:
    """`pm path` prints `package:/data/app/...` for an installed app and exits 1 otherwise."""
    try:
        return adb.shell(f"pm path {shlex.quote(app_id)}", "pm path").strip().startswith("package:")
    except TargetError:
        return False


def profile_adb_app(
    artifact: Path, texts: Sequence[str], config: ProfileConfig, app_id: str, serial: Optional[str] = None
) -> dict:
    """Time `artifact` with the installed app's own code: push it and the texts (cycled to
    `config.repetitions`) into the app's files dir, start BenchmarkActivity on them, poll its
    result file until the activity writes its last line."""

    adb = connect(serial)
    if not app_installed(adb, app_id):
        raise TargetError(
            f"app {app_id} is not installed on {adb.serial}; build the generated Android project "
            "(package/android) and `adb install` its APK, or drop --app to use the runners"
        )
    if not texts:
        raise TargetError("profiling needs at least one text")
    q, files, tag = shlex.quote, app_files_dir(app_id), uuid.uuid4().hex[:12]
    model, texts_name = f"edgesdk-{tag}-{artifact.name}", f"edgesdk-{tag}-texts.txt"
    lines = [" ".join(texts[i % len(texts)].split()) for i in range(config.repetitions)]  # one line each
    try:
        adb.shell(f"mkdir -p {q(files)} && rm -f {q(files)}/{BENCHMARK_RESULT}", "prepare the app's files dir")
        adb.push(artifact, f"{files}/{model}")
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / texts_name
            local.write_text("\n".join(lines) + "\n", encoding="utf-8")
            adb.push(local, f"{files}/{texts_name}")
        adb.shell(benchmark_command(app_id, model, texts_name, config), "start BenchmarkActivity")
        deadline, output = time.monotonic() + RUN_TIMEOUT_S, ""
        while time.monotonic() < deadline:
            output = adb.shell(f"cat {q(files)}/{BENCHMARK_RESULT} 2>/dev/null; true", "read the benchmark result")
            if '{"done"' in output or '{"error"' in output:
                break
            time.sleep(POLL_S)
    finally:
        try:
            adb.shell(f"rm -f {q(files)}/{q(model)} {q(files)}/{q(texts_name)}", "cleanup")
        except TargetError:
            pass
    return {
        **parse_benchmark_activity(output),
        "runtime": backend_for_path(artifact).name,
        "threads": config.threads,
        "warmup": config.warmup,
        "peak_rss_bytes": None,  # the activity's process is not sampled
        "baseline_rss_bytes": None,
        "size_bytes": artifact.stat().st_size,
        "inputs": "the dev texts, tokenized by the app (latency includes tokenization)",
        "target": f"adb:{adb.serial}",
        "method": "measured",
        "method_detail": f"on the device with the installed app {app_id} (BenchmarkActivity, the app's own code)",
    }
