"""Interleaved A/B latency of artifact pairs: A, B, A, B, ... in child processes, same settings.

Builds profiled minutes apart on a shared machine can differ by 2x for the same file; the
ratio of two artifacts is only meaningful when they alternate in one run. Each pair is given
as A=B (paths to artifacts inside their build dirs); every round profiles A then B (batch 1,
real dev sentences, threads pinned) and the ratio is the median over rounds of p50(A)/p50(B).
A benchmark, never a test.

    .venv/bin/python bench/ab_profile.py base/artifacts/model.pte=pruned/artifacts/model.pte ... [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pairs", nargs="+", help="A=B artifact paths")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repetitions", type=int, default=300)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=Path("bench/results/ab_profile.json"))
    parser.add_argument("--note", default="")
    args = parser.parse_args()

    import edgesdk
    from edgesdk.recipe import ProfileConfig
    from edgesdk.task import load_task

    config = ProfileConfig(threads=args.threads, warmup=20, repetitions=args.repetitions)
    rows = []
    for pair in args.pairs:
        a, b = (Path(p) for p in pair.split("=", 1))
        build_dir = next(p for p in a.parents if (p / "recipe.yaml").exists())  # artifacts/[teacher/]file
        recipe = edgesdk.load_recipe(str(build_dir / "recipe.yaml"))
        texts = load_task(recipe.data, recipe.seed, {}).dev.texts
        p50 = {"a": [], "b": []}
        for _ in range(args.rounds):
            for key, path in (("a", a), ("b", b)):
                p50[key].append(edgesdk.profile(path, "host", texts, config=config)["latency_ms"]["p50"])
        row = {
            "a": str(a),
            "b": str(b),
            "a_p50_ms": statistics.median(p50["a"]),
            "b_p50_ms": statistics.median(p50["b"]),
            "a_over_b": round(statistics.median(x / y for x, y in zip(p50["a"], p50["b"])), 3),
            "a_bytes": a.stat().st_size,
            "b_bytes": b.stat().st_size,
            "rounds": args.rounds,
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"note": args.note, "threads": args.threads, "rows": rows}, indent=1) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
