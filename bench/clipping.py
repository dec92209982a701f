"""Weight-outlier clipping before static int8, measured on the model where PTQ loses most.

For each clip setting: the ExecuTorch PT2E static-int8 fake-quant graph of the teacher (the
eager twin the .pte matches: agreement >= 0.999 in bench/quantization.py) evaluated on the
whole SST-2 dev set, beside the fp32 model. Eager fake-quant, not the artifact: lowering the
22M-parameter teacher per setting costs minutes each on 2 cores; the artifact path is the
same module. A benchmark, never a test.

    .venv/bin/python bench/clipping.py BUILD_DIR [--settings none,percentile:99.9,kstd:4]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("build", type=Path, help="a finished build dir of the model (its student/ is used)")
    parser.add_argument("--settings", default="none,percentile:99.99,percentile:99.9,kstd:6,kstd:4")
    parser.add_argument("--json", type=Path, default=Path("bench/results/clipping_sst2.json"))
    args = parser.parse_args()

    import numpy as np
    import torch
    from edgesdk.converters import get_backend

    from edgesdk.compress.quant_methods import calibration_set, deployable, reference_logits
    from edgesdk.models.model_dir import load_model_dir
    from edgesdk.recipe import load_recipe
    from edgesdk.steps.lower import quantized_module
    from edgesdk.task import load_task

    torch.set_num_threads(2)
    recipe = load_recipe(str(args.build / "recipe.yaml"))
    task = load_task(recipe.data, recipe.seed, {})
    model, tokenizer, _ = load_model_dir(args.build / "student")
    seq = recipe.export.seq_len
    calibration = calibration_set(task.train.texts, tokenizer, recipe.quantize.calibration_samples, seq, recipe.seed)
    ids, mask = tokenizer.pad(tokenizer.encode(task.dev.texts, seq), seq)
    labels = np.asarray(task.dev.labels)
    fp32 = deployable(model, seq)
    fp32_logits = reference_logits(fp32, ids, mask)
    rows = [{"setting": "fp32", "accuracy": float((fp32_logits.argmax(1) == labels).mean())}]
    backend = get_backend("executorch")
    for setting in args.settings.split(","):
        method, _, value = setting.partition(":")
        quantize = recipe.quantize.model_copy(
            update={"clip": method, **({"clip_value": float(value)} if value else {})}
        )
        module = quantized_module(
            backend, "int8", fp32, calibration, recipe.model_copy(update={"quantize": quantize}), seq
        )
        logits = reference_logits(module, ids, mask)
        rows.append(
            {
                "setting": setting,
                "accuracy": float((logits.argmax(1) == labels).mean()),
                "agreement_with_fp32": float((logits.argmax(1) == fp32_logits.argmax(1)).mean()),
            }
        )
        print(rows[-1], flush=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"model": str(args.build.name), "rows": rows}, indent=1) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    sys.exit(main())
