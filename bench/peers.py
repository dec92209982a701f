"""edgesdk's artifacts vs what a user gets without edgesdk, measured in one interleaved run.

Peer rows take the same fine-tuned teacher weights through the stock flows: HF transformers
in torch eager, `torch.onnx.export` (dynamic batch/length) + ONNX Runtime (fp32 and
`quantize_dynamic` int8), litert-torch `convert` at fixed length 64/128 (fp32 and its PT2E
dynamic-int8 recipe), ExecuTorch `to_edge_transform_and_lower` + XNNPACK (fp32 and the stock
XNNPACKQuantizer dynamic-int8 flow, fixed length 64). edgesdk rows are the default recipe's
artifacts (the fine-tuned teacher, each runtime and precision) and the staged early-exit +
length-bucket artifacts of the same teacher.

Hygiene: every row runs in its own child process (peak RSS is the row's own), with threads
fixed in the runtime and OMP; each child warms up, then R rounds visit every row in a
rotating order, each round timing a slice of the dev set, so drift on a shared machine hits
all rows alike. Batch 1, tokenization outside the timer. Accuracy comes from the same runs:
every row sees every SST-2 dev sentence in the first pass. A benchmark, never a test.

    .venv/bin/python bench/peers.py --out bench/results [--quick] [--threads 2] [--passes 2]

onnxruntime/onnx are the bench-only extra: pip install -e '.[bench]'.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
import checkout  # noqa: E402
from render_results import peers_section  # noqa: E402

MAX_DYNAMIC_LEN = 512  # dynamic-length rows see the whole sentence (BERT's position limit)
ACCURACY_WINDOW = 0.01  # best peer: fastest peer row within 1 pt of the most accurate peer


@dataclass
class Row:
    """One artifact to measure. kind picks the loader in the child; seq_len None = dynamic."""

    name: str
    runtime: str
    precision: str
    peer: bool
    kind: str  # eager | onnx | litert | executorch (peer files) | edgesdk (an artifact in its bundle)
    path: str
    seq_len: Optional[int]
    flow: str
    error: Optional[str] = None
    extra: dict = field(default_factory=dict)


# ---------------------------------------------------------------- the peer model (HF modules)


class MeanPoolClassifier:
    """Factory for the HF model a user would write for this teacher: BertModel + the teacher's
    mean pooling + linear head (BertForSequenceClassification pools CLS through a tanh pooler,
    which this teacher never had, so it cannot hold these weights)."""

    @staticmethod
    def build(teacher_dir: Path):
        import torch
        from transformers import BertConfig, BertModel

        class Model(torch.nn.Module):
            def __init__(self, config: BertConfig, num_labels: int):
                super().__init__()
                self.bert = BertModel(config, add_pooling_layer=False)
                self.classifier = torch.nn.Linear(config.hidden_size, num_labels)

            def forward(self, input_ids, attention_mask):
                hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
                m = attention_mask.unsqueeze(-1).to(hidden.dtype)
                return self.classifier((hidden * m).sum(1) / m.sum(1).clamp(min=1.0))

        cfg = json.loads((teacher_dir / "config.json").read_text())
        layer = cfg["layers"][0]
        config = BertConfig(
            vocab_size=cfg["vocab_size"],
            hidden_size=cfg["hidden_size"],
            num_hidden_layers=len(cfg["layers"]),
            num_attention_heads=layer["heads"],
            intermediate_size=layer["ffn"],
            hidden_act=cfg["activation"],
            layer_norm_eps=cfg["layer_norm_eps"],
            max_position_embeddings=cfg["max_positions"],
            pad_token_id=cfg["pad_token_id"],
        )
        model = Model(config, cfg["num_labels"])
        model.load_state_dict(hf_state(teacher_dir, model.bert), strict=True)
        return model.eval()


def hf_state(teacher_dir: Path, bert) -> dict:
    """The teacher's tensors under HF BertModel names. The name map is hf_import._map_state's
    own: run on HF-named markers (tensor i filled with i), it says which HF tensor each of ours
    came from, so the mapping is kept in one place."""
    import torch

    from edgesdk.models.hf_import import _map_state
    from edgesdk.models.model_dir import load_model_dir

    ours = load_model_dir(teacher_dir)[0]
    theirs = bert.state_dict()
    names = list(theirs)
    markers = {k: torch.full(v.shape, float(i)) for i, (k, v) in enumerate(theirs.items())}
    ours_state = ours.state_dict()
    out = {f"classifier.{p}": ours_state[f"classifier.{p}"] for p in ("weight", "bias")}
    for key, marker in _map_state(markers, ours.config, ours).items():
        if key.startswith("classifier."):
            continue
        name = names[int(marker.flatten()[0])]
        value = ours_state[key]
        if value.shape != theirs[name].shape:  # segment 0's vector -> row 0 of the token-type table
            value = torch.zeros(theirs[name].shape).index_copy(0, torch.tensor([0]), value[None])
        out[f"bert.{name}"] = value
    return out


def example(seq_len: int):
    import torch

    return (torch.ones(1, seq_len, dtype=torch.long), torch.ones(1, seq_len, dtype=torch.long))


# ---------------------------------------------------------------- stock export flows


def export_onnx(model, path: Path, quantized: bool) -> None:
    """torch.onnx.export with dynamic batch and length (the TorchScript exporter: the dynamo one
    needs onnxscript), then onnxruntime's quantize_dynamic for int8."""
    import torch

    fp32 = path.with_name("peer.fp32.onnx")
    if not fp32.exists():
        axes = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"}}
        torch.onnx.export(
            model,
            example(16),
            str(fp32),
            input_names=["input_ids", "attention_mask"],
            output_names=["logits"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
    if quantized:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(str(fp32), str(path), weight_type=QuantType.QInt8)


def pt2e_dynamic(model, args, quantizer):
    """The PT2E recipe both stock flows document: export, prepare, calibrate once, convert."""
    import torch
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    prepared = prepare_pt2e(torch.export.export(model, args).module(), quantizer)
    prepared(*args)
    return convert_pt2e(prepared, fold_quantize=False)


def export_litert(model, path: Path, seq_len: int, quantized: bool) -> None:
    import litert_torch

    args = example(seq_len)
    if quantized:
        from litert_torch.quantize.pt2e_quantizer import PT2EQuantizer, get_symmetric_quantization_config
        from litert_torch.quantize.quant_config import QuantConfig

        quantizer = PT2EQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True, is_dynamic=True))
        edge = litert_torch.convert(
            pt2e_dynamic(model, args, quantizer), args, quant_config=QuantConfig(pt2e_quantizer=quantizer)
        )
    else:
        edge = litert_torch.convert(model, args)
    edge.export(str(path))


