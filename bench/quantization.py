"""Quantized artifacts vs fp32, per runtime, measured on the artifacts (SST-2 dev).

Each variant is a real `edgesdk build` with every precision in every runtime
(executorch: fp32/int8/int8-dynamic/int4w; litert: fp32/int8/int8-dynamic; tflm: int8). The
TFLM arena of the stock path (ai-edge-quantizer static int8 with its float embedding table)
is measured beside ours for the same model. A benchmark, never a test.

    .venv/bin/python bench/quantization.py [--only enc4x128,cnn] [--work DIR] [--cache DIR]
        [--qat-steps 300] [--clip kstd:4]

--work keeps the build dirs, so a rerun (or a dir from bench/students.py) only redoes lowering.
--qat-steps adds the int8-qat precision (QAT vs PTQ side by side); --clip sets weight
clipping; rows are tagged with these settings.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import checkout  # noqa: E402
from students import ENC, bench_recipe, merge  # noqa: E402

QUANTIZE = {
    "export": {"runtimes": ["executorch", "litert", "tflm"]},
    "quantize": {"precisions": ["fp32", "int8", "int8-dynamic", "int4w"]},
    "profile": {"repetitions": 100},
}
VARIANTS = {
    "enc4x128": {"student": ENC},
    "cnn": {"student": {"family": "cnn", "embedding_size": 128, "filters": 128}},
    "enc2x128": {"student": {**ENC, "layers": 2}},
    "teacher": {"student": {"family": "teacher"}},  # the fine-tuned MiniLM itself, quantized
}


def build(name: str, overrides: dict, work: Path, cache: Path, quantize: dict) -> Path:
    recipe = merge(merge(bench_recipe("default"), overrides), quantize)
    recipe["name"] = f"sst2-{name}"
    path = work / f"{name}.yaml"
    path.write_text(json.dumps(recipe))
    out = work / name
    cmd = [sys.executable, "-m", "edgesdk.cli", "build", "--target", "host", "--recipe", str(path), "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "EDGESDK_CACHE_DIR": str(cache)})
    if proc.returncode != 0 and not (out / "verify.json").exists():
        raise RuntimeError((proc.stderr.strip().splitlines() or ["?"])[-1])
    return out  # a build stopped by the accuracy gate still has verify.json: its rows are results


def gated_rows(name: str, setting: str, out: Path) -> list[dict]:
    """Rows of a build the quantization gate stopped (no profile): accuracy and size only."""
    verify = json.loads((out / "verify.json").read_text())
    rows = []
    for v in verify["results"]:
        if v["model"] != "student":
            continue
        rows.append(
            {
                "variant": name,
                "setting": setting,
                "runtime": v["runtime"],
                "precision": v["precision"],
                "accuracy": v["accuracy"],
                "eager_fp32_accuracy": v["fp32_accuracy"],
                "drop_pt": round(100 * (v["fp32_accuracy"] - v["accuracy"]), 2),
                "agreement": v["agreement"],
                "size_bytes": (out / v["path"]).stat().st_size,
                "gate": "passed" if v["passed"] else "failed",
            }
        )
    fp32 = {r["runtime"]: r["size_bytes"] for r in rows if r["precision"] == "fp32"}
    for r in rows:
        r["smaller_than_fp32"] = round(fp32.get(r["runtime"], fp32.get("litert", 0)) / r["size_bytes"], 2)
    return rows


def stock_tflm_arena(build_dir: Path) -> int:
    """Arena of ai-edge-quantizer's static int8 output as it comes (float table by offset)."""
    import torch
    from edgesdk.converters import get_backend
    from edgesdk.converters.litert import SIGNATURE, convert_fp32, stock_static_int8
    from edgesdk.converters.quantizer_registry import quantizer_for

    from edgesdk.compress.quant_methods import calibration_set, deployable
    from edgesdk.models.model_dir import load_model_dir
    from edgesdk.recipe import load_recipe
    from edgesdk.task import load_task

    recipe = load_recipe(str(build_dir / "recipe.yaml"))
    model, tokenizer, _ = load_model_dir(build_dir / "student")
    task = load_task(recipe.data, recipe.seed, {})
    seq = recipe.export.seq_len
    calibration = calibration_set(task.train.texts, tokenizer, recipe.quantize.calibration_samples, seq, recipe.seed)
    backend = get_backend("tflm")
    module = quantizer_for(backend.name, "int8")(deployable(model, seq), calibration, recipe.quantize, seq)
    example = (torch.ones(1, seq, dtype=torch.int32), torch.ones(1, seq, dtype=torch.int32))
    data = stock_static_int8(convert_fp32(module, example), {SIGNATURE: calibration})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "stock.micro.tflite"
        path.write_bytes(data)
        session = backend.open(path, 1)
        ids, mask = calibration.x[:1].numpy(), calibration.mask[:1].numpy()
        session.run(ids, mask)
        return session.memory()["arena_bytes"]


