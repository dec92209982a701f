"""Teacher vs students (and loss/augmentation ablations), measured on the artifacts.

Each variant is a real `edgesdk build` with the default recipe plus the variant's overrides,
all sharing one cache dir, so the teacher is fine-tuned once and its soft labels computed
once. Accuracy, size and latency come from each build's report.json (artifacts run in their
runtimes). A benchmark, never a test: a full run takes hours on 2 cores.

    .venv/bin/python bench/students.py --dataset sst2 [--only enc4x128,cnn] [--json bench/results/students_sst2.json]
    .venv/bin/python bench/students.py --dataset banking77 --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import checkout  # noqa: E402

ENC = {"family": "encoder", "layers": 4, "hidden": 128, "heads": 4, "ffn": 512}
CNN = {"family": "cnn", "embedding_size": 128, "filters": 128}
VARIANTS: dict[str, dict] = {
    "teacher": {"student": {"family": "teacher"}},
    "enc4x128": {"student": ENC},
    "enc4x256": {"student": {**ENC, "hidden": 256, "heads": 8, "ffn": 1024}},
    "enc2x128": {"student": {**ENC, "layers": 2}},
    "enc6x128": {"student": {**ENC, "layers": 6}},
    "cnn": {"student": CNN},
    "bilstm": {"student": {"family": "bilstm", "embedding_size": 128, "lstm_hidden": 128}},
    # ablations on enc4x128: one change each against the default (kd only, no augmentation)
    "enc4x128+ce": {"student": ENC, "distill": {"losses": {"kd": 1.0, "ce": 1.0}}},
    "enc4x128+hidden": {"student": ENC, "distill": {"losses": {"kd": 1.0, "hidden": 1.0}}},
    "enc4x128+attention": {"student": ENC, "distill": {"losses": {"kd": 1.0, "attention": 1.0}}},
    "enc4x128+minilm": {"student": ENC, "distill": {"losses": {"kd": 1.0, "minilm": 1.0}}},
    "enc4x128+embedding": {"student": ENC, "distill": {"losses": {"kd": 1.0, "embedding": 1.0}}},
    "enc4x128+augment": {"student": ENC, "distill": {"augment": {"factor": 1}}},
    "enc4x128-init": {"student": {**ENC, "layer_init": "none"}},
    # augmentation at the 15-minute distillation budget
    "enc4x128+aug2": {"student": ENC, "distill": {"augment": {"factor": 2}}},
    "cnn+aug3": {"student": CNN, "distill": {"augment": {"factor": 3}}},
    # <= 2M parameters: the same CNN with the word table cut to the tokens SST-2 train uses
    "cnn+aug3+vocab": {"student": CNN, "distill": {"augment": {"factor": 3}}, "prune": {"vocab": "train"}},
    # <= 1/8 of the teacher's FLOPs at teacher width: its bottom two layers, half the heads,
    # a quarter of the FFN neurons, recovered by distillation
    "teacher-2L-h50-f75": {
        "student": {"family": "teacher"},
        "prune": {"layers": [2, 3, 4, 5], "heads": 0.5, "ffn": 0.75, "iterations": 2},
    },
    # <= 1/8 of the teacher's FLOPs keeping all six layers: 12 of 72 heads, 152 of 1536 FFN
    # neurons per layer; each recovery on the training rows plus one word-replaced copy of each
    "teacher-h84-f90+aug1": {
        "student": {"family": "teacher"},
        "prune": {"heads": 0.84, "ffn": 0.9, "iterations": 2, "recovery_augment": 1},
    },
    # the same removed over 3 rounds (smaller jumps; the 2-round run lost 12 pt right after its
    # last slicing)
    "teacher-h84-f90+aug1-3rounds": {
        "student": {"family": "teacher"},
        "prune": {"heads": 0.84, "ffn": 0.9, "iterations": 3, "recovery_augment": 1},
    },
    # the same cut in one round (rounds did not matter above), recovered for 2 epochs with
    # every layer's hidden states also held to the unpruned teacher's (TinyBERT's MSE; same
    # width, so no projection)
    "teacher-h84-f90-1round+aug1+hidden-2ep": {
        "student": {"family": "teacher"},
        "prune": {
            "heads": 0.84,
            "ffn": 0.9,
            "recovery_epochs": 2.0,
            "recovery_augment": 1,
            "recovery_losses": {"kd": 1.0, "hidden": 1.0},
        },
    },
    # the same steps spent on more data instead of a second epoch: one epoch over the rows plus
    # three word-replaced copies of each (TinyBERT's augmentation is 20x)
    "teacher-h84-f90-1round+aug3+hidden": {
        "student": {"family": "teacher"},
        "prune": {
            "heads": 0.84,
            "ffn": 0.9,
            "recovery_augment": 3,
            "recovery_losses": {"kd": 1.0, "hidden": 1.0},
        },
    },
    # more copies instead of the hidden-state loss (no teacher pass per batch): kd on the rows
    # plus seven word-replaced copies of each, labelled by the int8-dynamic teacher pass
    "teacher-h84-f90-1round+aug7-int8labels": {
        "student": {"family": "teacher"},
        "distill": {"soft_labels": "int8-dynamic"},
        "prune": {"heads": 0.84, "ffn": 0.9, "recovery_augment": 7},
    },
    # the same with fp32 soft labels (the int8 labels cost 0.35 pt in the default build)
    "teacher-h84-f90-1round+aug7": {
        "student": {"family": "teacher"},
        "prune": {"heads": 0.84, "ffn": 0.9, "recovery_augment": 7},
    },
    # a third of the teacher's FLOPs: all six layers, half the heads, a quarter of the FFN neurons
    "teacher-h50-f75": {"student": {"family": "teacher"}, "prune": {"heads": 0.5, "ffn": 0.75, "iterations": 2}},
    # the same in one round, recovered on the rows plus one word-replaced copy of each: the
    # default recipe's student
    "teacher-h50-f75-1round+aug1": {
        "student": {"family": "teacher"},
        "prune": {"heads": 0.5, "ffn": 0.75, "recovery_augment": 1},
    },
    # the bundled MCU recipe as it ships, fit-checked against the cortex-m7 budgets
    "mcu-recipe": {"_recipe": "mcu", "_target": "cortex-m7"},
}
DATASETS = {
    "sst2": {},  # the bundled demo data
    "banking77": {"train": "banking77/train.csv", "dev": "banking77/test.csv"},
}
# Per data set, set before any result was seen (no tuning on test.csv): BANKING77 has 7x fewer
# training rows and 77 classes, so the teacher, the students and pruning's recovery take more
# passes over them.
DATASET_OVERRIDES = {
    "sst2": {},
    "banking77": {"teacher": {"epochs": 5}, "distill": {"epochs": 10}, "prune": {"recovery_epochs": 5.0}},
}


def merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for k, v in extra.items():
        out[k] = merge(out.get(k, {}), v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


ARTIFACT_KEYS = ("runtime", "precision", "accuracy", "agreement", "size_bytes", "latency_ms", "peak_rss_bytes", "arena_bytes")


def artifact_rows(report: dict, model: str) -> list[dict]:
    return [{k: a[k] for k in ARTIFACT_KEYS if k in a} for a in report["artifacts"] if a.get("model", "student") == model]


def bench_recipe(name: str) -> dict:
    """A bundled recipe of this checkout (not the installed package's: a run keeps its base
    while the tree moves on) as a dict. The default recipe's pruning is dropped: every variant
    states its own (the default's student is `teacher-h50-f75-1round+aug1`)."""
    from edgesdk.recipe import PruneConfig, load_recipe

    recipe = load_recipe(str(Path(__file__).resolve().parents[1] / "recipes" / f"{name}.yaml")).model_dump(mode="json")
    if name == "default":
        recipe["prune"] = PruneConfig().model_dump(mode="json")
    return recipe


def run_variant(name: str, overrides: dict, dataset: str, data_dir: Path, work: Path, cache: Path) -> dict:
    from edgesdk.train import available_cores

    overrides = dict(overrides)
    base, target = overrides.pop("_recipe", "default"), overrides.pop("_target", "host")
    recipe = merge(merge(bench_recipe(base), DATASET_OVERRIDES[dataset]), overrides)
    recipe["name"] = f"{dataset}-{name}"
    # Runtime threads no more than the cores a `taskset` leaves this build: two threads on one
    # core measure contention, not the model.
    threads = min(recipe["profile"]["threads"], available_cores())
    recipe["profile"] = {**recipe["profile"], "repetitions": 100, "threads": threads}
    if dataset == "banking77":
        # BANKING77 has no dev split. test.csv is passed as --dev and used only for the reported
        # numbers and the pass/fail gates: builds make no choice on it (fixed epochs, no early
        # stopping; exit calibration has its own split carved from train). dev_fraction is
        # unused while a --dev file is given; it stays so the cached teacher's key is unchanged.
        recipe["data"] = {**recipe["data"], "dev_fraction": 0.1}
    path = work / f"{name}.yaml"
    path.write_text(yaml.safe_dump(recipe))
    out = work / name
    cmd = [sys.executable, "-m", "edgesdk.cli", "build", "--target", target, "--recipe", str(path), "--out", str(out)]
    for flag, rel in DATASETS[dataset].items():
        cmd += [f"--{flag}", str(data_dir / rel)]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "EDGESDK_CACHE_DIR": str(cache)})
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        return {"variant": name, "error": (proc.stderr.strip().splitlines() or ["?"])[-1], "wall_s": round(wall, 1)}
    report = json.loads((out / "report.json").read_text())
    s, t = report["student"], report["teacher"]
    return {
        "variant": name,
        "kind": s["kind"],
        "params": s["params"],
        "flops": s["flops"],
        "flops_vs_teacher": round(s["flops"] / t["flops"], 4),
        "teacher_accuracy": t["accuracy"],
        "eager_accuracy": s["accuracy"],
        "artifacts": artifact_rows(report, "student"),
        # the unpruned teacher's artifacts from the same build: a speed-up measured on one
        # machine under one load, whatever machine the teacher row ran on
        "teacher_artifacts": artifact_rows(report, "teacher"),
        "distill_seconds": sum(st["seconds"] for st in s.get("distill", {}).get("stages", [])),
        "prune_seconds": report["steps"].get("prune", {}).get("seconds", 0.0),
        "fit": report.get("fit", {}).get("needs"),
        "target": report["target"],
        "wall_s": round(wall, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="sst2")
    parser.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--only", default="", help="comma-separated variant names (default: all)")
    parser.add_argument("--cache", type=Path, default=None, help="edgesdk cache dir to share across runs")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--work", type=Path, default=None, help="keep build dirs here (default: a temp dir)")
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n] or list(VARIANTS)
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        sys.exit(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}")
    out_json = args.json or Path(f"bench/results/students_{args.dataset}.json")
    rows = json.loads(out_json.read_text())["rows"] if out_json.exists() else []
    commit = checkout.commit()
    with tempfile.TemporaryDirectory() as tmp:
        cache = args.cache or Path(tmp) / "cache"
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        for name in names:
            row = run_variant(name, VARIANTS[name], args.dataset, args.data_dir, work, cache)
            rows = [r for r in rows if r["variant"] != name] + [row]
            out_json.parent.mkdir(parents=True, exist_ok=True)
            payload = {"dataset": args.dataset, "cpus": os.cpu_count(), "commit": commit, "rows": rows}
            out_json.write_text(json.dumps(payload, indent=1))
            print(format_row(row), flush=True)
    print(f"wrote {out_json}")


def format_row(row: dict) -> str:
    if "error" in row:
        return f"{row['variant']:<22} ERROR {row['error']}"
    arts = " ".join(f"{a['runtime']}={a['accuracy']:.4f}/{a['latency_ms']['p50']:.2f}ms" for a in row["artifacts"])
    return (
        f"{row['variant']:<22} params {row['params'] / 1e6:6.2f}M flops x{row['flops_vs_teacher']:.3f} "
        f"eager {row['eager_accuracy']:.4f} (teacher {row['teacher_accuracy']:.4f}) {arts} "
        f"distill {row['distill_seconds']:.0f}s"
    )


if __name__ == "__main__":
    main()
