"""Android profiler over adb: push the artifact and an official benchmark runner to
/data/local/tmp, run it there, read back latency and memory; or (`edgesdk profile --app
APP_ID`) time the artifact with an installed edgesdk app's own code (its BenchmarkActivity:
tokenizer, exit controller and runtime, over the dev sentences).

Runners are the projects' own, given by path, so the numbers are the ones their maintainers
would get: TFLite's `benchmark_model` for .tflite (EDGESDK_ANDROID_TFLITE_BENCHMARK) and
ExecuTorch's `executor_runner` for .pte (EDGESDK_ANDROID_EXECUTORCH_RUNNER), both built for
arm64-v8a. Both feed their own inputs (benchmark_model: random; executor_runner: all ones),
so latency is per inference on a fixed-length input, not on the dev sentences.

The app route (`edgesdk profile --app`) is targets/adb_app.py.

adb comes from EDGESDK_ADB or PATH; the device from EDGESDK_ADB_SERIAL or ANDROID_SERIAL, else
the single one `adb devices -l` lists. Every failure is one TargetError line saying what to do.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

from edgesdk.converters.evaluation import percentiles
from edgesdk.converters.registry import backend_for_path
from edgesdk.converters.staged_plan import is_staged

from edgesdk.errors import TargetError
from edgesdk.recipe import ProfileConfig

ADB_TIMEOUT_S = 30
RUN_TIMEOUT_S = 1800
REMOTE_ROOT = "/data/local/tmp"
MEMORY_SAMPLE_S = 0.02
HWM_MARK = "EDGESDK_VMHWM_KB"  # the line the memory sampler prints last

# What a non-ready device state means for the user (adb's own words are terse).
STATE_ADVICE = {
    "unauthorized": "unlock it and accept the USB debugging prompt",
    "offline": "reconnect the cable or run `adb reconnect offline`",
    "no permissions": "add a udev rule for it or put your user in the plugdev group, then `adb kill-server`",
    "authorizing": "wait for it to finish authorizing",
    "connecting": "wait for it to finish connecting",
}


@dataclass(frozen=True)
class AttachedDevice:
    serial: str
    state: str  # device, unauthorized, offline, no permissions, bootloader, ...
    details: str = ""  # product:/model:/transport_id: fields of `adb devices -l`


def parse_devices(listing: str) -> list[AttachedDevice]:
    """`adb devices -l`: `SERIAL<spaces>STATE[ key:value ...]` per line, after the header and
    any daemon start-up chatter. "no permissions" is the one state with a space (and a
    parenthesised hint after it)."""
    devices = []
    for line in listing.splitlines():
        if not line.strip() or line.startswith(("List of devices", "*", "adb ")):
            continue
        serial, _, rest = line.strip().replace("\t", " ").partition(" ")
        rest = rest.strip()
        state = "no permissions" if rest.startswith("no permissions") else rest.split(" ", 1)[0]
        details = " ".join(w for w in rest.split() if re.match(r"^[a-z_]+:[^/]\S*$", w))
        devices.append(AttachedDevice(serial, state, details))
    return devices


def select_device(devices: Sequence[AttachedDevice], wanted: Optional[str]) -> str:
    """The serial to use: `wanted` if attached and ready, else the only attached device."""
    if wanted:
        match = [d for d in devices if d.serial == wanted]
        if not match:
            attached = ", ".join(d.serial for d in devices) or "none"
            raise TargetError(f"Android device {wanted} is not attached (adb lists: {attached}); check the serial")
        return _ready(match[0])
    if not devices:
        raise TargetError(
            "no Android device attached (adb devices lists none); "
            "connect one with USB debugging or set EDGESDK_ADB_SERIAL"
        )
    if len(devices) > 1:
        serials = ", ".join(f"{d.serial} ({d.state})" for d in devices)
        raise TargetError(f"several Android devices attached: {serials}; set EDGESDK_ADB_SERIAL to one of them")
    return _ready(devices[0])


def _ready(device: AttachedDevice) -> str:
    if device.state == "device":
        return device.serial
    advice = STATE_ADVICE.get(device.state, "bring it up in normal (not bootloader/recovery) mode")
    raise TargetError(f"Android device {device.serial} is {device.state}: {advice}")


def find_adb() -> str:
    configured = os.environ.get("EDGESDK_ADB")
    if configured:
        if not (Path(configured).is_file() and os.access(configured, os.X_OK)):
            raise TargetError(f"EDGESDK_ADB={configured} is not an executable adb; point it at platform-tools/adb")
        return configured
    found = shutil.which("adb")
    if found is None:
        raise TargetError("adb not found: install it (Debian: apt-get install adb) or set EDGESDK_ADB=/path/to/adb")
    return found


@dataclass(frozen=True)
class Adb:
    binary: str
    serial: Optional[str] = None

    def run(self, args: Sequence[str], what: str, timeout: float = ADB_TIMEOUT_S) -> str:
        """Output (stdout and stderr, in order: the runners log to stderr) of `adb [-s SERIAL]
        ARGS`; a non-zero exit, the device's command's included, is one TargetError naming `what`."""
        cmd = [self.binary, *(["-s", self.serial] if self.serial else []), *args]
        try:
            proc = subprocess.run(
                cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace", timeout=timeout
            )
        except subprocess.TimeoutExpired:
            raise TargetError(
                f"adb timed out after {timeout:.0f} s ({what}) on {self.serial or 'the adb server'}"
            ) from None
        if proc.returncode != 0:
            where = f"on {self.serial}" if self.serial else "with the adb server"
            raise TargetError(f"adb failed {where} ({what}, exit {proc.returncode}): {_last_line(proc.stdout)}")
        return proc.stdout

    def shell(self, command: str, what: str, timeout: float = ADB_TIMEOUT_S) -> str:
        return self.run(["shell", command], what, timeout)

    def push(self, local: Path, remote: str) -> None:
        self.run(["push", str(local), remote], f"push {local.name}", RUN_TIMEOUT_S)


def connect(serial: Optional[str] = None) -> Adb:
    """adb bound to the device to profile on: `serial` (a target's `address`), else as the
    module docstring says."""
    adb = Adb(find_adb())
    wanted = serial or os.environ.get("EDGESDK_ADB_SERIAL") or os.environ.get("ANDROID_SERIAL")
    return Adb(adb.binary, select_device(parse_devices(adb.run(["devices", "-l"], "list devices")), wanted))


# --- runner output parsing ------------------------------------------------------------------

_NUMBER = r"[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?"
_LOG_PREFIX = r"^(?:[A-Z]+:\s+|[VDIWEF] tflite\s*:\s+)?"  # "INFO: " (newer), "I tflite  : " (APK logcat)


def _number_after(text: str, label: str) -> Optional[float]:
    found = re.search(re.escape(label) + r"\s*(" + _NUMBER + ")", text, re.IGNORECASE)
    return float(found.group(1)) if found else None


def parse_benchmark_model(output: str) -> dict:
    """TFLite benchmark_model's log (benchmark_model.cc, Stat::OutputToStream): the last
    `count=N first= curr= min= max= avg= std=[ p5= median= p95=]` line before the summary is
    the regular runs (the one before it the warm-up), in microseconds. It prints no per-run
    times, so p90/p99 stay None; p50 is its median where the tool prints one."""
    summary = re.search(r"Inference timings in us: Init: .*", output)
    if summary is None:
        raise TargetError(f"benchmark_model printed no timings: {_last_line(output)}")
    runs = [
        dict(re.findall(r"(\w+)=(" + _NUMBER + ")", line))
        for line in output[: summary.start()].splitlines()
        if re.match(_LOG_PREFIX + r"count=\d+ first=", line)
    ]
    if not runs:
        raise TargetError(f"benchmark_model printed no per-run statistics: {_last_line(output)}")
    regular = {k: float(v) for k, v in runs[-1].items()}

    def ms(key: str) -> Optional[float]:
        return round(regular[key] / 1e3, 4) if key in regular else None

    memory_mb = re.search(
        r"(?:Memory footprint delta from the start of the tool|Peak memory footprint) \(MB\): "
        r"init=(" + _NUMBER + r") overall=(" + _NUMBER + ")",
        output,
    )
    peak_mb = _number_after(output, "Overall peak memory footprint (MB) via periodic monitoring:")
    line = summary.group(0)
    return {
        "repetitions": int(regular["count"]),
        "latency_ms": {
            "mean": ms("avg"),
            "p50": ms("median"),
            "p90": None,
            "p99": None,
            "std": ms("std"),
            "min": ms("min"),
            "max": ms("max"),
        },
        "init_ms": round(_number_after(line, "Init:") / 1e3, 4),
        "first_inference_ms": round(_number_after(line, "First inference:") / 1e3, 4),
        "warmup_mean_ms": round(_number_after(line, "Warmup (avg):") / 1e3, 4),
        "runner_memory_mb": {
            "init_delta": float(memory_mb.group(1)) if memory_mb else None,
            "overall_delta": float(memory_mb.group(2)) if memory_mb else None,
            "peak_periodic": peak_mb,
        },
    }


def parse_executor_runner(output: str, warmup: int) -> dict:
    """ExecuTorch executor_runner's ET_LOG lines: `Iteration i of N: X ms` per execution
    (newer runners) and `Model executed successfully N time(s) in X ms.`. The runner has no
    warm-up flag, so it runs warmup + repetitions and the first `warmup` are dropped here. An
    older runner prints only the total: mean over all executions, percentiles None."""
    total = re.search(r"Model executed successfully (\d+) time\(s\) in (" + _NUMBER + ") ms", output)
    if total is None:
        raise TargetError(f"executor_runner did not finish: {_last_line(output)}")
    executions, total_ms = int(total.group(1)), float(total.group(2))
    per_run = [float(ms) for ms in re.findall(r"Iteration \d+ of \d+: (" + _NUMBER + ") ms", output)]
    loaded = _number_after(output, "Model loaded in")
    if len(per_run) == executions and executions > warmup:
        timed = per_run[warmup:]
        latency = {**percentiles(timed), "min": min(timed), "max": max(timed)}
        repetitions, scope = len(timed), f"per execution, first {warmup} dropped as warm-up"
    else:
        latency = {"mean": round(total_ms / executions, 4), "p50": None, "p90": None, "p99": None}
        repetitions, scope = executions, "mean over all executions incl. warm-up (runner prints no per-run times)"
    return {"repetitions": repetitions, "latency_ms": latency, "latency_scope": scope, "load_ms": loaded}


def _last_line(output: str) -> str:
    lines = [ln for ln in output.strip().splitlines() if not ln.startswith(HWM_MARK)]
    return (lines or ["no output"])[-1].strip()[:200]


# --- peak memory of the runner process ----------------------------------------------------------


def with_peak_memory(command: str) -> str:
    """`command` (a plain `binary args...`, no shell operators) run in the background while its
    VmHWM is read from /proc every MEMORY_SAMPLE_S; prints `EDGESDK_VMHWM_KB=N` last and exits
    with the runner's status. VmHWM is a high-water mark, so the last sample before exit is
    the peak up to ~one interval before the end. POSIX sh: Android's mksh, tested here on dash."""
    return (
        f"{command} & p=$!; h=; "
        f'while s=$(grep VmHWM /proc/$p/status 2>/dev/null) && [ -n "$s" ]; do h=$s; sleep {MEMORY_SAMPLE_S}; done; '
        f'wait $p; rc=$?; echo "{HWM_MARK}=$(echo $h | tr -dc 0-9)"; exit $rc'
    )


def parse_peak_memory(output: str) -> Optional[int]:
    found = re.search(HWM_MARK + r"=(\d+)", output)
    return int(found.group(1)) * 1024 if found else None


# --- the profiler --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Runner:
    name: str
    env: str
    args: Callable[[str, ProfileConfig], list[str]]  # remote model path, config -> argv tail
    parse: Callable[[str, ProfileConfig], dict]


RUNNERS = {
    "litert": Runner(
        "benchmark_model",
        "EDGESDK_ANDROID_TFLITE_BENCHMARK",
        lambda model, c: [
            f"--graph={model}",
            f"--num_threads={c.threads}",
            f"--warmup_runs={c.warmup}",
            f"--num_runs={c.repetitions}",
            "--warmup_min_secs=0",
            "--min_secs=0",
            "--report_peak_memory_footprint=true",
        ],
        lambda out, c: parse_benchmark_model(out),
    ),
    "executorch": Runner(
        "executor_runner",
        "EDGESDK_ANDROID_EXECUTORCH_RUNNER",
        lambda model, c: [
            f"--model_path={model}",
            f"--num_executions={c.warmup + c.repetitions}",
            f"--cpu_threads={c.threads}",
        ],
        lambda out, c: parse_executor_runner(out, c.warmup),
    ),
}


def runner_binary(runtime: str) -> tuple[Runner, Path]:
    runner = RUNNERS.get(runtime)
    if runner is None:
        raise TargetError(f"no Android runner for {runtime} artifacts; the adb profiler runs {', '.join(RUNNERS)}")
    configured = os.environ.get(runner.env)
    if not configured:
        raise TargetError(
            f"no {runner.name} for {runtime} on Android: set {runner.env}=/path/to/{runner.name} (built for arm64-v8a)"
        )
    if not Path(configured).is_file():
        raise TargetError(f"{runner.env}={configured} does not exist; point it at {runner.name} built for arm64-v8a")
    return runner, Path(configured)


def adb_unavailable(runtimes: Sequence[str], serial: Optional[str] = None) -> Optional[str]:
    """Why an Android target cannot be profiled on a device now (None: it can)."""
    try:
        connect(serial)
        for runtime in runtimes:
            runner_binary(runtime)
    except TargetError as exc:
        return str(exc)
    return None


def profile_adb(artifact: Path, texts: Sequence[str], config: ProfileConfig, serial: Optional[str] = None) -> dict:
    if is_staged(artifact):
        raise TargetError(f"{artifact.name} is staged (early exit): the Android runners measure single graphs")
    runtime = backend_for_path(artifact).name
    adb = connect(serial)  # first, as unavailable() checks: a missing phone is the likelier fix
    runner, binary = runner_binary(runtime)
    remote = f"{REMOTE_ROOT}/edgesdk-{uuid.uuid4().hex[:12]}"
    q = shlex.quote
    try:
        adb.shell(f"mkdir -p {q(remote)}", "mkdir")
        adb.push(binary, f"{remote}/{runner.name}")
        adb.push(artifact, f"{remote}/{artifact.name}")
        adb.shell(f"chmod 755 {q(remote)}/{runner.name}", "chmod")
        argv = [f"{remote}/{runner.name}", *runner.args(f"{remote}/{artifact.name}", config)]
        output = adb.shell(with_peak_memory(" ".join(q(a) for a in argv)), f"run {runner.name}", RUN_TIMEOUT_S)
    finally:
        try:
            adb.shell(f"rm -rf {q(remote)}", "cleanup")
        except TargetError:
            pass  # the run's own error (or result) matters more than a leftover temp dir
    return {
        **runner.parse(output, config),
        "runtime": runtime,
        "threads": config.threads,
        "warmup": config.warmup,
        "peak_rss_bytes": parse_peak_memory(output),
        "baseline_rss_bytes": None,  # the runner process is not sampled before it loads the model
        "size_bytes": artifact.stat().st_size,
        "inputs": "runner-generated (benchmark_model: random; executor_runner: all ones), not the dev texts",
        "target": f"adb:{adb.serial}",
        "method": "measured",
        "method_detail": f"on the device with {runner.name}",
    }
