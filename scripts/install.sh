#!/usr/bin/env bash
# Install dlnkit into the current Python environment.
#   bash scripts/install.sh          runtime only
#   bash scripts/install.sh --dev    plus the test / notebook / sweep extras
# torch: an already installed torch (>= 2.4, e.g. a CUDA build on a GPU machine) is kept.
# When no torch is present we ask for the CPU wheel torch==2.13.0 first (a local wheel on
# the project machines), falling back to any torch>=2.4 the index offers.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
py="${PYTHON:-python3}"
extra=""
[ "${1:-}" = "--dev" ] && extra="[dev]"
if ! "$py" -c "import torch" >/dev/null 2>&1; then
  echo "dlnkit install: no torch found, installing the CPU wheel torch==2.13.0" >&2
  "$py" -m pip install --quiet "torch==2.13.0" || "$py" -m pip install --quiet "torch>=2.4"
fi
"$py" -m pip install --quiet -e "${here}${extra}"
# pyenv only exposes new console scripts after a rehash
command -v pyenv >/dev/null 2>&1 && pyenv rehash || true
