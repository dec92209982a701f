"""The Cortex-M path on a real SST-2 student without re-training: lower an existing build's
deployed model to TFLM int8, verify it over the whole dev set, profile it as firmware under
qemu, check the fit, and write + check the MCU firmware package (on-device tokenization).

Runs the pipeline's own lower/verify/profile/fit/package functions on a copy of a finished
build dir (a full `edgesdk build --target cortex-m7` would re-distil the student: ~1.5 h here).

    PYTHONPATH=. .venv/bin/python bench/mcu_sst2.py BUILD_DIR RECIPE.yaml --target cortex-m7 --out bench/results
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from edgesdk.targets.registry import get_target

from edgesdk.errors import EdgeSDKError
from edgesdk.recipe import load_recipe
from edgesdk.steps.artifacts import ArtifactSpec
from edgesdk.fsutil import read_json
from edgesdk.steps.fit import fit_all
from edgesdk.steps.lower import LoweredModels, lower_all
from edgesdk.steps.profile import profile_all
from edgesdk.steps.prune import PRUNED_DIR, build_pruned_dir
from edgesdk.steps.verify import verify_all
from edgesdk.task import load_task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("build", type=Path, help="a finished build dir (copied, never modified)")
    parser.add_argument("recipe", type=Path)
    parser.add_argument("--target", default="cortex-m7")
    parser.add_argument("--work", type=Path, default=Path("/tmp/mcu_sst2_work"))
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    parser.add_argument("--reprune", action="store_true", help="re-run the recipe's (vocabulary) pruning first")
    parser.add_argument("--tag", default="", help="suffix of the result file name")
    args = parser.parse_args()
    start = time.time()
    if args.work.exists():
        shutil.rmtree(args.work)
    shutil.copytree(args.build, args.work)
    recipe = load_recipe(str(args.recipe))
    recipe = recipe.model_copy(update={"export": recipe.export.model_copy(update={"runtimes": ["tflm"]})})
    target = get_target(args.target)
    task = load_task(recipe.data, recipe.seed)
    specs = [ArtifactSpec("student", "tflm", "int8", "artifacts/model.int8.micro.tflite")]
    seconds = {}
    if args.reprune:  # the recipe's prune section on the build's distilled student (vocabulary-only: seconds)
        t = time.time()
        teacher_hash = json.dumps(read_json(args.work / "manifest.json")["steps"]["teacher"]["outputs"], sort_keys=True)
        shutil.rmtree(args.work / PRUNED_DIR)
        build_pruned_dir(
            args.work / "student", args.work / "teacher", task, recipe, teacher_hash, args.work / PRUNED_DIR
        )
        seconds["prune"] = round(time.time() - t, 1)
    deployed = args.work / (PRUNED_DIR if recipe.prune.active else "student")
    models = {"student": deployed, "teacher": args.work / "teacher"}
    for name, step in (
        ("lower", lambda: lower_all(args.work, recipe, task, specs, LoweredModels(models))),
        ("verify", lambda: verify_all(args.work, task, recipe, specs, models)),
        ("profile", lambda: profile_all(args.work, task, recipe, target, specs)),
    ):
        t = time.time()
        step()
        seconds[name] = round(time.time() - t, 1)
    result = {"target": target.id, "recipe": str(args.recipe), "seconds": seconds}
    result["verify"] = read_json(args.work / "verify.json")["results"][0]
    profile = read_json(args.work / "profile.json")[specs[0].path]
    result["profile"] = {k: v for k, v in profile.items() if k not in ("instructions_per_input", "firmware")}
    try:
        fit_all(args.work, target, specs, list(task.dev.texts), recipe.profile)
        result["fit"] = read_json(args.work / "fit.json")
        from edgesdk.apps.packager_registry import package_build

        t = time.time()
        result["package"] = package_build(args.work, target, task.dev.texts)
        seconds["package"] = round(time.time() - t, 1)
    except EdgeSDKError as exc:
        result["fit"] = read_json(args.work / "fit.json") if (args.work / "fit.json").exists() else {}
        result["stopped"] = str(exc)
    result["wall_seconds"] = round(time.time() - start, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"mcu_sst2_{target.id}{args.tag}.json").write_text(json.dumps(result, indent=2) + "\n")
    v = result["verify"]
    print(
        f"TFLM int8 accuracy {v['accuracy']:.4f} (eager fp32 {v['fp32_accuracy']:.4f}), agreement {v['agreement']:.4f}"
    )
    print(
        "profile:",
        json.dumps(
            {
                k: result["profile"].get(k)
                for k in ("target", "flash_bytes", "ram_bytes", "arena_bytes", "instructions", "outputs_match")
            }
        ),
    )
    print("fit:", json.dumps(result["fit"].get("needs")), "ok" if result["fit"].get("ok") else "NOT OK")
    print("package:", json.dumps(result["package"]["checks"]) if "package" in result else result["stopped"])


if __name__ == "__main__":
    main()
