"""The MCU package's own checks: what the shipped C code does, compared with Python.

host_tokenizer: the project's C tokenizer compiled with the host gcc, its ids against edgesdk's
Tokenizer on every check text, and the compiled label strings against the bundle's (proves
the C escaping byte for byte). device: the project built by its own Makefile (linking the
cached TFLM library of targets/cortex_m, the same sources and flags the Makefile would
compile) and run under qemu-system-arm; the ids it tokenized on the device and its labels
against Python's tokenizer and the tflite-micro Python interpreter on the same artifact. The
same run counts instructions exactly (qemu plugin) for each sentence's tokenization and its
Invoke, which is the profiler's Invoke-only figure completed with the on-device tokenizer.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np
from edgesdk.apps.mcu_project import HOST_DRIVER
from edgesdk.converters.bundle import open_artifact
from edgesdk.converters.staged_plan import StagedPlan, is_staged
from edgesdk.targets.cortex_m.boards import Board
from edgesdk.targets.cortex_m.firmware import image_size
from edgesdk.targets.cortex_m.library import ensure_library
from edgesdk.targets.cortex_m.mcu_profiler import instruction_stats, latency_estimate
from edgesdk.targets.cortex_m.qemu import run_firmware
from edgesdk.targets.cortex_m.toolchain import Toolchain
from edgesdk.targets.registry import TargetSpec

from edgesdk.errors import EdgeSDKError, PackageError
from edgesdk.tokenizer import Tokenizer

HOST_SOURCES = (HOST_DRIVER, "src/wordpiece.c", "src/tokenizer_tables.c", "src/labels.c")
MAKE_TIMEOUT_S = 1800
NEVER_EXIT = "-DEDGESDK_NEVER_EXIT"  # staged_classifier.cc: run every stage (the no-exit baseline)
_IDS = re.compile(r"^EDGESDK ids (\d+):((?: -?\d+)*)$")
_EXIT = re.compile(r"^EDGESDK exit (\d+): (-?\d+) (-?\d+) (-?\d+)$")


def _tail(text: str) -> str:
    return (text.strip().splitlines() or ["no output"])[-1][:240]


def compile_host_tokenizer(root: Path, exe: Path, host_cc: str = "gcc") -> Path:
    """root/src + root/host -> a host executable (warnings are errors: the C must be clean)."""
    cmd = [host_cc, "-O2", "-std=c99", "-Wall", "-Wextra", "-Werror", f"-I{root / 'src'}"]
    proc = subprocess.run(
        [*cmd, *(str(root / s) for s in HOST_SOURCES), "-o", str(exe)], capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise PackageError(f"the C tokenizer does not compile with {host_cc}: {_tail(proc.stderr)}")
    return exe


def host_token_ids(exe: Path, texts: Sequence[str], max_length: int) -> list[list[int]]:
    """Token ids from the compiled C tokenizer (texts framed as `<bytes>\\n<text>`)."""
    framed = b"".join(b"%d\n" % len(t.encode("utf-8")) + t.encode("utf-8") for t in texts)
    proc = subprocess.run([str(exe), str(max_length)], input=framed, capture_output=True, timeout=600)
    if proc.returncode != 0:
        raise PackageError(
            f"the host tokenizer exited {proc.returncode}: {_tail(proc.stderr.decode(errors='replace'))}"
        )
    return [[int(v) for v in line.split()] for line in proc.stdout.decode().splitlines()]


def host_labels(exe: Path) -> list[str]:
    out = subprocess.run([str(exe), "--labels"], capture_output=True, check=True, timeout=60).stdout
    return [part.decode("utf-8") for part in out.split(b"\0")[:-1]]


def check_host_tokenizer(
    root: Path, tokenizer: Tokenizer, texts: Sequence[str], max_length: int, labels: Sequence[str], host_cc: str
) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        exe = compile_host_tokenizer(root, Path(tmp) / "tokenize_host", host_cc)
        got, compiled_labels = host_token_ids(exe, texts, max_length), host_labels(exe)
    want = tokenizer.encode(list(texts), max_length)
    matched = sum(int(a == b) for a, b in zip(got, want))
    ok = len(got) == len(texts) and matched == len(texts) and compiled_labels == list(labels)
    return {
        "ok": ok,
        "texts": len(texts),
        "token_ids_match": matched,
        "labels_escaped": compiled_labels == list(labels),
    }


def build_firmware(root: Path, build: Path, library: Path, defines: str = "") -> Path:
    """`make` in the project with the prebuilt TFLM library; one line on failure."""
    cmd = ["make", "-C", str(root), "-j2", f"BUILD={build}", f"TFLM_LIB={library}", f"EXTRA_DEFINES={defines}", "all"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=MAKE_TIMEOUT_S)
    if proc.returncode != 0:
        error = next((ln for ln in proc.stderr.splitlines() if "error" in ln.lower()), _tail(proc.stderr))
        raise PackageError(f"the firmware project does not build: {error.strip()[:240]}")
    return build / "firmware.elf"


def device_ids(stdout: str) -> list[list[int]]:
    rows = {}
    for line in stdout.splitlines():
        if found := _IDS.match(line):
            rows[int(found.group(1))] = [int(v) for v in found.group(2).split()]
    return [rows[i] for i in sorted(rows)]


def device_exits(stdout: str) -> list[tuple[int, int]]:
    """(exit index, bucket) per sentence from a staged firmware's `EDGESDK exit` lines."""
    rows = {}
    for line in stdout.splitlines():
        if found := _EXIT.match(line):
            rows[int(found.group(1))] = (int(found.group(2)), int(found.group(3)))
    return [rows[i] for i in sorted(rows)]


