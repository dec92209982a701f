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

The ETDump is read here (`read_profile_events`), not by `executorch.devtools.Inspector`:
importing the Inspector imports the whole ExecuTorch compiler (~15 s on 2 cores), paid by
every profiled .pte in its own child process, for a file whose profile events are eight
fields of one flatbuffer table. The reader groups and times events as the Inspector does
(tests/targets/test_etdump.py compares the two on a real ETDump).
"""

from __future__ import annotations

import re
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from edgesdk.converters.executorch import runtime, set_threads
from edgesdk.converters.staged_plan import is_staged

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

    if artifact.suffix != ".pte":
        raise ArtifactError(f"per-op breakdown needs an ExecuTorch .pte artifact, not {artifact.name}")
    if is_staged(artifact):
        raise ArtifactError(f"per-op breakdown covers single-graph .pte artifacts, not the staged {artifact.name}")
    if repetitions < 1:
        raise TargetError("per-op breakdown needs at least one repetition")
    events = read_profile_events(record_etdump(artifact, ids, mask, threads, warmup + repetitions))
    if not any(e.name == EXECUTE for e in events):
        raise TargetError("this executorch wheel records no profiling events (built without its event tracer)")
    return _summarise(events, warmup, repetitions)


def record_etdump(artifact: Path, ids, mask, threads: int, n_runs: int) -> bytes:
    """The ETDump of `n_runs` batch-1 runs cycling through the rows of ids/mask."""
    import torch

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
        return etdump.read_bytes()


@dataclass(frozen=True)
class ProfileEvent:
    """One profiled event across the runs of its block: what the Inspector's Event holds
    that a breakdown needs (its name, is_delegated_op and perf_data.raw)."""

    name: str
    is_delegated_op: bool
    raw: list[float]  # ms, one per run of the event's block


# vtable slots of the fields read (etdump_schema_flatcc.fbs: slot = 4 + 2 x field index)
_RUN_DATA, _RUN_NAME, _RUN_INPUT_INDEX, _RUN_EVENTS = 6, 4, 6, 10  # ETDump.run_data; RunData.*
_PROFILE_EVENT = 4  # Event.profile_event
_P_NAME, _P_INSTRUCTION, _P_DELEGATE_INT, _P_DELEGATE_STR, _P_START, _P_END = 4, 8, 10, 12, 16, 18
_NS_PER_MS = 1e6  # the runtime's default clock gives nanoseconds
_UINT32_MAX = 2**32 - 1


def read_profile_events(data: bytes) -> list[ProfileEvent]:
    """The profile events of a size-prefixed ETDump, grouped as the Inspector groups them:
    runs (one per `execute`, plus load-time blocks) with the same sequence of event
    signatures form one block; within a block each signature's durations, one per run, are
    `raw` in ms. A delegated event is named by its delegate debug id."""
    from flatbuffers import number_types as nt
    from flatbuffers.table import Table

    buf = bytearray(data)
    if bytes(buf[8:12]) != b"ED00":  # after the size prefix and root offset
        raise ArtifactError("the runtime wrote no readable ETDump (no ED00 identifier)")

    def field(tab: Table, slot: int, flags, default):
        o = tab.Offset(slot)
        return tab.Get(flags, tab.Pos + o) if o else default

    def string(tab: Table, slot: int) -> str:
        o = tab.Offset(slot)
        return tab.String(tab.Pos + o).decode("utf-8") if o else ""

    def tables(tab: Table, slot: int) -> list[Table]:
        o = tab.Offset(slot)
        if not o:
            return []
        start = tab.Vector(o)
        return [Table(buf, tab.Indirect(start + 4 * i)) for i in range(tab.VectorLen(o))]

    def child(tab: Table, slot: int) -> Table | None:
        o = tab.Offset(slot)
        return Table(buf, tab.Indirect(tab.Pos + o)) if o else None

    root = Table(buf, 4 + int.from_bytes(buf[4:8], "little"))  # after the 4-byte size prefix
    blocks: dict[tuple, dict[tuple, list[float]]] = {}
    for run in tables(root, _RUN_DATA):
        durations: dict[tuple, float] = {}  # signature -> ms; a repeat in one run keeps the last, as the Inspector
        for event in tables(run, _RUN_EVENTS):
            if (p := child(event, _PROFILE_EVENT)) is None:
                continue
            delegate_int, delegate_str = field(p, _P_DELEGATE_INT, nt.Int32Flags, -1), string(p, _P_DELEGATE_STR)
            # the Inspector's key has no chain index
            signature = (field(p, _P_INSTRUCTION, nt.Int32Flags, -1), string(p, _P_NAME), delegate_int, delegate_str)
            start, end = field(p, _P_START, nt.Uint64Flags, 0), field(p, _P_END, nt.Uint64Flags, 0)
            if delegate_int != -1 or delegate_str:  # the Inspector scales a delegate's stamps, then subtracts
                durations[signature] = _elapsed(start / _NS_PER_MS, end / _NS_PER_MS)
            else:
                durations[signature] = float(_elapsed(start, end)) / _NS_PER_MS
        block_key = (string(run, _RUN_NAME), field(run, _RUN_INPUT_INDEX, nt.Int32Flags, -1), tuple(durations))
        block = blocks.setdefault(block_key, {})
        for signature, ms in durations.items():
            block.setdefault(signature, []).append(ms)
    events = []
    for block in blocks.values():
        for (_, name, delegate_int, delegate_str), raw in block.items():
            delegate = delegate_int if delegate_int != -1 else (delegate_str or None)
            events.append(ProfileEvent(name if delegate is None else str(delegate), delegate is not None, raw))
    return events


def _elapsed(start, end):
    return end - start if start <= end else (_UINT32_MAX - start) + end  # a 32-bit clock wrapped


def _summarise(events: list, warmup: int, repetitions: int) -> dict:
    n_runs = warmup + repetitions
    per_run: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(repetitions))
    occurrences: dict[str, int] = defaultdict(int)
    totals = {k: np.zeros(repetitions) for k in (EXECUTE, DELEGATE_CALL, "delegated ops", "kernels")}
    counts = defaultdict(int)
    for event in events:
        raw = event.raw
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
