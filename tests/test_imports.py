"""No import cycles in the package: each module's imports of rootdb modules, read with
`ast` (at module level and inside functions alike: a function-level import that closes a
cycle only hides it until the function runs), form a graph without cycles.

`from rootdb.link import model` is an import of `rootdb.link.model`; `from rootdb.link
import link` of `rootdb.link` (its `__init__`). The parent packages Python runs first
are not counted: `rootdb/link/__init__.py` may call into its stages while they import
their siblings. Imports under `if TYPE_CHECKING:` are not run and are not counted.

Module-level imports form no cycle at all; with function-level imports, the cycles
listed in `KNOWN_CYCLES` (other engineers' modules, left to them) are the only ones.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "rootdb"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _within(nodes) -> set[int]:
    """The ids of every node inside `nodes`."""
    return {id(inner) for node in nodes for inner in ast.walk(node)}


def _imports(name: str, path: Path, modules: dict[str, Path], module_level: bool = False) -> set[str]:
    """The rootdb modules `name` imports; with `module_level`, only those imported when
    it is (not inside a function). Imports under `if TYPE_CHECKING:` never run."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    skipped = _within(stmt for node in ast.walk(tree) if isinstance(node, ast.If)
                     and "TYPE_CHECKING" in ast.unparse(node.test) for stmt in node.body)
    if module_level:
        skipped |= _within(node for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    return {module for module in found if module in modules and module != name}


def import_graph(module_level: bool = False) -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules, module_level) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted,
    each with one cycle through it spelled out first."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(components)


def _one_cycle(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """A path from the component's first module back to itself, within the component."""
    start, members = component[0], set(component)
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for target in sorted(graph[node] & members):
            if target == start:
                return paths[node] + [start]
            if target not in paths:
                paths[target] = paths[node] + [target]
                queue.append(target)
    return component


# Cycles through function-level imports only, in modules of other engineers' work
# (issue 12); each is left to its owner. Remove an entry when its cycle is gone: the
# test fails on a listed cycle that no longer exists, so the list stays true.
KNOWN_CYCLES: list[list[str]] = []


def _described(graph: dict[str, set[str]], components: list[list[str]]) -> str:
    return "\n".join(" → ".join(_one_cycle(graph, c)) + f"   (modules: {', '.join(c)})" for c in components)


def test_the_import_graph_is_read():
    graph = import_graph()
    assert {"rootdb.link.engines", "rootdb.link.model"} <= graph["rootdb.link.people"]  # module and function level
    assert "rootdb.link.model" not in import_graph(module_level=True)["rootdb.link.people"]
    assert "rootdb.link.engines.duckdb" in graph["rootdb.link.engines"]
    assert "rootdb.link.model" in graph["rootdb.link.engines.duckdb"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles_at_module_level():
    graph = import_graph(module_level=True)
    found = cycles(graph)
    assert not found, f"import cycles in rootdb/ (module level):\n{_described(graph, found)}"


def test_no_import_cycles_but_the_known_ones():
    graph = import_graph()
    found = cycles(graph)
    new = [c for c in found if c not in KNOWN_CYCLES]
    assert not new, f"import cycles in rootdb/:\n{_described(graph, new)}"
    gone = [c for c in KNOWN_CYCLES if c not in found]
    assert not gone, f"no longer a cycle, remove from KNOWN_CYCLES: {gone}"
