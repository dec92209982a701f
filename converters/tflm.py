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
        from tflite_micro.python.tflite_micro import runtime

        with captured_stderr() as log:
            try:
                self._interpreter = runtime.Interpreter.from_bytes(path.read_bytes(), arena_size=ARENA_LIMIT_BYTES)
                error = None
            except Exception as exc:  # noqa: BLE001 - the binding raises RuntimeError with the C++ log on stderr
                error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if error is not None:
            detail = next((ln for ln in log if "Didn't find op" in ln or "failed" in ln.lower()), "")
            raise ArtifactError(f"TFLM cannot load {path}: {error} {detail}".strip()[:240])
        self._dequantize = _dequantizer(self._interpreter.get_output_details(0))
        self.arena_bytes: int | None = None

    def run(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return self._dequantize(self.run_quantized(ids, mask)).reshape(1, -1)

    def run_quantized(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """The raw (int8) output: what a firmware running the same model must reproduce exactly."""
        # The planner may reuse input buffers: set both inputs before every invoke.
        self._interpreter.set_input(ids, 0)
        self._interpreter.set_input(mask, 1)
        self._interpreter.invoke()
        return np.array(self._interpreter.get_output(0), copy=True)

    def memory(self) -> dict:
        """Arena bytes from TFLM's own allocation record (after at least one invoke)."""
        with captured_stderr() as log:
            self._interpreter.print_allocations()
        for line in log:
            found = _ARENA_LINE.search(line)
            if found:
                return {"arena_bytes": int(found.group(1))}
        raise ArtifactError("TFLM printed no arena allocation record; is this tflite-micro build supported?")


BACKEND = register(
    Backend("tflm", ".micro.tflite", b"TFL3", lower, TFLMSession, quantizers={"int8": tflm_module}, fp32=False)
)
