"""Child of edgesdk.converters.guard: reads artifact paths (JSON lines) on stdin, loads each in
its runtime and runs it once on a dummy input (a staged artifact: every method), answers
{"error": null | "one line"} per path. A crash here is what the parent is there to catch."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from edgesdk.converters.bundle import BundleInfo, open_session
from edgesdk.converters.registry import backend_for_path, check_artifact_file
from edgesdk.converters.staged_plan import is_staged

from edgesdk.errors import EdgeSDKError
from edgesdk.tokenizer import load_artifact_tokenizer


def dummy_batch(tokenizer, length: int, tokens: int) -> tuple[np.ndarray, np.ndarray]:
    """The artifact's own [CLS] [SEP] and padding ids (a pruned vocabulary renumbers them, and a
    small one may not reach BERT's 101/102), the first `tokens` of `length` positions unmasked."""
    ids, _ = tokenizer.pad(tokenizer.encode([""], length), length)
    mask = np.zeros((1, length), dtype=np.int32)
    mask[0, :tokens] = 1
    return ids, mask


def every_stage_logits(controller, tokenizer) -> list[np.ndarray]:
    """Logits of every stage of every bucket of a staged artifact. eval and the profilers reach
    a bucket by sentence length and a later stage only when an exit is unsure, so a method this
    probe skipped would first run, and could crash, in the caller's process."""
    longest = controller.plan.buckets[-1]
    return [
        logits
        for bucket in controller.plan.buckets
        for _, _, logits in controller.stage_logits(*dummy_batch(tokenizer, longest, bucket))
    ]


def try_artifact(path: Path) -> None:
    backend = backend_for_path(path)
    check_artifact_file(path, backend)
    info = BundleInfo.read(path.parent)
    tokenizer = load_artifact_tokenizer(path.parent)
    session = open_session(path, backend, 1)
    if is_staged(path):
        outputs = every_stage_logits(session.controller, tokenizer)
    else:
        outputs = [session.run(*dummy_batch(tokenizer, info.seq_len, 2))]
    for logits in outputs:
        if np.asarray(logits).shape[-1] != len(info.labels.names):
            raise ValueError(f"outputs {np.asarray(logits).shape[-1]} scores for {len(info.labels.names)} labels")


def main() -> int:
    import os

    # Runtimes log to stdout; the answers get their own copy of it and fd 1 goes to stderr.
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    for line in sys.stdin:
        path = Path(json.loads(line))
        try:
            try_artifact(path)
            error = None
        except EdgeSDKError as exc:
            error = str(exc)
        except Exception as exc:  # noqa: BLE001 - any runtime error is a verdict on the file
            detail = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
            error = f"{path} cannot be run: {detail}; the file is corrupt or not from edgesdk"
        answers.write(json.dumps({"error": error}) + "\n")
        answers.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
