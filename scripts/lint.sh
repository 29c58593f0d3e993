#!/usr/bin/env bash
# Lint, format check and type check (needs the dev extras: bash scripts/install.sh --dev).
# .ci/run runs this before the test suite.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
py="${PYTHON:-python3}"
echo "lint: ruff check ." >&2
"$py" -m ruff check .
echo "lint: ruff format --check ." >&2
"$py" -m ruff format --check .
echo "lint: mypy (strict) on dlnkit.theory and dlnkit.numerics" >&2
bash scripts/typecheck.sh
