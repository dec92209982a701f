"""The MCU packager: a .micro.tflite bundle -> a self-contained firmware project (Makefile).

The project (apps/mcu_project.py) tokenizes on the device with a C WordPiece tokenizer whose
tables are read off HF `tokenizers` (edgesdk/ondevice/mcu_tables.py), runs TFLM + CMSIS-NN with exactly
the model's ops and an arena sized from the firmware's measured need plus a margin, and
targets the qemu machine of the target spec (board glue shared with the Cortex-M profiler).
Its checks (apps/mcu_check.py) compile and run what was written, here, against Python.

A staged artifact (model.int8.staged.micro.tflite: a flatbuffer per length bucket and stage,
converters/tflm_staged.py) ships with the C early-exit controller (staged_classifier.cc) and
its exit plan, and its check compares the controller's exit decisions with Python's.
"""

from __future__ import annotations

from typing import Optional

from edgesdk.apps.mcu_check import check_device, check_host_tokenizer
from edgesdk.apps.mcu_project import ProjectSpec, StagedLayout, write_project
from edgesdk.apps.packager_registry import (
    PackageRequest,
    PackageResult,
    count_files,
    register,
    register_preflight,
    require_file,
)
from edgesdk.converters.bundle import BundleInfo
from edgesdk.converters.registry import backend_for_path
from edgesdk.converters.staged_plan import StagedPlan, is_staged
from edgesdk.converters.tflm_staged import TFLMMethods
from edgesdk.targets.cortex_m.boards import board_for
from edgesdk.targets.cortex_m.firmware import arena_size
from edgesdk.targets.cortex_m.kernels import bindings_for, library_sources, model_ops
from edgesdk.targets.cortex_m.mcu_profiler import probe_arena_bytes, profile_mcu
from edgesdk.targets.cortex_m.toolchain import find_toolchain
from edgesdk.targets.registry import get_target

from edgesdk.errors import PackageError, TargetError
from edgesdk.fsutil import atomic_dir
from edgesdk.ondevice.escape import markdown_text
from edgesdk.ondevice.wordpiece import WordPieceSpec
from edgesdk.recipe import ProfileConfig
from edgesdk.tokenizer import load_artifact_tokenizer

DEFAULT_TARGET = "cortex-m7"
# The arena the project ships: the least that allocated in the firmware under qemu (bisected
# to 256 B by targets/cortex_m) plus this margin, for a TFLM or compiler update on the board.
ARENA_MARGIN_FRACTION, ARENA_MARGIN_MIN = 0.10, 1024
DEMO_TEXTS = ("a gorgeous, witty, seductive movie.", "the plot is nothing but boilerplate clichés.")


def _target(request: PackageRequest):
    return request.target if request.target is not None else get_target(DEFAULT_TARGET)


@register_preflight("mcu")
def preflight(target) -> tuple:
    """(board, toolchain) for `target`, or one PackageError naming what to install or set;
    cheap, so a build can call it before training."""
    try:
        return board_for(target), find_toolchain()
    except TargetError as exc:
        raise PackageError(f"cannot build the {target.id} firmware package: {exc}") from None


def needed_arena(request: PackageRequest, target, stages: Optional[TFLMMethods]) -> int:
    """The arena the firmware needed under qemu: the build's profile record, else measured
    now with the profiler (one text). A staged model re-plans one arena per stage, so it needs
    the largest stage's; the profiler measures single graphs only, so that is the profiler's
    probe size over the largest stage's Python-interpreter arena (not bisected: a margin for
    CMSIS-NN's scratch buffers; the check reports what the firmware kept allocated)."""
    if stages is not None:
        return probe_arena_bytes(stages.arena_bytes(), board_for(target))
    known = request.profile.get("arena_capacity_bytes")
    if known:
        return int(known)

    texts = list(request.check_texts[:1]) or list(DEMO_TEXTS[:1])
    return int(profile_mcu(request.artifact, texts, ProfileConfig(repetitions=1), target)["arena_capacity_bytes"])


