"""The UI's ES modules keep the properties the shell's split relies on: no import cycles, no
HTML parsed from strings, no inline code the CSP would refuse, and small modules."""

from __future__ import annotations

import re
from pathlib import Path

from piloto import i18n

JS = Path(i18n.__file__).resolve().parent / "web" / "static" / "js"
IMPORT = re.compile(r'^import\s[^;]*?from\s+"\./([\w.-]+)";', re.M | re.S)
MAX_LINES = 400


def imports() -> dict[str, set[str]]:
    """Each module's imports of sibling modules, read from the source."""
    return {p.name: set(IMPORT.findall(p.read_text(encoding="utf-8"))) for p in JS.glob("*.js")}


def test_every_import_names_a_module_that_exists() -> None:
    graph = imports()
    missing = {f"{m} → {d}" for m, deps in graph.items() for d in deps if d not in graph}
    assert not missing


def test_the_modules_import_each_other_without_cycles() -> None:
    graph = imports()
    cycles: list[str] = []

    def visit(node: str, path: list[str]) -> None:
        for dep in sorted(graph.get(node, ())):
            if dep in path:
                cycles.append(" → ".join([*path[path.index(dep) :], dep]))
            else:
                visit(dep, [*path, dep])

    for module in sorted(graph):
        visit(module, [module])
    assert not cycles, cycles


def test_the_entry_point_only_boots() -> None:
    assert imports()["main.js"] == {"session.js"}


def test_no_html_from_strings_and_no_oversized_module() -> None:
    for path in JS.glob("*.js"):
        source = path.read_text(encoding="utf-8")
        assert not re.search(
            r"\.(innerHTML|outerHTML)\s*=|insertAdjacentHTML|document\.write\(", source
        ), path.name
        assert not re.search(r"\beval\(|new Function\(", source), path.name
        # i18n.js is a table of strings in two languages, not code.
        if path.name != "i18n.js":
            assert source.count("\n") <= MAX_LINES, (
                f"{path.name} is over {MAX_LINES} lines: split it"
            )
