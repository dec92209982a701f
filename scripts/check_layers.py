"""Fail on an import that crosses edgesdk's layering, forms a loop, or hides in a function.

The layers (docs/architecture.md), lowest first; a module may import its own layer and the
ones below, never above:

    base       version, errors, fsutil, progress, fmt, recipe, exit_rule, manifest, step_store, tokenizer, devices, distributed, task, ondevice/
    models     models/
    learning   train, compress/
    runtimes   converters/
    devices    targets/
    apps       apps/
    steps      steps/, report, report_summary, report_plots
    pipeline   pipeline
    sweep      sweep/
    api        edgesdk/__init__ (the public API), api, cli

Sizes: no module over 450 lines, no function over 60 unless a `# Long function: why` comment
in it says why.

Inside a layer, imports must not form a loop (all imports count, also lazy ones). An import of
an edgesdk module inside a function needs a comment on its line or the line above saying why
(a heavy runtime, a plugin that registers itself); otherwise it belongs at the top of the file.
Plugin registries load their plugins by name (importlib), which is not an import edge.

    python scripts/check_layers.py [ROOT]     # exit 1 and one line per finding
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

FOLDERS = {
    "edgesdk": "edgesdk",
    "converters": "edgesdk.converters",
    "targets": "edgesdk.targets",
    "apps": "edgesdk.apps",
}
LAYERS = (
    (
        "base",
        (
            "version",
            "errors",
            "fsutil",
            "progress",
            "fmt",
            "recipe",
            "recipe_distill",
            "exit_rule",
            "manifest",
            "step_store",
            "tokenizer",
            "devices",
            "distributed",
            "task",
            "ondevice",
        ),
    ),
    ("models", ("models",)),
    ("learning", ("train", "compress")),
    ("runtimes", ("converters",)),
    ("devices", ("targets",)),
    ("apps", ("apps",)),
    ("steps", ("steps", "report", "report_markdown", "report_summary", "report_plots", "demo_data", "recipes")),
    ("pipeline", ("pipeline",)),
    ("sweep", ("sweep",)),
    ("api", ("__init__", "api", "launch", "cli")),
)
RANK = {part: rank for rank, (_, parts) in enumerate(LAYERS) for part in parts}


def modules(root: Path) -> dict[str, Path]:
    found = {}
    for folder, package in FOLDERS.items():
        for path in sorted((root / folder).rglob("*.py")):
            parts = list(path.relative_to(root / folder).with_suffix("").parts)
            if folder == "edgesdk" and parts[0] in FOLDERS:
                continue
            if parts[-1] == "__init__":
                parts = parts[:-1]
            if "_template" in str(path):  # shipped app sources, not part of the SDK
                continue
            found[".".join([package, *parts])] = path
    return found


def layer_of(module: str) -> int:
    parts = module.split(".")
    return RANK.get(parts[1] if len(parts) > 1 else "__init__", -1)


def imports(path: Path, known: dict[str, Path]):
    """(imported module, line, inside a function, has a why-comment) for each edgesdk import."""
    lines = path.read_text(encoding="utf-8").splitlines()
    tree = ast.parse("\n".join(lines))

    def commented(node: ast.stmt) -> bool:
        """A comment on the import's line, or on the block of imports it belongs to (any of its
        lines, or the line above the block)."""
        row = node.lineno - 1
        while row >= 0 and (lines[row].strip().startswith(("from ", "import ")) or not lines[row].strip()):
            if "#" in lines[row]:
                return True
            row -= 1
        return row >= 0 and lines[row].strip().startswith("#")

    def walk(node: ast.AST, in_function: bool):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue  # annotations only: never executed
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                if isinstance(child, ast.ImportFrom):
                    names = [f"{child.module}.{a.name}" for a in child.names] + [child.module or ""]
                else:
                    names = [a.name for a in child.names]
                target = next((n for n in names if n in known), None)
                if target:
                    yield target, child.lineno, in_function, commented(child)
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            yield from walk(child, inner)

    yield from walk(tree, False)


def loops(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], 0
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on.add(start)
        while work:
            node, edges = work[-1]
            nxt = next(edges, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                elif nxt in on:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 60
LONG_MARK = "# Long function:"


def size_findings(path: Path, shown: str) -> list[str]:
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    findings = [f"{shown}: {len(lines)} lines, over {MAX_MODULE_LINES}"] if len(lines) > MAX_MODULE_LINES else []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            body = "\n".join(lines[node.lineno - 1 : node.end_lineno])
            if length > MAX_FUNCTION_LINES and LONG_MARK not in body:
                findings.append(
                    f"{shown}:{node.lineno}: {node.name} is {length} lines; split it or say why ({LONG_MARK})"
                )
    return findings


def check(root: Path) -> list[str]:
    known = modules(root)
    findings, graph = [], {m: set() for m in known}
    for module, path in known.items():
        findings += size_findings(path, str(path.relative_to(root)))
        if layer_of(module) < 0:
            findings.append(f"{path}: {module} is in no layer; add it to LAYERS in scripts/check_layers.py")
        for target, line, in_function, commented in imports(path, known):
            if target == module:
                continue
            graph[module].add(target)
            where = f"{path.relative_to(root)}:{line}"
            if layer_of(target) > layer_of(module):
                findings.append(f"{where}: {module} imports {target}, a higher layer")
            if in_function and not commented:
                findings.append(f"{where}: import of {target} inside a function without a comment saying why")
    findings += [f"import loop: {' -> '.join(component)}" for component in loops(graph)]
    return findings


def main() -> None:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1]
    findings = check(root)
    for finding in findings:
        print(finding)
    print(f"{len(findings)} layering finding(s)" if findings else "layers: ok")
    raise SystemExit(1 if findings else 0)


if __name__ == "__main__":
    main()
