"""Per-op breakdown of a .pte on the host: ExecuTorch's ETDump read by the devtools Inspector.

`op_breakdown` runs in the calling process (the profiling child): it loads the program with
ETDump on, pins the threadpool, runs `warmup + repetitions` batch-1 inferences, writes the
ETDump and reads it back with `executorch.devtools.Inspector` (no ETRecord: the names come
from the runtime's own events). The events it returns partition `Method::execute`:

- one per XNNPACK op kind (`Fully Connected (NC, QDU8, F32, QC8W) GEMM`, `Softmax (NC, F32)`,
  ...), from XNNPACK's own per-op profiler inside each delegate call (1 us resolution);
- `XNNPACK delegate call (outside its ops)`: the delegate calls' time minus their ops';
- one per portable kernel the partitioner left outside XNNPACK (`native_layer_norm.out`,
  `embedding.out`, ...), the kernel body;
- `runtime (outside ops)`: `Method::execute` minus delegate calls and kernels (dispatch,
  input/output handling).

A runtime without XNNPACK's per-op profiler gives the delegate calls as one event instead.
"""

from __future__ import annotations

import re
import tempfile
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np

from edgesdk.errors import ArtifactError, TargetError

EXECUTE = "Method::execute"
DELEGATE_CALL = "DELEGATE_CALL"
KERNEL_PREFIX = "native_call_"
DELEGATE_REST = "XNNPACK delegate call (outside its ops)"
DELEGATE_WHOLE = "XNNPACK delegate call"
RUNTIME_REST = "runtime (outside ops)"
_INSTANCE = re.compile(r" #\d+$")  # XNNPACK numbers each op instance: "Add (ND) #2"


def op_breakdown(
    artifact: Path, ids: np.ndarray, mask: np.ndarray, threads: int, warmup: int, repetitions: int
) -> dict:
    """Per-op times of `repetitions` batch-1 runs (after `warmup`) cycling through the rows of
    ids/mask. `calls` = repetitions x the op's occurrences per inference; median/p90 are of
    the op's summed time per inference; shares are of the summed `Method::execute` time."""
    from edgesdk.converters.staged_plan import is_staged

    if artifact.suffix != ".pte":
        raise ArtifactError(f"per-op breakdown needs an ExecuTorch .pte artifact, not {artifact.name}")
    if is_staged(artifact):
        raise ArtifactError(f"per-op breakdown covers single-graph .pte artifacts, not the staged {artifact.name}")
    if repetitions < 1:
        raise TargetError("per-op breakdown needs at least one repetition")
    runs = _execute_with_etdump(artifact, ids, mask, threads, warmup + repetitions)
    return _summarise(runs, warmup, repetitions)


def _execute_with_etdump(artifact: Path, ids, mask, threads: int, n_runs: int) -> list:
    import torch
    from edgesdk.converters.executorch import runtime, set_threads

    set_threads(threads)
    try:
        program = runtime().get().load_program(str(artifact), enable_etdump=True)
        method = program.load_method("forward")
    except Exception as exc:  # noqa: BLE001 - the runtime raises RuntimeError/ValueError variants
        raise ArtifactError(f"ExecuTorch cannot load {artifact}: {_first_line(exc)}") from None
    if not program._program.has_etdump():  # the public Program has no has_etdump()
        raise TargetError("this executorch wheel has no ETDump support; per-op profiling needs one built with it")
    rows = len(ids)
    for i in range(n_runs):
        r = i % rows
        method.execute([torch.from_numpy(ids[r : r + 1]), torch.from_numpy(mask[r : r + 1])])
    with tempfile.TemporaryDirectory() as tmp:
        etdump = Path(tmp) / "run.etdp"
        program._program.write_etdump_result_to_file(str(etdump), None)  # no debug buffer
        try:
            from executorch.devtools import Inspector
        except ImportError as exc:
            raise TargetError(
                f"executorch.devtools cannot be imported ({_first_line(exc)}); reinstall executorch"
            ) from None
        with warnings.catch_warnings():  # "Output Buffer not found": no debug buffer was asked for
            warnings.simplefilter("ignore")
            inspector = Inspector(etdump_path=str(etdump))
    events = [e for block in inspector.event_blocks for e in block.events if e.perf_data is not None]
    if not any(e.name == EXECUTE for e in events):
        raise TargetError("this executorch wheel records no profiling events (built without its event tracer)")
    return events


