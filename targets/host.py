"""Host profiler: latency percentiles and peak RSS of a child process running the artifact.

Threads are pinned in both runtimes (ExecuTorch's threadpool defaults to every core), the
child warms up first, then cycles through real dev sentences at batch 1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Sequence

from edgesdk.targets.host_runner import parse_result

from edgesdk.recipe import ProfileConfig

CHILD_TIMEOUT_S = 1800


def profile_host(artifact: Path, texts: Sequence[str], config: ProfileConfig) -> dict:
    """`config.per_op`: also an ETDump per-op breakdown (`result["per_op"]`, .pte only; targets/etdump.py)."""
    with tempfile.TemporaryDirectory() as tmp:
        texts_file = Path(tmp) / "texts.json"
        texts_file.write_text(json.dumps(list(texts)), encoding="utf-8")
        cmd = [
            sys.executable,
            "-m",
            "edgesdk.targets.host_runner",
            str(artifact),
            str(texts_file),
            "--threads",
            str(config.threads),
            "--warmup",
            str(config.warmup),
            "--repetitions",
            str(config.repetitions),
            *(["--per-op"] if config.per_op else []),
        ]
        env = dict(os.environ, OMP_NUM_THREADS=str(config.threads))
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S, env=env)
    result = parse_result(proc, f"profiling {artifact.name}")
    result["target"] = "host"
    return result
