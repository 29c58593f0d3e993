#!/usr/bin/env bash
# Lint, format check and type check (needs the dev extras: bash scripts/install.sh --dev).
# .ci/run runs this before the test suite.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
py="${PYTHON:-python3}"
"$py" -m ruff check .
"$py" -m ruff format --check .
bash scripts/typecheck.sh
