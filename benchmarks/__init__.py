"""dlnkit benchmarks: structured Hessians, batched HVPs and Lanczos against named baselines.

Run ``python -m benchmarks`` from the repository root (or ``dlnkit bench``); see docs/benchmarks.md.
Never run by the test suite.
"""
