"""Teacher fine-tuning settings, chosen on validation rows carved from train, never on dev.

Each variant overrides keys of the default recipe's `teacher:` section (epochs, learning
rate, frozen or trainable word embeddings, layer-wise decay, ...) and runs the build's own
data and teacher steps (`prepare_task`, `build_teacher`): the same carving of the exit
calibration rows and of `teacher.validation_rows`, the same cache key. The validation
accuracy the teacher step records is the only score the choice may use; the dev accuracy is
stored beside it for the record, labelled as not used for the choice. Each teacher lands in
the user cache (EDGESDK_CACHE_DIR), so the default build with the chosen settings reuses it.
Results go to one JSON keyed by variant; variants run one at a time (each is a full fine-tune:
10-40 min on 2 cores) and the table is re-printed from everything measured so far. A
benchmark, never a test.

    .venv/bin/python bench/teacher_recipe.py --variant unfrozen-2ep epochs=2 freeze_word_embeddings=false
    .venv/bin/python bench/teacher_recipe.py --table
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import checkout  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "teacher_recipe.json"


def parse_overrides(pairs: list[str]) -> dict:
    """key=value pairs, values read as YAML scalars (2, 5e-5, false), numbers as numbers."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"error: override {pair!r} is not key=value")
        parsed = yaml.safe_load(value)
        if isinstance(parsed, str):  # YAML 1.1 reads 1e-4 (no dot) as text; the recipe wants the number
            try:
                parsed = float(parsed)
            except ValueError:
                pass
        out[key] = parsed
    return out


def run_variant(name: str, overrides: dict, threads: int) -> dict:
    import tempfile

    import torch

    from edgesdk.models.model_dir import load_model_dir, resolve_teacher_dir
    from edgesdk.steps.data import prepare_task, task_hash
    from edgesdk.recipe import load_recipe
    from edgesdk.steps.teacher import build_teacher, teacher_key
    from edgesdk.train import accuracy, predict_logits

    recipe = load_recipe(None)
    recipe = recipe.model_copy(
        update={"teacher": type(recipe.teacher).model_validate({**recipe.teacher.model_dump(), **overrides})}
    )
    task = prepare_task(recipe)
    base = resolve_teacher_dir(recipe.teacher, None)
    key = teacher_key(base, task_hash(task), recipe.teacher, recipe.seed, task.label_map, len(task.train))
    with tempfile.TemporaryDirectory() as tmp:
        info = build_teacher(base, task, recipe.teacher, recipe.seed, key, Path(tmp) / "teacher")
        torch.set_num_threads(threads)
        model, tokenizer, _ = load_model_dir(Path(tmp) / "teacher")
        predicted = predict_logits(model, tokenizer, task.dev.texts, recipe.export.seq_len).argmax(1)
    return {
        "variant": name,
        "overrides": overrides,
        "teacher": recipe.teacher.model_dump(exclude={"path"}),
        "cache_key": key,
        "train_rows": len(task.train),
        "val_rows": info["validation_rows"],
        "val_accuracy": round(info["validation_accuracy"], 4),
        "dev_accuracy_not_used_for_choice": round(accuracy(predicted, task.dev.labels), 4),
        "fine_tune_seconds": info.get("train_seconds"),
        "final_loss": info.get("final_loss"),
        "commit": checkout.commit(),
        "machine": f"{platform.machine()} {threads} threads",
    }


def print_table(results: dict) -> None:
    print(f"{'variant':<28} {'val acc':>8} {'dev acc*':>8} {'minutes':>8}  overrides")
    for row in sorted(results.values(), key=lambda r: -r["val_accuracy"]):
        print(
            f"{row['variant']:<28} {row['val_accuracy']:>8.4f} {row['dev_accuracy_not_used_for_choice']:>8.4f}"
            f" {(row['fine_tune_seconds'] or 0) / 60:>8.1f}  {row['overrides']}"
        )
    print("* dev accuracy recorded only; the choice is made on val acc (rows carved from train)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", help="name of the variant to fine-tune and score")
    parser.add_argument("overrides", nargs="*", help="teacher-section key=value pairs")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=RESULTS)
    parser.add_argument("--table", action="store_true", help="only print what is measured so far")
    args = parser.parse_args()

    results = json.loads(args.json.read_text()) if args.json.exists() else {}
    if not args.table:
        if not args.variant:
            raise SystemExit("error: --variant NAME is required (or --table)")
        results[args.variant] = run_variant(args.variant, parse_overrides(args.overrides), args.threads)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.json.with_suffix(".json.partial")
        tmp.write_text(json.dumps(results, indent=2) + "\n")
        tmp.replace(args.json)
    print_table(results)


if __name__ == "__main__":
    main()