def export_executorch(model, path: Path, seq_len: int, quantized: bool) -> None:
    import torch
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    args = example(seq_len)
    if quantized:
        from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
            XNNPACKQuantizer,
            get_symmetric_quantization_config,
        )

        quantizer = XNNPACKQuantizer().set_global(
            get_symmetric_quantization_config(is_per_channel=True, is_dynamic=True)
        )
        model = pt2e_dynamic(
            model, args, quantizer
        )  # fails on HF BertModel's mask indexing: reported as the row's error
    program = to_edge_transform_and_lower(torch.export.export(model, args), partitioner=[XnnpackPartitioner()])
    path.write_bytes(program.to_executorch().buffer)


EXPORTERS = {"onnx": export_onnx, "litert": export_litert, "executorch": export_executorch}


def peer_rows(work: Path) -> list[Row]:
    """The stock flows, one row each (files live in work/, keyed by the teacher's hash)."""
    rows = [Row("torch eager (HF)", "torch", "fp32", True, "eager", "", None, "transformers BertModel + mean pool")]
    for q in (False, True):
        prec = "int8-dynamic" if q else "fp32"
        rows.append(
            Row(
                f"onnxruntime {prec}",
                "onnxruntime",
                prec,
                True,
                "onnx",
                str(work / f"peer.{prec}.onnx"),
                None,
                "torch.onnx.export dynamic axes" + (" + quantize_dynamic" if q else ""),
            )
        )
        for n in (64, 128):
            rows.append(
                Row(
                    f"litert {prec} L{n}",
                    "litert",
                    prec,
                    True,
                    "litert",
                    str(work / f"peer.{prec}.L{n}.tflite"),
                    n,
                    "litert_torch.convert" + (" + PT2E dynamic int8" if q else ""),
                )
            )
        rows.append(
            Row(
                f"executorch {prec} L64",
                "executorch",
                prec,
                True,
                "executorch",
                str(work / f"peer.{prec}.L64.pte"),
                64,
                "to_edge_transform_and_lower XNNPACK" + (" + XNNPACKQuantizer dynamic" if q else ""),
            )
        )
    return rows


