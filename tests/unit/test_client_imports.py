"""The SDK's modules import one another without a circle.

Every import of `src/mediagate/client/*.py` counts, read with `ast`: top-level ones, ones inside
functions (lazy imports) and ones under `if TYPE_CHECKING:`. `batch.py` is typed against the
`SyncBatchClient` / `AsyncBatchClient` protocols, so it never needs `_sync` or `_async`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import mediagate.client

PACKAGE = "mediagate.client"
SOURCE = Path(mediagate.client.__file__).parent


def module_name(path: Path) -> str:
    return PACKAGE if path.stem == "__init__" else f"{PACKAGE}.{path.stem}"


MODULES = {module_name(path): path for path in sorted(SOURCE.glob("*.py"))}


def imported_modules(name: str) -> set[str]:
    """The package's own modules that `name` imports, anywhere in its source."""
    return imports_in(MODULES[name].read_text(encoding="utf-8"), name)


def imports_in(source: str, name: str) -> set[str]:
    """The package's own modules that the source of module `name` imports (ast.walk: at any depth)."""
    package = PACKAGE  # every module here, __init__ included, lives in this package
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            # `from pkg import sub` imports the submodule `pkg.sub`; `from pkg import Name` imports `pkg`
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        for target in targets:
            # `import mediagate.client.x.y` counts as an import of `mediagate.client.x`
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    return {name: imported_modules(name) for name in MODULES}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle (as a path that returns to its start), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: fully explored
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)) is not None:
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)) is not None:
            return cycle
    return None


def test_the_graph_sees_every_kind_of_import() -> None:
    graph = import_graph()
    assert {"mediagate.client._sync", "mediagate.client._async", "mediagate.client.batch"} <= set(graph)
    assert "mediagate.client.batch" in graph["mediagate.client._sync"]
    assert "mediagate.client.batch" in graph["mediagate.client._async"]
    assert "mediagate.client._core" in graph["mediagate.client.batch"]


def test_type_checking_lazy_and_relative_imports_count() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "import httpx\n"
        "from mediagate.client import _core\n"
        "if TYPE_CHECKING:\n"
        "    from mediagate.client._sync import Client\n"
        "def f():\n"
        "    from mediagate.client import _async\n"
        "    from .errors import MediagateError\n"
        "    import mediagate.client.types\n"
    )
    assert imports_in(source, "mediagate.client.batch") == {
        "mediagate.client._core",
        "mediagate.client._sync",
        "mediagate.client._async",
        "mediagate.client.errors",
        "mediagate.client.types",
    }
    # a name re-exported by the package (not a submodule) is an import of the package itself
    assert imports_in("from mediagate.client import Client\n", "mediagate.client.batch") == {PACKAGE}


def test_the_cycle_finder() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_batch_importing_a_client_again_would_be_a_cycle() -> None:
    graph = import_graph()
    graph["mediagate.client.batch"] = graph["mediagate.client.batch"] | {"mediagate.client._sync"}
    assert find_cycle(graph) is not None


def test_batch_imports_neither_client() -> None:
    imports = imported_modules("mediagate.client.batch")
    assert not imports & {"mediagate.client._sync", "mediagate.client._async", PACKAGE}, imports


def test_the_client_package_has_no_import_cycle() -> None:
    assert find_cycle(import_graph()) is None
