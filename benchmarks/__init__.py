"""dlnkit benchmarks: structured Hessians, batched HVPs and Lanczos against named baselines.

Run ``python -m benchmarks`` from the repository root (or ``dlnkit bench``); see the Benchmarks section of README.md.
Never run by the test suite.
"""
