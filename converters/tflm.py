"""TFLite Micro: the full-int8 .tflite run in the tflite-micro Python interpreter.

The same interpreter, kernels and arena planner as the firmware (reference kernels; CMSIS-NN
ones differ by a few hundred arena bytes, see ../shared/examples/cortex-m-qemu), so accuracy
over the dev set and the arena size are measured on what an MCU would run. TFLM has no GELU
kernel: encoders are exported with x*sigmoid(1.702x) in its place (LOGISTIC + MUL), and the
artifact is verified like any other, so the approximation's cost is measured, not assumed.
"""

from __future__ import annotations

import re
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from edgesdk.converters import litert
from edgesdk.converters.registry import Backend, register
from edgesdk.converters.tflite_flatbuffer import io_counts
from edgesdk.converters.tflm_staged import STAGED_MAGIC, TFLMMethods, pack_methods

from edgesdk.errors import ArtifactError
from edgesdk.progress import fds_to

# Large enough for any student we build; the arena actually used is read back and reported.
ARENA_LIMIT_BYTES = 64 << 20
_ARENA_LINE = re.compile(r"Arena allocation total (\d+) bytes")


@contextmanager
def captured_stderr():
    """TFLM's C++ logs (allocation record, op errors) go to fd 2; read them as text."""
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        lines: list[str] = []
        try:
            with fds_to(tmp, (2,)):
                yield lines
        finally:
            tmp.seek(0)
            lines += tmp.read().decode(errors="replace").splitlines()


def tflm_module(model, calibration, config, seq_len):
    """The full-int8 reference module (see litert.full_int8_module) without GELU."""
    from torch import nn

    from edgesdk.models.encoder import SigmoidGELU

    for module in list(model.modules()):
        for name, child in module.named_children():
            if isinstance(child, nn.GELU):
                setattr(module, name, SigmoidGELU())
    return litert.full_int8_module(model, calibration, config, seq_len)


def lower(model, example, precision: str = "int8", calibration=None, config=None) -> bytes:
    data = litert.lower(model, example, "int8", calibration, config)
    if config is not None and config.tflm_lut:
        from edgesdk.converters.tflm_lut import lut_compress

        data, _ = lut_compress(data)
    return data


def _dequantizer(details: dict):
    params = details.get("quantization_parameters") or {}
    scales, zero_points = list(params.get("scales", [])), list(params.get("zero_points", []))
    return litert.output_dequantizer(
        {
            "dtype": details["dtype"],
            "quantization": (float(scales[0]) if scales else 0.0, int(zero_points[0]) if zero_points else 0),
        }
    )


class TFLMSession:
    def __init__(self, path: Path, threads: int):
        self._load(path.read_bytes(), path)

    @classmethod
    def from_bytes(cls, data: bytes, source: object) -> "TFLMSession":
        """A session over flatbuffer bytes (a stage of a staged artifact); `source` names it in errors."""
        session = cls.__new__(cls)
        session._load(data, source)
        return session

    def _load(self, data: bytes, source: object) -> None:
        from tflite_micro.python.tflite_micro import runtime

        with captured_stderr() as log:
            try:
                interpreter = runtime.Interpreter.from_bytes(data, arena_size=ARENA_LIMIT_BYTES)
                error = None
            except Exception as exc:  # noqa: BLE001 - the binding raises RuntimeError with the C++ log on stderr
                error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if error is not None:
            detail = next((ln for ln in log if "Didn't find op" in ln or "failed" in ln.lower()), "")
            raise ArtifactError(f"TFLM cannot load {source}: {error} {detail}".strip()[:240])
        try:
            inputs, outputs = io_counts(data)
        except Exception:  # noqa: BLE001 - a damaged table the interpreter did not read
            raise ArtifactError(f"TFLM cannot load {source}: unreadable subgraph table") from None
        self._interpreter, self._inputs, self._outputs = interpreter, inputs, outputs
        self._dequantize = [_dequantizer(interpreter.get_output_details(i)) for i in range(outputs)]
        self.arena_bytes: int | None = None

    def run(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return self._dequantize[0](self.run_quantized(ids, mask)).reshape(1, -1)

    def run_quantized(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """The raw (int8) output: what a firmware running the same model must reproduce exactly."""
        return self.invoke(ids, mask)[0]

    def invoke(self, *inputs: np.ndarray) -> list[np.ndarray]:
        """Raw outputs, in order, for raw inputs in order."""
        # The planner may reuse input buffers: set every input before every invoke.
        for i, x in enumerate(inputs):
            self._interpreter.set_input(x, i)
        self._interpreter.invoke()
        return [np.array(self._interpreter.get_output(i), copy=True) for i in range(self._outputs)]

    def dequantize(self, index: int, raw: np.ndarray) -> np.ndarray:
        return self._dequantize[index](raw)

    def input_details(self) -> list[dict]:
        return [self._interpreter.get_input_details(i) for i in range(self._inputs)]

    def output_details(self) -> list[dict]:
        return [self._interpreter.get_output_details(i) for i in range(self._outputs)]

    def memory(self) -> dict:
        """Arena bytes from TFLM's own allocation record (after at least one invoke)."""
        with captured_stderr() as log:
            self._interpreter.print_allocations()
        for line in log:
            found = _ARENA_LINE.search(line)
            if found:
                return {"arena_bytes": int(found.group(1))}
        raise ArtifactError("TFLM printed no arena allocation record; is this tflite-micro build supported?")


def lower_methods(methods: dict, precision: str = "int8", calibrations=None, config=None) -> bytes:
    """Every (bucket, stage) lowered as its own full-int8 .micro.tflite, packed in one file
    (converters/tflm_staged.py), each calibrated on its own inputs."""
    calibrations = calibrations or {}
    return pack_methods(
        {
            name: lower(module, example, precision, calibrations.get(name), config)
            for name, (module, example) in methods.items()
        }
    )


def open_methods(path: Path, threads: int):
    return TFLMMethods(path, threads)


BACKEND = register(
    Backend(
        "tflm",
        ".micro.tflite",
        b"TFL3",
        lower,
        TFLMSession,
        quantizers={"int8": tflm_module},
        fp32=False,
        lower_methods=lower_methods,
        open_methods=open_methods,
        staged_magic=STAGED_MAGIC,
    )
)
