"""What a model needs from TFLM: its resolver calls and the library sources that define them.

Both are read from the TFLM tree itself rather than from a hand-kept table, so a newer tree
with renamed or added kernels keeps working: the op -> `AddXxx`/`Register_XXX` pairs come from
micro_mutable_op_resolver.h, and a registration's source file is the kernel .cc defining it.
Compiling only those kernels (plus what they include) instead of all of them is what makes a
cold library build ~3 min instead of ~11 on two cores.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from edgesdk.errors import TargetError

RESOLVER_HEADER = Path("tensorflow/lite/micro/micro_mutable_op_resolver.h")
KERNELS = Path("tensorflow/lite/micro/kernels")
CMSIS_NN_SOURCES = Path("third_party/cmsis_nn/Source")
# Runtime sources that are test scaffolding (they include every kernel header).
_TEST_SOURCES = ("test_helpers.cc", "test_helper_custom_ops.cc")

_METHOD = re.compile(r"TfLiteStatus (Add\w+)\((.*?)\n  \}", re.S)
_BUILTIN = re.compile(r"BuiltinOperator_(\w+)")
_CUSTOM = re.compile(r'AddCustom\("(\w+)"')
_REGISTRATION = re.compile(r"(Register_\w+)\(\)")
_DEFINITION = re.compile(r"^TFLMRegistration (Register_\w+)\(\)\s*\{", re.M)
_KERNEL_INCLUDE = re.compile(r'#include "tensorflow/lite/micro/kernels/(?:cmsis_nn/)?(\w+)\.h"')
_CMSIS_NAME = re.compile(r"\b(arm_\w+)\b")
# A CMSIS-NN definition starts at column 0 (return type first); calls are indented.
_CMSIS_DEFINITION = re.compile(r"^[a-z][\w \t*]*?\b(arm_\w+)\s*(?:\(|\[|=)", re.M)


@dataclass(frozen=True)
class OpBinding:
    op: str  # builtin name (FULLY_CONNECTED) or custom code (TFLM_DECODE)
    method: str  # MicroMutableOpResolver method, e.g. AddFullyConnected
    registration: str  # e.g. Register_FULLY_CONNECTED


def model_ops(data: bytes) -> list[str]:
    """The model's operator codes in flatbuffer order: builtin names, or the custom code.

    Reads only the operator-code table (not the object API, which unpacks every buffer)."""
    from ai_edge_litert import schema_py_generated as schema

    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    model = schema.Model.GetRootAsModel(data, 0)
    ops = []
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        name = names.get(builtin, str(builtin))
        ops.append(code.CustomCode().decode() if name == "CUSTOM" and code.CustomCode() else name)
    return ops


@lru_cache(maxsize=4)
def resolver_bindings(tree: Path) -> dict[str, OpBinding]:
    text = (tree / RESOLVER_HEADER).read_text()
    bindings = {}
    for method, body in _METHOD.findall(text):
        op = _BUILTIN.search(body) or _CUSTOM.search(body)
        registration = _REGISTRATION.search(body)
        if op and registration:
            bindings[op.group(1)] = OpBinding(op.group(1), method, registration.group(1))
    return bindings


def bindings_for(tree: Path, ops: list[str]) -> list[OpBinding]:
    known = resolver_bindings(tree)
    missing = sorted({op for op in ops if op not in known})
    if missing:
        raise TargetError(f"TFLM has no resolver entry for {', '.join(missing)}; this model cannot run on a Cortex-M")
    return [known[op] for op in dict.fromkeys(ops)]


class KernelSources:
    """Kernel .cc files of one kernel set: CMSIS-NN's replace the reference ones of the same
    name (a build must compile exactly one of kernels/X.cc and kernels/cmsis_nn/X.cc)."""

    def __init__(self, tree: Path, cmsis_nn: bool):
        self.tree = tree
        reference = {p.stem: p for p in (tree / KERNELS).glob("*.cc")}
        optimized = {p.stem: p for p in (tree / KERNELS / "cmsis_nn").glob("*.cc")} if cmsis_nn else {}
        self.by_stem = {**reference, **optimized}
        self.defining: dict[str, Path] = {}
        for path in self.by_stem.values():
            for name in _DEFINITION.findall(path.read_text(errors="replace")):
                self.defining.setdefault(name, path)

    def for_registration(self, registration: str) -> Path:
        if registration not in self.defining:
            raise TargetError(f"no TFLM kernel source defines {registration}(); is {self.tree} a complete tree?")
        return self.defining[registration]

    def included_by(self, source: Path) -> list[Path]:
        """Kernel sources implementing the kernel headers `source` includes (X.h -> X.cc, X_common.cc)."""
        found = []
        for stem in _KERNEL_INCLUDE.findall(source.read_text(errors="replace")):
            found += [self.by_stem[s] for s in (stem, f"{stem}_common") if s in self.by_stem]
        return found


def runtime_sources(tree: Path) -> list[Path]:
    """Interpreter, allocators, planners, schema and quantization utils: every .cc outside
    the kernels folder (and signal/, the audio front end)."""
    sources = [p for p in (tree / "tensorflow").rglob("*.cc") if KERNELS not in p.relative_to(tree).parents]
    return sorted(p for p in sources if p.name not in _TEST_SOURCES)


def cmsis_nn_sources(tree: Path, users: list[Path]) -> list[Path]:
    """The CMSIS-NN C files defining the arm_* functions and tables `users` reference,
    transitively (CMSIS-NN has one public function per file; helpers are found by definition)."""
    defining: dict[str, Path] = {}
    for path in sorted((tree / CMSIS_NN_SOURCES).rglob("*.c")):
        for name in _CMSIS_DEFINITION.findall(path.read_text(errors="replace")):
            defining.setdefault(name, path)
    selected: dict[Path, None] = {}
    todo = [name for user in users for name in _CMSIS_NAME.findall(user.read_text(errors="replace"))]
    while todo:
        path = defining.get(todo.pop())
        if path is not None and path not in selected:
            selected[path] = None
            todo += _CMSIS_NAME.findall(path.read_text(errors="replace"))
    return sorted(selected)


def library_sources(tree: Path, bindings: list[OpBinding], cmsis_nn: bool) -> list[Path]:
    """Runtime + the kernels the bindings register + everything those include, transitively;
    with CMSIS-NN, the C sources those kernels call."""
    kernels = KernelSources(tree, cmsis_nn)
    runtime = runtime_sources(tree)
    wanted = [kernels.for_registration(b.registration) for b in bindings]
    wanted += [p for p in (kernels.by_stem.get("kernel_util"), kernels.by_stem.get("micro_tensor_utils")) if p]
    selected: dict[Path, None] = {}
    todo = list(runtime) + wanted
    while todo:
        source = todo.pop()
        if source in selected:
            continue
        selected[source] = None
        todo += kernels.included_by(source)
    c_sources = cmsis_nn_sources(tree, list(selected)) if cmsis_nn else []
    return sorted(selected) + c_sources
