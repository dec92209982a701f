"""`edgesdk sweep` on SST-2 for one target: the recipe's bundled grid (or --grid) on a local Ray,
then sweep.json / sweep.md / sweep.png copied to bench/results/sweep_<target>.*. A benchmark,
never a test: each variant is a full-size build.

`--from BUILD` seeds the step store with an earlier full build (its teacher, student, pruned
model... are taken wherever a variant's key matches), as a user sweeping around the build they
have would do. The sweep's own time is printed and stored.

    .venv/bin/python bench/sweep.py --target cortex-m7 --recipe mcu --from build/mcu
    .venv/bin/python bench/sweep.py --target android-arm64 --recipe default --from build/default
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import edgesdk

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", required=True)
    ap.add_argument("--recipe", default=None)
    ap.add_argument("--grid", type=Path, default=None)
    ap.add_argument("--from", dest="reuse", type=Path, action="append", default=[])
    ap.add_argument("--out", type=Path, default=None, help="sweep dir (default build/sweep-<recipe>-<target>)")
    ap.add_argument("--results", type=Path, default=ROOT / "bench" / "results")
    args = ap.parse_args()
    start = time.perf_counter()
    sweep = edgesdk.sweep(args.target, args.recipe, args.grid, args.out, reuse=args.reuse)
    seconds = round(time.perf_counter() - start, 1)
    out = Path(sweep["sweep_dir"])
    built = build_seconds(out, sweep["variants"])
    stem = args.results / f"sweep_{sweep['target']}"
    args.results.mkdir(parents=True, exist_ok=True)
    (stem.with_suffix(".json")).write_text(
        json.dumps({**sweep, "seconds": seconds, "build_seconds": built}, indent=1) + "\n"
    )
    for suffix in (".md", ".png"):
        if (out / f"sweep{suffix}").exists():
            shutil.copy2(out / f"sweep{suffix}", stem.with_suffix(suffix))
    print((out / "sweep.md").read_text())
    print(
        f"sweep on {sweep['target']}: {len(sweep['variants'])} variants; this run {seconds:.0f} s, the variants' builds "
        f"{built:.0f} s of steps run (not taken from the step store); best fitting: {sweep['best']}"
    )


def build_seconds(out: Path, rows: list[dict]) -> float:
    """Seconds of the steps the sweep's builds ran themselves (restored and cached steps excluded),
    over every run of the sweep (a resumed one too): what the sweep cost beyond what it reused."""
    total = 0.0
    for row in rows:
        manifest = out / row["build_dir"] / "manifest.json"
        if manifest.exists():
            steps = json.loads(manifest.read_text())["steps"].values()
            total += sum(s.get("seconds", 0.0) for s in steps if "restored" not in s)
    return round(total, 1)


if __name__ == "__main__":
    main()