def export_peers(rows: list[Row], teacher_dir: Path) -> None:
    """Export each missing peer file; a flow that fails becomes that row's error (a finding)."""
    model = None
    for row in rows:
        if row.kind == "eager" or Path(row.path).exists():
            continue
        model = model or MeanPoolClassifier.build(teacher_dir)
        start = time.perf_counter()
        try:
            quantized = row.precision != "fp32"
            if row.kind == "onnx":
                export_onnx(model, Path(row.path), quantized)
            else:
                EXPORTERS[row.kind](model, Path(row.path), row.seq_len, quantized)
        except Exception as exc:  # noqa: BLE001 - recorded as the row's result
            row.error = f"export failed: {str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__}"
        row.extra["export_s"] = round(time.perf_counter() - start, 1)
        print(f"exported {row.name}: {row.error or 'ok'} ({row.extra['export_s']} s)", flush=True)


# ---------------------------------------------------------------- edgesdk rows


def build_label(build: Path) -> str:
    """'' for a build that ships the teacher (the default recipe), else the student's kind and
    shape (e.g. 'cnn 1.7M'), so rows of several builds stay apart."""
    if not (build / "report.json").exists():  # a build stopped at a gate: its student is the teacher
        return ""
    report = json.loads((build / "report.json").read_text())
    s = report["student"]
    return (
        ""
        if s["kind"] == "teacher" and s["params"] == report["teacher"]["params"]
        else f"{s['kind']} {s['params'] / 1e6:.1f}M "
    )


def artifact_rows(build: Path, staged: bool, prefix: str = "edgesdk", model: str = "student") -> list[Row]:
    """One build's artifacts of `model` (student, or the teacher lowered beside it); TFLM files
    are left out: they run on MCUs, not here."""
    seq_len = json.loads((build / "artifacts" / "bundle.json").read_text())["seq_len"]
    label = build_label(build) if model == "student" else ""
    rows = []
    for a in json.loads((build / "verify.json").read_text())["results"]:
        if a["model"] != model or a["runtime"] == "tflm" or bool(a.get("staged")) != staged:
            continue
        name = f"{prefix} {label}{a['runtime']} {a['precision']}" + (" exits+buckets" if staged else f" L{seq_len}")
        rows.append(
            Row(
                name,
                a["runtime"],
                a["precision"],
                False,
                "edgesdk",
                str(build / a["path"]),
                seq_len,
                "edgesdk build" + (" (exits + buckets)" if staged else ""),
                extra={"build": str(build)},
            )
        )
    return rows


def edgesdk_rows(builds: list[Path], exits_build: Optional[Path]) -> list[Row]:
    """Every student artifact of the given builds, plus the staged ones of the exits build."""
    rows = [r for b in builds for r in artifact_rows(b, staged=False)]
    return rows + (artifact_rows(exits_build, staged=True) if exits_build else [])


