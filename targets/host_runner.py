"""Stand-alone latency/memory runner: `python -m edgesdk.targets.host_runner ARTIFACT TEXTS.json`.

Runs in a child process (or on a board over ssh) so that peak RSS belongs to the runtime and
the artifact alone, and a crash in a native runtime cannot take the CLI down. Prints one
JSON object on its last stdout line.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

from edgesdk.converters.bundle import open_artifact
from edgesdk.converters.evaluation import percentiles
from edgesdk.converters.staged_plan import is_staged
from edgesdk.targets.etdump import op_breakdown

from edgesdk.errors import ArtifactError, EdgeSDKError


def _proc_status_bytes(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def peak_rss_bytes() -> int:
    # VmHWM belongs to this process's own address space. ru_maxrss would not do: Linux keeps
    # the parent's peak across fork+exec, so a child of a 800 MB trainer would report 800 MB.
    hwm = _proc_status_bytes("VmHWM")
    return hwm if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def current_rss_bytes() -> int:
    rss = _proc_status_bytes("VmRSS")
    return rss if rss is not None else peak_rss_bytes()


def run(artifact: Path, texts: list[str], threads: int, warmup: int, repetitions: int, per_op: bool = False) -> dict:
    baseline = current_rss_bytes()
    loaded = open_artifact(artifact, threads)
    ids, mask = loaded.encode(texts)
    n = len(texts)
    for i in range(warmup):
        loaded.session.run(ids[i % n : i % n + 1], mask[i % n : i % n + 1])
    times = []
    for i in range(repetitions):
        row = i % n  # cycle through real sentences, not one repeated input
        start = time.perf_counter()
        loaded.session.run(ids[row : row + 1], mask[row : row + 1])
        times.append((time.perf_counter() - start) * 1e3)
    memory = getattr(loaded.session, "memory", None)
    result = {
        **(memory() if memory else {}),
        "runtime": loaded.backend.name,
        "threads": threads,
        "warmup": warmup,
        "repetitions": repetitions,
        "latency_ms": percentiles(times),
        # every timed run, in order: the report's latency histogram (docs/report.md, plots)
        "latency_samples_ms": [round(t, 4) for t in times],
        "peak_rss_bytes": peak_rss_bytes(),
        "baseline_rss_bytes": baseline,
        "size_bytes": artifact.stat().st_size,
    }
    if per_op and artifact.suffix == ".pte" and not is_staged(artifact):
        # after peak_rss_bytes was read: the second, ETDump-enabled program must not count;
        # a breakdown that fails keeps the latency numbers and says why
        try:
            result["per_op"] = op_breakdown(artifact, ids, mask, threads, warmup, repetitions)
        except EdgeSDKError as exc:
            result["per_op"] = {"method": "etdump", "error": str(exc)}
    return result


def parse_result(proc, what: str) -> dict:
    """The JSON object a runner printed last (this one, or the board runner over ssh); a
    crash or a reported error becomes one ArtifactError line saying `what` failed."""
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise ArtifactError(f"{what} crashed the runtime (exit {proc.returncode}): {tail[:200]}")
    result = json.loads(lines[-1])
    if "error" in result:
        raise ArtifactError(f"{what} failed: {result['error'][:200]}")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("artifact", type=Path)
    parser.add_argument("texts", type=Path, help="JSON list of input sentences")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--repetitions", type=int, default=200)
    parser.add_argument("--per-op", action="store_true", help="add an ETDump per-op breakdown (.pte only)")
    args = parser.parse_args(argv)
    texts = json.loads(args.texts.read_text(encoding="utf-8"))
    try:
        result = run(args.artifact, texts, args.threads, args.warmup, args.repetitions, args.per_op)
    except Exception as exc:  # noqa: BLE001 - reported to the parent as one JSON error line
        print(json.dumps({"error": str(exc).splitlines()[0] if str(exc) else type(exc).__name__}))
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
