"""Latency/memory runner copied to a Linux board and run there over ssh.

Self-contained on purpose (with board_runtime.py, copied beside it): a board has numpy and
one runtime, not edgesdk. The host tokenizes, so
the board gets token ids and masks (an .npz), never text. Prints one JSON object on its last
stdout line: latency percentiles over the rows (batch 1, cycling through real sentences after
warm-up) and the process's peak RSS, or {"error": ...}.

    python3 board_runner.py MODEL INPUTS.npz --threads 4 --warmup 10 --repetitions 200
"""

import argparse
import json
import platform
import sys
import time

import numpy as np
from board_runtime import open_graph


def _status_bytes(field):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def measure(path, inputs, threads, warmup, repetitions):
    baseline = _status_bytes("VmRSS")
    run, which = open_graph(path, threads)
    data = np.load(inputs)
    ids, mask = data["ids"], data["mask"]
    n = len(ids)
    for i in range(warmup):
        run(ids[i % n : i % n + 1], mask[i % n : i % n + 1])
    times = []
    for i in range(repetitions):
        row = i % n
        start = time.perf_counter()
        run(ids[row : row + 1], mask[row : row + 1])
        times.append((time.perf_counter() - start) * 1e3)
    arr = np.asarray(times)
    return {
        "latency_ms": {
            "mean": round(float(arr.mean()), 4),
            **{f"p{q}": round(float(np.percentile(arr, q)), 4) for q in (50, 90, 99)},
        },
        "latency_samples_ms": [round(t, 4) for t in times],  # the report's latency histogram
        "peak_rss_bytes": _status_bytes("VmHWM"),
        "baseline_rss_bytes": baseline,
        "interpreter": which,
        "threads": threads,
        "warmup": warmup,
        "repetitions": repetitions,
        "machine": platform.machine(),
        "python": platform.python_version(),
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("inputs")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--repetitions", type=int, default=200)
    args = parser.parse_args()
    try:
        result = measure(args.model, args.inputs, args.threads, args.warmup, args.repetitions)
    except Exception as exc:  # reported to the host as one JSON line
        print(json.dumps({"error": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"}))
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
