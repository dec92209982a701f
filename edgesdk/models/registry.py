"""Model families by name, and their persistence (safetensors + JSON config, never pickle).

Every family's config carries a `family` field, so a saved model dir says what it is and
`load_model` can rebuild it without the caller knowing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Union

from pydantic import BaseModel
from safetensors.torch import load_file
from torch import nn

from edgesdk.errors import TeacherError
from edgesdk.fsutil import atomic_write_bytes
from edgesdk.models.encoder import Encoder, EncoderConfig
from edgesdk.models.small import BiLSTMClassifier, BiLSTMConfig, CNNClassifier, CNNConfig

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"

FAMILIES: dict[str, tuple[type[BaseModel], type[nn.Module]]] = {
    "encoder": (EncoderConfig, Encoder),
    "cnn": (CNNConfig, CNNClassifier),
    "bilstm": (BiLSTMConfig, BiLSTMClassifier),
}

ModelConfig = Union[EncoderConfig, CNNConfig, BiLSTMConfig]


def build_model(config: ModelConfig) -> nn.Module:
    return FAMILIES[config.family][1](config)


def save_model(model: nn.Module, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / CONFIG_FILE).write_text(model.config.model_dump_json(indent=1))
    # Tied or shared tensors must be stored once; clone breaks aliasing safetensors rejects.
    write_safetensors(
        {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}, directory / WEIGHTS_FILE
    )


def write_safetensors(tensors: dict, path: Path) -> None:
    """Serialize in memory, then one atomic Python write: a full disk or a file-size limit is
    an OSError with its errno (the CLI's one-line 'cannot write'), not a serializer error."""
    from safetensors.torch import save

    atomic_write_bytes(path, save(tensors))


def load_model(directory: Path, error: type = TeacherError) -> nn.Module:
    try:
        raw = json.loads((directory / CONFIG_FILE).read_text())
        family = raw.get("family", "encoder")
        if family not in FAMILIES:
            raise ValueError(f"unknown model family '{family}'")
        config_cls, _ = FAMILIES[family]
        model = build_model(config_cls.model_validate(raw))
        model.load_state_dict(load_file(str(directory / WEIGHTS_FILE)))
    except (OSError, ValueError, RuntimeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise error(f"cannot load edgesdk model from {directory}: {first}") from None
    return model.eval()


def param_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