# ---------------------------------------------------------------- child: load one row, time slices


def open_row(row: Row, teacher_dir: Path, threads: int):
    """(encode(texts) -> per-sentence (ids, mask) arrays, run(ids, mask) -> logits)."""
    if row.kind == "edgesdk":
        from edgesdk.converters.bundle import open_artifact

        loaded = open_artifact(Path(row.path), threads)

        def encode(texts):
            ids, mask = loaded.encode(texts)
            return [(ids[i : i + 1], mask[i : i + 1]) for i in range(len(texts))]

        return encode, loaded.session.run
    from edgesdk.tokenizer import Tokenizer

    tokenizer = Tokenizer.from_dir(teacher_dir)

    def encode(texts):
        n = row.seq_len or MAX_DYNAMIC_LEN
        ids, mask = tokenizer.pad(tokenizer.encode(texts, n), n)
        dtype = np.int32 if row.kind == "litert" else np.int64  # litert-torch makes int64 inputs int32
        ids, mask = ids.astype(dtype), mask.astype(dtype)
        lengths = mask.sum(1) if row.seq_len is None else np.full(len(texts), n)
        return [(ids[i : i + 1, : lengths[i]], mask[i : i + 1, : lengths[i]]) for i in range(len(texts))]

    return encode, peer_runner(row, teacher_dir, threads)


def peer_runner(row: Row, teacher_dir: Path, threads: int):
    if row.kind == "eager":
        import torch

        torch.set_num_threads(threads)
        model = MeanPoolClassifier.build(teacher_dir)

        def run(ids, mask):
            with torch.inference_mode():
                return model(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()

        return run
    if row.kind == "onnx":
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
        session = ort.InferenceSession(row.path, opts, providers=["CPUExecutionProvider"])
        return lambda ids, mask: session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
    from edgesdk.converters.executorch import ExecuTorchSession
    from edgesdk.converters.litert import LiteRTSession

    session = {"litert": LiteRTSession, "executorch": ExecuTorchSession}[row.kind](Path(row.path), threads)
    return session.run


def worker(spec: dict) -> None:
    """Child: load the row, warm up, then time the index slices the parent sends on stdin."""
    from edgesdk.targets.host_runner import peak_rss_bytes

    row = Row(**spec["row"])
    texts = json.loads(Path(spec["texts"]).read_text())
    start = time.perf_counter()
    encode, run = open_row(row, Path(spec["teacher"]), spec["threads"])
    inputs = encode(texts)
    for i in range(spec["warmup"]):
        run(*inputs[i % len(inputs)])
    print(json.dumps({"ready": True, "load_s": round(time.perf_counter() - start, 2)}), flush=True)
    for line in sys.stdin:
        times, preds = [], []
        for i in json.loads(line):
            t0 = time.perf_counter()
            logits = run(*inputs[i])
            times.append((time.perf_counter() - t0) * 1e3)
            preds.append(int(np.argmax(logits[0])))
        print(json.dumps({"ms": times, "pred": preds}), flush=True)
    print(json.dumps({"peak_rss_bytes": peak_rss_bytes()}), flush=True)


class Child:
    """A row's child process, spoken to one JSON line at a time."""

    def __init__(self, row: Row, spec: dict, threads: int):
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), PYTHONPATH=str(ROOT))
        cmd = [sys.executable, __file__, "--worker", json.dumps({**spec, "row": asdict(row)})]
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )

    def read(self) -> dict:
        while True:
            line = self.proc.stdout.readline()
            if not line:
                tail = (self.proc.stderr.read().strip().splitlines() or ["no output"])[-1]
                raise RuntimeError(f"child exited {self.proc.wait()}: {tail[:200]}")
            start = line.find('{"')  # a runtime's own log line may lack its newline and prefix ours
            if start >= 0:
                return json.loads(line[start:])

    def time(self, indices: list[int]) -> dict:
        self.proc.stdin.write(json.dumps(indices) + "\n")
        self.proc.stdin.flush()
        return self.read()

    def close(self) -> int:
        self.proc.stdin.close()
        rss = self.read()["peak_rss_bytes"]
        self.proc.wait()
        return rss


