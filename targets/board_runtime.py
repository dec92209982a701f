"""Runs an edgesdk artifact with nothing but numpy and one runtime installed.

A Linux board has `ai_edge_litert` (else `tflite_runtime`) for .tflite or `executorch` for
.pte, not edgesdk, so this file is self-contained: the ssh profiler copies it beside
board_runner.py, and the Linux package ships it beside classify.py. It mirrors the sessions
of edgesdk.converters (LiteRTSession, LiteRTMethods, ExecuTorch*), whose outputs the tests
compare with it.
"""

import numpy as np


def _litert_interpreter(path, threads):
    try:
        from ai_edge_litert.interpreter import Interpreter

        which = "ai_edge_litert"
    except ImportError:
        from tflite_runtime.interpreter import Interpreter

        which = "tflite_runtime"
    return Interpreter(model_path=str(path), num_threads=threads), which


def _dequantizer(details):
    """int8 outputs of full-int8 graphs -> float with the output's scale and zero point."""
    scale, zero_point = details.get("quantization", (0.0, 0))
    if np.dtype(details["dtype"]) == np.float32 or not scale:
        return lambda y: y
    return lambda y: (y.astype(np.float32) - zero_point) * scale


class LiteRTMethods:
    """Signatures by name; litert-torch names inputs args_0.. and outputs output_0.. in order."""

    def __init__(self, path, threads):
        self._interpreter, self.runtime = _litert_interpreter(path, threads)
        self._runners = {}

    def run(self, name, *inputs):
        if name not in self._runners:
            runner = self._interpreter.get_signature_runner(name)
            outputs = runner.get_output_details()
            keys = sorted(outputs)
            self._runners[name] = (runner, sorted(runner.get_input_details()), keys, _dequantizer(outputs[keys[-1]]))
        runner, names, keys, logits = self._runners[name]
        out = runner(**dict(zip(names, inputs)))
        # Hidden states pass on as produced (int8 into the next full-int8 stage), as every
        # controller passes them; only the logits (last output) are dequantized.
        return [*(out[k] for k in keys[:-1]), logits(out[keys[-1]])]

    def default_method(self):
        return next(iter(self._interpreter.get_signature_list()))


class ExecuTorchMethods:
    runtime = "executorch"

    def __init__(self, path, threads):
        import torch  # noqa: F401 - executorch's pybindings need torch loaded first
        from executorch.extension.pybindings.portable_lib import _unsafe_reset_threadpool
        from executorch.runtime import Runtime

        _unsafe_reset_threadpool(threads)
        self._program = Runtime.get().load_program(str(path))
        self._methods = {}

    def run(self, name, *inputs):
        import torch

        if name not in self._methods:
            self._methods[name] = self._program.load_method(name)
        out = self._methods[name].execute([torch.from_numpy(np.ascontiguousarray(x)) for x in inputs])
        return [o.numpy() for o in out]

    def default_method(self):
        return "forward"


def open_methods(path, threads):
    """The artifact's methods (.pte) or signatures (.tflite), run by name."""
    return (ExecuTorchMethods if str(path).endswith(".pte") else LiteRTMethods)(path, threads)


def open_graph(path, threads):
    """A single-graph artifact as run(ids, mask) -> logits [1, C] float, and the runtime used."""
    methods = open_methods(path, threads)
    name = methods.default_method()
    return (lambda ids, mask: methods.run(name, ids, mask)[0]), methods.runtime
