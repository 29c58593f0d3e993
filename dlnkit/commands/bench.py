"""``dlnkit bench``: the benchmark runner of ``benchmarks/`` (a source checkout is needed).

Arguments after ``bench`` go to ``python -m benchmarks`` unchanged (``dlnkit bench --quick``).
"""
from __future__ import annotations

def run(args) -> int:
    import os
    import sys
    from pathlib import Path

    from dlnkit.numerics.validation import DlnkitInputError

    root = Path(__file__).resolve().parents[2]
    if not (root / "benchmarks" / "__main__.py").is_file():
        raise DlnkitInputError("dlnkit bench needs the source checkout (benchmarks/ is not installed); "
                               "run `python -m benchmarks` from a clone")
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    os.environ["PYTHONPATH"] = str(root) + os.pathsep + os.environ.get("PYTHONPATH", "")
    from benchmarks.__main__ import main as bench_main

    return bench_main(list(args.bench_args))


def register(sub) -> None:
    # prefix_chars="+": every "-..." argument is passed on untouched (dlnkit bench --quick, --help)
    p = sub.add_parser("bench", help="run the benchmarks (same as python -m benchmarks; try --quick)",
                       add_help=False, prefix_chars="+")
    p.add_argument("bench_args", nargs="*", help="arguments for python -m benchmarks")
    p.set_defaults(func=run)
