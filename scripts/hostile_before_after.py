"""Run today's hostile suite against an old commit and against today's code: which tests fail there?

    python scripts/hostile_before_after.py                     # 5f99fd4 (issue 22) vs HEAD
    python scripts/hostile_before_after.py --before C --after R --out F.json
    python scripts/hostile_before_after.py -k gallery          # a subset (pytest -k)

Issue 22 asks that every class it lists has a test that FAILS on the code it was filed against
and passes after the fix. This script is that evidence. It checks out ``--before`` and
``--after`` into throwaway worktrees (``git worktree add --detach``), installs nothing, and
runs the hostile tests of the CURRENT checkout (``tests/``, copied over each tree's own tests)
against each tree's code: ``PYTHONPATH`` points at the tree, with its ``pyproject.toml``
package-dir map (``theory/`` -> ``dlnkit.theory``, ...) laid out as links inside the tree.

Modules that git's rename detection says were only moved between the two commits (for example
``dlnkit/sweep.py`` -> ``dlnkit/engines/sweep.py``) are importable under their new name in the
old tree (a ``sitecustomize`` alias, also in subprocesses), so a test is not lost just because
a file moved. A test that still fails only because a module or name it imports did not exist
then is counted as **new API**, apart from the tests that fail on the old code.

Each test is recorded with its outcome in both trees and put in one class of issue 22 (first
matching rule of :data:`RULES`, on the test's node id); the JSON per class lists the tests that
fail before and pass after, the new-API ones, those that pass on both, and any that fail after.
A test that takes longer than ``--test-timeout`` is stopped and counted as a hang. The old code
may grow to gigabytes where today's guards refuse, so each run is capped at ``--max-gib`` of
address space (both trees, so the comparison is fair).

The "flaky Ctrl-C" class was a fault of the test, not of dlnkit (a background test run inherits
SIGINT ignored, the driver it starts too, and the test's SIGINT then does nothing); its evidence
is the old and the new version of the test, run on today's code with SIGINT ignored in the
parent (``--flaky-check``; the old test waits its full 60 s before it fails).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parents[1]
ISSUE_COMMIT = "5f99fd4"

OTHER = "beyond issue 22's list"
#: issue 22's classes, in the order the issue lists them
CLASSES = (
    "files replaced",
    "Ctrl-C and exits",
    "memory guards",
    "exit 70",
    "silent nonsense",
    "generated code",
    "flaky Ctrl-C",
)
#: (regular expression searched in a test's node id, class): the first rule that matches wins;
#: test files by their subject first, then words in the test's name (for tests added later)
RULES: tuple[tuple[str, str], ...] = (
    (r"test_ctrl_c_stops_the_sweep_promptly", "flaky Ctrl-C"),
    # sweep faults and checkpoints: the round before issue 22
    (
        r"test_hostile_faults\.py::test_(killed_and_oom|retry_errors|case_files|a_record_for_another|device_is_part"
        r"|sigkill_of_the_driver|damaged_checkpoint|read_only_cache)",
        OTHER,
    ),
    (r"emit_test|emitted_test|triple_quotes|generated_(test|code|source)", "generated code"),
    (r"test_hostile_(boundary|user_code)\.py::", "Ctrl-C and exits"),
    (r"test_hostile_output_paths\.py::", "files replaced"),
    (r"test_hostile_registry\.py::test_a_killed_runs_temporaries", "Ctrl-C and exits"),
    (r"test_hostile_registry\.py::", "files replaced"),
    (r"test_hostile_outputs\.py::test_(gallery|output_paths)", "files replaced"),
    (r"test_hostile_outputs\.py::test_replay", "silent nonsense"),
    (r"test_hostile_outputs\.py::test_(verify|define_claim)", OTHER),  # user-code errors, the round before
    (r"test_hostile_(allocations|memory)\.py::", "memory guards"),
    (r"test_hostile_replay\.py::", "silent nonsense"),
    (r"test_hostile_(api|real)", "silent nonsense"),
    (
        r"ctrl_c|sigint|sigkill|sigterm|sighup|keyboardinterrupt|killed|interrupted|sys_exit|that_exits",
        "Ctrl-C and exits",
    ),
    (r"address_space|memory|allocat|guard", "memory guards"),
    (r"duplicate|tolerance|broadcast|empty_params|frozen|unknown_key|misspel|nonsense", "silent nonsense"),
    (
        r"replace|clobber|symlink|hard_?link|overwrit|concurrent|same_path|temporar|never_lose|reuse|remove|_locks?_",
        "files replaced",
    ),
    (r"test_hostile_(validation|cli)\.py::", "exit 70"),
)


# ----- the two trees ------------------------------------------------------------------------


def git(*args: str, cwd: Path = ROOT) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def package_dirs(tree: Path) -> dict[str, str]:
    """``[tool.setuptools] package-dir`` of the tree's pyproject: {import name: folder}."""
    with open(tree / "pyproject.toml", "rb") as fh:
        return dict(tomllib.load(fh).get("tool", {}).get("setuptools", {}).get("package-dir", {}))


