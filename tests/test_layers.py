"""Import layers, checked on the source (no imports run): the rules of docs/architecture.md.

* ``rag_dx`` imports none of ``eval``, ``finetune``, ``ui``, except the CLI (``rag_dx/cli.py`` and
  ``rag_dx/commands/``), which imports them lazily inside commands;
* ``ui`` and ``finetune`` do not import each other;
* ``rag_dx.index`` is storage only: it imports no pipeline module (build, ingest, embed, diagnose...)
  and its modules import each other without a cycle;
* no module is over 500 lines, other than the few listed below with the reason.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("rag_dx", "eval", "finetune", "ui")
MAX_LINES = 500
#: Modules allowed past MAX_LINES, each with why (shrink this list; never grow it without a reason).
LONG_MODULES = {
    "rag_dx/ingest/loaders.py": "one loader per input format with per-field validation (privacy engineer's)",
    "rag_dx/ingest/deid.py": "the de-identifier (privacy engineer's)",
    "rag_dx/ingest/recognizers.py": "pattern recognizers for identifiers: mostly data tables (privacy engineer's)",
}
#: What the storage package may import from rag_dx (besides itself).
INDEX_MAY_IMPORT = {"rag_dx", "rag_dx.errors", "rag_dx.schemas", "rag_dx.settings", "rag_dx.provenance",
                    "rag_dx.audit", "rag_dx.staging"}


def _modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).with_suffix("")
            parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
            out[".".join(parts)] = path
    return out


def _imports(path: Path, module: str) -> set[str]:
    """Every module a file imports, at the top or inside functions; relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # `from pkg import module`
    return found


MODULES = _modules()
IMPORTS = {name: _imports(path, name) for name, path in MODULES.items()}


def _top(name: str) -> str:
    return name.split(".", 1)[0]


def _is_cli(module: str) -> bool:
    return module == "rag_dx.cli" or module.startswith("rag_dx.commands")


def test_rag_dx_imports_no_app_package_except_from_the_cli():
    bad = sorted(f"{m} imports {i}" for m, imps in IMPORTS.items() if _top(m) == "rag_dx" and not _is_cli(m)
                 for i in imps if _top(i) in {"eval", "finetune", "ui"})
    assert not bad, bad


@pytest.mark.parametrize("a,b", [("ui", "finetune"), ("finetune", "ui")])
def test_ui_and_finetune_do_not_import_each_other(a, b):
    bad = sorted(f"{m} imports {i}" for m, imps in IMPORTS.items() if _top(m) == a for i in imps if _top(i) == b)
    assert not bad, bad


def test_index_package_is_storage_only_and_acyclic():
    index = {m: {i for i in imps if i in MODULES} for m, imps in IMPORTS.items() if m.startswith("rag_dx.index")}
    outside = sorted(f"{m} imports {i}" for m, imps in index.items() for i in imps
                     if not i.startswith("rag_dx.index") and i not in INDEX_MAY_IMPORT)
    assert not outside, outside
    graph = {m: {i for i in imps if i.startswith("rag_dx.index.") and i != m} for m, imps in index.items()}
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in graph.get(node, ()):
            assert state.get(nxt) != 1, "import cycle: " + " -> ".join(path + [nxt])
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node, [node])


def test_no_module_is_over_500_lines():
    long = {str(p.relative_to(ROOT)): n for p in MODULES.values()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert set(long) <= set(LONG_MODULES), {k: v for k, v in long.items() if k not in LONG_MODULES}


def test_the_checker_sees_imports_inside_functions():
    assert "eval.gate" in IMPORTS["rag_dx.commands.index"]  # lazy, inside a function
    assert "rag_dx.index.layout" in IMPORTS["rag_dx.index.reader"]
