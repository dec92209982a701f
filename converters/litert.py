"""LiteRT lowering (.tflite via litert-torch) and its interpreter runtime.

The interpreter comes from ai_edge_litert; boards that only have the older tflite_runtime
wheel get that instead (same Interpreter API).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import numpy as np

if TYPE_CHECKING:
    import torch

    from edgesdk.compress.quant_methods import Calibration
    from edgesdk.recipe import QuantizeConfig

from edgesdk.converters.registry import Backend, register
from edgesdk.converters.tflite_flatbuffer import inline_buffers, int8_embedding_tables

from edgesdk.errors import ArtifactError


def convert_fp32(model: torch.nn.Module, example: tuple[torch.Tensor, ...]) -> bytes:
    import litert_torch

    edge_model = litert_torch.convert(model.eval(), example)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.tflite"
        edge_model.export(str(path))
        return path.read_bytes()


def lower_methods(
    methods: dict,
    precision: str = "fp32",
    calibrations: Optional[dict[str, Calibration]] = None,
    config: Optional[QuantizeConfig] = None,
) -> bytes:
    """One .tflite with a signature per entry; quantized the way `lower` quantizes one graph,
    every signature calibrated on its own inputs (`calibrations`, by signature name)."""
    import litert_torch

    converter = None
    for name, (module, example) in methods.items():
        source = litert_torch if converter is None else converter
        converter = source.signature(name, module.eval(), example)
    edge_model = converter.convert()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.tflite"
        edge_model.export(str(path))
        return quantize_flatbuffer(path.read_bytes(), precision, calibrations, config)


def lower(
    model: torch.nn.Module,
    example: tuple[torch.Tensor, ...],
    precision: str = "fp32",
    calibration: Optional[Calibration] = None,
    config: Optional[QuantizeConfig] = None,
) -> bytes:
    """fp32 through litert-torch; int8 and int8-dynamic by ai-edge-quantizer on that flatbuffer.

    Why ai-edge-quantizer and not litert-torch's PT2E path: PT2E annotates only linear/conv/
    add/mul, so an encoder keeps LayerNorm, BATCH_MATMUL, SOFTMAX and MEAN in float, which TFLM
    cannot use; ai-edge-quantizer's static recipe quantizes all of them (both held accuracy on
    the SST-2 students, see docs/quantization.md)."""
    return quantize_flatbuffer(convert_fp32(model, example), precision, {SIGNATURE: calibration}, config)


def quantize_flatbuffer(
    data: bytes, precision: str, calibrations: Optional[dict[str, Calibration]], config: Optional[QuantizeConfig]
) -> bytes:
    if precision == "fp32":
        return data
    if precision == "int8-dynamic":  # the word table is already int8 (Int8Embedding in the graph)
        from ai_edge_quantizer import quantizer, recipe

        q = quantizer.Quantizer(data)
        q.load_quantization_recipe(recipe.dynamic_wi8_afp32())
        return inline_buffers(bytes(q.quantize().quantized_model))
    stock = stock_static_int8(data, calibrations)
    if config is not None and config.embeddings == "fp32":
        return inline_buffers(stock)
    return int8_embedding_tables(stock)[0]


def stock_static_int8(fp32_data: bytes, calibrations: dict[str, Calibration]) -> bytes:
    """ai-edge-quantizer's static int8 as it comes: float embedding table, stored by offset.
    `calibrations` holds each signature's inputs."""
    from ai_edge_quantizer import quantizer, recipe

    q = quantizer.Quantizer(fp32_data)
    q.load_quantization_recipe(recipe.static_wi8_ai8())
    samples = {}
    for signature, calibration in calibrations.items():
        names = input_names(fp32_data, signature)
        samples[signature] = [
            {names[0]: x.numpy()[None], names[1]: mask.numpy()[None]}
            for x, mask in zip(calibration.x, calibration.mask)
        ]
    result = q.calibrate(samples, num_threads=1)
    return bytes(q.quantize(result).quantized_model)


SIGNATURE = "serving_default"


def input_names(data: bytes, signature: Optional[str] = None) -> list[str]:
    interpreter = interpreter_class()(model_content=data)
    return sorted(interpreter.get_signature_runner(signature).get_input_details())


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
        self._dequantize = output_dequantizer(next(iter(self._runner.get_output_details().values())))

    def run(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        out = self._runner(**{self._ids_name: ids, self._mask_name: mask})
        return self._dequantize(next(iter(out.values())))


class LiteRTMethods:
    def __init__(self, path: Path, threads: int):
        try:
            self._interpreter = interpreter_class()(model_path=str(path), num_threads=threads)
            self._names = set(self._interpreter.get_signature_list())
        except Exception as exc:  # noqa: BLE001
            raise ArtifactError(f"LiteRT cannot load {path}: {str(exc).splitlines()[0][:160]}") from None
        self._path = path
        self._runners: dict = {}

    def run(self, name: str, *inputs: np.ndarray) -> list[np.ndarray]:
        if name not in self._runners:
            if name not in self._names:
                raise ArtifactError(
                    f"{self._path} has no signature '{name}' (has {sorted(self._names)}); its exits.json "
                    "belongs to another build, rebuild the artifact"
                )
            runner = self._interpreter.get_signature_runner(name)
            # litert-torch names positional inputs args_0.. and outputs output_0.. in order.
            outputs = runner.get_output_details()
            logits = output_dequantizer(outputs[sorted(outputs)[-1]])
            self._runners[name] = (runner, sorted(runner.get_input_details()), logits)
        runner, names, logits = self._runners[name]
        out = runner(**dict(zip(names, inputs)))
        # Hidden states pass on as produced (int8 in a full-int8 graph, as the app controllers
        # pass them); the exit logits are dequantized for the exit rule.
        values = [out[k] for k in sorted(out)]
        return [*values[:-1], logits(values[-1])]


def output_dequantizer(details: dict):
    """int8 logits (full-int8 graphs) -> float with the output's scale and zero point."""
    scale, zero_point = details.get("quantization", (0.0, 0))
    if np.dtype(details["dtype"]) == np.float32 or not scale:
        return lambda y: y
    return lambda y: (y.astype(np.float32) - zero_point) * scale


BACKEND = register(
    Backend(
        "litert",
        ".tflite",
        b"TFL3",
        lower,
        LiteRTSession,
        precisions=("fp32", "int8", "int8-dynamic"),
        lower_methods=lower_methods,
        open_methods=LiteRTMethods,
    )
)
