#!/usr/bin/env bash
# Packaging check: build the sdist and the wheel (the wheel is built from the sdist, so both must
# be complete), install the wheel into a fresh virtual environment and run every dlnkit command
# from outside the source tree. Nothing may be reached from the clone at run time.
#   bash scripts/check_dist.sh            (needs the dev extra: build)
# torch and the other dependencies are reused from the current interpreter's site-packages via a
# plain path entry (so that no .pth hook of that site runs: an editable dlnkit installed there
# must not shadow the wheel), and the wheel is installed with --no-deps --no-index: no network.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
py="${PYTHON:-python3}"
work="$(mktemp -d "${TMPDIR:-/tmp}/dlnkit-dist.XXXXXX")"
trap 'rm -rf "$work"' EXIT
t0=$SECONDS
# with setuptools >= 77 installed: build with it (--no-isolation, no download); else let build
# fetch the build requirements into an isolated environment
iso=""
"$py" -c 'import setuptools, sys; sys.exit(int(setuptools.__version__.split(".")[0]) < 77)' 2>/dev/null && iso="--no-isolation"
"$py" -m build $iso --outdir "$work/dist" "$here" >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
ls "$work"/dist/dlnkit-*.tar.gz "$work"/dist/dlnkit-*-py3-none-any.whl
"$py" -m venv "$work/venv"
vpy="$work/venv/bin/python"
site="$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
vsite="$("$vpy" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
echo "$site" >"$vsite/zz_reuse_system_site.pth"
"$vpy" -m pip install --quiet --no-deps --no-index "$work"/dist/dlnkit-*-py3-none-any.whl
cd "$work"  # away from the clone
export PATH="$work/venv/bin:$PATH" MPLBACKEND=Agg
"$vpy" - "$work/venv" "$here" <<'PY'
import sys, dlnkit, dlnkit.theory, dlnkit.numerics
venv, clone = sys.argv[1], sys.argv[2]
for m in (dlnkit, dlnkit.theory, dlnkit.numerics):
    assert m.__file__.startswith(venv), f"{m.__name__} imported from {m.__file__}, not from the wheel"
    assert not m.__file__.startswith(clone), m.__file__
print("dlnkit", dlnkit.__version__, "imported from", dlnkit.__file__)
PY
dlnkit --version
cmds="$("$vpy" -c 'from dlnkit.cli import build_parser
p = build_parser(); sub = [a for a in p._actions if a.dest == "command"][0]
print(" ".join(sorted(sub.choices)))')"
failed=()
run() { "$@" >"$work/out.log" 2>&1 || { failed+=("$*"); echo "FAILED: $*"; tail -3 "$work/out.log"; }; }
for c in $cmds; do
  if [ "$c" = bench ]; then
    # a source-checkout command by design (it measures the checkout): from a wheel it must refuse
    # with one line and exit 2, never a traceback
    set +e; dlnkit bench --help >"$work/out.log" 2>&1; rc=$?; set -e
    if [ "$rc" -ne 2 ] || [ "$(wc -l <"$work/out.log")" -ne 1 ]; then failed+=("dlnkit bench (refusal)"); cat "$work/out.log"; fi
  else
    run dlnkit "$c" --help
  fi
done
run dlnkit list
OMP_NUM_THREADS=1 run dlnkit verify B0 --examples 1 -q --json "$work/b0.json"
run dlnkit report "$work/b0.json" --out "$work/b0.html"
run dlnkit notebooks --list
# the installed notebook sources and gallery: notebook 5 replays counterexamples/ from its folder
if "$vpy" -c "import jupytext, nbclient, ipykernel" 2>/dev/null; then
  OMP_NUM_THREADS=1 run dlnkit notebooks 05 --out "$work/nb" --no-html -q
fi
if [ "${#failed[@]}" -gt 0 ]; then
  echo "check_dist: ${#failed[@]} check(s) failed from the installed wheel (commands: $cmds)"; exit 1
fi
echo "check_dist: OK in $((SECONDS - t0)) s (commands: $cmds)"