def _summarise(events: list, warmup: int, repetitions: int) -> dict:
    n_runs = warmup + repetitions
    per_run: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(repetitions))
    occurrences: dict[str, int] = defaultdict(int)
    totals = {k: np.zeros(repetitions) for k in (EXECUTE, DELEGATE_CALL, "delegated ops", "kernels")}
    counts = defaultdict(int)
    for event in events:
        raw = list(event.perf_data.raw)
        if len(raw) != n_runs:
            if event.name in (EXECUTE, DELEGATE_CALL) or event.is_delegated_op or event.name.startswith(KERNEL_PREFIX):
                raise TargetError(f"ETDump holds {len(raw)} runs of {event.name}, expected {n_runs}")
            continue  # load-time events (Method::init, Program::load_method)
        times = np.asarray(raw[warmup:], dtype=np.float64)
        if event.name in (EXECUTE, DELEGATE_CALL):
            totals[event.name] += times
            counts[event.name] += 1
        elif event.is_delegated_op:
            name = _INSTANCE.sub("", event.name)
            per_run[name] += times
            occurrences[name] += 1
            totals["delegated ops"] += times
        elif event.name.startswith(KERNEL_PREFIX):
            name = event.name[len(KERNEL_PREFIX) :] + " (portable)"
            per_run[name] += times
            occurrences[name] += 1
            totals["kernels"] += times
    per_op = any(e.is_delegated_op for e in events)
    if counts[DELEGATE_CALL]:
        name = DELEGATE_REST if per_op else DELEGATE_WHOLE
        per_run[name] = (
            np.maximum(totals[DELEGATE_CALL] - totals["delegated ops"], 0.0) if per_op else totals[DELEGATE_CALL]
        )
        occurrences[name] = counts[DELEGATE_CALL]
    per_run[RUNTIME_REST] = np.maximum(totals[EXECUTE] - totals[DELEGATE_CALL] - totals["kernels"], 0.0)
    occurrences[RUNTIME_REST] = counts[EXECUTE]
    whole = float(totals[EXECUTE].sum()) or 1.0
    rows = [
        {
            "name": name,
            "calls": occurrences[name] * repetitions,
            "median_ms": round(float(np.median(t)), 4),
            "p90_ms": round(float(np.percentile(t, 90)), 4),
            "share": round(float(t.sum()) / whole, 4),
        }
        for name, t in per_run.items()
    ]
    rows.sort(key=lambda r: (-r["share"], r["name"]))
    return {
        "method": "etdump",
        "events": rows,
        "total_ms": round(float(np.median(totals[EXECUTE])), 4),
        "total_p90_ms": round(float(np.percentile(totals[EXECUTE], 90)), 4),
        "warmup": warmup,
        "repetitions": repetitions,
        "note": _note(per_op, counts[DELEGATE_CALL]),
    }


def _note(per_op: bool, delegate_calls: int) -> str:
    xnn = (
        f"XNNPACK ops from its per-op profiler (1 us resolution) inside {delegate_calls} delegate calls per inference"
        if per_op
        else f"XNNPACK as one event per delegate call ({delegate_calls} per inference; no per-op profiler in this runtime)"
    )
    return (
        f"{xnn}; '(portable)' = ExecuTorch portable kernels outside XNNPACK; times with ETDump on "
        "(compare total_ms with latency_ms.p50); calls = repetitions x occurrences per inference"
    )


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:160]


def render_per_op(path: str, per_op: dict, top: int = 8) -> list[str]:
    """report.md lines for one artifact's breakdown: the `top` events by share, then the rest
    as one row (all of them stay in report.json)."""
    if "error" in per_op:
        return ["", f"Per-op breakdown of `{path}` failed: {per_op['error']}"]
    events = per_op["events"]
    lines = [
        "",
        f"### Per-op breakdown of `{path}` (ETDump, median {per_op['total_ms']:.3f} ms per inference)",
        "",
        "| event | calls | median ms | p90 ms | share |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {e['name']} | {e['calls']} | {e['median_ms']:.4f} | {e['p90_ms']:.4f} | {100 * e['share']:.1f}% |"
        for e in events[:top]
    ]
    if rest := events[top:]:
        lines.append(
            f"| {len(rest)} more | {sum(e['calls'] for e in rest)} | | | {100 * sum(e['share'] for e in rest):.1f}% |"
        )
    return lines + ["", per_op["note"] + "."]
