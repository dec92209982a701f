"""Opening artifact files that may be corrupt without risking the process that asked.

A native runtime handed a damaged flatbuffer can crash or hang instead of raising, and
`edgesdk eval`/`profile` take files from users. So a file is first checked for structure
here (magic, header offsets and sizes within the file), then loaded and run once on a
dummy input in a child process; a child that dies or hangs becomes one ArtifactError line.
One child serves many files (the fuzz test sends thousands) and is restarted after a crash.
"""

from __future__ import annotations

import json
import os
import select
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

from edgesdk.converters.registry import backend_for_path, check_artifact_file
from edgesdk.converters.tflm_staged import STAGED_MAGIC, unpack_methods

from edgesdk.errors import ArtifactError

PROBE_TIMEOUT_S = 120.0  # per file; loading a real model takes well under a second
_PTE_EXTENDED_HEADER = b"eh00"


def structure_error(path: Path, data: bytes) -> Optional[str]:
    """What is structurally wrong with the file's header, or None: offsets a runtime would
    follow must point inside the file."""
    if len(data) < 16:
        return f"{path} is truncated ({len(data)} bytes)"
    if data[4:8] == STAGED_MAGIC:  # a staged TFLM pack: its index, then each stage's own header
        try:
            stages = unpack_methods(data, path)
        except ArtifactError as exc:
            return str(exc)
        errors = (structure_error(Path(f"{path} stage {name}"), stage) for name, stage in stages.items())
        return next((error for error in errors if error), None)
    root = struct.unpack_from("<I", data, 0)[0]
    if root + 4 > len(data):
        return f"{path} is corrupt (root table offset {root} beyond its {len(data)} bytes)"
    if path.name.endswith(".pte") and data[8:12] == _PTE_EXTENDED_HEADER:
        if len(data) < 40:
            return f"{path} is truncated inside its header"
        header_length, program_size, segment_base = struct.unpack_from("<IQQ", data, 12)
        segment_size = struct.unpack_from("<Q", data, 32)[0] if header_length >= 32 else 0
        if program_size > len(data) or (segment_size and segment_base + segment_size > len(data)):
            return (
                f"{path} is corrupt or truncated (its header declares {max(program_size, segment_base + segment_size):,} "
                f"bytes, the file has {len(data):,})"
            )
    return None


class _Child:
    def __init__(self):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edgesdk.converters.guard_child"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=dict(os.environ, OMP_NUM_THREADS="1"),
        )

    def ask(self, path: Path, timeout_s: float) -> Optional[str]:
        """The child's verdict on one file: None (loads and runs) or the error line."""
        self.proc.stdin.write((json.dumps(str(path)) + "\n").encode())
        self.proc.stdin.flush()
        deadline = time.monotonic() + timeout_s
        line = b""
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.proc.stdout], [], [], left)[0]:
                self.close()
                return f"{path} hung the runtime (no answer in {timeout_s:.0f} s); the file is corrupt"
            chunk = self.proc.stdout.read1(4096)
            if not chunk:
                code = self.proc.wait()
                how = f"signal {-code}" if code < 0 else f"exit {code}"
                return (
                    f"{path} crashed the runtime ({how}) when loaded: the file is corrupt, or holds an op or "
                    "quantization the runtime cannot prepare; rebuild it, and report it with the file if it persists"
                )
            line += chunk
        return json.loads(line)["error"]

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        if self.alive():
            self.proc.kill()
        self.proc.wait()


def probe(paths: Sequence[Path], timeout_s: float = PROBE_TIMEOUT_S) -> list[Optional[str]]:
    """For each file, None if it loads and runs in its runtime, else one line saying why not."""
    verdicts: list[Optional[str]] = []
    child: Optional[_Child] = None
    try:
        for path in paths:
            try:
                error = structure_error(path, path.read_bytes())
            except OSError as exc:
                error = f"cannot read {path}: {exc.strerror}"
            if error is None:
                if child is None or not child.alive():
                    child = _Child()
                error = child.ask(path, timeout_s)
            verdicts.append(error)
    finally:
        if child is not None:
            child.proc.stdin.close()
            child.close()
    return verdicts


def check_loads(path: Path) -> None:
    """Raise ArtifactError unless `path` loads and runs once without harming this process."""

    check_artifact_file(path, backend_for_path(path))  # wrong path or type: no child needed
    error = probe([path])[0]
    if error is not None:
        raise ArtifactError(error)
