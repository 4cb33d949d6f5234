"""The house rules of imports (docs/architecture.md, "Layers"), read from the source:

- every top-level package of ``tillpoint`` is in one layer: the foundations (``core``,
  ``security``), the terminal profile's codec (``iso8583``), the domain, the composition
  root (``app``, ``demo``, the migrations), the adapters (the REST API, the browser
  pages, the command line, the terminal host's TCP server, the virtual terminal);
- a package imports nothing of a higher layer: the domain imports no adapter and not the
  composition root; ``iso8583`` holds the profile and its codec and imports no domain;
- no cycle between top-level packages (``KNOWN`` would name an edge allowed for a
  while, with its reason; an edge on that list that is gone must leave the list).

Every import counts: at the top of a module, inside a function (loaded late to start
fast) and for type checking only.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "tillpoint"

FOUNDATIONS, PROTOCOL, DOMAIN, ROOT, ADAPTERS = range(5)
LAYER = {
    "core": FOUNDATIONS,
    "security": FOUNDATIONS,
    "iso8583": PROTOCOL,
    **dict.fromkeys(
        ("access", "clearing", "context", "labels", "ledger", "merchants", "networks",
         "notify", "overview", "payments", "receipts", "risk", "store", "terminals"),
        DOMAIN,
    ),
    # schema gathers every table for Alembic and the tests, the simulation's too
    **dict.fromkeys(("app", "demo", "migrations", "schema", "simulation"), ROOT),
    **dict.fromkeys(("api", "cli", "host", "http", "terminal", "web", "__main__"), ADAPTERS),
}  # fmt: skip

# Edges that would close a cycle, allowed for now with the reason (none today: an edge
# that must stay a while is named here, and the test then insists it still exists).
KNOWN: dict[tuple[str, str], str] = {}


def imports() -> dict[tuple[str, str], list[str]]:
    """Every edge between top-level packages, with the files that make it."""
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path in PACKAGE.rglob("*.py"):
        source = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                parts = name.split(".")
                if parts[0] == "tillpoint" and len(parts) > 1 and parts[1] != source:
                    edges[(source, parts[1])].append(str(path.relative_to(PACKAGE)))
    return edges


def cycles(edges: set[tuple[str, str]]) -> list[list[str]]:
    """The strongly connected groups of more than one package (Tarjan)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for a, b in edges:
        graph[a].add(b)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted({x for edge in edges for x in edge}):
        if v not in index:
            visit(v)
    return found


def test_every_package_has_a_layer() -> None:
    packages = {
        p.name.removesuffix(".py")
        for p in PACKAGE.iterdir()
        if (p.suffix == ".py" or (p / "__init__.py").exists() or p.name == "migrations")
        and p.name != "__init__.py"
    }
    assert packages - set(LAYER) == set(), "give each new package its layer"


def test_nothing_imports_a_higher_layer() -> None:
    upward = [
        f"{a} -> {b} ({', '.join(sorted(set(files)))})"
        for (a, b), files in sorted(imports().items())
        if LAYER[b] > LAYER[a]
    ]
    assert upward == []


def test_the_domain_imports_no_adapter_and_not_the_composition_root() -> None:
    wrong = [(a, b) for (a, b) in imports() if LAYER[a] <= DOMAIN and LAYER[b] in (ROOT, ADAPTERS)]
    assert wrong == []


def test_no_cycle_between_packages_but_the_known_edges() -> None:
    edges = set(imports())
    assert cycles(edges - set(KNOWN)) == []
    gone = [edge for edge in KNOWN if edge not in edges]
    assert gone == [], "an edge of KNOWN is gone: take it off the list"


def test_the_check_finds_a_cycle() -> None:
    assert cycles({("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")}) == [["a", "b", "c"]]
    assert cycles({("a", "b"), ("b", "c")}) == []
