"""Imports point one way: no module of Piloto imports one from a higher layer (STYLE.md).

The layers, from the top (a module may import its own layer and any below it):

    cli → app (app, boot, middleware, demo) → alerts / runbooks → runner → chat → llm →
    plans → services → auth / audit / notify (with projects' service and router, which know
    principals) → threads (with projects' models and repo: a chat belongs to a project) →
    store / toolbox (with deps, FastAPI's handles on the settings and the database) →
    policy / events / settings and the shared leaves: errors, i18n, logs, redact, metrics
    (the counters; who may read them is auth's, the run counts plans').

A module's layer is that of its longest listed prefix. Imports inside functions count too:
a lazy import hides a cycle, it does not remove it. ``if TYPE_CHECKING:`` imports are
skipped (they never run), as are imports of a module's own package.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "piloto"

LAYERS: list[tuple[str, ...]] = [
    ("cli",),
    ("app", "boot", "middleware", "demo"),
    ("alerts", "runbooks"),
    ("runner",),
    ("chat",),
    ("llm",),
    ("plans",),
    ("services",),
    ("auth", "audit", "notify", "projects.service", "projects.router"),
    ("threads", "projects"),
    ("store", "toolbox", "deps"),
    ("policy", "events", "settings", "errors", "i18n", "logs", "redact", "metrics", "web", ""),
]

# Highest layer first, so a bigger number is a lower layer.
RANK: dict[str, int] = {prefix: i for i, names in enumerate(LAYERS) for prefix in names}


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def layer_of(module: str) -> int:
    """The rank of a module (``chat.service``; without ``piloto.``) by its longest prefix."""
    best, best_len = RANK[""], -1
    for prefix, rank in RANK.items():
        inside = module == prefix or module.startswith(prefix + ".")
        if prefix and inside and len(prefix) > best_len:
            best, best_len = rank, len(prefix)
    return best


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, package: str, *, everything: bool = False) -> list[tuple[int, str]]:
    """(line, module without ``piloto.``) for every import of Piloto's that runs (with
    ``everything``, third-party and standard-library imports too, as written)."""
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for stmt in node.orelse:
                visit(stmt)
            return
        if isinstance(node, ast.Import):
            found.extend((node.lineno, a.name) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the module's package
                parts = [p for p in package.split(".") if p]
                base = parts[: len(parts) - node.level + 1]
                found.append(
                    (node.lineno, ".".join(["piloto", *base, *filter(None, [node.module])]))
                )
            elif node.module is not None:
                # ``from a import b`` names a.b, a module or a name in a: both resolve below.
                found.extend((node.lineno, f"{node.module}.{a.name}") for a in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    if everything:
        return found
    return [(line, m.removeprefix("piloto.")) for line, m in found if m.startswith("piloto.")]


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def graph() -> dict[str, set[str]]:
    """Module → the modules of Piloto's it imports (a name in a module resolves to it)."""
    modules = _modules()
    edges: dict[str, set[str]] = {}
    for module, path in modules.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        targets: set[str] = set()
        for _, target in _imports(ast.parse(path.read_text(encoding="utf-8")), package):
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != module and not module.startswith(target + "."):
                targets.add(target)  # a module importing its own package's __init__ is not a cycle
        edges[module] = targets
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            for w in children:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(edges.get(w, ())))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    group = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        group.append(w)
                        if w == v:
                            break
                    if len(group) > 1:
                        found.append(sorted(group))
    return found


def violations() -> list[str]:
    """Every import of a higher layer by a lower one, as ``file:line: a imports b``."""
    out: list[str] = []
    for path in sorted(SRC.rglob("*.py")):
        module = _module_name(path)
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for line, target in _imports(tree, package):
            if layer_of(target) < layer_of(module):
                rel = path.relative_to(SRC.parent)
                out.append(f"{rel}:{line}: {module} imports {target}")
    return out


def test_no_module_imports_a_higher_layer() -> None:
    found = violations()
    assert not found, "A lower layer imports a higher one (move the code up):\n" + "\n".join(found)


def test_no_import_cycle() -> None:
    found = cycles(graph())
    assert not found, "Import cycles (a design bug: split or move the shared part down):\n" + (
        "\n".join(" ↔ ".join(group) for group in found)
    )


def test_the_cycle_finder_finds_one() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(edges) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def _imported_by(prefix: str) -> dict[str, set[str]]:
    """Each module under ``prefix`` → every module it imports, Piloto's and others'."""
    out: dict[str, set[str]] = {}
    for module, path in _modules().items():
        if module == prefix or module.startswith(prefix + "."):
            package = module if path.name == "__init__.py" else module.rpartition(".")[0]
            tree = ast.parse(path.read_text(encoding="utf-8"))
            out[module] = {m for _, m in _imports(tree, package, everything=True)}
    return out


def test_policy_depends_on_nothing_of_pilotos() -> None:
    for module, imported in _imported_by("policy").items():
        foreign = {
            m for m in imported if m.startswith("piloto.") and not m.startswith("piloto.policy")
        }
        assert not foreign, f"{module} imports {sorted(foreign)}: the policy is a pure leaf"


def test_the_openapi_core_does_no_io() -> None:
    # Loading, refs and parsing are pure; the network is services.discovery's alone.
    io = ("httpx", "httpcore", "socket", "asyncio", "piloto.services.discovery",
          "piloto.services.netguard", "piloto.services.transport", "piloto.store")  # fmt: skip
    for module, imported in _imported_by("services.openapi").items():
        bad = sorted(m for m in imported if m.startswith(io))
        assert not bad, f"{module} imports {bad}: move the I/O to services.discovery"


def test_every_package_has_a_layer() -> None:
    # A new package must be placed deliberately, not fall to the bottom by default.
    packages = {p.parent.name for p in SRC.glob("*/__init__.py")}
    modules = {p.stem for p in SRC.glob("*.py") if p.stem not in {"__init__", "__main__"}}
    unplaced = sorted(n for n in packages | modules if n not in RANK)
    assert not unplaced, f"Give these a layer in LAYERS: {unplaced}"


def test_the_checker_catches_a_violation() -> None:
    tree = ast.parse("from piloto.chat import repo\nimport piloto.runner.runner\n")
    assert [m for _, m in _imports(tree, "plans")] == ["chat.repo", "runner.runner"]
    assert layer_of("chat.repo") < layer_of("plans.service") < layer_of("store.db")
    assert layer_of("projects.router") < layer_of("projects.repo")