def lay_out_packages(tree: Path) -> None:
    """Make ``PYTHONPATH=tree`` import what an install would: each package mapped to a folder
    other than its dotted path (``dlnkit.theory`` = ``theory``) gets a link at that path."""
    for name, folder in sorted(package_dirs(tree).items(), key=lambda kv: kv[0].count(".")):
        where = tree / name.replace(".", "/")
        if where.resolve() != (tree / folder).resolve() and not where.exists():
            where.symlink_to(os.path.relpath(tree / folder, where.parent), target_is_directory=True)


def module_name(path: str, dirs: dict[str, str]) -> str | None:
    """The import name of a source file ``path`` under a package-dir map (None: not in a package)."""
    best = None
    for name, folder in dirs.items():
        folder = folder.rstrip("/")
        if path.startswith(folder + "/") and (best is None or len(folder) > len(best[1])):
            best = (name, folder)
    if best is None or not path.endswith(".py"):
        return None
    rest = path[len(best[1]) + 1 : -3].replace("/", ".")
    return best[0] if rest == "__init__" else f"{best[0]}.{rest}"


def moved_modules(before: str, after: str, before_tree: Path, after_tree: Path) -> dict[str, str]:
    """{new import name: old import name} for the files git's rename detection pairs up."""
    out = git("diff", "-M", "--name-status", "--diff-filter=R", before, after)
    old_dirs, new_dirs = package_dirs(before_tree), package_dirs(after_tree)
    aliases = {}
    for line in out.splitlines():
        _, old, new = line.split("\t")
        o, n = module_name(old, old_dirs), module_name(new, new_dirs)
        if o and n and o != n:
            aliases[n] = o
    return aliases


SITECUSTOMIZE = '''"""Written by scripts/hostile_before_after.py: this tree's dlnkit only, moved modules under
their new names."""
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys

ALIASES = {aliases!r}
PARENTS = {{a.rsplit(".", i)[0] for a in ALIASES for i in range(1, a.count("."))}}


class _Existing(importlib.abc.Loader):
    def __init__(self, old):
        self.old = old

    def create_module(self, spec):
        return importlib.import_module(self.old)

    def exec_module(self, module):
        pass


class _Empty(importlib.abc.Loader):
    def create_module(self, spec):
        return None

    def exec_module(self, module):
        pass


class MovedModules(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname in ALIASES:
            return importlib.machinery.ModuleSpec(fullname, _Existing(ALIASES[fullname]))
        if fullname in PARENTS:  # a package that did not exist yet: empty, holding the aliases
            return importlib.machinery.ModuleSpec(fullname, _Empty(), is_package=True)
        return None


# an editable install of dlnkit in this interpreter would otherwise supply the modules that the tree
# on PYTHONPATH lacks, from the checkout it was installed from: mixing today's code into the old
sys.meta_path[:] = [f for f in sys.meta_path if not getattr(f, "__module__", "").startswith("__editable__")]
sys.path_hooks[:] = [h for h in sys.path_hooks if not getattr(h, "__module__", "").startswith("__editable__")]
sys.path[:] = [p for p in sys.path if not p.startswith("__editable__")]
sys.path_importer_cache.clear()
sys.meta_path.append(MovedModules())  # last: every module that exists in the tree wins
'''

