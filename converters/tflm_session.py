"""A TFLite Micro flatbuffer open in the tflite-micro Python interpreter: invoke, dequantize,
and the arena its allocation record reports. Used by the TFLM backend (converters/tflm.py)
for single graphs and by the staged runner (converters/tflm_staged.py) per stage.
"""

from __future__ import annotations

import re
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from edgesdk.converters import litert
from edgesdk.converters.tflite_flatbuffer import io_counts

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
