"""Interrupting a real `edgesdk` process and reading what it left behind.

Shared by the interruption tests (fixed kill points, tests/edgesdk/test_cli.py) and
bench/interrupt.py (many random ones): a kill point is a line the build prints (a step's start
or a progress line inside it) plus a delay, and a signal, SIGINT as a user's Ctrl-C or SIGKILL as
the OOM killer or a CI timeout. A cheap one: a command reading its data from a named pipe,
signalled while it waits for the first byte (`interrupt_while_reading`).
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from edgesdk.manifest import MANIFEST_FILE, hash_output


@dataclass(frozen=True)
class Interruption:
    signalled: bool  # the marker showed and the build was still running when the signal went
    returncode: int
    stderr: str  # everything the build printed on stderr


def interrupt_build(
    cmd: list[str], marker: str, sig: int, delay_s: float = 0.0, timeout_s: float = 900
) -> Interruption:
    """Run `cmd`; `delay_s` after its stderr shows a line containing `marker`, send `sig`."""
    proc = _start(cmd, subprocess.PIPE)
    watchdog = threading.Timer(timeout_s, proc.kill)  # a build that hangs must not hang the caller
    watchdog.start()
    try:
        seen = []
        for line in proc.stderr:
            seen.append(line)
            if marker in line:
                break
        signalled = False
        if seen and marker in seen[-1]:
            time.sleep(delay_s)
            signalled = proc.poll() is None
            if signalled:
                proc.send_signal(sig)
        seen.append(proc.stderr.read())
        return Interruption(signalled, proc.wait(), "".join(seen))
    finally:
        watchdog.cancel()


def interrupt_while_reading(cmd: list[str], fifo: Path, timeout_s: float = 300) -> Interruption:
    """Run `cmd`, which reads the named pipe `fifo`; once it has opened it and waits for the
    first byte, send SIGINT: a Ctrl-C at a known point, with no build to wait for."""
    with tempfile.TemporaryFile("w+") as err:  # a file, not a pipe: a chatty child never blocks on it
        proc = _start(cmd, err)
        deadline = time.monotonic() + timeout_s
        writer = None
        while writer is None and proc.poll() is None and time.monotonic() < deadline:
            try:  # succeeds once the command has the pipe open for reading
                writer = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as exc:
                if exc.errno != errno.ENXIO:
                    raise
                time.sleep(0.05)
        try:
            if writer is not None:
                proc.send_signal(signal.SIGINT)
            returncode = proc.wait(timeout=timeout_s)
        finally:
            if proc.poll() is None:  # a command that hangs must not hang the caller
                proc.kill()
            if writer is not None:
                os.close(writer)
        err.seek(0)
        return Interruption(writer is not None, returncode, err.read())


def _start(cmd: list[str], stderr) -> subprocess.Popen:
    return subprocess.Popen(
        cmd,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
        text=True,
        env=dict(os.environ),
        # A shell's background jobs inherit SIGINT ignored; a user's Ctrl-C is not.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def exited_as_interrupted(sig: int, run: Interruption) -> bool:
    """SIGKILL: killed. SIGINT: exactly one 'interrupted:' line, no traceback, exit 130 (from
    the `edgesdk` script and `python -m edgesdk.cli` alike; edgesdk.cli.exit_interrupted)."""
    if sig == signal.SIGKILL:
        return run.returncode == -signal.SIGKILL
    said = [line for line in run.stderr.splitlines() if line.startswith("interrupted:")]
    return len(said) == 1 and "Traceback" not in run.stderr and run.returncode == 130


def recorded_steps(out: Path) -> dict:
    """The steps the build dir's manifest records as finished ({} before the first)."""
    path = out / MANIFEST_FILE
    return json.loads(path.read_text())["steps"] if path.exists() else {}


def damaged_outputs(out: Path, steps: dict) -> list[str]:
    """Outputs of recorded steps whose content is not what the manifest recorded: a finished
    step's work lost, or a half-written file the cache would trust."""
    return [
        rel
        for entry in steps.values()
        for rel, digest in entry["outputs"].items()
        if not (out / rel).exists() or hash_output(out / rel) != digest
    ]


def hidden_entries(out: Path) -> list[Path]:
    """Hidden files and dirs in a build dir: a finished build has none, so any is a leftover
    temp file of a killed writer."""
    return sorted(out.rglob(".*"))


def last_step(stderr: str) -> str:
    """The step a build was in when it stopped: the last '> step NAME' line it printed."""
    steps = [line.split()[2].rstrip(":") for line in stderr.splitlines() if line.startswith("> step ")]
    return steps[-1] if steps else "before data"
