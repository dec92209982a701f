"""Longer corrupt-artifact fuzzing than the test suite's 1,000 cases: mutated .pte/.tflite
files through the guard `edgesdk eval`/`profile` use; prints and writes the outcome counts.

    PYTHONPATH=. .venv/bin/python bench/fuzz.py --cases 5000 --out bench/results
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import shutil
import tempfile
import time
from pathlib import Path

import torch

from edgesdk.converters import get_backend
from edgesdk.converters.bundle import BundleInfo
from edgesdk.converters.guard import probe
from edgesdk.data import LabelMap
from edgesdk.teacher import default_teacher_dir
from edgesdk.tokenizer import Tokenizer
from tests.helpers import MUTATIONS, mutant, tiny_encoder

SEQ_LEN = 16


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=5000, help="per runtime")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args()
    rng = random.Random(args.seed)
    counts: dict = {}
    start = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        model = tiny_encoder(vocab_size=200, hidden=16, heads=2, ffn=32, layers=2).eval()
        example = (torch.ones(1, SEQ_LEN, dtype=torch.int32), torch.ones(1, SEQ_LEN, dtype=torch.int32))
        Tokenizer.from_dir(default_teacher_dir()).save(d)
        BundleInfo(SEQ_LEN, LabelMap(("neg", "pos"))).write(d)
        for name in ("executorch", "litert"):
            backend = get_backend(name)
            data = backend.lower(model, example)
            paths = []
            for i in range(args.cases):
                kind = MUTATIONS[i % len(MUTATIONS)]
                path = d / f"m{i:05d}.{kind}{backend.suffix}"
                path.write_bytes(mutant(data, kind, rng))
                paths.append((path, kind))
            outcome = collections.Counter()
            for (path, kind), verdict in zip(paths, probe([p for p, _ in paths])):
                what = "loads" if verdict is None else "crashed child" if "crashed the runtime" in verdict else "hung child" if "hung" in verdict else "rejected"
                outcome[f"{kind}: {what}"] += 1
                path.unlink()
            counts[name] = dict(sorted(outcome.items()))
        shutil.rmtree(d, ignore_errors=True)
    result = {"cases_per_runtime": args.cases, "seed": args.seed, "seconds": round(time.time() - start, 1),
              "caller_crashes": 0, "outcomes": counts}
    print(f"{'runtime':<12} {'mutation: outcome':<32} count")
    for name, outcome in counts.items():
        for key, n in outcome.items():
            print(f"{name:<12} {key:<32} {n}")
    print(f"caller crashes: 0 (this process survived every case); {result['seconds']} s")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "fuzz.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
