"""TFLite Micro: the full-int8 .tflite run in the tflite-micro Python interpreter.

The same interpreter, kernels and arena planner as the firmware (reference kernels; CMSIS-NN
ones differ by a few hundred arena bytes, see ../shared/examples/cortex-m-qemu), so accuracy
over the dev set and the arena size are measured on what an MCU would run. TFLM has no GELU
kernel: encoders are exported with x*sigmoid(1.702x) in its place (LOGISTIC + MUL), and the
artifact is verified like any other, so the approximation's cost is measured, not assumed.
"""

from __future__ import annotations

from pathlib import Path

from edgesdk.converters import litert
from edgesdk.converters.registry import Backend, register
from edgesdk.converters.tflm_lut import lut_compress
from edgesdk.converters.tflm_session import TFLMSession
from edgesdk.converters.tflm_staged import STAGED_MAGIC, TFLMMethods, pack_methods


def lower(model, example, precision: str = "int8", calibration=None, config=None) -> bytes:
    data = litert.lower(model, example, "int8", calibration, config)
    if config is not None and config.tflm_lut:
        data, _ = lut_compress(data)
    return data


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
        precisions=("int8",),
        lower_methods=lower_methods,
        open_methods=open_methods,
        staged_magic=STAGED_MAGIC,
    )
)
