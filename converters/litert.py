"""LiteRT lowering (.tflite via litert-torch) and its interpreter runtime.

The interpreter comes from ai_edge_litert; boards that only have the older tflite_runtime
wheel get that instead (same Interpreter API).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

from edgesdk.converters.registry import Backend, register

from edgesdk.errors import ArtifactError


def lower(model: torch.nn.Module, example: tuple[torch.Tensor, ...]) -> bytes:
    import litert_torch

    edge_model = litert_torch.convert(model.eval(), example)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.tflite"
        edge_model.export(str(path))
        return path.read_bytes()


def interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # pragma: no cover - exercised on boards with tflite_runtime only
        from tflite_runtime.interpreter import Interpreter
    return Interpreter


class LiteRTSession:
    def __init__(self, path: Path, threads: int):
        try:
            interpreter = interpreter_class()(model_path=str(path), num_threads=threads)
            self._runner = interpreter.get_signature_runner()
            names = sorted(self._runner.get_input_details())
        except Exception as exc:  # noqa: BLE001 - the interpreter raises ValueError/RuntimeError
            raise ArtifactError(f"LiteRT cannot load {path}: {str(exc).splitlines()[0][:160]}") from None
        if len(names) != 2:
            raise ArtifactError(f"{path} has inputs {names}; expected token ids and attention mask")
        # litert-torch names positional inputs args_0, args_1 in call order.
        self._ids_name, self._mask_name = names

    def run(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        out = self._runner(**{self._ids_name: ids, self._mask_name: mask})
        return next(iter(out.values()))


BACKEND = register(Backend("litert", ".tflite", b"TFL3", lower, LiteRTSession))
