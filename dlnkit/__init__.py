"""dlnkit: derive (SymPy), measure (PyTorch) and stress (Hypothesis) claims about loss curvature.

Subpackages: :mod:`dlnkit.theory` (symbolic, no torch), :mod:`dlnkit.numerics` (torch, no
SymPy) and :mod:`dlnkit.claims` (where prediction meets measurement).
"""
__version__ = "0.1.0"
