"""Teacher soft-label throughput: fp32 against dynamic int8 (`distill.soft_labels`).

Labelling every training row and augmented copy is one teacher pass over them; in the default
build that pass is ~6 of the prune step's 20 minutes on 2 AVX2 cores. This times
`teacher_soft_labels`' own pass (length-sorted batches of 128, as the build runs it) on real
SST-2 training rows, fp32 and int8-dynamic alternating on the same rows in one process with
threads pinned, and reports the median ratio over rounds and how often the two labels agree.
Pass a fine-tuned teacher (a build's `teacher/` dir, or the cache's `teachers/<key>/`) for a
meaningful agreement; the packaged teacher's classifier head is untrained. A benchmark, never
a test.

    .venv/bin/python bench/soft_labels.py [--teacher DIR] [--rounds 4] [--rows 4096] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import checkout  # noqa: E402

PRECISIONS = ("fp32", "int8-dynamic")


def cpu_flags() -> list[str]:
    """The int8/bf16 dot-product extensions the ratio depends on."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = next((ln.split(":", 1)[1].split() for ln in text.splitlines() if ln.startswith("flags")), [])
    return sorted(f for f in flags if f in {"avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teacher", type=Path, default=None, help="model dir (default: the packaged teacher)")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--rows", type=int, default=4096, help="rows per round (distinct rows each round)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=Path("bench/results/soft_labels.json"))
    args = parser.parse_args()

    import numpy as np
    import torch

    from edgesdk.compress.distill import labelling_teacher
    from edgesdk.models.model_dir import default_teacher_dir, load_model_dir
    from edgesdk.task import demo_data_paths, read_rows
    from edgesdk.train import logits_for_ids

    torch.set_num_threads(args.threads)
    teacher, tokenizer, _ = load_model_dir(args.teacher or default_teacher_dir())
    models = {p: labelling_teacher(teacher, p) for p in PRECISIONS}
    texts = [r["sentence"] for r in read_rows(demo_data_paths()[0])]
    if len(texts) < args.rounds * args.rows:
        sys.exit(f"{len(texts)} training rows: lower --rounds x --rows ({args.rounds} x {args.rows})")
    rates: dict[str, list[float]] = {p: [] for p in PRECISIONS}
    logits: dict[str, list[np.ndarray]] = {p: [] for p in PRECISIONS}
    for r in range(args.rounds):
        encoded = tokenizer.encode(texts[r * args.rows : (r + 1) * args.rows], 64)
        for precision in PRECISIONS if r % 2 == 0 else reversed(PRECISIONS):
            start = time.perf_counter()
            out = logits_for_ids(models[precision], tokenizer, encoded, batch_size=128)
            rates[precision].append(len(encoded) / (time.perf_counter() - start))
            logits[precision].append(out)
        print(f"round {r}: " + ", ".join(f"{p} {rates[p][-1]:.0f} rows/s" for p in PRECISIONS), flush=True)
    fp32, int8 = (np.concatenate(logits[p]) for p in PRECISIONS)
    prob = {p: torch.softmax(torch.from_numpy(x), -1).numpy() for p, x in (("fp32", fp32), ("int8", int8))}
    ratios = [b / a for a, b in zip(rates["fp32"], rates["int8-dynamic"])]
    result = {
        "commit": checkout.commit(),
        "machine": {"platform": platform.platform(), "cpu_flags": cpu_flags(), "threads": args.threads},
        "teacher": str(args.teacher) if args.teacher else "packaged (untrained head)",
        "rows_per_round": args.rows,
        "rounds": args.rounds,
        "rows_per_s": {p: round(statistics.median(rates[p]), 1) for p in PRECISIONS},
        "rounds_rows_per_s": {p: [round(x, 1) for x in rates[p]] for p in PRECISIONS},
        "speedup_int8_vs_fp32": round(statistics.median(ratios), 3),
        "argmax_agreement": round(float(np.mean(fp32.argmax(1) == int8.argmax(1))), 5),
        "mean_abs_prob_diff": round(float(np.abs(prob["fp32"] - prob["int8"]).mean()), 5),
    }
    print(f"{'precision':<14} {'rows/s':>8}")
    for p in PRECISIONS:
        print(f"{p:<14} {result['rows_per_s'][p]:>8.1f}")
    print(
        f"int8-dynamic x{result['speedup_int8_vs_fp32']:.2f} (median of per-round ratios); argmax agreement "
        f"{result['argmax_agreement']:.4f}, mean |p diff| {result['mean_abs_prob_diff']:.4f}"
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
