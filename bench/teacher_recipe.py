"""Teacher fine-tuning settings, chosen on validation rows carved from train, never on dev.

Each variant overrides keys of the default recipe's `teacher:` section (epochs, learning
rate, frozen or trainable word embeddings, layer-wise decay, ...). A stratified, seeded slice
of the training rows (`--val-rows`, disjoint from what the variant trains on) scores it; that
score is the only one the choice may use. The dev-set accuracy is printed and stored beside
it for the record, labelled as not used for the choice. Results go to one JSON keyed by
variant, so variants can run one at a time (each is a full fine-tune: 10-30 min on 2 cores)
and the table is re-printed from everything measured so far. A benchmark, never a test.

    .venv/bin/python bench/teacher_recipe.py --variant unfrozen-2ep epochs=2 freeze_word_embeddings=false
    .venv/bin/python bench/teacher_recipe.py --table
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import checkout  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "teacher_recipe.json"


def parse_overrides(pairs: list[str]) -> dict:
    """key=value pairs, values read as YAML scalars (2, 5e-5, false)."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"error: override {pair!r} is not key=value")
        out[key] = yaml.safe_load(value)
    return out


def run_variant(name: str, overrides: dict, val_rows: int, threads: int) -> dict:
    import torch

    from edgesdk.data import load_task, stratified_split
    from edgesdk.models.hf_import import import_hf_bert
    from edgesdk.recipe import load_recipe
    from edgesdk.teacher import default_teacher_dir
    from edgesdk.tokenizer import Tokenizer
    from edgesdk.train import accuracy, fine_tune, predict_logits

    torch.set_num_threads(threads)
    recipe = load_recipe(None)
    cfg = recipe.teacher.model_copy(update=overrides)
    cfg = type(cfg).model_validate(cfg.model_dump())  # re-validate the overridden values
    task = load_task(recipe.data, recipe.seed)
    train_idx, val_idx = stratified_split(task.train.labels, val_rows / len(task.train), seed=1234)
    fit_rows, val = task.train.subset(train_idx), task.train.subset(val_idx)

    base = default_teacher_dir()
    torch.manual_seed(recipe.seed)
    model = import_hf_bert(base, num_labels=len(task.label_map), pooling=cfg.pooling, dropout=cfg.dropout).encoder
    tokenizer = Tokenizer.from_dir(base)
    start = time.perf_counter()
    result = fine_tune(model, tokenizer, fit_rows, cfg, recipe.seed)
    seconds = time.perf_counter() - start

    def score(split) -> float:
        logits = predict_logits(model, tokenizer, split.texts, recipe.export.seq_len)
        return round(accuracy(logits.argmax(-1), split.labels), 4)

    return {
        "variant": name,
        "overrides": overrides,
        "teacher": cfg.model_dump(exclude={"path"}),
        "train_rows": len(fit_rows),
        "val_rows": len(val),
        "val_accuracy": score(val),
        "dev_accuracy_not_used_for_choice": score(task.dev),
        "fine_tune_seconds": round(seconds, 1),
        "final_loss": result.final_loss,
        "commit": checkout.commit(),
        "machine": f"{platform.machine()} {torch.get_num_threads()} threads",
    }


def print_table(results: dict) -> None:
    print(f"{'variant':<28} {'val acc':>8} {'dev acc*':>8} {'minutes':>8}  overrides")
    for row in sorted(results.values(), key=lambda r: -r["val_accuracy"]):
        print(
            f"{row['variant']:<28} {row['val_accuracy']:>8.4f} {row['dev_accuracy_not_used_for_choice']:>8.4f}"
            f" {row['fine_tune_seconds'] / 60:>8.1f}  {row['overrides']}"
        )
    print("* dev accuracy recorded only; the choice is made on val acc (rows carved from train)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", help="name of the variant to fine-tune and score")
    parser.add_argument("overrides", nargs="*", help="teacher-section key=value pairs")
    parser.add_argument("--val-rows", type=int, default=3000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=RESULTS)
    parser.add_argument("--table", action="store_true", help="only print what is measured so far")
    args = parser.parse_args()

    results = json.loads(args.json.read_text()) if args.json.exists() else {}
    if not args.table:
        if not args.variant:
            raise SystemExit("error: --variant NAME is required (or --table)")
        results[args.variant] = run_variant(args.variant, parse_overrides(args.overrides), args.val_rows, args.threads)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.json.with_suffix(".json.partial")
        tmp.write_text(json.dumps(results, indent=2) + "\n")
        tmp.replace(args.json)
    print_table(results)


if __name__ == "__main__":
    main()
