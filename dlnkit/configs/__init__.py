"""Configurations and what they describe, below the claims: the Hypothesis strategies that draw
them (:mod:`~dlnkit.configs.strategies`), the symbol values a prediction is evaluated at
(:mod:`~dlnkit.configs.prediction_values`), the rational points and exact helpers of exact routes
(:mod:`~dlnkit.configs.exact_points`) and the Hessians of a float64 point
(:mod:`~dlnkit.configs.point_hessians`). Imports only :mod:`dlnkit.theory` and :mod:`dlnkit.numerics`.
"""
