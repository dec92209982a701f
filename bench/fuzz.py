"""Longer corrupt-artifact fuzzing than the test suite's 1,000 cases: mutated files of every
artifact kind `edgesdk eval`/`profile` open (.pte, .tflite, staged .pte/.tflite, TFLite Micro
.micro.tflite) through the guard those commands use; prints and writes the outcome counts.

    PYTHONPATH=. .venv/bin/python bench/fuzz.py --cases 600 --out bench/results
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import tempfile
import time
from pathlib import Path

from edgesdk.converters.guard import probe

from tests.helpers import ARTIFACT_KINDS, fuzz_seeds, guard_outcome, write_mutants

CHUNK = 200  # mutants on disk at a time (a .micro.tflite is 0.5 MB)


def fuzz_kind(seed: Path, cases: int, work: Path, rng: random.Random) -> dict[str, int]:
    """{"mutation: outcome": count} for `cases` mutants of one seed artifact."""
    outcome: collections.Counter = collections.Counter()
    for start in range(0, cases, CHUNK):
        batch = write_mutants(seed, min(CHUNK, cases - start), work / f"{seed.name}.{start}", rng)
        for (path, mutation), verdict in zip(batch, probe([p for p, _ in batch])):
            outcome[f"{mutation}: {guard_outcome(verdict)}"] += 1
            path.unlink()
    return dict(sorted(outcome.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=600, help="per artifact kind")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args()
    rng = random.Random(args.seed)
    start = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        seeds = fuzz_seeds(Path(tmp) / "seeds")
        sizes = {kind: seeds[kind].stat().st_size for kind in ARTIFACT_KINDS}
        counts = {kind: fuzz_kind(seeds[kind], args.cases, Path(tmp) / "mutants", rng) for kind in ARTIFACT_KINDS}
    result = {
        "cases_per_kind": args.cases,
        "total_cases": args.cases * len(ARTIFACT_KINDS),
        "seed": args.seed,
        "seconds": round(time.time() - start, 1),
        "caller_crashes": 0,  # this process survived every case, or nothing would be written
        "seed_bytes": sizes,
        "outcomes": counts,
    }
    print(f"{'artifact kind':<26} {'mutation: outcome':<32} count")
    for kind, outcome in counts.items():
        for key, n in outcome.items():
            print(f"{kind:<26} {key:<32} {n}")
    print(f"{result['total_cases']} cases, caller crashes: 0; {result['seconds']} s")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "fuzz.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
