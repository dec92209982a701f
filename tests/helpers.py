"""Tiny real models for tests: HF checkpoints via save_pretrained and edgesdk Encoders."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path
from typing import Optional

import torch
from edgesdk.converters.quantizer_registry import quantizer_for

from edgesdk.models import Encoder, EncoderConfig, LayerShape
from edgesdk.models.model_dir import default_teacher_dir


def run_rows(session, ids, mask):
    """An artifact's outputs over every row, one batch-1 run each (as deployed), stacked."""
    import numpy as np

    return np.concatenate([session.run(ids[i : i + 1], mask[i : i + 1]) for i in range(len(ids))])


def free_port() -> int:
    """A TCP port nothing listens on now (for servers a test starts: sshd, an adb server)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def save_tiny_bert(
    directory: Path,
    *,
    vocab_size: int = 30522,
    hidden: int = 32,
    layers: int = 2,
    heads: int = 2,
    ffn: int = 64,
    labels: Optional[dict] = None,
    tokenizer: bool = True,
    seed: int = 0,
) -> Path:
    """A random HF BERT checkpoint (with a classification head when `labels` is given)."""
    from transformers import BertConfig, BertForSequenceClassification, BertModel

    torch.manual_seed(seed)
    cfg = BertConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=ffn,
        max_position_embeddings=128,
        **({"num_labels": len(labels), "id2label": labels} if labels else {}),
    )
    model = BertForSequenceClassification(cfg) if labels else BertModel(cfg)
    model.eval().save_pretrained(directory)
    if tokenizer:
        shutil.copy(default_teacher_dir() / "tokenizer.json", directory)
    return directory


def tiny_encoder(
    seed: int = 0,
    *,
    vocab_size: int = 30522,
    hidden: int = 32,
    heads: int = 4,
    ffn: int = 48,
    layers: int = 2,
    dropout: float = 0.1,
    shapes: Optional[tuple] = None,
) -> Encoder:
    torch.manual_seed(seed)
    return Encoder(
        EncoderConfig(
            vocab_size=vocab_size,
            hidden_size=hidden,
            head_dim=hidden // heads,
            max_positions=64,
            layers=shapes or (LayerShape(heads=heads, ffn=ffn),) * layers,
            dropout=dropout,
        )
    )


MUTATIONS = ("bit_flips", "truncation", "wrong_magic", "inflated_field")


def mutant(data: bytes, kind: str, rng) -> bytes:
    """A damaged copy of an artifact file: random bit flips, a cut at a random length, a
    wrong file identifier, or a 4-byte field near the start (offsets, sizes, lengths live
    there) set to a huge value."""
    b = bytearray(data)
    if kind == "bit_flips":
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
    elif kind == "truncation":
        b = b[: rng.randrange(len(b))]
    elif kind == "wrong_magic":
        b[4:8] = bytes(rng.randrange(256) for _ in range(4))
    else:
        pos = rng.randrange(0, min(len(b), 4096) - 4) & ~3
        b[pos : pos + 4] = (0xFFFFFFF0 - rng.randrange(1 << 16)).to_bytes(4, "little")
    return bytes(b)


def tiny_tflm_bundle(out: Path, labels: tuple = ("0", "1"), seq_len: int = 16) -> Path:
    """A 1-layer x 16 int8 encoder as a TFLM artifact bundle (model, bundle.json, the teacher's
    tokenizer), calibrated on real SST-2 rows. The Cortex-M profiler and MCU package tests share
    it, so a test session compiles one TFLM kernel set. Returns the .micro.tflite path."""
    from edgesdk.converters import get_backend
    from edgesdk.converters.bundle import BundleInfo

    from edgesdk.compress.quant_methods import calibration_set, deployable
    from edgesdk.recipe import QuantizeConfig
    from edgesdk.task import LabelMap
    from edgesdk.tokenizer import Tokenizer
    from tests.conftest import sst2_rows

    texts = [line.split("\t")[0] for line in sst2_rows("train", 64)[1:]]
    tokenizer = Tokenizer.from_dir(default_teacher_dir())
    backend = get_backend("tflm")
    calibration = calibration_set(texts, tokenizer, 32, seq_len, seed=0)
    model = deployable(tiny_encoder(hidden=16, heads=2, ffn=32, layers=1, dropout=0.0).eval(), seq_len)
    module = quantizer_for(backend.name, "int8")(model, calibration, QuantizeConfig(calibration_samples=32), seq_len)
    example = (torch.ones(1, seq_len, dtype=torch.int32), torch.ones(1, seq_len, dtype=torch.int32))
    path = out / "model.int8.micro.tflite"
    path.write_bytes(backend.lower(module, example, "int8", calibration))
    BundleInfo(seq_len, LabelMap(tuple(labels))).write(out)
    shutil.copy(default_teacher_dir() / "tokenizer.json", out)
    return path


def int8_stages(backend, methods: dict, plan, tokenizer, texts: list[str], config) -> tuple[dict, dict]:
    """(stage methods through the backend's int8 quantizer, their calibrations): each stage
    calibrated on the inputs it gets in deployment, as the build's lower step does."""
    from edgesdk.converters.staging import stage_calibrations

    calibrations = stage_calibrations(methods, plan, tokenizer, texts)
    quantized = {
        name: (quantizer_for(backend.name, "int8")(stage, calibrations[name], config, example[0].shape[1]), example)
        for name, (stage, example) in methods.items()
    }
    return quantized, calibrations


def median_exit_plan(runner, plan, tokenizer, texts: list[str], seq_len: int):
    """`plan` (one exit) with its threshold at the median exit confidence over `texts`, so
    about half of them stop early: both controller branches run."""
    import dataclasses

    import numpy as np
    from edgesdk.converters.controller import ExitController

    from edgesdk.exit_rule import confidence, softmax

    ids, mask = tokenizer.pad(tokenizer.encode(texts, seq_len), seq_len)
    first = ExitController(runner, plan)
    exit_logits = [next(first.stage_logits(ids[i : i + 1], mask[i : i + 1]))[2] for i in range(len(texts))]
    sure = confidence(softmax(np.asarray(exit_logits, dtype=np.float64)), plan.confidence)
    return dataclasses.replace(plan, thresholds=[float(np.median(sure))])


def tiny_staged_tflm_bundle(out: Path, texts: list[str], seq_len: int = 32, buckets: tuple = (16,)) -> Path:
    """A 2-layer x 16 int8 encoder with an exit after layer 1, staged for TFLM at buckets +
    seq_len (converters/tflm_staged.py) in a bundle with its exits.json. The exit threshold is
    the median exit confidence over `texts`, so about half of them stop early."""
    from edgesdk.converters import get_backend
    from edgesdk.converters.bundle import BundleInfo
    from edgesdk.converters.staged_plan import StagedPlan
    from edgesdk.converters.staging import stage_methods

    from edgesdk.compress.exit_heads import ExitHeads
    from edgesdk.compress.quant_methods import deployable
    from edgesdk.recipe import QuantizeConfig
    from edgesdk.task import LabelMap
    from edgesdk.tokenizer import Tokenizer

    tokenizer = Tokenizer.from_dir(default_teacher_dir())
    backend, config = get_backend("tflm"), QuantizeConfig(calibration_samples=32)
    model = deployable(tiny_encoder(hidden=16, heads=2, ffn=32, layers=2, dropout=0.0).eval(), seq_len)
    plan = StagedPlan([*buckets, seq_len], [1], 2, [0.5], "maxprob")
    torch.manual_seed(1)
    methods = stage_methods(model, ExitHeads(16, 2, 1).eval(), plan)
    quantized, calibrations = int8_stages(backend, methods, plan, tokenizer, texts[:32], config)
    path = out / "model.int8.staged.micro.tflite"
    path.write_bytes(backend.lower_methods(quantized, "int8", calibrations, config))
    median_exit_plan(backend.open_methods(path, 1), plan, tokenizer, texts, seq_len).write(out)
    BundleInfo(seq_len, LabelMap(("neg", "pos"))).write(out)
    shutil.copy(default_teacher_dir() / "tokenizer.json", out)
    return path


# Artifact kinds `edgesdk eval`/`profile` open: single-graph, staged (a method or signature per
# length bucket and stage, see converters/staging.py) and TFLite Micro.
ARTIFACT_KINDS = (
    "model.pte",
    "model.tflite",
    "model.staged.pte",
    "model.staged.tflite",
    "model.int8.micro.tflite",
    "model.int8.staged.micro.tflite",
)
BUNDLE_FILES = ("bundle.json", "tokenizer.json", "exits.json")


def fuzz_seeds(directory: Path, seq_len: int = 16) -> dict[str, Path]:
    """A small valid artifact of every kind in ARTIFACT_KINDS, each in a complete bundle: the
    files the fuzz test and bench/fuzz.py damage. The 200-token models get the teacher's
    tokenizer cut to their vocabulary, so real text runs on them too."""
    from edgesdk.converters import get_backend
    from edgesdk.converters.bundle import BundleInfo
    from edgesdk.converters.staged_plan import StagedPlan
    from edgesdk.converters.staging import stage_methods

    from edgesdk.compress.exit_heads import ExitHeads
    from edgesdk.task import LabelMap
    from edgesdk.tokenizer import Tokenizer
    from tests.conftest import sst2_rows

    small = directory / "small"
    small.mkdir(parents=True)
    model = tiny_encoder(vocab_size=200, hidden=8, heads=2, ffn=16, layers=2, dropout=0.0).eval()
    plan = StagedPlan(buckets=[seq_len], exit_layers=[1], num_layers=2, thresholds=[0.9], confidence="maxprob")
    methods = stage_methods(model, ExitHeads(8, 2, 1).eval(), plan)
    example = (torch.ones(1, seq_len, dtype=torch.int32), torch.ones(1, seq_len, dtype=torch.int32))
    seeds = {}
    for runtime in ("executorch", "litert"):
        backend = get_backend(runtime)
        seeds[f"model{backend.suffix}"] = small / f"model{backend.suffix}"
        seeds[f"model{backend.suffix}"].write_bytes(backend.lower(model, example))
        seeds[f"model.staged{backend.suffix}"] = small / f"model.staged{backend.suffix}"
        seeds[f"model.staged{backend.suffix}"].write_bytes(backend.lower_methods(methods))
    Tokenizer.from_dir(default_teacher_dir()).restricted(range(200)).save(small)
    BundleInfo(seq_len, LabelMap(("neg", "pos"))).write(small)
    plan.write(small)
    micro = directory / "micro"
    micro.mkdir()
    seeds["model.int8.micro.tflite"] = tiny_tflm_bundle(micro, labels=("neg", "pos"), seq_len=seq_len)
    staged_micro = directory / "staged_micro"
    staged_micro.mkdir()
    texts = [line.split("\t")[0] for line in sst2_rows("train", 64)[1:]]
    seeds["model.int8.staged.micro.tflite"] = tiny_staged_tflm_bundle(staged_micro, texts, seq_len=seq_len, buckets=())
    return seeds


def write_mutants(seed: Path, count: int, directory: Path, rng) -> list[tuple[Path, str]]:
    """`count` damaged copies of `seed` (the MUTATIONS in turn), as (path, mutation), in
    `directory` beside copies of the seed's bundle files (a mutant must fail for its own bytes,
    not for a missing tokenizer)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in BUNDLE_FILES:
        if (seed.parent / name).exists():
            shutil.copy(seed.parent / name, directory / name)
    data = seed.read_bytes()
    cases = []
    for i in range(count):
        kind = MUTATIONS[i % len(MUTATIONS)]
        path = directory / f"m{i:05d}.{kind}.{seed.name}"
        path.write_bytes(mutant(data, kind, rng))
        cases.append((path, kind))
    return cases


def guard_outcome(verdict: Optional[str]) -> str:
    """What the guard made of one file: loads, rejected (one line from a check or the runtime),
    crashed child or hung child (the child process died or timed out, the caller did not)."""
    if verdict is None:
        return "loads"
    if "crashed the runtime" in verdict:
        return "crashed child"
    return "hung child" if "hung the runtime" in verdict else "rejected"


def fitted_to_sst2(model: torch.nn.Module, seq_len: int, steps: int, learning_rate: float) -> tuple:
    """(model, tokenizer, texts, ids, mask): `model` trained for `steps` batches of 32 on 200
    SST-2 training rows in the teacher's tokenization, so its predictions have margins that a
    quantized artifact must keep."""
    from edgesdk.tokenizer import Tokenizer
    from tests.conftest import sst2_rows

    rows = [line.split("\t") for line in sst2_rows("train", 200)[1:]]
    texts, labels = [r[0] for r in rows], torch.tensor([int(r[1]) for r in rows])
    tokenizer = Tokenizer.from_dir(default_teacher_dir())
    ids, mask = (torch.from_numpy(a) for a in tokenizer.pad(tokenizer.encode(texts, seq_len), seq_len))
    opt = torch.optim.AdamW(model.parameters(), lr=learning_rate)
    for _ in range(steps):
        batch = torch.randint(0, len(texts), (32,))
        loss = torch.nn.functional.cross_entropy(model(ids[batch], mask[batch]), labels[batch])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval(), tokenizer, texts, ids.numpy(), mask.numpy()
