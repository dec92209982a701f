"""Do two source trees build byte-identical artifacts? The check behind a restructuring.

Runs the test suite's tiny host build (distilled student, pruning, early exit + buckets,
fp32/int8/int8-dynamic/int8-qat, ExecuTorch + LiteRT + TFLM) and its tiny cortex-m7 build with
each tree's own `edgesdk.cli`, from the same tiny teacher, data and a fresh shared cache, and
compares the artifact hashes each build's manifest records.

    .venv/bin/python scripts/same_artifacts.py OLD_TREE NEW_TREE [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import TINY_RECIPE, sst2_rows  # noqa: E402  (the suite's own tiny inputs)
from tests.helpers import save_tiny_bert  # noqa: E402

HOST_RECIPE = (
    TINY_RECIPE.replace("export: {seq_len: 32}", "export: {seq_len: 32, runtimes: [executorch, litert, tflm]}")
    .replace(
        "quantize: {precisions: [fp32]}",
        "quantize: {precisions: [fp32, int8, int8-dynamic, int8-qat], calibration_samples: 32, qat_steps: 4,"
        " max_accuracy_drop: 0.5, min_agreement: 0.3}\n"
        "prune: {heads: 0.5, ffn: 0.5, recovery_epochs: 0.2, vocab: train}\n"
        "exits: {layers: [1], buckets: [16], epochs: 0.2, calibration_rows: 64, max_accuracy_drop: 0.5, min_agreement: 0.3}",
    )
    .replace("student: {layers: 1,", "student: {layers: 2,")
)
MCU_RECIPE = TINY_RECIPE.replace("export: {seq_len: 32}", "export: {seq_len: 32, runtimes: [tflm]}").replace(
    "quantize: {precisions: [fp32]}", "quantize: {precisions: [int8], calibration_samples: 64}"
)


FOLDERS = {"converters": "converters", "targets": "targets", "apps": "apps", "recipes": "recipes"}


def import_root(tree: Path, work: Path) -> Path:
    """A directory where `import edgesdk` finds this tree's code only: edgesdk/ with the other
    folders linked in as its subpackages (as pyproject's package-dir maps them). Without it an
    editable install of the other tree supplies whatever subpackage this one lacks."""
    root = work / "imports" / tree.name
    package = root / "edgesdk"
    package.mkdir(parents=True, exist_ok=True)
    for entry in [*(tree / "edgesdk").iterdir(), *(tree / folder for folder in FOLDERS.values())]:
        link = package / entry.name
        if not link.exists():
            link.symlink_to(entry.resolve())
    return root


def check_imports_from(root: Path, env: dict) -> None:
    """Every package edgesdk maps must load from `root`, or the comparison would mix trees."""
    code = "import edgesdk.apps, edgesdk.converters, edgesdk.targets; print(edgesdk.__file__, edgesdk.apps.__file__, edgesdk.converters.__file__, edgesdk.targets.__file__)"
    files = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, check=True)
    stray = [f for f in files.stdout.split() if not f.startswith(str(root))]
    if stray:
        raise SystemExit(f"{root}: edgesdk loads {stray} from outside the tree under test")


def build(tree: Path, target: str, recipe: Path, data: Path, teacher: Path, out: Path, cache: Path) -> dict:
    root = import_root(tree, cache.parent)  # also the cwd: `python -m` puts the cwd first on sys.path
    env = {**os.environ, "PYTHONPATH": str(root), "EDGESDK_CACHE_DIR": str(cache)}
    check_imports_from(root, env)
    args = ["--target", target, "--recipe", recipe, "--train", data / "train.tsv", "--dev", data / "dev.tsv"]
    cmd = [sys.executable, "-m", "edgesdk.cli", "build", *map(str, args), "--teacher", str(teacher), "--out", str(out)]
    proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"{tree}: {target} build failed:\n{proc.stderr[-3000:]}")
    return json.loads((out / "manifest.json").read_text())["artifacts"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("--work", type=Path, default=Path("/tmp/same_artifacts"))
    args = parser.parse_args()
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    teacher = save_tiny_bert(work / "teacher")
    data = work / "data"
    data.mkdir(exist_ok=True)
    (data / "train.tsv").write_text("\n".join(sst2_rows("train", 300)) + "\n")
    (data / "dev.tsv").write_text("\n".join(sst2_rows("dev", 100)) + "\n")
    recipes = {"host": HOST_RECIPE, "cortex-m7": MCU_RECIPE}
    differ = 0
    for target, text in recipes.items():
        recipe = work / f"{target}.yaml"
        recipe.write_text(text)
        hashes = {
            name: build(tree.resolve(), target, recipe, data, teacher, work / name / target, work / "cache")
            for name, tree in (("old", args.old), ("new", args.new))
        }
        for rel in sorted(set(hashes["old"]) | set(hashes["new"])):
            same = hashes["old"].get(rel) == hashes["new"].get(rel)
            differ += not same
            print(f"{target:10} {rel:55} {'same' if same else 'DIFFERENT'}")
    print(f"{differ} artifact(s) differ")
    raise SystemExit(1 if differ else 0)


if __name__ == "__main__":
    main()
