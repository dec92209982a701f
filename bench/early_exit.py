"""Early exit + length buckets vs the fixed-length single graph, measured on the artifacts.

One real `edgesdk build` of the fine-tuned teacher with exit heads after layers 1-5 and
buckets 16/32 (+ the export length 64): it lowers the single-graph artifacts and the staged
ones, verifies both over SST-2 dev and profiles both in the same run with the same
settings (batch 1, every dev sentence once after warm-up, threads pinned), so the latency
ratio staged / single compares like with like. A benchmark, never a test.

    .venv/bin/python bench/early_exit.py [--work DIR] [--cache DIR] [--layers 1,2,3,4,5]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quantization import build  # noqa: E402

DEV_ROWS = 872  # SST-2 dev: profile every sentence once


def variant(layers: list[int], buckets: list[int], training: str, precisions: list[str]) -> dict:
    return {
        "student": {"family": "teacher"},
        "quantize": {"precisions": precisions},
        "exits": {"layers": layers, "buckets": buckets, "training": training},
        "profile": {"repetitions": DEV_ROWS, "warmup": 20},
    }


def rows_of(name: str, report: dict) -> list[dict]:
    arts = [a for a in report["artifacts"] if a["model"] == "student"]
    single = {(a["runtime"], a["precision"]): a for a in arts if not a.get("staged")}
    e = report["exits"]
    rows = []
    for a in arts:
        if not a.get("staged"):
            continue
        base = single[(a["runtime"], a["precision"])]
        stats = e["artifacts"][a["path"]]
        rows.append(
            {
                "variant": name,
                "runtime": a["runtime"],
                "precision": a["precision"],
                "single_accuracy": base["accuracy"],
                "staged_accuracy_no_exit": stats["accuracy_no_exit"],
                "staged_accuracy": a["accuracy"],
                "accuracy_change_pt": round(100 * (a["accuracy"] - stats["accuracy_no_exit"]), 2),
                "avg_layers_fraction": stats["avg_layers_fraction"],
                "single_mean_ms": base["latency_ms"]["mean"],
                "staged_mean_ms": a["latency_ms"]["mean"],
                "speedup_x": round(base["latency_ms"]["mean"] / a["latency_ms"]["mean"], 2),
                "single_p90_ms": base["latency_ms"]["p90"],
                "staged_p90_ms": a["latency_ms"]["p90"],
                "single_bytes": base["size_bytes"],
                "staged_bytes": a["size_bytes"],
                "exit_histogram": stats["exit_histogram"],
                "bucket_usage": stats["bucket_usage"],
                "thresholds": stats["thresholds"],
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("bench/.work/early_exit"))
    parser.add_argument("--cache", type=Path, default=None, help="edgesdk cache dir to share across runs")
    parser.add_argument("--layers", default="1,2,3,4,5")
    parser.add_argument("--buckets", default="16,32")
    parser.add_argument("--training", default="self-distill", choices=["two-stage", "self-distill"])
    parser.add_argument("--precisions", default="fp32", help="comma-separated: staged artifacts per precision")
    parser.add_argument("--json", type=Path, default=Path("bench/results/early_exit_sst2.json"))
    parser.add_argument("--note", default="")
    args = parser.parse_args()
    layers = [int(x) for x in args.layers.split(",")]
    buckets = [int(x) for x in args.buckets.split(",") if x]
    name = f"teacher-exits-{args.training}"
    args.work.mkdir(parents=True, exist_ok=True)
    precisions = args.precisions.split(",")
    out = build(name, variant(layers, buckets, args.training, precisions), args.work, args.cache or args.work / "cache", {})
    report = json.loads((out / "report.json").read_text())
    rows = rows_of(name, report)
    cols = ["runtime", "precision", "staged_accuracy_no_exit", "staged_accuracy", "avg_layers_fraction", "single_mean_ms", "staged_mean_ms", "speedup_x"]
    print(" | ".join(cols))
    for r in rows:
        print(" | ".join(str(r[c]) for c in cols))
    result = {"note": args.note, "calibration": report["exits"]["calibration"], "rows": rows}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
