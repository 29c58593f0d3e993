"""dlnkit: derive (SymPy), measure (PyTorch) and stress (Hypothesis) claims about loss curvature.

Subpackages: :mod:`dlnkit.theory` (symbolic, no torch), :mod:`dlnkit.numerics` (torch, no
SymPy) and :mod:`dlnkit.claims` (where prediction meets measurement).
"""

__version__ = "0.1.0"

#: the public API (dlnkit.api), re-exported lazily so that ``import dlnkit`` stays cheap
_API_NAMES = frozenset(
    {
        "define_claim",
        "UserClaim",
        "Point",
        "build_point",
        "hessian",
        "autograd_hessian",
        "gauss_newton_hessian",
        "residual_hessian",
        "config_values",
        "evaluate_prediction",
        "Assumption",
        "Claim",
        "ClaimResult",
        "Comparison",
        "Tolerance",
        "all_claims",
        "draw_configs",
        "get_claim",
        "register",
        "load_claims_from_file",
        "load_entry_point_claims",
    }
)
_EXACT_NAMES = frozenset({"exact_point", "exact_hessian"})


def __getattr__(name):
    import importlib

    if name in _API_NAMES:
        return getattr(importlib.import_module("dlnkit.api"), name)
    if name in _EXACT_NAMES:
        return getattr(importlib.import_module("dlnkit.exact"), name)
    if name in ("strategies", "api", "exact"):
        return importlib.import_module(f"dlnkit.{name}")
    raise AttributeError(f"module 'dlnkit' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | _API_NAMES | _EXACT_NAMES | {"strategies", "api", "exact"})
