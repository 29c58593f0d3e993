"""dlnkit/ is built in layers, and an import never runs back up.

From the bottom: ``dlnkit.theory`` / ``dlnkit.numerics`` < ``dlnkit.configs`` (strategies,
prediction values, exact points) < ``dlnkit.claims`` < ``dlnkit.records`` (outputs, run records,
reports, plots) < ``dlnkit.engines`` (counterexample search, gallery, sweep, exact mode) <
``dlnkit.commands`` and ``dlnkit.cli`` < the public facades ``dlnkit.api``, ``dlnkit.exact`` and
``dlnkit.strategies``, which only re-export. The walk reads every import of every module, those
inside functions included, so an import deferred into a function cannot hide an upward arrow or
a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: layer of each module prefix, lowest first (the longest matching prefix wins)
LAYERS = {
    "dlnkit.arguments": 0,  # the input error and the argument check, below theory and numerics
    "dlnkit.theory": 0,
    "dlnkit.numerics": 0,
    "dlnkit.configs": 1,
    "dlnkit.claims": 2,
    "dlnkit.records": 3,
    "dlnkit.engines": 4,
    "dlnkit.commands": 5,
    "dlnkit.cli": 5,
    "dlnkit.__main__": 5,
    "dlnkit.api": 6,
    "dlnkit.exact": 6,
    "dlnkit.strategies": 6,
}
FACADES = ("dlnkit.api", "dlnkit.exact", "dlnkit.strategies")


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[0] in ("theory", "numerics"):
        parts = ["dlnkit", *parts]
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    files = [p for folder in ("dlnkit", "theory", "numerics") for p in (ROOT / folder).rglob("*.py")]
    return {_module_name(p): p for p in files if "__pycache__" not in p.parts}


def _resolve(name: str, modules) -> str | None:
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _imports(name: str, path: Path, modules) -> list[tuple[str, int]]:
    """(imported dlnkit module, line) for every import in the file, wherever it sits."""
    out = []
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text())):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = name.split(".") if is_package else name.split(".")[:-1]
                pkg = pkg[: len(pkg) - (node.level - 1)]
                base = ".".join(pkg + ([node.module] if node.module else []))
            # ``from dlnkit.x import y`` imports the module dlnkit.x.y when there is one
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        for t in targets:
            if not t.startswith("dlnkit"):
                continue
            resolved = _resolve(t, modules)
            if resolved and resolved != name:
                out.append((resolved, node.lineno))
    return out


def _layer(name: str) -> int | None:
    best = None
    for prefix, layer in LAYERS.items():
        if (name == prefix or name.startswith(prefix + ".")) and (best is None or len(prefix) > len(best[0])):
            best = (prefix, layer)
    return None if best is None else best[1]


def test_every_dlnkit_module_has_a_layer():
    missing = [m for m in _modules() if m != "dlnkit" and _layer(m) is None]
    assert not missing, f"modules outside the layer table (add them to a subpackage): {missing}"


def test_no_import_runs_up_a_layer():
    modules = _modules()
    upward = []
    for name, path in modules.items():
        if name == "dlnkit":  # the package root: lazy attribute access to the facades, nothing at import
            continue
        for target, line in _imports(name, path, modules):
            if target == "dlnkit":  # ``from dlnkit import __version__``: the root imports nothing
                continue
            if _layer(target) > _layer(name):
                upward.append(f"{path.relative_to(ROOT)}:{line}: {name} (layer {_layer(name)}) imports {target}")
    assert not upward, "\n".join(upward)


def test_facades_only_reexport():
    for name in FACADES:
        path = _modules()[name]
        tree = ast.parse(path.read_text())
        defined = [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))]
        assert not defined, f"{name} defines {defined}; it should only re-export"


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle_in_dlnkit_package():
    """No cycle among the modules of dlnkit/ (function-level imports included). The registry's
    loading of claim modules by name (pkgutil) is not an import statement and is not counted."""
    modules = _modules()
    own = {m for m, p in modules.items() if p.is_relative_to(ROOT / "dlnkit")}
    graph = {m: {t for t, _ in _imports(m, modules[m], modules) if t in own and t != "dlnkit"} for m in own}
    assert not _cycles(graph)


def test_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def _has_function_level_import(tree: ast.AST) -> bool:
    def inside(node: ast.AST, in_function: bool) -> bool:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if in_function and isinstance(child, (ast.Import, ast.ImportFrom)):
                return True
            if inside(child, nested):
                return True
        return False

    return inside(tree, False)


def test_deferred_imports_say_why():
    """An import inside a function is there to defer a heavy dependency; the module says so."""
    silent = []
    for sub in ("configs", "claims", "records", "engines", "commands"):
        for path in sorted((ROOT / "dlnkit" / sub).glob("*.py")):
            text = path.read_text()
            if _has_function_level_import(ast.parse(text)) and "# Deferred imports" not in text:
                silent.append(str(path.relative_to(ROOT)))
    assert not silent, f"modules importing inside functions without saying why: {silent}"


def test_no_import_cycle_in_theory_or_numerics():
    """The same walk over theory/ and numerics/ (function-level imports included): a kernel module
    never needs a module that needs it back (point <-> dln_hessian was the last such pair)."""
    modules = _modules()
    low = {m for m, p in modules.items() if p.is_relative_to(ROOT / "theory") or p.is_relative_to(ROOT / "numerics")}
    graph = {m: {t for t, _ in _imports(m, modules[m], modules) if t in low and t != m} for m in low}
    assert not _cycles(graph)
