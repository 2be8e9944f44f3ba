"""The domain packages import one another without cycles.

Read from the source (no import runs): every ``import`` of a ``casset_rights`` module at
run time, at the top of a module or inside a function, draws an edge from the importing
package to the imported one; imports under ``if TYPE_CHECKING:`` are types only and draw
none. The wiring (``services``, ``app``, ``cli``, ``licensing``, the table registry in
``db/tables.py``) imports everything by design and is left out. Migrations import no
domain code at all: each is frozen at its revision (Alembic's ``env.py`` reads the
metadata, as it must).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "casset_rights"
WIRING = {"services", "app", "cli", "licensing", "db/tables.py"}


def _runtime_imports(tree: ast.Module) -> list[str]:
    found: list[str] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.ImportFrom) and node.module:
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return [m for m in found if m.startswith("casset_rights.")]


def package_edges() -> dict[str, dict[str, set[str]]]:
    """importing package -> imported package -> the files that import it."""
    edges: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE).as_posix()
        source = relative.split("/")[0].removesuffix(".py")
        if source in WIRING or relative in WIRING or "/migrations/" in relative:
            continue
        for module in _runtime_imports(ast.parse(path.read_text(encoding="utf-8"))):
            target = module.split(".")[1]
            if target != source and target not in WIRING:
                edges[source][target].add(relative)
    return edges


def cycles(edges: dict[str, dict[str, set[str]]]) -> list[list[str]]:
    """The strongly connected components with more than one package (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in edges.get(node, {}):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in list(edges):
        if node not in index:
            visit(node)
    return found


def test_the_domain_packages_import_one_another_without_cycles() -> None:
    edges = package_edges()
    assert {"receipts", "log", "decisions", "licenses", "lineage"} <= set(edges)
    found = cycles(edges)
    described = [
        "; ".join(f"{a} -> {b} ({', '.join(sorted(edges[a][b]))})"
                  for a in component for b in edges[a] if b in component)
        for component in found]
    assert not found, described


def test_the_check_finds_a_cycle() -> None:
    edges: dict[str, dict[str, set[str]]] = {"a": {"b": {"a/x.py"}}, "b": {"a": {"b/y.py"}}}
    assert cycles(edges) == [["a", "b"]]


def test_migrations_import_no_domain_code() -> None:
    for path in (PACKAGE / "db" / "migrations" / "versions").rglob("*.py"):
        imported = _runtime_imports(ast.parse(path.read_text(encoding="utf-8")))
        assert not imported, f"{path.name} imports {imported}"
