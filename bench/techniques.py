"""Issue 28's compression techniques measured in one build family on SST-2: `edgesdk sweep`
over a grid (default bench/techniques/grid.yaml: the base recipe bench/techniques/base.yaml
and one variant per technique), then one table row per variant from its report.json:
parameters, FLOPs, training seconds, the student's accuracy on the train-carved validation
rows (what a choice is made on), the eager student's dev accuracy and each LiteRT/TFLM
artifact's dev accuracy and size, measured by running the file. Writes
bench/results/<family>_sst2.{json,md}. A benchmark, never a test.

    EDGESDK_CACHE_DIR=... .venv/bin/python bench/techniques.py --out build/techniques
    # shared word tables (student.word_rows) against the tiny recipe's full table:
    .venv/bin/python bench/techniques.py --family word_tables --out build/word_tables
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import edgesdk

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def row(variant: dict, sweep_dir: Path) -> dict:
    if variant["status"] != "fits":  # a build the recipe's gates stopped: its reason is the result
        return {
            "variant": variant["name"],
            "set": variant["set"],
            "status": variant["status"],
            "reason": variant["reason"],
        }
    report = json.loads((sweep_dir / variant["build_dir"] / "report.json").read_text())
    student, pruning = report["student"], report.get("pruning") or {}
    stages = student["distill"]["stages"] + [
        s for h in pruning.get("history", []) for s in (h.get("recovery") or {}).get("stages", [])
    ]
    shipped = pruning.get("after") or {"params": student["params"], "flops": student["flops"]}
    artifacts = {
        artifact_key(a): {"accuracy": round(a["accuracy"], 4), "size_bytes": a["size_bytes"]}
        for a in report["artifacts"]
        if a["model"] == "student" and a["runtime"] in ("litert", "tflm") and not a.get("staged")
    }
    return {
        "variant": variant["name"],
        "set": variant["set"],
        "params": shipped["params"],
        "flops": shipped["flops"],
        "train_seconds": round(sum(s["seconds"] for s in stages), 1),
        "stages": [s["stage"] for s in stages],
        # the deployed model's (after any pruning), else the distilled student's
        "validation_accuracy": pruning.get("vocab_validation_accuracy_after")
        or student["distill"].get("validation_accuracy"),
        "word_rows": student["distill"].get("word_rows"),
        "eager_accuracy": round(deployed_eager_accuracy(sweep_dir / variant["build_dir"]), 4),
        "teacher_accuracy": round(report["teacher"]["accuracy"], 4),
        "artifacts": artifacts,
    }


def artifact_key(artifact: dict) -> str:
    """`int8` for the .tflite, `tflm int8` for the .micro.tflite."""
    return (
        artifact["precision"] if artifact["runtime"] == "litert" else f"{artifact['runtime']} {artifact['precision']}"
    )


def deployed_eager_accuracy(build: Path) -> float:
    """The shipped model in PyTorch (after every reshaping and the vocabulary cut), as verify
    scored it beside each of its artifacts."""
    rows = json.loads((build / "verify.json").read_text())["results"]
    return next(r["eager_accuracy"] for r in rows if "/teacher/" not in r["path"])


def markdown(rows: list[dict]) -> str:
    order = ["fp32", "int8", "int8-qat", "tflm int8"]
    precisions = sorted(
        {p for r in rows for p in r.get("artifacts", ())},
        key=lambda p: (p not in order, order.index(p) if p in order else p),
    )
    head = ["variant", "params", "MFLOPs", "train s", "val", "eager"]
    head += [".micro.tflite int8" if p == "tflm int8" else f".tflite {p}" for p in precisions]
    head += ["quantized MB"]  # the int8 file, else the int8-dynamic one
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        if r.get("status"):
            lines.append(f"| {r['variant']} | {r['status']}: {r['reason']} |" + " |" * (len(head) - 2))
            continue
        accs = [f"{r['artifacts'][p]['accuracy']:.4f}" if p in r["artifacts"] else "-" for p in precisions]
        int8 = (r["artifacts"].get("int8") or r["artifacts"].get("int8-dynamic") or {}).get("size_bytes")
        cells = [r["variant"], f"{r['params']:,}", f"{r['flops'] / 1e6:.0f}", f"{r['train_seconds']:.0f}"]
        val = f"{r['validation_accuracy']:.4f}" if r.get("validation_accuracy") else "-"
        cells += [val, f"{r['eager_accuracy']:.4f}", *accs, f"{int8 / 1e6:.2f}" if int8 else "-"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("build/techniques"))
    ap.add_argument("--target", default="host")
    ap.add_argument("--family", default="techniques", help="bench/<family>/grid.yaml; results <family>_sst2.*")
    ap.add_argument("--base", type=Path, default=None, help="base recipe (default bench/<family>/base.yaml)")
    args = ap.parse_args()
    start = time.perf_counter()
    base = args.base or HERE / args.family / "base.yaml"
    sweep = edgesdk.sweep(args.target, str(base), HERE / args.family / "grid.yaml", args.out)
    sweep_dir = Path(sweep["sweep_dir"])
    rows = [row(v, sweep_dir) for v in sweep["variants"]]
    seconds = round(time.perf_counter() - start, 1)
    result = {"family": args.family, "target": args.target, "seconds": seconds, "rows": rows, "sweep": sweep}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.family}_sst2.json").write_text(json.dumps(result, indent=1) + "\n")
    table = markdown(rows)
    (RESULTS / f"{args.family}_sst2.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