# ---------------------------------------------------------------- parent: schedule, summarize


def schedule(n: int, passes: int, rounds: int) -> list[list[int]]:
    """Index slices, one per round: `passes` walks over the n sentences, cut into `rounds`."""
    order = [i for _ in range(passes) for i in range(n)]
    return [s.tolist() for s in np.array_split(order, rounds)]


# Live children at once: each holds its runtime and model in memory (63 children once used
# ~14 GB), so rows are measured in groups of this many, each group interleaved round by round.
MAX_CHILDREN = 8


def measure(
    rows: list[Row], spec: dict, threads: int, rounds: list[list[int]], n: int, max_children: int = MAX_CHILDREN
) -> None:
    """Measure rows in groups of at most `max_children` live children; within a group, rotate
    through its rows round by round (drift hits them alike; across groups it may not: each
    group's time span is in the output)."""
    live = [r for r in rows if r.error is None]
    names = [r.name for r in live]
    if len(set(names)) != len(names):
        raise ValueError(f"row names must be unique: {sorted({n for n in names if names.count(n) > 1})}")
    groups = [live[i : i + max_children] for i in range(0, len(live), max_children)]
    for g, group in enumerate(groups):
        print(f"group {g + 1}/{len(groups)}: {len(group)} rows", flush=True)
        started = time.time()
        measure_group(group, spec, threads, rounds, n)
        for r in group:
            r.extra["group"] = {"index": g, "started": round(started), "seconds": round(time.time() - started, 1)}


def measure_group(live: list[Row], spec: dict, threads: int, rounds: list[list[int]], n: int) -> None:
    """Start each row's child, then rotate through the rows round by round; every child is
    closed (its memory freed) before the next group starts."""
    children = {}
    for r in live:  # started one at a time, so loading does not contend with other loading
        try:
            children[r.name] = Child(r, spec, threads)
            r.extra["load_s"] = children[r.name].read()["load_s"]
        except RuntimeError as exc:
            r.error = f"load failed: {exc}"
    live = [r for r in live if r.error is None]
    times = {r.name: [] for r in live}
    preds = {r.name: {} for r in live}
    round_p50 = {r.name: [] for r in live}
    for k, indices in enumerate(rounds if live else []):
        for r in live[k % len(live) :] + live[: k % len(live)]:
            out = children[r.name].time(indices)
            times[r.name] += out["ms"]
            round_p50[r.name].append(float(np.median(out["ms"])))
            for i, p in zip(indices, out["pred"]):
                preds[r.name].setdefault(i, p)  # the first pass decides (runtimes are deterministic)
        print(f"round {k + 1}/{len(rounds)} done", flush=True)
    for r in live:
        r.extra.update(summarize(times[r.name], round_p50[r.name]), peak_rss_bytes=children[r.name].close())
        r.extra["predictions"] = [preds[r.name][i] for i in range(n) if i in preds[r.name]]


def summarize(ms: list[float], round_p50: list[float]) -> dict:
    from edgesdk.converters.evaluation import percentiles

    arr = np.asarray(ms)
    q25, q75 = np.percentile(arr, [25, 75])
    return {
        "latency_ms": percentiles(arr),
        "spread": {
            "std_ms": round(float(arr.std()), 4),
            "iqr_ms": round(float(q75 - q25), 4),
            "round_p50_min_ms": round(min(round_p50), 4),
            "round_p50_max_ms": round(max(round_p50), 4),
        },
        "timed_sentences": len(ms),
    }


