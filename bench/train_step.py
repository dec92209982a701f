"""Training-step throughput: the loop as it was (torch dropout, per-tensor AdamW) against what
`edgesdk/train.py` runs now (dropout mask from 16-bit words, fused AdamW).

Both variants run the same KD step (forward, KL to fixed soft labels, backward, clip, AdamW) on
the same length-grouped batches of real SST-2 training rows, tokenized by the default teacher,
word table frozen as in the default recipe. Shapes: the teacher (6 x 12 heads x 1536) and the
default recipe's pruned student (heads per layer as its importance ranking left them, FFN 384).
Weights are random: a step's cost does not depend on their values. Rounds alternate A, B, A, B
in one process with threads pinned, so the ratio survives a noisy machine; the table gives the
median over rounds. A benchmark, never a test.

    .venv/bin/python bench/train_step.py [--rounds 4] [--steps 60] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import checkout  # noqa: E402

# Heads per layer of the default build's pruned teacher (prune.json of a default build).
PRUNED_DEFAULT_HEADS = (9, 7, 7, 4, 5, 4)
SHAPES = {
    "teacher": [(12, 1536)] * 6,
    "pruned default": [(h, 384) for h in PRUNED_DEFAULT_HEADS],
}
VARIANTS = ("torch dropout + AdamW", "edgesdk dropout + fused AdamW")


def make_model(layers: list[tuple[int, int]], variant: str):
    import torch

    from edgesdk.models.dropout import Dropout
    from edgesdk.models.encoder import Encoder, EncoderConfig, LayerShape

    cfg = EncoderConfig(
        vocab_size=30522,
        hidden_size=384,
        head_dim=32,
        max_positions=512,
        layers=tuple(LayerShape(heads=h, ffn=f) for h, f in layers),
    )
    model = Encoder(cfg)
    if variant == VARIANTS[0]:
        for parent in list(model.modules()):
            for name, child in list(parent.named_children()):
                if isinstance(child, Dropout):
                    setattr(parent, name, torch.nn.Dropout(child.p))
    model.word_embeddings.weight.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-5, fused=variant == VARIANTS[1])
    return model.train(), params, optimizer


def run_round(model, params, optimizer, batches, encoded, tokenizer, soft, warmup: int) -> float:
    """Rows per second over `batches` after `warmup` of them."""
    import torch

    from edgesdk.compress.losses import kd_loss
    from edgesdk.train import collate

    rows, start = 0, None
    for i, idx in enumerate(batches):
        if i == warmup:
            rows, start = 0, time.perf_counter()
        ids, mask = collate(encoded, idx, tokenizer)
        loss = kd_loss(model(ids, mask), soft[idx], 1.0)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        rows += len(idx)
    return rows / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--steps", type=int, default=60, help="timed steps per round (after 5 warm-up steps)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--json", type=Path, default=Path("bench/results/train_step.json"))
    args = parser.parse_args()

    import torch

    from edgesdk.models.model_dir import default_teacher_dir
    from edgesdk.task import demo_data_paths, read_rows
    from edgesdk.tokenizer import Tokenizer
    from edgesdk.train import length_grouped_batches

    torch.set_num_threads(args.threads)
    tokenizer = Tokenizer.from_dir(default_teacher_dir())
    texts = [r["sentence"] for r in read_rows(demo_data_paths()[0])]
    encoded = tokenizer.encode(texts, 64)
    soft = torch.softmax(torch.randn(len(encoded), 2, generator=torch.Generator().manual_seed(0)), -1)
    batches = length_grouped_batches([len(e) for e in encoded], args.batch_size, random.Random(0))
    warmup = 5
    rows = []
    for shape, layers in SHAPES.items():
        rates: dict[str, list[float]] = {v: [] for v in VARIANTS}
        for r in range(args.rounds):
            chosen = batches[r * (warmup + args.steps) : (r + 1) * (warmup + args.steps)]
            for variant in VARIANTS:  # same batches for both, alternating
                torch.manual_seed(r)
                model, params, optimizer = make_model(layers, variant)
                rates[variant].append(run_round(model, params, optimizer, chosen, encoded, tokenizer, soft, warmup))
        base = statistics.median(rates[VARIANTS[0]])
        for variant in VARIANTS:
            median = statistics.median(rates[variant])
            ratios = [b / a for a, b in zip(rates[VARIANTS[0]], rates[variant])]
            rows.append(
                {
                    "shape": shape,
                    "variant": variant,
                    "rows_per_s": round(median, 1),
                    "steps_per_s": round(median / args.batch_size, 2),
                    "rounds_rows_per_s": [round(x, 1) for x in rates[variant]],
                    "speedup_vs_torch": round(statistics.median(ratios), 3),
                }
            )
            print(f"{shape:15s} {variant:32s} {median:7.1f} rows/s  x{median / base:.2f}", flush=True)
    payload = {
        "commit": checkout.commit(),
        "machine": {"platform": platform.platform(), "threads": args.threads},
        "batch_size": args.batch_size,
        "rounds": args.rounds,
        "steps_per_round": args.steps,
        "rows": rows,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(payload, indent=1) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
