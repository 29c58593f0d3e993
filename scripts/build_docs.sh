#!/usr/bin/env bash
# Build the documentation site into docs/_build/html (warnings are errors), then check that it works
# offline and that its commands can be pasted (scripts/check_site.py).
#   bash scripts/build_docs.sh            build (needs: pip install -e ".[docs]")
# Executed notebooks are cached in docs/_build/.notebook_cache; set DLNKIT_NOTEBOOK_CACHE to a
# folder of notebooks executed by the test run to reuse those (see docs/building.md).
set -euo pipefail
cd "$(dirname "$0")/.."
py="${PYTHON:-python3}"
"$py" -m sphinx -W --keep-going -b html docs docs/_build/html "$@"
"$py" scripts/check_site.py docs/_build/html
