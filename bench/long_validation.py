"""Built variants' shipped artifacts on their validation rows, and on the longer half of them.

SST-2's train split is mostly sub-sentence phrases (mean 9.4 words) where a deployment, like
dev, classifies whole sentences (19.5): rows carved from train at random rank variants on
phrases. Their longer half (rows of at least the median word count) is the part of the same
carve nearest a sentence, so a choice between variants that tie on all rows can be read there,
still without dev. Every build must have carved the same validation rows (same data, seed and
`teacher.validation_rows`); each artifact runs in its runtime through `edgesdk eval`. A
benchmark, never a test: inference only, a minute or two per variant.

    .venv/bin/python bench/long_validation.py --name word_tables_sst2 BUILD_DIR [BUILD_DIR ...]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import checkout  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def carved_task(build: Path):
    """The task a finished build saw, its validation rows carved as its own recipe carves them."""
    from edgesdk.recipe import load_recipe
    from edgesdk.steps.data import prepare_task

    task = prepare_task(load_recipe(str(build / "recipe.yaml")))
    if not task.validation.texts:
        raise SystemExit(f"error: {build} carved no validation rows (teacher.validation_rows is 0)")
    return task


def write_tsv(path: Path, rows: list[tuple[str, str]]) -> None:
    path.write_text("text\tlabel\n" + "".join(f"{text}\t{label}\n" for text, label in rows))


def eval_accuracy(artifact: Path, data: Path) -> float:
    proc = subprocess.run(
        [sys.executable, "-m", "edgesdk.cli", "eval", str(artifact), "--data", str(data), "--json"],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise SystemExit(f"error: edgesdk eval {artifact}: {proc.stderr.strip().splitlines()[-1]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])["accuracy"]


def measure(builds: list[Path]) -> dict:
    task = carved_task(builds[0])
    names = task.label_map.names
    rows = [(t, names[y]) for t, y in zip(task.validation.texts, task.validation.labels)]
    words = [len(t.split()) for t, _ in rows]
    cut = statistics.median(words)
    longer = [r for r, w in zip(rows, words) if w >= cut]
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        files = {"all": Path(tmp) / "all.tsv", "longer": Path(tmp) / "longer.tsv"}
        write_tsv(files["all"], rows)
        write_tsv(files["longer"], longer)
        for build in builds:
            if carved_task(build).validation.texts != task.validation.texts:
                raise SystemExit(f"error: {build} carved other validation rows than {builds[0]}")
            summary = json.loads((build / "report.json").read_text())["summary"]["artifact"]
            artifact = build / summary["path"]
            row = {
                "build": build.name,
                "artifact": summary["path"],
                "size_bytes": artifact.stat().st_size,
                "val_all": round(eval_accuracy(artifact, files["all"]), 4),
                "val_longer": round(eval_accuracy(artifact, files["longer"]), 4),
            }
            print(f"{row['build']:<24} all {row['val_all']:.4f}  longer half {row['val_longer']:.4f}", flush=True)
            out.append(row)
    return {
        "commit": checkout.commit(),
        "val_rows": len(rows),
        "median_words": cut,
        "longer_rows": len(longer),
        "longer_mean_words": round(statistics.mean(w for w in words if w >= cut), 1),
        "rows": out,
    }


def markdown(data: dict) -> list[str]:
    lines = [
        "| build | artifact | MB | val (all rows) | val (longer half) |",
        "|---|---|---|---|---|",
    ]
    for r in sorted(data["rows"], key=lambda r: -r["val_longer"]):
        lines.append(
            f"| {r['build']} | {r['artifact']} | {r['size_bytes'] / 1e6:.2f} | {r['val_all']:.4f} | {r['val_longer']:.4f} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("builds", nargs="+", type=Path, help="finished build dirs (report.json, recipe.yaml)")
    parser.add_argument("--name", required=True, help="results/long_validation_<name>.json")
    args = parser.parse_args()
    data = measure(args.builds)
    path = RESULTS / f"long_validation_{args.name}.json"
    path.write_text(json.dumps(data, indent=1) + "\n")
    print("\n".join(markdown(data)))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
