"""Linux board package: the model, its tokenizer and a small runner folder (classify.py).

A Raspberry Pi class board runs Python with a wheel-installed runtime, so the package is a
folder, not a project: copy it over, `pip install -r requirements.txt`, run classify.py. The
check runs the shipped classify.py as a separate process on real sentences and compares its
labels with the build's own session over the same artifact.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

from edgesdk.apps.packager_registry import PackageRequest, PackageResult, count_files, register, require_file
from edgesdk.converters.bundle import BundleInfo, open_artifact
from edgesdk.converters.staged_plan import EXITS_FILE, StagedPlan, is_staged
from edgesdk.targets import board_runtime

from edgesdk.fsutil import atomic_dir, atomic_write_json, atomic_write_text
from edgesdk.ondevice.escape import markdown_text
from edgesdk.tokenizer import TOKENIZER_FILE

TEMPLATE = Path(__file__).with_name("linux_template")
CHECK_TIMEOUT_S = 900
# The board needs these and nothing else; pinned to the versions the build verified with.
RUNTIME_PACKAGES = {".tflite": ("ai-edge-litert",), ".pte": ("executorch", "torch")}


def _runtime_file() -> Path:
    return Path(board_runtime.__file__)


def requirements(artifact: Path) -> str:
    names = ("numpy", "tokenizers", *RUNTIME_PACKAGES[artifact.suffix])
    return "".join(f"{name}=={metadata.version(name)}\n" for name in names)


def readme(request: PackageRequest, info: BundleInfo, staged: bool) -> str:
    measured = "".join(f"- {k}: {v}\n" for k, v in sorted(request.measured.items())) or "- (nothing recorded)\n"
    labels = ", ".join(markdown_text(name) for name in info.labels.names)
    return (
        f"# {markdown_text(request.app_name)}: text classifier for Linux boards\n\n"
        "Made by `edgesdk build`. Copy this folder to the board, then:\n\n"
        "```\npython3 -m pip install -r requirements.txt\n"
        'python3 classify.py "a gorgeous, witty film"\n'
        "python3 classify.py --file sentences.txt --json\n```\n\n"
        f"Model: {markdown_text(request.artifact.name)} ({'early-exit stages and length buckets' if staged else 'one graph'}), "
        f"{info.seq_len} tokens max, labels: {labels}.\n\n"
        "Measured by the build on its host (not on this board; `edgesdk profile --target raspberry-pi-5` "
        "measures over ssh):\n\n" + measured
    )


@register("linux")
def write_linux_package(request: PackageRequest) -> PackageResult:
    artifact = require_file(request.artifact, "artifact")
    bundle = artifact.parent
    info = BundleInfo.read(bundle)
    staged = is_staged(artifact)
    with atomic_dir(request.dest) as tmp:
        shutil.copyfile(artifact, tmp / artifact.name)
        shutil.copyfile(require_file(bundle / TOKENIZER_FILE, "tokenizer"), tmp / TOKENIZER_FILE)
        shutil.copyfile(TEMPLATE / "classify.py", tmp / "classify.py")
        shutil.copyfile(_runtime_file(), tmp / "board_runtime.py")
        plan = StagedPlan.read(bundle).__dict__ if staged else None
        if staged:
            require_file(bundle / EXITS_FILE, "exit plan")
        spec = {"model": artifact.name, "seq_len": info.seq_len, "labels": list(info.labels.names), "exits": plan}
        atomic_write_json(tmp / "package.json", spec)
        atomic_write_text(tmp / "requirements.txt", requirements(artifact))
        atomic_write_text(tmp / "README.md", readme(request, info, staged))
    checks = {"classify": check_classify(request.dest, artifact, request.check_texts)} if request.check_texts else {}
    return PackageResult(request.dest, "linux", count_files(request.dest), checks)


def check_classify(package: Path, artifact: Path, texts) -> dict:
    """The shipped classify.py, run as its own process here, against the build's session."""
    texts = [t.replace("\n", " ") for t in texts]
    loaded = open_artifact(artifact, 1)
    expected = []
    for text in texts:
        ids, mask = loaded.encode([text])
        expected.append(int(loaded.session.run(ids, mask)[0].argmax()))
    with tempfile.TemporaryDirectory() as tmp:
        texts_file = Path(tmp) / "texts.txt"
        texts_file.write_text("\n".join(texts) + "\n", encoding="utf-8")
        proc = subprocess.run(
            [sys.executable, "classify.py", "--json", "--threads", "1", "--file", str(texts_file)],
            cwd=package,
            capture_output=True,
            text=True,
            timeout=CHECK_TIMEOUT_S,
        )
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"ok": False, "error": f"classify.py failed (exit {proc.returncode}): {tail[:200]}"}
    got = [json.loads(line)["label_index"] for line in proc.stdout.splitlines() if line.startswith("{")]
    matched = sum(int(a == b) for a, b in zip(got, expected))
    return {"ok": len(got) == len(texts) and matched == len(texts), "texts": len(texts), "labels_match": matched}
