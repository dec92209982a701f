"""`edgesdk build --nproc N`: the same command again under torchrun, N processes on this machine.

torchrun (torch.distributed.run, `--standalone`) starts the processes and the rendezvous; each
runs `edgesdk.cli build` with the same arguments and joins the group (edgesdk/distributed.py).
This launcher streams their output and replaces torchrun's own failure report (an agent log and
a traceback per run) with the one line the CLI promises: which rank failed and how to resume.
Several machines: run torchrun yourself with its rendezvous flags (docs/scale.md).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from edgesdk.distributed import PEER_STOPPED
from edgesdk.errors import EdgeSDKError, RecipeError
from edgesdk.train import available_cores

ERRORS_ENV = "EDGESDK_RANK_ERRORS"  # a file the ranks write their one-line EdgeSDKError to
AGENT_LINE = re.compile(r"torch[./]distributed[./](elastic|run)|^\s*(Traceback|=+$|\[\d+\]:|.*ChildFailedError)")
FAILED_RANK = re.compile(r"rank\s*:\s*(\d+).*?exitcode\s*:\s*(-?\d+)", re.S)


class TrainingProcessFailed(EdgeSDKError):
    pass


@dataclass(frozen=True)
class Launch:
    nproc: int
    argv: Sequence[str]  # the build command's arguments without --nproc

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc-per-node={self.nproc}",
            "-m",
            "edgesdk.cli",
            *self.argv,
        ]


def check_nproc(nproc: int) -> None:
    cores = available_cores()
    if nproc > cores:
        raise RecipeError(f"--nproc {nproc} is more processes than this machine's {cores} cores; use --nproc {cores}")


def without_nproc(argv: Sequence[str]) -> list[str]:
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            out.append(arg)
    return out


def run(launch: Launch, errors: Path) -> None:
    """Run the processes; raise one EdgeSDKError line when they fail."""
    errors.unlink(missing_ok=True)
    env = {**os.environ, ERRORS_ENV: str(errors)}
    proc = subprocess.Popen(launch.command(), env=env, stderr=subprocess.PIPE, text=True, errors="replace")
    agent: list[str] = []
    for line in proc.stderr:
        if agent or AGENT_LINE.search(line):
            agent.append(line)  # torchrun's own report, from the first line of it on
        else:
            sys.stderr.write(line)
    code = proc.wait()
    if code == 0:
        return
    told = errors.read_text(encoding="utf-8").strip().splitlines() if errors.exists() else []
    if told and not told[0].startswith(PEER_STOPPED):  # a rank's own error (bad input every rank finds alike)
        raise EdgeSDKError(told[0])
    report = "".join(agent)
    failed = FAILED_RANK.search(report[report.find("Root Cause") :] if "Root Cause" in report else report)
    who = f"torchrun exited {code}"
    if failed:
        rank, exit_code = failed.group(1), int(failed.group(2))
        how = f"was killed by {signal.Signals(-exit_code).name}" if exit_code < 0 else f"exited with {exit_code}"
        who = f"training process rank {rank} {how}"
    if not failed and told:  # only a survivor's view of it
        raise EdgeSDKError(told[0])
    raise TrainingProcessFailed(f"{who}; finished steps are kept: run the same command to resume")


def record_error(message: str) -> bool:
    """Inside a launched rank: leave the error line for the launcher instead of printing it."""
    path = os.environ.get(ERRORS_ENV)
    if not path or int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    if os.environ.get("RANK", "0") == "0" or not Path(path).exists():
        Path(path).write_text(message + "\n", encoding="utf-8")
    return True
