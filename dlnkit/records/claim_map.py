"""The claim map: for each claim, where everything about it lives, generated from the code.

For a claim it finds its module; the :mod:`dlnkit.theory` and :mod:`dlnkit.numerics` functions it
uses (read from the module's AST: the imported names that the claim's class uses, directly or
through the module's own helper functions); the test files that name its id; its anchor in
``docs/claims.md``; and the teaching notebooks (``proofs_notebooks/``) that name it. ``dlnkit list
-v`` prints it and the docs catalogue can call :func:`claim_map` too. Nothing is hand-maintained,
so the map cannot drift from the code. Outside a source checkout (an installed wheel) the tests
and docs are absent and those fields are empty.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

LAYERS_USED = ("dlnkit.theory", "dlnkit.numerics")


@dataclass(frozen=True)
class ClaimMapEntry:
    """Where one claim's pieces live.

    Attributes
    ----------
    claim_id, module : str
        The claim and the module its class is defined in.
    theory, numerics : tuple of str
        ``module.function`` names of :mod:`dlnkit.theory` / :mod:`dlnkit.numerics` the claim uses.
    tests : tuple of str
        Test files (relative to the checkout) that name the claim's id.
    docs_anchor : str
        The anchor of the claim's section in ``docs/claims.md``, as ``docs/claims.md`` + ``#`` + anchor
        ("" when none is found).
    notebooks : tuple of str
        Notebook sources (``proofs_notebooks/*.py``) that name the claim's id.
    """

    claim_id: str
    module: str
    theory: tuple[str, ...]
    numerics: tuple[str, ...]
    tests: tuple[str, ...]
    docs_anchor: str
    notebooks: tuple[str, ...]


def checkout_root() -> Path | None:
    """The source checkout dlnkit runs from (with ``tests/`` and ``docs/``), or None (a wheel)."""
    root = Path(__file__).resolve().parent.parent.parent
    return root if (root / "tests").is_dir() and (root / "docs").is_dir() else None


def _notebook_dir(root: Path | None) -> Path | None:
    if root is not None and (root / "proofs_notebooks").is_dir():
        return root / "proofs_notebooks"
    spec = importlib.util.find_spec("dlnkit.proofs_notebooks")
    locations = list(spec.submodule_search_locations or []) if spec else []
    return Path(locations[0]) if locations else None


def _id_pattern(claim_id: str) -> re.Pattern:
    """The id as a whole word: ``B1`` matches in ``"B1"`` but not in ``B1-ratio`` or ``AB1``."""
    return re.compile(rf"(?<![\w-]){re.escape(claim_id)}(?![\w-])")


@cache
def _texts(folder: Path, glob: str) -> tuple[tuple[Path, str], ...]:
    return tuple((p, p.read_text(encoding="utf-8", errors="replace")) for p in sorted(folder.glob(glob)))


def _naming(claim_id: str, files: Iterable[tuple[Path, str]], root: Path) -> tuple[str, ...]:
    pattern = _id_pattern(claim_id)
    out = []
    for path, text in files:
        if pattern.search(text):
            out.append(path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name)
    return tuple(out)


@cache
def _docs_anchors(claims_md: Path) -> frozenset[str]:
    if not claims_md.is_file():
        return frozenset()
    return frozenset(re.findall(r'<a id="([^"]+)"></a>', claims_md.read_text(encoding="utf-8")))


def docs_anchor(claim_id: str, anchors: Iterable[str]) -> str:
    """The section of ``docs/claims.md`` for a claim id: the anchor equal to the lower-cased id, else
    the id with its last ``-part`` removed, and so on (``B2-paper-decay`` -> ``b2-paper``,
    ``A2-dln-closed-form`` -> ``a2``); "" when none matches."""
    anchors = set(anchors)
    key = claim_id.lower()
    while key:
        if key in anchors:
            return key
        key = key.rpartition("-")[0]
    return ""


@cache
def _module_table(module: str) -> tuple[dict[str, str], dict[str, set[str]]]:
    """(imported name -> ``module.name`` for every dlnkit import anywhere in the module,
    module-level function or class name -> the names it uses)."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return {}, {}
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return {}, {}
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    imported: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("dlnkit"):
            for alias in node.names:
                imported[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("dlnkit"):
                    imported[alias.asname or alias.name.split(".")[0]] = alias.asname and alias.name or alias.name
    definitions = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    functions = {n.name: _names_in(n) for n in tree.body if isinstance(n, definitions)}
    return imported, functions


def _names_in(node: ast.AST) -> set[str]:
    """Plain names and ``name.attribute`` chains used inside a definition."""
    out = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Name):
            out.add(n.id)
        elif isinstance(n, ast.Attribute):
            parts = []
            cur: ast.AST = n
            while isinstance(cur, ast.Attribute):
                parts.append(cur.attr)
                cur = cur.value
            if isinstance(cur, ast.Name):
                out.add(".".join([cur.id, *reversed(parts)]))
    return out


def _resolve(dotted: str):
    """The object a dotted name points to (module attribute), or None."""
    module, _, attr = dotted.rpartition(".")
    while module:
        try:
            obj = importlib.import_module(module)
        except ImportError:
            module, _, head = module.rpartition(".")
            attr = f"{head}.{attr}"
            continue
        for part in attr.split("."):
            obj = getattr(obj, part, None)
        return obj
    return None


def _split_module(dotted: str) -> tuple[str, str]:
    """(loaded module, first name after it) of a dotted name."""
    parts = dotted.split(".")
    for k in range(len(parts) - 1, 0, -1):
        if ".".join(parts[:k]) in sys.modules:
            return ".".join(parts[:k]), parts[k]
    return dotted.rpartition(".")[0], dotted.rpartition(".")[2]


def _is_function(obj) -> bool:
    """A function or class (lambdified SymPy included); not a module, constant, symbol or exception."""
    if inspect.isclass(obj):
        return not issubclass(obj, BaseException)
    return callable(obj) and not inspect.ismodule(obj) and type(obj).__module__.split(".")[0] != "sympy"


def _used_functions(claim) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The theory and numerics functions (and classes) the claim's class reaches: names it uses,
    through the helpers of its own module and of the other claim modules it imports from."""
    cls = type(claim)
    # the claim's own classes (not the shared protocol in dlnkit.claims.base)
    own = [c for c in cls.__mro__ if c.__module__.startswith("dlnkit.claims") and c.__module__ != "dlnkit.claims.base"]
    todo = [(c.__module__, c.__name__) for c in own]
    seen: set[tuple[str, str]] = set()
    found: set[str] = set()
    while todo:
        module, name = todo.pop()
        if (module, name) in seen:
            continue
        seen.add((module, name))
        imported, functions = _module_table(module)
        for used in functions.get(name, ()):
            head, _, tail = used.partition(".")
            if head in functions:
                todo.append((module, head))
            elif head in imported:
                target = imported[head] + (f".{tail}" if tail else "")
                if target.startswith("dlnkit.claims."):
                    todo.append(_split_module(target))
                elif target.startswith(LAYERS_USED):
                    found.add(target)
    functions_found = set()
    for dotted in found:
        obj = _resolve(dotted)
        if _is_function(obj):
            module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
            canonical = f"{module}.{qualname}" if module and qualname and module.startswith("dlnkit") else dotted
            functions_found.add(canonical)
    theory = tuple(sorted(f for f in functions_found if f.startswith("dlnkit.theory")))
    numerics = tuple(sorted(f for f in functions_found if f.startswith("dlnkit.numerics")))
    return theory, numerics


def claim_map_entry(claim, root: Path | None = None) -> ClaimMapEntry:
    """The :class:`ClaimMapEntry` of one claim (``root``: the source checkout, found when None)."""
    root = checkout_root() if root is None else root
    theory, numerics = _used_functions(claim)
    tests: tuple[str, ...] = ()
    anchor = ""
    if root is not None:
        tests = _naming(claim.id, _texts(root / "tests", "test_*.py"), root)
        found = docs_anchor(claim.id, _docs_anchors(root / "docs" / "claims.md"))
        anchor = f"docs/claims.md#{found}" if found else ""
    notebook_dir = _notebook_dir(root)
    notebooks = _naming(claim.id, _texts(notebook_dir, "[0-9]*.py"), root or notebook_dir) if notebook_dir else ()
    return ClaimMapEntry(
        claim_id=claim.id,
        module=type(claim).__module__,
        theory=theory,
        numerics=numerics,
        tests=tests,
        docs_anchor=anchor,
        notebooks=notebooks,
    )


def claim_map(claims: Iterable, root: Path | None = None) -> list[ClaimMapEntry]:
    """The claim map of these claims (e.g. ``dlnkit.claims.all_claims().values()``)."""
    return [claim_map_entry(c, root) for c in claims]


def claim_map_lines(entry: ClaimMapEntry) -> list[str]:
    """The entry as ``key: value`` lines (what ``dlnkit list -v`` prints under a claim)."""

    def joined(items: tuple[str, ...]) -> str:
        return ", ".join(items) if items else "(none)"

    return [
        f"module: {entry.module}",
        f"theory: {joined(entry.theory)}",
        f"numerics: {joined(entry.numerics)}",
        f"tests: {joined(entry.tests)}",
        f"docs: {entry.docs_anchor or '(none)'}",
        f"notebooks: {joined(entry.notebooks)}",
    ]