def rows_of(name: str, setting: str, report: dict, stock_arena: int) -> list[dict]:
    arts = [a for a in report["artifacts"] if a["model"] == "student"]
    fp32 = {a["runtime"]: a for a in arts if a["precision"] == "fp32"}
    rows = []
    for a in arts:
        base = fp32.get(a["runtime"], fp32.get("litert"))  # tflm has no fp32 artifact: LiteRT's file
        rows.append(
            {
                "variant": name,
                "setting": setting,
                "runtime": a["runtime"],
                "precision": a["precision"],
                "accuracy": a["accuracy"],
                "eager_fp32_accuracy": report["student"]["accuracy"],
                "drop_pt": round(100 * a["accuracy_drop_vs_fp32"], 2),
                "agreement": a["agreement"],
                "size_bytes": a["size_bytes"],
                "zip_bytes": a.get("zip_bytes"),
                "smaller_than_fp32": round(base["size_bytes"] / a["size_bytes"], 2),
                "p50_ms": a["latency_ms"]["p50"],
                "speedup_vs_fp32": round(base["latency_ms"]["p50"] / a["latency_ms"]["p50"], 2),
                **({"arena_bytes": a["arena_bytes"], "stock_arena_bytes": stock_arena} if "arena_bytes" in a else {}),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="", help="comma-separated variants (default: all)")
    parser.add_argument("--work", type=Path, default=None, help="build dirs (kept; reused on rerun)")
    parser.add_argument("--cache", type=Path, default=None, help="edgesdk cache dir to share across runs")
    parser.add_argument("--json", type=Path, default=Path("bench/results/quantization_sst2.json"))
    parser.add_argument("--qat-steps", type=int, default=0)
    parser.add_argument("--note", default="", help="context for the results table, e.g. machine load")
    parser.add_argument("--clip", default="", help="METHOD:VALUE, e.g. kstd:4 or percentile:99.9")
    args = parser.parse_args()
    quantize = json.loads(json.dumps(QUANTIZE))
    tags = []
    if args.qat_steps:
        quantize["quantize"]["precisions"].append("int8-qat")
        quantize["quantize"]["qat_steps"] = args.qat_steps
        tags.append(f"qat {args.qat_steps}")
    if args.clip:
        method, value = args.clip.split(":")
        quantize["quantize"].update({"clip": method, "clip_value": float(value)})
        tags.append(f"clip {args.clip}")
    setting = ", ".join(tags) or "ptq"
    names = [n for n in args.only.split(",") if n] or list(VARIANTS)
    commit = checkout.commit()
    rows = json.loads(args.json.read_text())["rows"] if args.json.exists() else []
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        cache = args.cache or Path(tmp) / "cache"
        for name in names:
            out = build(name, VARIANTS[name], work, cache, quantize)
            if (out / "report.json").exists():
                new = rows_of(name, setting, json.loads((out / "report.json").read_text()), stock_tflm_arena(out))
            else:
                new = gated_rows(name, setting, out)
            rows = [r for r in rows if (r["variant"], r.get("setting", "ptq")) != (name, setting)] + new
            args.json.parent.mkdir(parents=True, exist_ok=True)
            payload = {"dataset": "sst2", "cpus": os.cpu_count(), "commit": commit, "rows": rows}
            args.json.write_text(json.dumps({**payload, **({"note": args.note} if args.note else {})}, indent=1))
            for r in new:
                print(format_row(r), flush=True)
    print(f"wrote {args.json}")


def format_row(r: dict) -> str:
    if "p50_ms" not in r:
        return f"{r['variant']:<10} [{r['setting']}] {r['runtime']:<10} {r['precision']:<12} acc {r['accuracy']:.4f} ({-r['drop_pt']:+.2f} pt) gate {r['gate']}"
    arena = f" arena {r['arena_bytes']:,} B (stock {r['stock_arena_bytes']:,} B)" if "arena_bytes" in r else ""
    return (
        f"{r['variant']:<10} [{r['setting']}] {r['runtime']:<10} {r['precision']:<12} acc {r['accuracy']:.4f} ({-r['drop_pt']:+.2f} pt) "
        f"agree {r['agreement']:.4f} {r['size_bytes'] / 1e6:6.2f} MB (x{r['smaller_than_fp32']} smaller) "
        f"p50 {r['p50_ms']:.2f} ms (x{r['speedup_vs_fp32']}){arena}"
    )


if __name__ == "__main__":
    main()
