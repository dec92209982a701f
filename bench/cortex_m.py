"""A real student's .micro.tflite as Cortex-M firmware under qemu: M4, M7, M55 side by side.

For each core: instructions per inference (exact, qemu plugin), the latency estimate from
them (instructions x the spec's CPI / clock; an estimate, not a measurement), the arena the
firmware used vs the tflite-micro Python interpreter's, flash and RAM of the linked image,
and whether the firmware's int8 outputs equal the Python interpreter's on every input.
Inputs are SST-2 dev sentences tokenized with the artifact's own tokenizer. A benchmark,
never a test; the first run per core compiles the TFLM library (minutes), later runs reuse it.

    .venv/bin/python bench/cortex_m.py ARTIFACT.micro.tflite [--inputs 8] [--targets cortex-m4,cortex-m7,cortex-m55]
        [--json bench/results/cortex_m.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import edgesdk
from edgesdk.recipe import ProfileConfig
from edgesdk.task import demo_data_paths

COLUMNS = ("target", "instructions", "est. ms", "arena fw / py", "flash", "RAM", "outputs match", "wall s")


def dev_texts(n: int) -> list[str]:
    import gzip

    lines = gzip.decompress(demo_data_paths()[1].read_bytes()).decode().splitlines()[1 : n + 1]
    return [line.split("\t")[0] for line in lines]


def row(result: dict, wall: float) -> tuple:
    return (
        result["target"],
        f"{result['instructions']['mean']:,.0f}",
        f"{result['latency_ms']['mean']:.2f}",
        f"{result['arena_bytes']:,} / {result['arena_bytes_python']:,}",
        f"{result['flash_bytes']:,}",
        f"{result['ram_bytes']:,}",
        str(result["outputs_match"]),
        f"{wall:.0f}",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("artifact", type=Path)
    parser.add_argument("--inputs", type=int, default=8)
    parser.add_argument("--targets", default="cortex-m4,cortex-m7,cortex-m55")
    parser.add_argument("--json", type=Path, default=Path("bench/results/cortex_m.json"))
    args = parser.parse_args()

    texts = dev_texts(args.inputs)
    results, rows = [], []
    for name in args.targets.split(","):
        start = time.perf_counter()
        result = edgesdk.profile(args.artifact, name, texts, config=ProfileConfig(repetitions=args.inputs))
        wall = time.perf_counter() - start
        results.append({**result, "artifact": str(args.artifact), "wall_s": round(wall, 1)})
        rows.append(row(result, wall))
        print(" | ".join(rows[-1]), flush=True)
    print("\n| " + " | ".join(COLUMNS) + " |\n|" + "---|" * len(COLUMNS))
    for r in rows:
        print("| " + " | ".join(r) + " |")
    for result in results:
        print(f"{result['target']} latency: {result['latency_kind']}, {result['latency_method']}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
