"""``dlnkit bench``: a source-checkout command. The benchmarks live beside the package in
``benchmarks/`` (they are measurements of this code, not part of what is installed), so
``dlnkit bench ARGS`` runs ``python -m benchmarks ARGS`` in a child process that finds
``benchmarks`` through its own ``PYTHONPATH`` (the checkout), in the caller's working folder so
relative ``--out`` paths mean what they say; it changes nothing in this process (no ``sys.path``
edits). From an installed package without a checkout it refuses with one line saying so.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Deferred imports: the functions below import their engines, torch and matplotlib when the
# subcommand runs, so that `dlnkit --help` and the other subcommands do not load them.


def checkout_root():
    """The source checkout this package runs from (``benchmarks/__main__.py`` and ``pyproject.toml``
    beside the ``dlnkit`` folder), or None for an installed package."""
    root = Path(__file__).resolve().parents[2]
    if (root / "benchmarks" / "__main__.py").is_file() and (root / "pyproject.toml").is_file():
        return root
    return None


def run(args) -> int:
    import subprocess

    from dlnkit.numerics.validation import DlnkitInputError

    root = checkout_root()
    if root is None:
        raise DlnkitInputError(
            "dlnkit bench is a source-checkout command (the benchmarks are not installed); "
            "clone the repository and run `dlnkit bench` or `python -m benchmarks` there"
        )
    try:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH")) if p))
        return subprocess.run([sys.executable, "-m", "benchmarks", *args.bench_args], env=env).returncode
    except KeyboardInterrupt:
        return 130


def register(sub) -> None:
    # prefix_chars="+": every "-..." argument is passed on untouched (dlnkit bench --quick, --help)
    p = sub.add_parser(
        "bench",
        help="run the benchmarks of a source checkout (python -m benchmarks; try --quick)",
        add_help=False,
        prefix_chars="+",
    )
    p.add_argument("bench_args", nargs="*", help="arguments for python -m benchmarks")
    p.set_defaults(func=run)
