"""The package's import graph, read from the source (ast): no cycle, no arrow pointing up.

Every ``import`` counts, also those inside functions: a lazy import does not make a cycle go
away, it only hides it until the day the import moves. The layers (docs/architecture.md):

    cli, ui  ->  session  ->  recordings  ->  firmware_bridge  ->  signal

``signal`` imports nothing of ours; Qt (PySide6, PyQt, pyqtgraph) is imported only in ``ui``;
nothing below ``ui`` imports ``ui`` or ``cli``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PKG = SRC / "dreamband"

#: what each part of the package may import of ours (besides itself and the top package)
ALLOWED: dict[str, set[str]] = {
    "signal": set(),
    "firmware_bridge": {"signal"},
    "recordings": {"firmware_bridge", "signal"},
    "session": {"recordings", "firmware_bridge", "signal"},
    "ui": {"session", "recordings", "firmware_bridge", "signal"},
    "cli": {"ui", "session", "recordings", "firmware_bridge", "signal"},
    "__main__": {"cli"},
    "": {"session"},  # dreamband/__init__.py: stage_raw, imported on first use
}
QT = ("PySide6", "PyQt5", "PyQt6", "pyqtgraph", "shiboken6")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[str, int]]:
    """Every imported module name of ``path`` (absolute), with its line, at any depth."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    me = _module_name(path).split(".")
    package = me if path.name == "__init__.py" else me[:-1]
    out: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[: len(package) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            out.append((base, node.lineno))
            # ``from dreamband.x import y`` may import the submodule dreamband.x.y
            out += [(f"{base}.{a.name}", node.lineno) for a in node.names]
    return out


def _graph() -> tuple[dict[str, set[str]], dict[tuple[str, str], int]]:
    files = {_module_name(p): p for p in PKG.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in files}
    lines: dict[tuple[str, str], int] = {}
    for mod, path in files.items():
        for name, line in _imports(path):
            if not name.startswith("dreamband"):
                continue
            target = name
            while target not in files and "." in target:
                target = target.rsplit(".", 1)[0]
            if target in files and target != mod:
                graph[mod].add(target)
                lines.setdefault((mod, target), line)
    return graph, lines


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            for w in children:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        found.append(sorted(comp))
    return found


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_the_graph_is_read():
    graph, _ = _graph()
    assert "dreamband.session.engine" in graph
    assert "dreamband.signal.stager" in graph["dreamband.session.engine"]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles():
    graph, lines = _graph()
    cycles = _cycles(graph)
    detail = []
    for comp in cycles:
        arrows = [f"{a} -> {b} (line {lines[(a, b)]})" for a in comp for b in sorted(graph[a]) if b in comp]
        detail.append("; ".join(arrows))
    assert not cycles, "import cycles (lazy imports count):\n" + "\n".join(detail)


def test_arrows_point_down():
    graph, lines = _graph()
    up = []
    for mod, targets in graph.items():
        part = _part(mod)
        allowed = ALLOWED.get(part)
        if allowed is None:
            up.append(f"{mod}: not in a known part of the package; add it to ALLOWED and docs/architecture.md")
            continue
        for t in targets:
            tp = _part(t)
            if t == "dreamband" or tp == part or tp in allowed:
                continue
            up.append(f"{mod} -> {t} (line {lines[(mod, t)]})")
    assert not up, "imports against the layers (cli/ui -> session -> recordings -> firmware_bridge -> signal):\n" \
        + "\n".join(sorted(up))


@pytest.mark.parametrize("part", sorted(p for p in ALLOWED if p not in ("ui", "", "__main__")))
def test_qt_only_in_ui(part):
    where = PKG / part if (PKG / part).is_dir() else PKG / f"{part}.py"
    files = list(where.rglob("*.py")) if where.is_dir() else [where]
    bad = [f"{p.relative_to(SRC)}:{line} imports {name}" for p in files for name, line in _imports(p)
           if name.split(".")[0] in QT]
    assert not bad, "Qt outside ui:\n" + "\n".join(bad)
