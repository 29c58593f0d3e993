#!/usr/bin/env bash
# Build the documentation site into docs/_build/html (warnings are errors).
#   bash scripts/build_docs.sh            build (needs: pip install -e ".[docs]")
# Executed notebooks are cached in docs/_build/.notebook_cache; set DLNKIT_NOTEBOOK_CACHE to a
# folder of notebooks executed by the test run to reuse those (see docs/building.md).
set -euo pipefail
cd "$(dirname "$0")/.."
py="${PYTHON:-python3}"
exec "$py" -m sphinx -W --keep-going -b html docs docs/_build/html "$@"
