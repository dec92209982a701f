"""ExecuTorch lowering (.pte, XNNPACK partitioner) and its pybindings runtime."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

from edgesdk.converters.registry import Backend, register
from edgesdk.converters.xnnpack_rewrite import xnnpack_layer_norms

from edgesdk.errors import ArtifactError


def lower(
    model: torch.nn.Module, example: tuple[torch.Tensor, ...], precision: str = "fp32", calibration=None, config=None
) -> bytes:
    """Every precision lowers the same way: the quantizers already put the q/dq (PT2E) or
    int4 tensor-subclass ops in the module, which the XNNPACK partitioner recognises."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import (
        XnnpackPartitioner,
    )
    from executorch.exir import to_edge_transform_and_lower

    program = to_edge_transform_and_lower(_export(model, example), partitioner=[XnnpackPartitioner()]).to_executorch()
    return program.buffer


def _export(model, example):
    import torch

    if not isinstance(model, torch.fx.GraphModule):  # a converted PT2E graph refuses eval()
        model = xnnpack_layer_norms(model).eval()
    return torch.export.export(model, example, strict=True)


def lower_methods(methods: dict, precision: str = "fp32", calibrations=None, config=None) -> bytes:
    """One .pte with a method per entry; ExecuTorch stores a constant shared by methods once.
    Quantized stages arrive already quantized (converters/quantizer_registry.py ran per stage)."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import (
        XnnpackPartitioner,
    )
    from executorch.exir import to_edge_transform_and_lower

    exported = {name: _export(m, ex) for name, (m, ex) in methods.items()}
    return to_edge_transform_and_lower(exported, partitioner=[XnnpackPartitioner()]).to_executorch().buffer


def runtime():
    """executorch.runtime.Runtime, without importing the compiler.

    The pybindings module imports `executorch.exir._warnings` for one warning class, and
    that import runs `executorch/exir/__init__.py`: torch.export, dynamo and every pass,
    about 8 s of a ~11 s import on 2 cores. Profiling, verification and `edgesdk eval`
    start a process per artifact that only runs a program, so they pay it each time. While
    the pybindings load, a bare package object stands in for `executorch.exir` so that only
    `_warnings.py` executes; it is dropped again straight after, and a later
    `import executorch.exir` (lowering) loads the real package."""
    import sys

    if "executorch.extension.pybindings.portable_lib" not in sys.modules and "executorch.exir" not in sys.modules:
        import importlib.util
        import types

        spec = importlib.util.find_spec("executorch.exir")
        stand_in = types.ModuleType("executorch.exir")
        stand_in.__path__ = list(spec.submodule_search_locations or [])
        sys.modules["executorch.exir"] = stand_in
        try:
            import executorch.extension.pybindings.portable_lib  # noqa: F401
        finally:
            sys.modules.pop("executorch.exir._warnings", None)
            if sys.modules.get("executorch.exir") is stand_in:
                del sys.modules["executorch.exir"]
    from executorch.runtime import Runtime

    return Runtime


def set_threads(threads: int) -> None:
    # The pybindings threadpool defaults to every core; benchmarks must pin it.
    runtime()
    from executorch.extension.pybindings.portable_lib import _unsafe_reset_threadpool

    _unsafe_reset_threadpool(threads)


class ExecuTorchSession:
    def __init__(self, path: Path, threads: int):
        set_threads(threads)
        try:
            program = runtime().get().load_program(str(path))
            self._method = program.load_method("forward")
        except Exception as exc:  # noqa: BLE001 - the runtime raises RuntimeError/ValueError variants
            raise ArtifactError(f"ExecuTorch cannot load {path}: {str(exc).splitlines()[0][:160]}") from None

    def run(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        import torch

        out = self._method.execute([torch.from_numpy(ids), torch.from_numpy(mask)])
        return out[0].numpy()


class ExecuTorchMethods:
    def __init__(self, path: Path, threads: int):
        set_threads(threads)
        try:
            self._program = runtime().get().load_program(str(path))
        except Exception as exc:  # noqa: BLE001
            raise ArtifactError(f"ExecuTorch cannot load {path}: {str(exc).splitlines()[0][:160]}") from None
        self._methods: dict = {}

    def run(self, name: str, *inputs: np.ndarray) -> list[np.ndarray]:
        import torch

        if name not in self._methods:
            self._methods[name] = self._program.load_method(name)
        out = self._methods[name].execute([torch.from_numpy(np.ascontiguousarray(x)) for x in inputs])
        return [o.numpy() for o in out]


BACKEND = register(
    Backend(
        "executorch",
        ".pte",
        b"ET12",
        lower,
        ExecuTorchSession,
        precisions=("fp32", "int8", "int8-dynamic", "int4w"),
        lower_methods=lower_methods,
        open_methods=ExecuTorchMethods,
    )
)
