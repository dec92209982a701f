"""Cold and warm `edgesdk build` wall time, per step (a benchmark, never a test).

Cold: empty user cache and empty build dir, so the teacher is fine-tuned. Warm: the same
command again, which must reuse every step. Prints a table and writes JSON.

    .venv/bin/python bench/build_time.py [--target host] [--recipe default] [--json bench/results/build_time.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import checkout  # noqa: E402


def run_build(target: str, recipe: str, out: Path, cache: Path, extra: list[str]) -> tuple[float, dict, dict, list]:
    env = dict(os.environ, EDGESDK_CACHE_DIR=str(cache))
    cmd = [
        sys.executable,
        "-m",
        "edgesdk.cli",
        "build",
        "--target",
        target,
        "--recipe",
        recipe,
        "--out",
        str(out),
        *extra,
    ]
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"build failed ({proc.returncode}): {proc.stderr.strip().splitlines()[-1:]}")
    manifest = json.loads((out / "manifest.json").read_text())
    report = json.loads((out / "report.json").read_text())
    cached = [ln.split(":", 1)[1].strip() for ln in proc.stdout.splitlines() if ln.startswith("cached steps:")]
    return (
        wall,
        {k: v["seconds"] for k, v in manifest["steps"].items()},
        report,
        cached[0].split(", ") if cached else [],
    )


def distillation_seconds(report: dict) -> float:
    """Training time of the student's distillation and of every pruning recovery (what the
    15-minute budget of the distillation issue is about), from the report's stage records;
    the rest of those steps (teacher soft labels, augmentation, importance) is in steps_s."""
    records = [report["student"].get("distill") or {}]
    records += [h.get("recovery") or {} for h in (report.get("pruning") or {}).get("history", [])]
    return round(sum(stage["seconds"] for r in records for stage in r.get("stages", [])), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", default="host")
    parser.add_argument("--recipe", default="default")
    parser.add_argument("--json", type=Path, default=Path("bench/results/build_time.json"))
    parser.add_argument("--cache", type=Path, default=None, help="cache dir (default: a fresh temp dir = cold)")
    parser.add_argument(
        "--teacher-from-cache",
        action="store_true",
        help="allow --cache to hold the fine-tuned teacher (e.g. from bench/teacher_recipe.py): the teacher step is "
        "then a cache copy, and the JSON says so; everything else is cold",
    )
    parser.add_argument("--keep", type=Path, default=None, help="build here and keep it (e.g. for bench/peers.py)")
    parser.add_argument("extra", nargs="*", help="further edgesdk build arguments (after --)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out, cache = args.keep or Path(tmp) / "build", args.cache or Path(tmp) / "cache"
        if out.exists():
            sys.exit(f"{out} exists: a cold run needs a new build dir")
        if any(cache.glob("teachers/*")) and not args.teacher_from_cache:
            sys.exit(f"cache {cache} already holds teachers: a cold run needs an empty cache (or --teacher-from-cache)")
        cold_wall, cold_steps, report, _ = run_build(args.target, args.recipe, out, cache, args.extra)
        warm_wall, _, _, warm_cached = run_build(args.target, args.recipe, out, cache, args.extra)
    commit = checkout.commit()
    result = {
        "commit": commit,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "target": args.target,
        "recipe": args.recipe,
        "cold": {"wall_s": round(cold_wall, 1), "steps_s": cold_steps, "teacher": report["teacher"].get("cache")},
        "warm": {"wall_s": round(warm_wall, 1), "cached_steps": warm_cached},
        "teacher_accuracy": report["teacher"]["accuracy"],
        "teacher_validation_accuracy": report["teacher"].get("validation_accuracy"),
        "teacher_train_s": report["teacher"].get("train_seconds"),
        "summary": report["summary"],
        "student_accuracy": report["student"]["accuracy"],
        "distillation_s": distillation_seconds(report),
        "artifacts": [
            {k: a[k] for k in ("path", "model", "runtime", "precision", "accuracy", "agreement", "size_bytes", "latency_ms")}
            for a in report["artifacts"]
        ],
    }
    print(f"{'step':<10} {'cold s':>9} {'warm':>9}")
    for step in cold_steps:
        print(f"{step:<10} {cold_steps[step]:>9.1f} {'cached' if step in warm_cached else 'ran':>9}")
    print(f"{'wall':<10} {cold_wall:>9.1f} {warm_wall:>8.1f}s")
    print(f"distillation training {result['distillation_s']:.1f} s (in the steps above)")
    print(
        f"teacher accuracy {report['teacher']['accuracy']:.4f}; student {report['student']['accuracy']:.4f}; "
        + "; ".join(f"{a['runtime']} {a['accuracy']:.4f}" for a in report["artifacts"])
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