PLUGIN = '''"""Written by scripts/hostile_before_after.py: each test's outcome, one JSON line at a time."""
import json
import os
import signal

import pytest

OUT = os.environ["HOSTILE_BA_LOG"]
TIMEOUT = int(os.environ.get("HOSTILE_BA_TIMEOUT", "300"))


class TestTimedOut(BaseException):
    """Raised in a test that ran past the limit (a BaseException, so user-code boundaries that
    turn Exceptions into rows do not swallow it)."""


def _log(**row):
    with open(OUT, "a") as fh:
        fh.write(json.dumps(row) + "\\n")


def _alarm(signum, frame):
    raise TestTimedOut(f"still running after {TIMEOUT} s")


def pytest_collectreport(report):
    if report.failed:
        _log(event="collect", nodeid=report.nodeid, text=report.longreprtext[-3000:])


def pytest_runtest_logstart(nodeid, location):
    _log(event="start", nodeid=nodeid)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):  # setup (module fixtures too), call and teardown
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(TIMEOUT)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.when == "call" or rep.outcome != "passed":
        exc = call.excinfo
        _log(
            event="report",
            nodeid=rep.nodeid,
            when=rep.when,
            outcome=rep.outcome,
            seconds=round(rep.duration, 2),
            exc_type=exc.typename if exc else None,
            exc_text=str(exc.value)[:600] if exc else None,
            # the traceback, then what the test printed: a child process's own traceback (a forked
            # worker that died of an import error while the test waits) shows only there
            text=(rep.longreprtext[-3000:] + "".join(
                f"\\n--- {name} ---\\n{content[-3000:]}" for name, content in rep.sections
            )) if rep.failed else "",
        )
'''


def prepare_tree(ref: str, where: Path, tests: Path, aliases: dict[str, str] | None = None) -> Path:
    """A detached worktree of ``ref`` at ``where`` whose tests/ is a copy of ``tests``."""
    subprocess.run(["git", "worktree", "add", "--detach", str(where), ref], cwd=ROOT, check=True, capture_output=True)
    shutil.rmtree(where / "tests", ignore_errors=True)
    shutil.copytree(tests, where / "tests", ignore=shutil.ignore_patterns("__pycache__", ".hypothesis"))
    lay_out_packages(where)
    return where


