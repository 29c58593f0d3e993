"""The engines that run claims and experiments, above the claims and records and below the CLI:
the counterexample search and its records and gallery, the sweep and its worker pool, exact mode,
the SpectralNewton experiment and the notebook runner.
"""
