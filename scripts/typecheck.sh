#!/usr/bin/env bash
# Type-check dlnkit.theory and dlnkit.numerics with mypy (configuration: [tool.mypy] in pyproject.toml).
#   bash scripts/typecheck.sh            check both packages (strict)
#   bash scripts/typecheck.sh ARGS...    extra mypy arguments
# setuptools installs theory/ as dlnkit.theory and numerics/ as dlnkit.numerics (package-dir); mypy
# can follow neither that mapping nor the editable install's import hook, so we link the folders
# into build/mypy-tree/dlnkit/ (gitignored) and let mypy read the packages there (mypy_path).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
tree="build/mypy-tree/dlnkit"
mkdir -p "$tree"
# idempotent (-f, -n): concurrent runs share the same links
ln -sfn "$root/dlnkit/__init__.py" "$tree/__init__.py"
ln -sfn "$root/theory" "$tree/theory"
ln -sfn "$root/numerics" "$tree/numerics"
# report the source paths (theory/x.py), not the links
"${PYTHON:-python3}" -m mypy "$@" 2>&1 | sed -e 's#build/mypy-tree/dlnkit/theory/#theory/#g' \
  -e 's#build/mypy-tree/dlnkit/numerics/#numerics/#g'