def result_rows(rows: list[Row], labels: list[int], truncated: dict) -> list[dict]:
    out = []
    for r in rows:
        base = {
            "name": r.name,
            "runtime": r.runtime,
            "precision": r.precision,
            "peer": r.peer,
            "flow": r.flow,
            "seq_len": r.seq_len or "dynamic",
            "path": r.path,
        }
        if r.error or "latency_ms" not in r.extra:
            out.append({**base, "error": r.error or "not measured"})
            continue
        preds = r.extra.pop("predictions")
        acc = float(np.mean(np.array(preds) == np.array(labels[: len(preds)])))
        size = Path(r.path).stat().st_size if r.path else None
        out.append(
            {
                **base,
                "accuracy": round(acc, 4),
                "accuracy_rows": len(preds),
                "size_bytes": size,
                **r.extra,
                **({"truncated_sentences": truncated[r.seq_len]} if r.seq_len in truncated else {}),
            }
        )
    return out


def best(rows: list[dict], peer: bool, best_peer_acc: float) -> Optional[dict]:
    """Fastest row (mean latency) of the group within ACCURACY_WINDOW of the best peer accuracy."""
    ok = [r for r in rows if r["peer"] == peer and "accuracy" in r and r["accuracy"] >= best_peer_acc - ACCURACY_WINDOW]
    return min(ok, key=lambda r: r["latency_ms"]["mean"], default=None)


def add_ratios(rows: list[dict]) -> dict:
    measured = [r for r in rows if "accuracy" in r]
    best_acc = max((r["accuracy"] for r in measured if r["peer"]), default=0.0)
    ref, ours = best(rows, True, best_acc), best(rows, False, best_acc)
    fastest = best(rows, False, 0.0)
    if ref is None:
        return {}
    for r in measured:
        r["vs_best_peer"] = {
            "latency_x": round(r["latency_ms"]["mean"] / ref["latency_ms"]["mean"], 3),
            "size_x": round(r["size_bytes"] / ref["size_bytes"], 3) if r["size_bytes"] and ref["size_bytes"] else None,
            "rss_x": round(r["peak_rss_bytes"] / ref["peak_rss_bytes"], 3),
            "accuracy_pt": round(100 * (r["accuracy"] - ref["accuracy"]), 2),
        }
    return {
        "rule": f"best peer = lowest mean latency among peer rows with accuracy >= best peer accuracy "
        f"({best_acc:.4f}) - {ACCURACY_WINDOW:.2f}; edgesdk best = the same rule over edgesdk rows",
        "best_peer": ref["name"],
        "best_edgesdk": ours["name"] if ours else None,
        **({"edgesdk_vs_peer": ours["vs_best_peer"]} if ours else {}),
        # the student trade-off: edgesdk's fastest row at whatever accuracy it has
        **({"fastest_edgesdk": fastest["name"], "fastest_vs_peer": fastest["vs_best_peer"]} if fastest else {}),
    }


def machine(threads: int) -> dict:
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "threads": threads,
        "nice": os.nice(0),
        "platform": platform.platform(),
        "loadavg_start": os.getloadavg(),
    }


def teacher_hash(teacher_dir: Path) -> str:
    return hashlib.sha256((teacher_dir / "model.safetensors").read_bytes()).hexdigest()[:12]


def dev_split(build: Path):
    from edgesdk.recipe import load_recipe
    from edgesdk.task import load_task

    recipe = load_recipe(str(build / "recipe.yaml"))
    return load_task(recipe.data, recipe.seed, data_overrides(build)).dev


def data_overrides(build: Path) -> dict:
    """The --train/--dev files the build was given (recipe.yaml keeps only the recipe; the
    data step records the files it read). Bundled demo data records a path inside whichever
    checkout built it, so a source that no longer exists falls back to the recipe."""
    stats = json.loads((build / "data" / "stats.json").read_text())
    sources = {k: v for k, v in stats["sources"].items() if v and Path(v).exists()}
    if "train" not in sources:
        return {}
    return {**sources, "text_column": stats["text_column"], "label_column": stats["label_column"]}


