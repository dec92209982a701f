"""Pruning measured on the artifacts (SST-2 dev): structured pruning and vocabulary pruning.

Each variant is a real `edgesdk build`. Structured variants prune the fine-tuned teacher
(`student.family: teacher` + `prune:`), so one build holds the pruned model's artifacts
beside the unpruned teacher's, lowered, verified and profiled in the same run: size and
latency ratios come from one machine state. The vocabulary variant prunes the word table of
the enc4x128 student and is compared with the unpruned enc4x128 build (--work may hold it;
copying a finished build dir there reuses its teacher and student steps). A benchmark,
never a test.

    .venv/bin/python bench/pruning.py [--only teacher-h50-f40,enc4x128-vocab] [--work DIR] [--cache DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quantization import build  # noqa: E402
from students import ENC  # noqa: E402

TEACHER = {"student": {"family": "teacher"}, "profile": {"repetitions": 100}}
STUDENT = {
    "student": ENC,
    "export": {"runtimes": ["executorch", "litert", "tflm"]},
    "quantize": {"precisions": ["fp32", "int8"]},
    "profile": {"repetitions": 100},
}
H50_F40 = {"heads": 0.5, "ffn": 0.4, "iterations": 2, "recovery_epochs": 1.0}
VARIANTS = {
    "teacher-h50-f40": {**TEACHER, "prune": H50_F40},
    "enc4x128": STUDENT,
    "enc4x128-vocab": {**STUDENT, "prune": {"vocab": "train"}},
    # composition: prune -> distil -> PTQ int8 vs prune -> distil -> QAT int8, in one build
    "enc4x128-h50-f40": {
        **STUDENT,
        "prune": H50_F40,
        "quantize": {"precisions": ["fp32", "int8", "int8-qat"], "qat_steps": 300},
    },
    "enc4x128-share-all": {**STUDENT, "prune": {"share_layers": "all"}},
    "enc4x128-emb64": {**STUDENT, "prune": {"embedding_size": 64}},
    "enc4x128-sparse80": {**STUDENT, "prune": {"sparsity": 0.8}},
    "enc4x128-cluster16": {**STUDENT, "prune": {"cluster": 16}},
    # clustered layers and table; the TFLM artifact LUT-compresses the clustered weights
    "enc4x128-cluster16-emb": {
        **STUDENT,
        "prune": {"cluster": 16, "cluster_embeddings": True},
        "quantize": {"precisions": ["fp32", "int8"], "tflm_lut": True},
    },
}
# variant -> the unpruned build it is compared with (structured teacher variants compare
# with the teacher lowered in the same build)
BASELINES = {name: "enc4x128" for name in VARIANTS if name.startswith("enc4x128-")}


def artifact_rows(name: str, report: dict, baseline: dict | None) -> list[dict]:
    """Every artifact of the build; pruned rows carry size/latency ratios against the same
    (runtime, precision) of the unpruned model: the teacher in the same build, or the baseline."""
    arts = report["artifacts"]
    if baseline is not None:
        reference = {(a["runtime"], a["precision"]): a for a in baseline["artifacts"] if a["model"] == "student"}
    else:
        reference = {(a["runtime"], a["precision"]): a for a in arts if a["model"] == "teacher"}
    rows = []
    for a in arts:
        row = {
            "variant": name,
            "model": a["model"],
            "runtime": a["runtime"],
            "precision": a["precision"],
            "accuracy": a["accuracy"],
            "size_bytes": a["size_bytes"],
            "zip_bytes": a.get("zip_bytes"),
            "p50_ms": a["latency_ms"]["p50"],
            "p90_ms": a["latency_ms"]["p90"],
        }
        ref = reference.get((a["runtime"], a["precision"]))
        if a["model"] == "student" and ref is not None:
            row.update(
                {
                    "unpruned_accuracy": ref["accuracy"],
                    "accuracy_change_pt": round(100 * (a["accuracy"] - ref["accuracy"]), 2),
                    "smaller_x": round(ref["size_bytes"] / a["size_bytes"], 2),
                    "faster_x": round(ref["latency_ms"]["p50"] / a["latency_ms"]["p50"], 2),
                }
            )
        rows.append(row)
    return rows


def summary(name: str, report: dict) -> dict:
    p = report["pruning"]
    keys = (
        "heads_total",
        "heads_removed",
        "ffn_total",
        "ffn_removed",
        "heads_per_layer",
        "ffn_per_layer",
        "vocab_before",
        "vocab_after",
        "vocab_dev_prediction_changes",
        "vocab_dev_accuracy_before",
        "vocab_dev_accuracy_after",
        "embedding_bytes_saved_fp32",
    )
    return {
        "variant": name,
        **{k: p[k] for k in keys if k in p},
        "params_before": p["before"]["params"],
        "params_after": p["after"]["params"],
        "teacher_accuracy": report["teacher"]["accuracy"],
        "eager_accuracy": report["student"]["accuracy"],
        "history": p.get("history", []),
        "prune_seconds": report["steps"].get("prune", {}).get("seconds"),
        **{k: p[k] for k in ("share_layers", "embedding_size", "sparsity", "cluster_distinct_values") if k in p},
    }


def print_table(rows: list[dict]) -> None:
    cols = ["variant", "model", "runtime", "precision", "accuracy", "size_bytes", "p50_ms", "accuracy_change_pt", "smaller_x", "faster_x"]
    print(" | ".join(cols))
    for r in rows:
        print(" | ".join(str(r.get(c, "")) for c in cols))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="", help="comma-separated variants (default: all)")
    parser.add_argument("--work", type=Path, default=Path("bench/.work/pruning"))
    parser.add_argument("--cache", type=Path, default=None, help="edgesdk cache dir to share across runs")
    parser.add_argument("--json", type=Path, default=Path("bench/results/pruning_sst2.json"))
    parser.add_argument("--note", default="", help="context for the results table, e.g. machine load")
    args = parser.parse_args()
    names = [n for n in VARIANTS if not args.only or n in args.only.split(",")]
    names = sorted(set(names) | {BASELINES[n] for n in names if n in BASELINES}, key=list(VARIANTS).index)
    args.work.mkdir(parents=True, exist_ok=True)
    cache = args.cache or args.work / "cache"
    reports = {}
    for name in names:
        print(f"== {name}", flush=True)
        out = build(name, VARIANTS[name], args.work, cache, {})
        reports[name] = json.loads((out / "report.json").read_text())
    rows, summaries = [], []
    for name in names:
        if "prune" not in VARIANTS[name]:
            continue
        baseline = reports[BASELINES[name]] if name in BASELINES else None
        rows += artifact_rows(name, reports[name], baseline)
        summaries.append(summary(name, reports[name]))
    print_table(rows)
    # Variants not re-run this time keep their earlier rows (each row says its variant).
    ran = set(names)
    old = json.loads(args.json.read_text()) if args.json.exists() else {"summaries": [], "rows": []}
    summaries = [x for x in old["summaries"] if x["variant"] not in ran] + summaries
    rows = [x for x in old["rows"] if x["variant"] not in ran] + rows
    notes = {**old.get("notes", {}), **{n: args.note for n in ran}}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"notes": notes, "summaries": summaries, "rows": rows}, indent=1) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