def shipped_arena(needed: int, staged: bool = False) -> int:
    """The measured need plus the margin; a staged model's need is already a probe size."""
    return arena_size(needed if staged else needed + max(ARENA_MARGIN_MIN, int(needed * ARENA_MARGIN_FRACTION)))


def readme(request: PackageRequest, target, spec: ProjectSpec, needed: int, table_bytes: dict) -> str:
    measured = dict(request.measured)
    for key in ("flash_bytes", "ram_bytes", "arena_bytes", "latency_ms"):
        if key in request.profile:
            measured[f"{key} (profiler, qemu {spec.board.machine})"] = request.profile[key]
    lines = "".join(f"- {k}: {v}\n" for k, v in sorted(measured.items(), key=lambda kv: kv[0])) or "- (none)\n"
    tables = "".join(f"- {k}: {v} B\n" for k, v in table_bytes.items())
    return (
        f"# {markdown_text(request.app_name)}: text classifier firmware for {target.id}\n\n"
        "Made by `edgesdk build`. A bare-metal TFLite Micro + CMSIS-NN project: the sentence is\n"
        "tokenized on the device (C WordPiece, tables in flash), classified by "
        f"`model/{spec.artifact.name}`\n({spec.seq_len} tokens, labels {', '.join(map(markdown_text, spec.labels))}), "
        "and the label printed.\n\n"
        "## Build and run under qemu\n\n"
        "Needs `gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib qemu-system-arm`\n"
        "and the TFLM tree (`EDGESDK_TFLM_DIR`, default the one this project was generated with).\n\n"
        "```\nmake -j2        # first build compiles TFLM (only this model's kernels): minutes\n"
        f"make run        # qemu-system-arm -M {spec.board.machine}: prints ids, int8 logits, label\n"
        "make host-tokenizer   # the C tokenizer on this machine (build/tokenize_host)\n```\n\n"
        "## Files\n\n"
        "- `src/classifier.{h,cc}`: `edgesdk_classifier_init()`, `edgesdk_classify(text, len, &result)`\n"
        "  (label, softmax probabilities, raw int8 logits, the ids)\n"
        + (staged_files(spec) if spec.exits is not None else "")
        + "- `src/wordpiece.{h,c}` + `src/tokenizer_tables.{h,c}`: BertNormalizer + BertPreTokenizer +\n"
        "  WordPiece, C99, no malloc; the tables are generated from HF `tokenizers`\n"
        "- `src/model_ops.h`: an op resolver registering exactly the model's "
        f"{len(spec.bindings)} ops ({', '.join(b.op for b in spec.bindings)})\n"
        + arena_line(spec, needed)
        + "- `src/main.cc`, `src/texts.c`: the demo; replace with your input and output\n"
        "- `board/`: startup, linker script and memory map for the qemu machine\n\n"
        f"Flash taken by the tokenizer tables:\n\n{tables}\n"
        "## On a real board\n\n"
        f"Checked here under qemu (`{spec.board.machine}`) only; no real board was run. To port:\n\n"
        "- startup and vector table: use your vendor's (`board/startup.c` is a minimal one that\n"
        "  enables the FPU and initialises .data/.bss); set up clocks (PLL to the part's speed),\n"
        "  caches (I/D cache on for Cortex-M7) and, if used, TCM placement\n"
        "- linker script: `board/memory.ld` maps the qemu machine's RAM; give FLASH, MODEL (the\n"
        "  model and tables can live in internal flash or memory-mapped QSPI) and RAM your part's\n"
        "  addresses and sizes; the arena and stack need RAM\n"
        "- console: the firmware prints through semihosting (`--specs=rdimon.specs`), which halts\n"
        "  without a debugger; retarget `_write` to your UART and link `--specs=nosys.specs`\n"
        "- latency: qemu counts instructions, not cycles; measure on the board (DWT cycle counter)\n\n"
        f"## Measured by the build\n\n{lines}"
    )


def model_ops_of(artifact, stages: Optional[TFLMMethods]) -> list[str]:
    """The ops the firmware must register: a staged model's, over all its stages."""
    if stages is None:
        return model_ops(artifact.read_bytes())
    return sorted({op for stage in stages.stages.values() for op in model_ops(stage)})