def run_suite(tree: Path, support: Path, files: list[str], args: argparse.Namespace, label: str) -> dict[str, dict]:
    """pytest on ``files`` in ``tree``: {node id: {"outcome", "seconds", "exc_type", "exc_text", "text", "when"}}.

    One process for all files (each start-up imports torch); a test past ``--test-timeout`` is
    stopped by the plugin's alarm, and if the whole process stops answering (a hang in C code),
    its process group is killed, the test that was running counts as a hang, and the rest run
    in a new process without the tests already recorded."""
    log = support / f"{label}.jsonl"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(support / "site"), str(tree), str(tree / "tests")]),
        "HOSTILE_BA_LOG": str(log),
        "HOSTILE_BA_TIMEOUT": str(args.test_timeout),
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    env.pop("DLNKIT_RELIABILITY_TALLY", None)
    cap = int(args.max_gib * 2**30)

    def limits() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    done: set[str] = set()
    for attempt in range(1, 6):
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "hostile_ba_plugin"]
        cmd += ["--continue-on-collection-errors", *files, *(f"--deselect={nid}" for nid in sorted(done))]
        if args.k:
            cmd += ["-k", args.k]
        t0 = time.perf_counter()
        with open(support / f"{label}-{attempt}.out", "w") as out:
            proc = subprocess.Popen(
                cmd, cwd=tree, env=env, stdout=out, stderr=subprocess.STDOUT, preexec_fn=limits, start_new_session=True
            )
            try:
                proc.wait(timeout=args.run_timeout)
                finished = True
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                finished = False
        lines = (support / f"{label}-{attempt}.out").read_text().strip().splitlines()
        tail = lines[-1] if lines else ""
        print(f"[{label}] run {attempt}: {tail} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
        done = {nid for nid in read_log(log) if nid != "__collect__"}
        if finished:
            break
    return read_log(log)


def read_log(log: Path) -> dict[str, dict]:
    tests: dict[str, dict] = {}
    collect: list[dict] = []
    if not log.exists():
        return tests
    for line in log.read_text().splitlines():
        row = json.loads(line)
        if row["event"] == "collect":
            collect.append(row)
        elif row["event"] == "start":
            tests.setdefault(row["nodeid"], {"outcome": "hang", "seconds": None, "when": "call"})
        else:
            t = tests.setdefault(row["nodeid"], {})
            if row["outcome"] != "passed" or row["when"] == "call":
                bad = row["outcome"] == "failed"
                if bad or t.get("outcome") in (None, "hang", "passed"):
                    t.update({k: row[k] for k in ("outcome", "seconds", "exc_type", "exc_text", "text", "when")})
                    if bad and row["when"] != "call":
                        t["outcome"] = "error"
    # a module-scoped fixture that fails fails every later test of its module with the same error:
    # only the first of them (in the order they ran) says anything about its own input
    first_of: dict[tuple, str] = {}
    for nid, t in tests.items():
        if t.get("outcome") == "error" and t.get("when") == "setup":
            key = (nid.split("::")[0], t.get("exc_type"), t.get("exc_text"))
            if key in first_of:
                t["shared_with"] = first_of[key]
            else:
                first_of[key] = nid
    tests["__collect__"] = {"errors": collect}  # type: ignore[assignment]
    return tests


# ----- classification -----------------------------------------------------------------------


def missing_name(text: str) -> str | None:
    """The dlnkit module, name or keyword argument (dotted) that an error in ``text`` says did not
    exist; None when it says nothing of the kind. Only such a failure counts as "new API"."""
    for pat in (
        r"No module named '(dlnkit[^']*)'",
        r"cannot import name '([^']+)' from '(dlnkit[^']*)'",
        r"module '(dlnkit[^']*)' has no attribute '([^']+)'",
        r"(\w+)\(\) got an unexpected keyword argument '([^']+)'",
    ):
        m = re.search(pat, text or "")
        if m and "import name" in pat:
            return f"{m.group(2)}.{m.group(1)}"
        if m and "keyword" in pat:
            return f"keyword argument {m.group(2)!r} of {m.group(1)}()"
        if m:
            return ".".join(m.groups())
    return None


def collection_error_for(nodeid: str, before: dict) -> dict | None:
    path = nodeid.split("::")[0]
    for err in before.get("__collect__", {}).get("errors", []):
        if err["nodeid"] == path or path.endswith(err["nodeid"]):
            return err
    return None


def verdict(nodeid: str, before: dict, after: dict) -> tuple[str, str]:
    """(category, reason) of one test: fails before / new API / passes both / fails after / ..."""
    a = after.get(nodeid, {"outcome": "absent"})
    b = before.get(nodeid)
    if b is None:
        err = collection_error_for(nodeid, before)
        if err is not None:
            name = missing_name(err["text"])
            if name:
                return "new API", f"collection: {name} did not exist"
            return "fails before", "collection error: " + err["text"].strip().splitlines()[-1][:300]
        b = {"outcome": "absent"}
    if a["outcome"] not in ("passed",):
        return ("skipped after" if a["outcome"] == "skipped" else "fails after"), a.get("exc_type") or a["outcome"]
    if b["outcome"] == "passed":
        return "passes both", ""
    if b["outcome"] == "absent":
        return "not run before", "the old tree's run ended before this test"
    if b["outcome"] == "skipped":
        return "skipped before", (b.get("text") or "")[-200:]
    if b.get("shared_with"):
        return "not run alone before", f"the module's shared fixture had already failed in {b['shared_with']}"
    if b["outcome"] in ("failed", "error", "hang"):
        # the test's own import, an attribute or keyword of dlnkit's API, also when the error
        # shows only in the captured output of a child process the test started
        name = missing_name(str(b.get("exc_text") or "")) or missing_name(str(b.get("text") or ""))
        if name:
            return "new API", f"{name} did not exist"
    if b["outcome"] == "hang" or b.get("exc_type") == "TestTimedOut":
        return "fails before", f"hang: {b.get('exc_text') or 'the test did not finish'}"
    return "fails before", first_reason(b)


def first_reason(b: dict) -> str:
    """A short reason for a failure on the old code: the assertion line or the exception."""
    text = b.get("text") or ""
    lines = [ln.strip() for ln in text.splitlines() if ln.startswith("E ")]
    if lines:
        return " ".join(ln[1:].strip() for ln in lines[:3])[:300]
    return f"{b.get('exc_type')}: {b.get('exc_text')}"[:300]


def class_of(nodeid: str) -> str:
    """The class of issue 22 that a test checks (:data:`RULES`; :data:`OTHER` when none matches)."""
    return next((name for pattern, name in RULES if re.search(pattern, nodeid, flags=re.IGNORECASE)), OTHER)


# ----- the flaky Ctrl-C test: old test vs new test, today's code, SIGINT ignored ------------


def flaky_check(before: str, after_tree: Path, aliases: dict[str, str], tmp: Path) -> dict:
    """The issue's flaky test, old version and new, on today's code, started the way a background
    CI run starts it (SIGINT ignored in the parent, so inherited by every child). The old test
    imports modules by their old names: those of ``aliases`` (new: old) are mapped back."""
    name = "test_ctrl_c_stops_the_sweep_promptly_and_keeps_what_finished"
    old_dir, site = tmp / "flaky-old-tests", tmp / "flaky-site"
    shutil.copytree(after_tree / "tests", old_dir)
    for rel in ("tests/test_hostile_faults.py", "tests/hostile_support.py"):
        (old_dir / Path(rel).name).write_text(git("show", f"{before}:{rel}") + "\n")
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE.format(aliases={o: n for n, o in aliases.items()}))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), str(after_tree)]),
        "OMP_NUM_THREADS": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }

    def ignore_sigint() -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    result = {}
    for label, tests in (("old test", old_dir), ("new test", after_tree / "tests")):
        cmd = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"{tests}/test_hostile_faults.py::{name}",
        ]
        t0 = time.perf_counter()
        proc = subprocess.run(
            cmd, cwd=after_tree, env=env, capture_output=True, text=True, timeout=900, preexec_fn=ignore_sigint
        )
        last = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
        result[label] = {"passed": proc.returncode == 0, "pytest": last, "seconds": round(time.perf_counter() - t0, 1)}
        print(f"[flaky] {label}: {last}", file=sys.stderr, flush=True)
    return {
        "test": f"tests/test_hostile_faults.py::{name}",
        "how": "today's code; the test run started with SIGINT ignored (as in a background CI job)",
        **result,
    }


