"""The claim registry. Every module in this package that defines ``CLAIMS`` (a list of
:class:`~dlnkit.claims.base.Claim` instances) is registered automatically, in module order;
installed packages add theirs through the ``dlnkit.claims`` entry-point group.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import pkgutil
import sys
import types
import warnings
from importlib.metadata import entry_points
from pathlib import Path

from dlnkit.arguments import checked
from dlnkit.claims.base import Assumption, Claim, ClaimResult, Comparison, Tolerance, draw_configs
from dlnkit.claims.boundary import UserCodeExit, register_user_file, user_code
from dlnkit.numerics.validation import DlnkitInputError

# Deferred imports: SymPy's exact-arithmetic routes (dlnkit.configs.exact_points,
# dlnkit.theory.exact_*) and heavy array libraries load only when an exact route or a routine
# that needs them runs, so `dlnkit list` and the float checks stay light.

_REGISTRY: dict[str, Claim] = {}
_LOADED = False
#: where the claims being registered right now come from (a file path or "entry-point:NAME"); set
#: by the loaders below so that :func:`dlnkit.api.define_claim` can record each claim's origin
_LOADING_ORIGIN: str | None = None
ENTRY_POINT_GROUP = "dlnkit.claims"


def loading_origin() -> str | None:
    """Where the claims being registered right now come from (a file path or ``"entry-point:NAME"``),
    or None outside :func:`load_claims_from_file` / :func:`load_entry_point_claims`."""
    return _LOADING_ORIGIN


def register(claim: Claim, *, replace: bool = False) -> Claim:
    """Add a claim to the registry (its id must be new unless ``replace``).

    Parameters
    ----------
    claim
        A :class:`Claim` with a non-empty ``id``.
    replace
        Replace a registered claim with the same id.

    Returns
    -------
    Claim
        The claim, registered.

    Raises
    ------
    DlnkitInputError
        No id, or the id is taken and ``replace`` is false.
    """
    if not claim.id:
        raise DlnkitInputError(f"claim {claim!r} has no id")
    if claim.id in _REGISTRY and not replace and _REGISTRY[claim.id] is not claim:
        raise DlnkitInputError(f"a claim with id {claim.id!r} is already registered")
    _REGISTRY[claim.id] = claim
    return claim


def _load_builtin() -> None:
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name.startswith("_") or info.name == "base":
            continue
        mod = importlib.import_module(f"{__name__}.{info.name}")
        for claim in getattr(mod, "CLAIMS", []):
            register(claim, replace=True)
    load_entry_point_claims()


def all_claims() -> dict[str, Claim]:
    """Every registered claim by id (built-ins loaded on first use).

    Returns
    -------
    dict
        Claim id -> :class:`Claim`, built-ins first (in module order), then entry-point and user claims.
    """
    _load_builtin()
    return dict(_REGISTRY)


@checked
def get_claim(claim_id: str) -> Claim:
    """The registered claim with this id.

    Parameters
    ----------
    claim_id
        As shown by ``dlnkit list``.

    Returns
    -------
    Claim

    Raises
    ------
    DlnkitInputError
        No claim has this id (the message lists the known ones).
    """
    claims = all_claims()
    if claim_id not in claims:
        raise DlnkitInputError(f"unknown claim {claim_id!r}; known claims: {', '.join(claims)}")
    return claims[claim_id]


# ----- user claims: files and installed packages --------------------------------------------


#: while a file loads: the claim object registered under each id, to refuse an id used twice
_LOAD_SEEN: dict[str, Claim] | None = None


def register_from_origin(claim: Claim, origin: str | None) -> Claim:
    """Register a user claim, recording where it came from. Loading the same source again
    replaces its claims; an id taken by another source (a built-in, another file) is an error."""
    if not isinstance(claim, Claim):
        raise DlnkitInputError(f"{claim!r} is not a dlnkit Claim (build one with dlnkit.define_claim)")
    if getattr(claim, "origin", None) is None:
        claim.origin = origin
    if _LOAD_SEEN is not None and origin is not None and origin == _LOADING_ORIGIN:
        first = _LOAD_SEEN.setdefault(claim.id, claim)
        if first is not claim:  # two claims with one id in one file: the second would silently win
            raise DlnkitInputError(f"{origin} defines claim id {claim.id!r} twice; give each claim its own id")
    existing = _REGISTRY.get(claim.id)
    same = (
        existing is not None
        and getattr(existing, "origin", None) is not None
        and getattr(existing, "origin", None) == claim.origin
    )
    if existing is not None and existing is not claim and not same:
        where = getattr(existing, "origin", None) or "the built-in claims"
        raise DlnkitInputError(f"claim id {claim.id!r} from {claim.origin or 'user code'} is already used by {where}")
    return register(claim, replace=True)


def _claims_in(obj, origin: str | None, stale: frozenset[int] = frozenset()) -> list[Claim]:
    """Claims held by an object: a Claim, a list of them, a module (its ``CLAIMS`` list, its
    module-level Claim instances and the claims it registered from ``origin`` while it ran, not
    the objects in ``stale``: what an earlier load of the same file left in the registry) or a
    callable returning any of these."""
    if isinstance(obj, Claim):
        return [obj]
    if isinstance(obj, (list, tuple)):
        return [c for item in obj for c in _claims_in(item, origin)]
    if isinstance(obj, types.ModuleType):
        found = list(getattr(obj, "CLAIMS", []))
        found += [v for k, v in vars(obj).items() if isinstance(v, Claim) and not k.startswith("_")]
        found += [
            c
            for c in _REGISTRY.values()
            if origin is not None and getattr(c, "origin", None) == origin and id(c) not in stale
        ]
        out, seen = [], set()
        for c in found:
            if id(c) not in seen:
                seen.add(id(c))
                out.append(c)
        return out
    if callable(obj):
        return _claims_in(obj(), origin)
    return []


@checked
def load_claims_from_file(path: str | os.PathLike[str]) -> list[Claim]:
    """Run a user's Python file and register the claims it states (``dlnkit verify --from FILE``).

    A claim counts if the file builds it with :func:`dlnkit.define_claim`, lists it in a
    module-level ``CLAIMS`` list, or binds a :class:`Claim` instance at module level. The built-in
    claims are loaded first, so an id clash is reported instead of silently shadowed. Returns the
    file's claims in order; loading the same file twice replaces them.

    Parameters
    ----------
    path
        A Python file.

    Returns
    -------
    list of Claim
        The file's claims, registered.

    Raises
    ------
    DlnkitInputError
        No such file, the file fails to import or defines no claims, or an id clashes with another source.
    """
    import importlib.util

    global _LOADING_ORIGIN
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise DlnkitInputError(f"no such claims file: {path}")
    all_claims()
    origin = str(path)
    name = (
        "dlnkit_user_claims_"
        + "".join(c if c.isalnum() else "_" for c in path.stem)
        + "_"
        + hashlib.sha1(origin.encode()).hexdigest()[:8]
    )
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise DlnkitInputError(f"cannot import {path} as Python")
    module = importlib.util.module_from_spec(spec)
    global _LOAD_SEEN
    previous, _LOADING_ORIGIN = _LOADING_ORIGIN, origin
    previous_seen, _LOAD_SEEN = _LOAD_SEEN, {}
    sys.modules[name] = module
    try:
        # held (not just their ids) so that no new claim can reuse an old one's id while we compare
        stale_objects = tuple(_REGISTRY.values())
        register_user_file(path)
        # the boundary: what the file sets up while imported stays its own (see dlnkit.claims.boundary)
        with user_code(f"--from {path}", source=origin, setup=True):
            spec.loader.exec_module(module)
            claims = _claims_in(module, origin, frozenset(map(id, stale_objects)))
        for c in claims:
            register_from_origin(c, origin)
    except DlnkitInputError:
        raise
    except SystemExit as exc:  # a script-style file must not end dlnkit (nor pick its exit status)
        sys.modules.pop(name, None)
        raise DlnkitInputError(
            f"could not load claims from {path}: the file called "
            f"{exc if isinstance(exc, UserCodeExit) else f'sys.exit({exc.code!r})'} "
            "while being imported (guard script code with if __name__ == '__main__')"
        ) from None
    except Exception as exc:
        sys.modules.pop(name, None)
        raise DlnkitInputError(f"could not load claims from {path}: {type(exc).__name__}: {exc}") from exc
    finally:
        _LOADING_ORIGIN, _LOAD_SEEN = previous, previous_seen
    if not claims:
        raise DlnkitInputError(f"{path} defines no claims (use dlnkit.define_claim or a CLAIMS list)")
    return claims


def load_entry_point_claims(group: str = ENTRY_POINT_GROUP) -> list[Claim]:
    """Register the claims of installed packages: every entry point of the ``dlnkit.claims``
    group may name a module, a Claim, a list of claims or a callable returning them, e.g. in the
    plugin's pyproject.toml ``[project.entry-points."dlnkit.claims"] mine = "my_pkg.claims"``.
    Called automatically with the built-ins; a plugin that fails to load is skipped with a warning.

    Parameters
    ----------
    group
        The entry-point group.

    Returns
    -------
    list of Claim
        The claims registered from installed packages.
    """
    global _LOADING_ORIGIN
    out = []
    for ep in entry_points(group=group):
        origin = f"entry-point:{ep.name}={ep.value}"
        previous, _LOADING_ORIGIN = _LOADING_ORIGIN, origin
        try:
            # the boundary: a plugin loads in every command, so its exit or its set-up may not end or change them
            with user_code(f"claims entry point {ep.name!r}", source=origin, setup=True):
                obj = ep.load()
                found = _claims_in(obj, origin)
            register_user_file(getattr(obj, "__file__", None))
            for c in found:
                out.append(register_from_origin(c, origin))
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 - a broken plugin (an exception, sys.exit, os._exit) is skipped
            if isinstance(exc, UserCodeExit):
                how = f"called {exc}"
            elif isinstance(exc, SystemExit):
                how = f"called sys.exit({exc.code!r})"
            else:
                how = f"{type(exc).__name__}: {exc}"
            warnings.warn(
                f"dlnkit: skipping claims entry point {ep.name!r} ({ep.value}): {how}", RuntimeWarning, stacklevel=2
            )
        finally:
            _LOADING_ORIGIN = previous
    return out


__all__ = [
    "Assumption",
    "Claim",
    "ClaimResult",
    "Comparison",
    "Tolerance",
    "draw_configs",
    "register",
    "all_claims",
    "get_claim",
    "load_claims_from_file",
    "load_entry_point_claims",
    "register_from_origin",
    "loading_origin",
]
