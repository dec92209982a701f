"""The default build's levers, one build family: what each adds to accuracy, size and speed.

Rows come from real `edgesdk build` dirs of the default recipe (e.g. `bench/build_time.py
--keep DIR`) and of variants that add one lever to it (each a build with the teacher cached):
the fine-tuned teacher's fp32 .pte, the pruned model before and after the vocabulary cut
(eager, from the prune step's record), its single-graph int8-dynamic artifacts, the staged
early-exit + length-bucket artifacts, and per variant the same. Accuracy: SST-2 dev from the
artifact in its runtime (eager rows say so), plus the train-carved validation rows where the
build recorded them (the rows settings are chosen on). Speed: each row against the teacher's
fp32 .pte of the same build (one machine state per build; never across builds). A benchmark,
never a test.

    .venv/bin/python bench/frontier.py --default DIR [--variant e128=DIR ...] [--json bench/results/frontier_sst2.json]
    .venv/bin/python bench/frontier.py --build-variants e128 --cache DIR --work DIR   # build them first
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quantization import build  # noqa: E402


def default_section(name: str) -> dict:
    """A section of the default recipe as it is (bench_recipe drops prune: variants state theirs)."""
    import edgesdk

    recipe = edgesdk.load_recipe(str(Path(__file__).resolve().parents[1] / "recipes" / "default.yaml"))
    return getattr(recipe, name).model_dump(mode="json")


def default_prune() -> dict:
    return default_section("prune")


# One lever each, on top of the default recipe.
VARIANTS = {
    # the word table factorized by SVD (V x 128 + 128 x 384), recovered by one more epoch
    "e128": {"prune": {**default_prune(), "embedding_size": 128}},
    # exit heads one Linear each instead of an MLP (hidden x hidden, GELU, hidden x labels)
    "linear-heads": {"exits": {**default_section("exits"), "head": "linear"}},
    "e128-linear-heads": {
        "prune": {**default_prune(), "embedding_size": 128},
        "exits": {**default_section("exits"), "head": "linear"},
    },
}
SHIPPED_PRECISION = "int8-dynamic"
LEVERS = {"e128-linear-heads": "e128 + linear exit heads"}


def _row(lever: str, build: str, artifact: dict | None, teacher: dict, **extra) -> dict:
    row = {"lever": lever, "build": build, **extra}
    if artifact is not None:
        mean = (artifact.get("latency_ms") or {}).get("mean")
        row |= {
            "artifact": Path(artifact["path"]).name,
            "accuracy": artifact["accuracy"],
            "size_bytes": artifact["size_bytes"],
            "latency_ms_mean": mean,
            "times_smaller_than_teacher": round(teacher["size_bytes"] / artifact["size_bytes"], 2),
            "times_faster_than_teacher": round(teacher["latency_ms"]["mean"] / mean, 2) if mean else None,
        }
    return row


def _find(report: dict, model: str, runtime: str, precision: str, staged: bool) -> dict | None:
    return next(
        (
            a
            for a in report["artifacts"]
            if (a["model"], a["runtime"], a["precision"], bool(a.get("staged"))) == (model, runtime, precision, staged)
        ),
        None,
    )


def family_rows(name: str, out: Path, first: bool) -> list[dict]:
    report = json.loads((out / "report.json").read_text())
    teacher = _find(report, "teacher", "executorch", "fp32", False)
    pruning = report.get("pruning") or {}
    rows = []
    if first:
        rows.append(_row("fine-tuned teacher (fp32 .pte)", name, teacher, teacher))
        if "vocab_dev_accuracy_before" in pruning:
            rows.append(
                _row(
                    "+ structured pruning, recovered (eager, full vocabulary)",
                    name,
                    None,
                    teacher,
                    accuracy=pruning["vocab_dev_accuracy_before"],
                    validation_accuracy=pruning.get("vocab_validation_accuracy_before"),
                )
            )
    lever = "+ vocabulary cut (nearest), int8-dynamic" if first else f"+ {LEVERS.get(name, name)}, int8-dynamic"
    for runtime in ("executorch", "litert"):
        single = _find(report, "student", runtime, SHIPPED_PRECISION, False)
        rows.append(
            _row(
                f"{lever} ({runtime})",
                name,
                single,
                teacher,
                validation_accuracy=pruning.get("vocab_validation_accuracy_after"),
            )
        )
    exits = report.get("exits") or {}
    # The exits step's 2,000 calibration rows are carved from train and held out of every
    # model: the eager exit controller's accuracy there is the staged rows' validation figure.
    calibration = json.loads((out / "exits" / "exits.json").read_text())["calibration"] if exits else {}
    for runtime in ("executorch", "litert"):
        staged = _find(report, "student", runtime, SHIPPED_PRECISION, True)
        if staged is not None:
            rows.append(
                _row(
                    f"{lever} + early exit and length buckets ({runtime})",
                    name,
                    staged,
                    teacher,
                    avg_layers_fraction=exits.get("avg_layers_fraction"),
                    validation_accuracy=calibration.get("accuracy"),
                    validation_accuracy_no_exit=calibration.get("accuracy_no_exit"),
                    validation_layers_fraction=calibration.get("avg_layers_fraction"),
                )
            )
    return rows


def markdown(rows: list[dict]) -> str:
    head = "| lever | build | artifact | dev acc | val acc | MB | ms mean | x smaller | x faster |\n|---|---|---|---|---|---|---|---|---|\n"

    def cell(v, fmt="{}"):
        return "-" if v is None else fmt.format(v)

    return head + "".join(
        f"| {r['lever']} | {r['build']} | {cell(r.get('artifact'))} | {cell(r.get('accuracy'), '{:.4f}')} | "
        f"{cell(r.get('validation_accuracy'), '{:.4f}')} | {cell(r.get('size_bytes') and r['size_bytes'] / 1e6, '{:.2f}')} | "
        f"{cell(r.get('latency_ms_mean'), '{:.2f}')} | {cell(r.get('times_smaller_than_teacher'))} | "
        f"{cell(r.get('times_faster_than_teacher'))} |\n"
        for r in rows
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--default", type=Path, required=True, help="a finished default build dir")
    parser.add_argument("--variant", action="append", default=[], help="NAME=DIR of a finished variant build")
    parser.add_argument("--build-variants", default="", help=f"comma-separated of {', '.join(VARIANTS)}: build first")
    parser.add_argument("--work", type=Path, default=Path("bench/.work/frontier"))
    parser.add_argument("--cache", type=Path, default=None, help="edgesdk cache holding the default's teacher")
    parser.add_argument("--json", type=Path, default=Path("bench/results/frontier_sst2.json"))
    parser.add_argument("--note", default="", help="machine state, what else ran")
    args = parser.parse_args()
    variants = dict(v.split("=", 1) for v in args.variant)
    for name in filter(None, args.build_variants.split(",")):
        args.work.mkdir(parents=True, exist_ok=True)
        variants[name] = str(build(name, VARIANTS[name], args.work, args.cache or args.work / "cache", {}))
    rows = family_rows("default", args.default, True)
    for name, directory in variants.items():
        rows += family_rows(name, Path(directory), False)
    table = markdown(rows)
    print(table)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"note": args.note, "variants": VARIANTS, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