# ----- main ---------------------------------------------------------------------------------


def compare(before: str, after: str, files: list[str], args: argparse.Namespace) -> tuple:
    """Run ``files`` on worktrees of ``after`` and ``before``: (after outcomes, before outcomes,
    moved-module aliases, wall seconds, the flaky-test check or None)."""
    tmp = Path(tempfile.mkdtemp(prefix="hostile-before-after-"))
    trees = []
    try:
        after_tree = prepare_tree(after, tmp / "after", ROOT / "tests")
        trees.append(after_tree)
        before_tree = prepare_tree(before, tmp / "before", ROOT / "tests")
        trees.append(before_tree)
        aliases = moved_modules(before, after, before_tree, after_tree)
        support, before_site = tmp / "support-after", tmp / "support-before"
        for where, names in ((support, {}), (before_site, aliases)):
            (where / "site").mkdir(parents=True)
            (where / "site" / "hostile_ba_plugin.py").write_text(PLUGIN)
            (where / "site" / "sitecustomize.py").write_text(SITECUSTOMIZE.format(aliases=names))
        t0 = time.perf_counter()
        after_res = run_suite(after_tree, support, files, args, "after")
        before_res = run_suite(before_tree, before_site, files, args, "before")
        wall = time.perf_counter() - t0
        flaky = flaky_check(args.before, after_tree, aliases, tmp) if args.flaky_check else None
        if args.save_logs:
            logs = Path(args.save_logs)
            logs.mkdir(parents=True, exist_ok=True)
            for label, where in (("after", support), ("before", before_site)):
                log = where / f"{label}.jsonl"
                (logs / log.name).write_text(log.read_text() if log.exists() else "")
            meta = {"after": after, "files": files, "aliases": aliases, "wall": wall, "flaky": flaky}
            (logs / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    finally:
        if not args.keep:
            for t in trees:
                subprocess.run(["git", "worktree", "remove", "--force", str(t)], cwd=ROOT, capture_output=True)
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"kept {tmp}", file=sys.stderr)

    return after_res, before_res, aliases, wall, flaky


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--before", default=ISSUE_COMMIT, help="the old commit (default: issue 22's, %(default)s)")
    p.add_argument("--after", default="HEAD", help="the commit with the fixes (default: HEAD)")
    p.add_argument(
        "--tests",
        action="append",
        help="glob of test files under the checkout (repeatable; default tests/test_hostile_*.py)",
    )
    p.add_argument("--out", default=str(ROOT / "docs" / "reliability-before-after.json"))
    p.add_argument(
        "--update", action="store_true", help="replace only the rows of these test files in an existing --out"
    )
    p.add_argument("-k", default=None, help="pytest -k expression (a subset)")
    p.add_argument("--test-timeout", type=int, default=180, help="seconds per test before it counts as a hang")
    p.add_argument("--run-timeout", type=int, default=2400, help="seconds a pytest process may run (then: hang)")
    p.add_argument("--max-gib", type=float, default=4.0, help="address-space cap of each pytest run (GiB)")
    p.add_argument("--flaky-check", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--keep", action="store_true", help="keep the temporary worktrees (their path is printed)")
    p.add_argument("--save-logs", metavar="DIR", help="also keep each test's raw outcome (JSON lines) in DIR")
    p.add_argument("--from-logs", metavar="DIR", help="run nothing: classify the raw outcomes saved in DIR")
    p.add_argument("--note", help="a remark on this run, kept in the report's record of the run")
    args = p.parse_args(argv)

    before = git("rev-parse", "--short", args.before)
    after = git("rev-parse", "--short", args.after)
    files = sorted({str(f.relative_to(ROOT)) for g in args.tests or ["tests/test_hostile_*.py"] for f in ROOT.glob(g)})
    if not files:
        print(f"no test files match {args.tests}", file=sys.stderr)
        return 2
    out = Path(args.out)
    previous = json.loads(out.read_text()) if args.update and out.exists() else None
    if previous is not None and previous["before"]["commit"] != before:
        print(f"{out} compares {previous['before']['commit']}, not {before}: run without --update", file=sys.stderr)
        return 2
    if args.from_logs:
        logs = Path(args.from_logs)
        meta = json.loads((logs / "meta.json").read_text())
        before_res, after_res = read_log(logs / "before.jsonl"), read_log(logs / "after.jsonl")
        after, files, aliases, wall, flaky = (meta[k] for k in ("after", "files", "aliases", "wall", "flaky"))
    else:
        after_res, before_res, aliases, wall, flaky = compare(before, after, files, args)
    rows = [
        {"test": nid, "class": class_of(nid), "category": cat, "reason": reason, "after": after}
        for nid in sorted(k for k in after_res if k != "__collect__" and k.split("::")[0] in files)
        for cat, reason in [verdict(nid, before_res, after_res)]
    ]
    run = {
        "after": after,
        "files": files,
        "aliases of moved modules": aliases,
        "per-test limit s": args.test_timeout,
        "address-space cap GiB": args.max_gib,
        "pytest -k": args.k,
        "wall s": round(wall, 1),
        **({"note": args.note} if args.note else {}),
    }
    if previous is not None:
        kept = [r for r in rows_of(previous) if r["test"].split("::")[0] not in files]
        rows = sorted(kept + rows, key=lambda r: r["test"])
        runs = [*previous["runs"], run]
        flaky = flaky or previous["summary"].get("flaky Ctrl-C check")
    else:
        runs = [run]
    doc = build_report(before, after, rows, runs, flaky)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    tmp_out.write_text(json.dumps(doc, indent=1) + "\n")
    os.replace(tmp_out, out)
    print(json.dumps(doc["summary"], indent=1))
    return 1 if doc["summary"]["totals"].get("fails after") else 0


CATEGORIES = (
    "fails before",
    "new API",
    "not run alone before",
    "not run before",
    "passes both",
    "skipped before",
    "fails after",
    "skipped after",
)


def rows_of(doc: dict) -> list[dict]:
    """The per-test rows of a report written by :func:`build_report` (for ``--update``)."""
    return [
        {"test": e["test"], "class": name, "category": cat, "reason": e.get("before", ""), "after": e["after"]}
        for name, cls in doc["classes"].items()
        for cat, entries in cls.items()
        for e in entries
    ]


def build_report(before: str, after: str, rows: list[dict], runs: list[dict], flaky: dict | None) -> dict:
    classes: dict[str, dict] = {name: {c: [] for c in CATEGORIES} for name in [*CLASSES, OTHER]}
    for r in rows:
        entry = {"test": r["test"], **({"before": r["reason"]} if r["reason"] else {}), "after": r["after"]}
        classes[r["class"]][r["category"]].append(entry)
    summary = {
        name: {c: len(v) for c, v in cls.items() if v} | {"tests": sum(len(v) for v in cls.values())}
        for name, cls in classes.items()
    }
    totals = {c: sum(s.get(c, 0) for s in summary.values()) for c in (*CATEGORIES, "tests")}
    return {
        "what": (
            "today's hostile tests run against the code issue 22 was filed on and against today's code: "
            "which fail there and pass here (scripts/hostile_before_after.py)"
        ),
        "generated_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "before": {"commit": before, "date": git("show", "-s", "--format=%cI", before)},
        "after": {"commit": after, "date": git("show", "-s", "--format=%cI", after)},
        "how": (
            "the hostile tests of the checkout running the script, copied over the tests/ of a worktree of "
            "each commit, run there with PYTHONPATH on that worktree (no install; modules that git's rename "
            "detection pairs up are importable under their new names in the old tree); each test's 'after' "
            "names the commit it passed on"
        ),
        "categories": {
            "fails before": "fails (or hangs) on the old code and passes on today's: evidence for the fix",
            "new API": "fails on the old code only because a dlnkit module or name it uses did not exist then",
            "not run alone before": (
                "on the old code its module's shared fixture had already failed in an earlier test (one child "
                "process running every input): no evidence about this input either way"
            ),
            "passes both": "passes on the old code too (a guard for a case that already worked, or a new input)",
            "fails after": "fails on today's code (must be empty)",
        },
        "summary": {"totals": totals, "classes": summary, "flaky Ctrl-C check": flaky},
        "runs": runs,
        "classes": classes,
    }


if __name__ == "__main__":
    sys.exit(main())
