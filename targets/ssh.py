"""Linux board profiler over ssh: copy the artifact, a self-contained runner and the token
ids to the board, run it there with the board's runtime, read back latency and peak RSS.

The board is named by environment variables, so no secret ends up in a recipe:
EDGESDK_SSH (user@host or host), EDGESDK_SSH_PORT (22), EDGESDK_SSH_KEY (identity file),
EDGESDK_SSH_PYTHON (python3 on the board, with numpy and ai_edge_litert/tflite_runtime or
executorch), EDGESDK_SSH_KNOWN_HOSTS (known_hosts file; default ssh's own). ssh runs in batch
mode: a password prompt is an error, never a hang.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from edgesdk.converters.bundle import open_artifact
from edgesdk.converters.staged_plan import is_staged
from edgesdk.targets.host_runner import parse_result

from edgesdk.errors import TargetError
from edgesdk.recipe import ProfileConfig

RUNNER = Path(__file__).with_name("board_runner.py")
RUNTIME = Path(__file__).with_name("board_runtime.py")  # imported by the runner
SSH_TIMEOUT_S = 30
RUN_TIMEOUT_S = 1800


@dataclass(frozen=True)
class SshBoard:
    destination: str
    port: int = 22
    key: Optional[str] = None
    python: str = "python3"
    known_hosts: Optional[str] = None

    @classmethod
    def from_env(cls, destination: Optional[str] = None) -> Optional["SshBoard"]:
        """The board at `destination` (a target's `address`) or EDGESDK_SSH; port, key and
        python from the environment."""
        destination = destination or os.environ.get("EDGESDK_SSH")
        if not destination:
            return None
        port = os.environ.get("EDGESDK_SSH_PORT", "22")
        if not port.isdigit():
            raise TargetError(f"EDGESDK_SSH_PORT={port!r} is not a port number")
        return cls(
            destination,
            int(port),
            os.environ.get("EDGESDK_SSH_KEY"),
            os.environ.get("EDGESDK_SSH_PYTHON", "python3"),
            os.environ.get("EDGESDK_SSH_KNOWN_HOSTS"),
        )

    def _options(self) -> list[str]:
        opts = ["-p", str(self.port), "-o", "BatchMode=yes", "-o", "ConnectTimeout=10"]
        opts += ["-o", "StrictHostKeyChecking=accept-new"]
        if self.known_hosts:
            opts += ["-o", f"UserKnownHostsFile={self.known_hosts}"]
        if self.key:
            opts += ["-i", self.key]
        return opts

    def _check(self, proc: subprocess.CompletedProcess, what: str) -> subprocess.CompletedProcess:
        if proc.returncode == 255 or (what != "run" and proc.returncode != 0):
            tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise TargetError(
                f"cannot reach {self.destination}:{self.port} over ssh ({what}): {tail[:200]}; "
                "check EDGESDK_SSH, EDGESDK_SSH_PORT and EDGESDK_SSH_KEY"
            )
        return proc

    def run(
        self, command: str, timeout: float = SSH_TIMEOUT_S, what: str = "command", stdin: bytes = b""
    ) -> subprocess.CompletedProcess:
        cmd = ["ssh", *self._options(), self.destination, command]
        try:
            proc = subprocess.run(cmd, input=stdin, capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise TargetError(f"ssh to {self.destination} timed out after {timeout:.0f} s ({what})") from None
        out, err = proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace")
        return self._check(subprocess.CompletedProcess(proc.args, proc.returncode, out, err), what)

    def copy(self, files: Sequence[Path], remote_dir: str) -> None:
        """Each file through ssh's stdin (`cat >`): works without scp or an sftp subsystem."""
        for path in files:
            target = shlex.quote(f"{remote_dir}/{path.name}")
            self.run(f"cat > {target}", timeout=RUN_TIMEOUT_S, what=f"copy {path.name}", stdin=path.read_bytes())


def board_or_error(destination: Optional[str] = None) -> SshBoard:
    board = SshBoard.from_env(destination)
    if board is None:
        raise TargetError("no board to profile on: set EDGESDK_SSH=user@host (and EDGESDK_SSH_KEY, EDGESDK_SSH_PORT)")
    return board


def profile_ssh(artifact: Path, texts: Sequence[str], config: ProfileConfig, destination: Optional[str] = None) -> dict:
    import numpy as np

    if is_staged(artifact):
        raise TargetError(f"{artifact.name} is staged (early exit): the ssh runner measures single graphs")
    board = board_or_error(destination)
    loaded = open_artifact(artifact, 1)  # the bundle's tokenizer and length: the board gets ids
    ids, mask = loaded.encode(list(texts))
    remote = board.run("mktemp -d", what="mktemp").stdout.strip()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            inputs = Path(tmp) / "inputs.npz"
            np.savez(inputs, ids=ids, mask=mask)
            board.copy([artifact, RUNNER, RUNTIME, inputs], remote)
        q = shlex.quote
        command = (
            f"cd {q(remote)} && {q(board.python)} board_runner.py {q(artifact.name)} inputs.npz "
            f"--threads {config.threads} --warmup {config.warmup} --repetitions {config.repetitions}"
        )
        proc = board.run(command, timeout=RUN_TIMEOUT_S, what="run")
    finally:
        board.run(f"rm -rf {shlex.quote(remote)}", what="cleanup")
    return {
        **parse_result(proc, f"profiling {artifact.name} on {board.destination}"),
        "runtime": loaded.backend.name,
        "size_bytes": artifact.stat().st_size,
        "target": f"ssh:{board.destination}",
        "method": "measured",
    }