def python_reference(artifact: Path, texts: Sequence[str]) -> tuple[list[list[int]], list[list[int]], list]:
    """(token ids, raw int8 outputs, (exit index, bucket) per text or [] for a single graph)
    from edgesdk's tokenizer and the tflite-micro interpreter; a staged artifact runs through
    the Python exit controller, the reference the C controller must match."""
    loaded = open_artifact(artifact, 1)
    ids = loaded.tokenizer.encode(list(texts), loaded.info.seq_len)
    padded, mask = loaded.tokenizer.pad(ids, loaded.info.seq_len)
    rows = [(padded[i : i + 1], mask[i : i + 1]) for i in range(len(ids))]
    if not is_staged(artifact):
        return ids, [loaded.session.run_quantized(*row).reshape(-1).tolist() for row in rows], []
    outputs, exits = [], []
    for row in rows:
        decision = loaded.session.controller.run_ids(*row)
        outputs.append(loaded.session.controller.runner.last_raw[-1].reshape(-1).tolist())
        exits.append((decision.exit_index, decision.bucket))
    return ids, outputs, exits


def check_device(
    root: Path,
    artifact: Path,
    texts: Sequence[str],
    tools: Toolchain,
    board: Board,
    sources: list[Path],
    arena: int,
    target: TargetSpec,
) -> dict:
    """The project built and run under qemu on `texts`: ids, labels and int8 outputs against
    Python, image sizes, and instructions per sentence for tokenization and for Invoke, with
    the tokenizer's latency estimated from its count as the profiler estimates Invoke's
    (`target`'s CPI and clock), so the two add up to the device's time per sentence."""
    summary = {"ok": False, "texts": len(texts), "machine": f"qemu-system-arm -M {board.machine}", "arena_bytes": arena}
    staged = is_staged(artifact)
    try:
        library = ensure_library(tools, board, sources)
        with tempfile.TemporaryDirectory() as tmp:
            elf = build_firmware(root, Path(tmp) / "build", library)
            run = run_firmware(tools, board, elf)
            size = image_size(tools, elf)
            if staged:  # the same controller with its exits compiled out: the baseline they save against
                never = run_firmware(tools, board, build_firmware(root, Path(tmp) / "never", library, NEVER_EXIT))
    except EdgeSDKError as exc:
        return {**summary, "error": str(exc)[:300]}
    want_ids, want_outputs, want_exits = python_reference(artifact, texts)
    got_ids = device_ids(run.stdout)
    labels = [int(np.argmax(o)) for o in run.outputs]
    exits_ok = True
    if staged:
        got_exits, plan = device_exits(run.stdout), StagedPlan.read(artifact.parent)
        exits_ok = got_exits == want_exits
        summary |= {
            "exit_decisions_match": sum(int(a == b) for a, b in zip(got_exits, want_exits)),
            "exit_histogram": [sum(e == k for e, _ in got_exits) for k in range(len(plan.stage_ends))],
            "invoke_instructions_no_exit": instruction_stats(never.invoke_instructions or [0]),
        }
    tokenize_ms, tokenize_method = latency_estimate(run.tokenize_instructions or [0], target)
    return {
        **summary,
        "ok": len(got_ids) == len(run.outputs) == len(texts) == len(run.tokenize_instructions)
        and got_ids == want_ids
        and exits_ok
        and labels == [int(np.argmax(o)) for o in want_outputs],
        "token_ids_match": sum(int(a == b) for a, b in zip(got_ids, want_ids)),
        "labels_match": sum(int(a == int(np.argmax(b))) for a, b in zip(labels, want_outputs)),
        "outputs_match": sum(int(a == b) for a, b in zip(run.outputs, want_outputs)),
        "flash_bytes": size.flash_bytes,
        "ram_bytes": size.ram_bytes,
        "model_bytes": size.model_bytes,
        "arena_used_bytes": run.arena_used_bytes,
        "stack_bytes": run.stack_high_water_bytes,
        "invoke_instructions_mean": round(float(np.mean(run.invoke_instructions)), 1) if run.invoke_instructions else 0,
        "invoke_instructions": instruction_stats(run.invoke_instructions or [0]),
        "tokenize_instructions": instruction_stats(run.tokenize_instructions or [0]),
        "tokenize_latency_ms": tokenize_ms,
        "tokenize_latency_kind": "estimate",
        "tokenize_latency_method": tokenize_method,
    }