def truncation(texts: list[str], teacher_dir: Path, lengths: set) -> dict:
    """How many dev sentences a fixed-length row cuts (tokens incl. [CLS]/[SEP] > length)."""
    from edgesdk.tokenizer import Tokenizer

    n = [len(x) for x in Tokenizer.from_dir(teacher_dir).encode(texts, MAX_DYNAMIC_LEN)]
    return {L: int(sum(k > L for k in n)) for L in lengths if L}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=None, help="writes OUT/peers.json and OUT/peers.md (required)")
    parser.add_argument(
        "--build",
        type=Path,
        default=ROOT / "build" / "default",
        help="edgesdk build of the default recipe (artifacts + teacher/)",
    )
    parser.add_argument(
        "--student-build",
        type=Path,
        action="append",
        default=[],
        help="another edgesdk build whose student artifacts become rows (repeatable)",
    )
    parser.add_argument("--exits-build", type=Path, default=None, help="edgesdk build with exits (staged artifacts)")
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / ".work" / "peers", help="peer exports (reused)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--passes", type=int, default=2, help="walks over the dev set per row")
    parser.add_argument("--rounds", type=int, default=8, help="interleaving rounds (slices)")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--max-children", type=int, default=MAX_CHILDREN, help="rows measured at once (memory bound)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 32 sentences, 1 pass, 2 rounds")
    parser.add_argument("--only", default="", help="comma-separated substrings of row names")
    parser.add_argument("--note", default="", help="e.g. what else was running on the machine")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(json.loads(args.worker))
    if args.out is None:
        parser.error("--out DIR is required")
    wall = time.perf_counter()
    info = machine(args.threads)
    teacher_dir = args.build / "teacher"
    work = args.work / teacher_hash(teacher_dir)
    work.mkdir(parents=True, exist_ok=True)
    split = dev_split(args.build)
    texts, labels = list(split.texts), list(split.labels)
    if args.quick:
        texts, labels, args.passes, args.rounds, args.warmup = texts[:32], labels[:32], 1, 2, 3
    rows = peer_rows(work) + edgesdk_rows([args.build, *args.student_build], args.exits_build)
    rows = [r for r in rows if not args.only or any(s in r.name for s in args.only.split(","))]
    export_peers(rows, teacher_dir)
    (work / "texts.json").write_text(json.dumps(texts))
    spec = {
        "texts": str(work / "texts.json"),
        "teacher": str(teacher_dir),
        "threads": args.threads,
        "warmup": args.warmup,
    }
    measure(rows, spec, args.threads, schedule(len(texts), args.passes, args.rounds), len(texts), args.max_children)
    results = result_rows(rows, labels, truncation(texts, teacher_dir, {r.seq_len for r in rows}))
    summary = add_ratios(results)
    info.update(loadavg_end=os.getloadavg(), note=args.note)
    payload = {
        "dataset": "sst2",
        "dev_rows": len(texts),
        "passes": args.passes,
        "rounds": args.rounds,
        "warmup": args.warmup,
        "quick": args.quick,
        "teacher": str(teacher_dir),
        "build": str(args.build),
        "student_builds": [str(b) for b in args.student_build],
        "exits_build": str(args.exits_build) if args.exits_build else None,
        "machine": info,
        "commit": checkout.commit(),
        "summary": summary,
        "wall_s": round(time.perf_counter() - wall, 1),
        "rows": results,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "peers.json").write_text(json.dumps(payload, indent=1) + "\n")
    table = "\n".join(peers_section(payload))
    (args.out / "peers.md").write_text(table + "\n")
    print(table)
    print(f"wrote {args.out / 'peers.json'} and {args.out / 'peers.md'}")


if __name__ == "__main__":
    main()
