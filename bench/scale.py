"""The teacher fine-tune step at 1 vs N training processes (torchrun, data parallel), on this machine.

Each run is a real `edgesdk build` of the default recipe's teacher step on a slice of SST-2
(`--rows`), from its own empty cache so the teacher trains, with everything after the teacher
cut to the minimum (the teacher shipped as is, one fp32 LiteRT artifact). The step's wall time
comes from the build's own record (report.json `steps.teacher.seconds`); the runs alternate, so
drift on a shared machine hits both. On a 2-core CPU two processes share the same two cores:
expect no gain there. It also prints the commands for a GPU machine. A benchmark, never a test.

    .venv/bin/python bench/scale.py [--nproc 2] [--rows 4000] [--rounds 2] [--json bench/results/scale.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

RECIPE = """\
name: scale
teacher: {{max_train_rows: {rows}, validation_rows: 0}}
student: {{family: teacher}}
export: {{seq_len: 64, runtimes: [litert], teacher: false}}
quantize: {{precisions: [fp32]}}
profile: {{repetitions: 5, warmup: 1}}
"""

GPU_COMMANDS = """\
# one GPU (bf16 autocast by default):
edgesdk build --target android --device cuda
# four GPUs on one machine:
edgesdk build --target android --nproc 4
# two machines with four GPUs each (shared filesystem for --out and EDGESDK_CACHE_DIR), on each:
torchrun --nnodes 2 --nproc-per-node 4 --rdzv-backend c10d --rdzv-endpoint HOST0:29500 \\
  -m edgesdk.cli build --target android --out /shared/build"""


def teacher_seconds(nproc: int, recipe: Path, work: Path) -> dict:
    out, cache = work / f"out{nproc}", work / f"cache{nproc}"
    env = {**os.environ, "EDGESDK_CACHE_DIR": str(cache)}
    cmd = [sys.executable, "-m", "edgesdk.cli", "build", "--target", "host", "--recipe", str(recipe)]
    cmd += ["--out", str(out), "--nproc", str(nproc)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if proc.returncode:
        raise SystemExit(f"--nproc {nproc} failed:\n{proc.stderr[-2000:]}")
    report = json.loads((out / "report.json").read_text())
    return {
        "seconds": report["steps"]["teacher"]["seconds"],
        "steps": report["teacher"]["steps"],
        "final_loss": report["teacher"]["final_loss"],
        "accuracy": report["teacher"]["accuracy"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--rows", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "scale.json")
    args = parser.parse_args()
    runs: dict[int, list[dict]] = {1: [], args.nproc: []}
    with tempfile.TemporaryDirectory() as tmp:
        recipe = Path(tmp) / "scale.yaml"
        recipe.write_text(RECIPE.format(rows=args.rows))
        for r in range(args.rounds):
            for nproc in ([1, args.nproc] if r % 2 == 0 else [args.nproc, 1]):
                work = Path(tmp) / f"round{r}"
                runs[nproc].append(teacher_seconds(nproc, recipe, work))
    rows = []
    for nproc, results in runs.items():
        seconds = statistics.median(x["seconds"] for x in results)
        rows.append({"nproc": nproc, "teacher_seconds_median": seconds, "runs": results})
    base = rows[0]["teacher_seconds_median"]
    print("| processes | teacher step s (median) | vs 1 process | optimizer steps | final loss | dev acc |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        last = row["runs"][-1]
        print(
            f"| {row['nproc']} | {row['teacher_seconds_median']:.1f} | {base / row['teacher_seconds_median']:.2f}x | "
            f"{last['steps']} | {last['final_loss']:.4f} | {last['accuracy']:.4f} |"
        )
    print("\nOn a GPU machine:\n" + GPU_COMMANDS)
    machine = {"cpus": os.cpu_count(), "affinity": len(os.sched_getaffinity(0)), "loadavg": os.getloadavg()}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    payload = {"rows_trained": args.rows, "rounds": args.rounds, "machine": machine, "results": rows}
    args.json.write_text(json.dumps(payload, indent=1) + "\n")


if __name__ == "__main__":
    main()