def staged_files(spec: ProjectSpec) -> str:
    plan = spec.exits.plan
    return (
        "  In this project `src/staged_classifier.cc` takes classifier.cc's place: the early-exit\n"
        f"  controller. The model holds a flatbuffer per length bucket ({', '.join(map(str, plan.buckets))} tokens)\n"
        f"  and stage (exits after layers {', '.join(map(str, plan.exit_layers))} of {plan.num_layers});"
        " a sentence runs the\n"
        "  smallest bucket that holds it and stops at the first exit whose softmax confidence reaches\n"
        "  its threshold (`src/exit_plan.h`, from the bundle's exits.json). `result.exit_index`,\n"
        "  `result.layers` and `result.bucket` say what ran. `make EXTRA_DEFINES=-DEDGESDK_NEVER_EXIT`\n"
        "  builds it without exits (every stage runs), the baseline the package check compares with.\n"
    )


def arena_line(spec: ProjectSpec, needed: int) -> str:
    if spec.exits is not None:
        return (
            f"- `src/classifier_config.h`: arena {spec.arena_bytes} B: every stage re-plans this one arena; the\n"
            f"  largest stage's Python-interpreter arena x2 + 64 KB ({needed} B; not bisected under qemu)\n"
        )
    return (
        f"- `src/classifier_config.h`: arena {spec.arena_bytes} B = {needed} B (least that allocated\n"
        f"  under qemu, to 256 B) + a margin of max({ARENA_MARGIN_MIN} B, {ARENA_MARGIN_FRACTION:.0%})\n"
    )


@register("mcu")
def write_mcu_package(request: PackageRequest) -> PackageResult:
    artifact = require_file(request.artifact, "artifact")
    if backend_for_path(artifact).name != "tflm":
        raise PackageError(f"{artifact.name}: the MCU package ships a .micro.tflite (tflm) artifact only")
    target = _target(request)
    board, tools = preflight(target)
    info = BundleInfo.read(artifact.parent)
    tokenizer = load_artifact_tokenizer(artifact.parent)
    # A staged artifact is opened once: its stages give the ops, offsets, hidden width and arena.
    stages = TFLMMethods(artifact, 1) if is_staged(artifact) else None
    layout = None
    if stages is not None:
        layout = StagedLayout(StagedPlan.read(artifact.parent), stages.offsets, stages.hidden_width())
    bindings = bindings_for(tools.tflm_dir, model_ops_of(artifact, stages))
    sources = library_sources(tools.tflm_dir, bindings, cmsis_nn=True)
    needed = needed_arena(request, target, stages)
    spec = ProjectSpec(
        artifact=artifact,
        tokenizer_spec=WordPieceSpec.from_tokenizer(tokenizer),
        seq_len=info.seq_len,
        labels=tuple(info.labels.names),
        board=board,
        bindings=tuple(bindings),
        tflm_dir=tools.tflm_dir,
        tflm_sources=tuple(str(p.relative_to(tools.tflm_dir)) for p in sources),
        arena_bytes=shipped_arena(needed, staged=layout is not None),
        texts=tuple(request.check_texts) or DEMO_TEXTS,
        exits=layout,
    )
    with atomic_dir(request.dest) as tmp:
        sizes = write_project(tmp, spec)
        table_bytes = {
            "vocabulary": sizes.vocab_bytes,
            "normalizer": sizes.normalizer_bytes,
            "classes": sizes.classes_bytes,
        }
        (tmp / "README.md").write_bytes(readme(request, target, spec, needed, table_bytes).encode("utf-8"))
    checks = {}
    if request.check_texts:
        texts = list(request.check_texts)
        checks["host_tokenizer"] = check_host_tokenizer(
            request.dest, tokenizer, texts, info.seq_len, spec.labels, tools.host_cc
        )
        device = check_device(request.dest, artifact, texts, tools, board, sources, spec.arena_bytes, target)
        checks["device"] = {**device, "vocab_bytes": sizes.vocab_bytes, "tables_bytes": sum(table_bytes.values())}
    return PackageResult(request.dest, "mcu", count_files(request.dest), checks)
