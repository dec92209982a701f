"""Where finished builds land, one row each, from their report.json: recipe, target, the
teacher's accuracy on the train-carved validation rows and on the eval file, the student's
validation accuracy, the shipped artifact's accuracy measured by running it, its size,
flash/RAM needs against the target's budgets and its latency (with how it was measured).
Reads builds, builds nothing. Writes bench/results/builds_<name>.{json,md}.

    .venv/bin/python bench/builds.py --name banking77 BUILD_DIR [BUILD_DIR ...]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from edgesdk.recipe import load_recipe

RESULTS = Path(__file__).resolve().parent / "results"


def row(build: Path) -> dict:
    report = json.loads((build / "report.json").read_text())
    summary, teacher, student = report["summary"], report["teacher"], report["student"]
    shipped = summary["artifact"]
    detail = next(a for a in report["artifacts"] if a["path"] == shipped["path"])
    return {
        "build": build.name,
        "recipe": load_recipe(str(build / "recipe.yaml")).name,
        "target": report["target"],
        "train_rows": report["data"]["train"]["rows"],
        "eval_rows": report["data"]["dev"]["rows"],
        "labels": len(report["data"]["dev"]["class_counts"]),
        "teacher_validation_accuracy": teacher.get("validation_accuracy"),
        "teacher_accuracy": round(teacher["accuracy"], 4),
        "student_validation_accuracy": student["distill"].get("validation_accuracy"),
        "student": summary["student"]["shape"],
        "artifact": shipped["path"],
        "artifact_accuracy": round(shipped["accuracy"], 4),
        "size_bytes": shipped["size_bytes"],
        "fits": summary["fits"],
        "fit_needs": summary["fit_needs"],
        "latency_ms_mean": shipped["latency_ms_mean"],
        "latency_kind": shipped["latency_kind"],
        "latency_method": detail.get("latency_method"),
        "step_seconds": {name: s["seconds"] for name, s in report["steps"].items()},
    }


def markdown(rows: list[dict]) -> str:
    head = ["build", "recipe", "target", "labels", "teacher val", "teacher eval", "student val", "artifact"]
    head += ["eval accuracy", "size", "flash / RAM needed", "latency ms"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        needs = r["fit_needs"]
        flash = f"{needs['flash_bytes']:,} B / {needs['ram_bytes'] or 0:,} B"
        if needs.get("flash_budget_bytes"):
            flash += f" (of {needs['flash_budget_bytes']:,} / {needs['ram_budget_bytes']:,})"
        cells = [
            r["build"],
            r["recipe"],
            r["target"],
            str(r["labels"]),
            f"{r['teacher_validation_accuracy']:.4f}" if r["teacher_validation_accuracy"] else "-",
            f"{r['teacher_accuracy']:.4f}",
            f"{r['student_validation_accuracy']:.4f}" if r["student_validation_accuracy"] else "-",
            r["artifact"],
            f"{r['artifact_accuracy']:.4f}",
            f"{r['size_bytes']:,} B",
            flash,
            f"{r['latency_ms_mean']:.2f} ({r['latency_kind']})",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("builds", type=Path, nargs="+")
    ap.add_argument("--name", required=True, help="results file suffix: builds_<name>.json")
    args = ap.parse_args()
    rows = [row(b) for b in args.builds]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"builds_{args.name}.json").write_text(json.dumps({"name": args.name, "rows": rows}, indent=1) + "\n")
    table = markdown(rows)
    (RESULTS / f"builds_{args.name}.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
