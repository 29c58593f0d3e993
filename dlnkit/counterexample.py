r"""Counterexample engine: drop assumptions of a claim, search with Hypothesis, shrink, replay.

A claim draws its configurations from ``claim.config_strategy(drop)``: every assumption holds
except the dropped ones, whose strategies draw violating values. :func:`find_counterexample`
runs the claim's own predict / measure / compare on those configurations inside a Hypothesis
test; the first configuration whose error exceeds the claim's bound (or whose measurement
raises) makes the test fail, and Hypothesis shrinks it to a minimal failing configuration. With
nothing dropped, an empty search ("no counterexample in N examples") is the property-based
verification of the claim.

A found counterexample is saved as a small JSON record (:func:`save_counterexample`) holding the
configuration, the numbers as ``float.hex`` and SHA-256 digests of the raw predicted and measured
arrays. :func:`replay` recomputes it and says whether the numbers are bit-for-bit the stored ones
(expected on CPU with the same torch build) and whether the claim still fails there;
:func:`regression_test_source` turns a record into a self-contained pytest file.

Training claims (B2, B3) are far too slow for a search (seconds to minutes per example, hundreds
of examples while shrinking) and their strategies do not vary with ``drop``; the engine refuses
them unless ``allow_slow=True``.
"""
from __future__ import annotations

import hashlib
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

from dlnkit.numerics.validation import DlnkitInputError

FORMAT = "dlnkit-counterexample/1"
#: claims whose measurement trains a network: excluded from searches unless asked for
SLOW_CLAIMS = frozenset({"B2", "B3"})


# ----------------------------------------------------------------------------------------
# evaluating one configuration, with digests of the raw numbers
def _canonical(obj: Any):
    """A JSON-able, exact form of a measurement: floats as ``float.hex``, arrays flattened."""
    try:
        import numpy as np
        import torch
    except ImportError:  # pragma: no cover
        np = torch = None
    if torch is not None and isinstance(obj, torch.Tensor):
        obj = obj.detach().cpu().double().numpy()
    if np is not None and isinstance(obj, np.ndarray):
        a = np.ascontiguousarray(obj, dtype=np.float64)
        return {"shape": list(a.shape), "sha256": hashlib.sha256(a.tobytes()).hexdigest()}
    if np is not None and isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, bool) or obj is None or isinstance(obj, (int, str)):
        return obj
    if isinstance(obj, float):
        return float.hex(obj)
    if isinstance(obj, dict):
        return {str(k): _canonical(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, (list, tuple)):
        return [_canonical(v) for v in obj]
    return repr(obj)


def digest(obj: Any) -> str:
    """SHA-256 of the exact (bitwise) content of a prediction or measurement."""
    return hashlib.sha256(json.dumps(_canonical(obj), sort_keys=True).encode()).hexdigest()


@dataclass
class Evaluation:
    """One configuration run through a claim: the numbers, and whether it is a counterexample.

    ``outcome`` is ``"pass"``, ``"miss"`` (error beyond the bound) or ``"exception"`` (predict or
    measure raised: a finding about the claim's domain, kept apart from a numerical miss).
    """

    config: dict
    outcome: str
    predicted: str = ""
    measured: str = ""
    error: float = float("nan")
    bound: float = float("nan")
    exception: str = ""
    predicted_sha256: str = ""
    measured_sha256: str = ""
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        return self.outcome != "pass"

    @property
    def miss_factor(self) -> float:
        """error / bound (inf for an infinite or NaN error, or a zero bound)."""
        if self.outcome == "exception" or not math.isfinite(self.error):
            return float("inf")
        return self.error / self.bound if self.bound > 0 else (float("inf") if self.error > 0 else 0.0)


def evaluate(claim, config: dict, device: str = "cpu") -> Evaluation:
    """Predict, measure and compare ``config`` exactly as :meth:`Claim.check` does, keeping digests
    of the raw numbers; an exception is caught and returned as outcome ``"exception"``."""
    from dlnkit.numerics.device import resolve_device

    dev = str(resolve_device(device))
    t0 = time.perf_counter()
    try:
        predicted = claim.predict(config)
        measured = claim.measure(config, dev)
        cmp = claim.compare(predicted, measured, config)
    except (KeyboardInterrupt, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001 - any failure of predict/measure is a finding
        return Evaluation(dict(config), "exception", exception=f"{type(exc).__name__}: {exc}",
                          seconds=time.perf_counter() - t0)
    ev = Evaluation(dict(config), "pass" if cmp.passed else "miss",
                    predicted=cmp.predicted_display or str(cmp.predicted),
                    measured=cmp.measured_display or str(cmp.measured), error=float(cmp.error),
                    bound=float(cmp.bound), predicted_sha256=digest(predicted), measured_sha256=digest(measured),
                    seconds=time.perf_counter() - t0)
    return ev


# ----------------------------------------------------------------------------------------
# which assumptions a configuration actually violates
def _depth_violations(claim, config: dict) -> list[str]:
    """Assumptions of a depth claim (B0/B1/B1-ratio) that ``config`` violates, checked on the built
    point where that is a number (covariance, imbalance, residual) and on the config otherwise."""
    import torch

    from dlnkit.claims.depth import DEFAULTS, build_depth_point

    names = set(claim.assumption_names)
    cfg = {**DEFAULTS, **config}
    out = []
    if "linear" in names and cfg.get("activation", "linear") != "linear":
        out.append("linear")
    if "t" not in cfg:  # B0-style configurations: only linearity is an assumption
        return out
    dims, t = list(cfg["dims"]), [float(x) for x in cfg["t"]]
    r = len(t)
    try:
        pt = build_depth_point(cfg, "cpu")
    except Exception:  # noqa: BLE001 - an unbuildable point violates nothing we can measure
        pt = None
    if pt is not None:
        Ws = pt["weights"]
        eye = torch.eye(dims[0], dtype=torch.float64)
        if "whitened" in names and float(torch.linalg.norm(pt["sigma"] - eye)) > 1e-12:
            out.append("whitened")
        if "balanced" in names:
            imb = max([float(torch.linalg.norm(Ws[k + 1].T @ Ws[k + 1] - Ws[k] @ Ws[k].T)) /
                       max(float(torch.linalg.norm(Ws[k] @ Ws[k].T)), 1e-300) for k in range(len(Ws) - 1)] or [0.0])
            if imb > 1e-10:
                out.append("balanced")
        if "aligned" in names and float(cfg.get("misalignment", 0.0)) != 0.0 and len(dims) > 2:
            out.append("aligned")
        if "global_minimum" in names:
            W = Ws[-1]
            for Wk in reversed(Ws[:-1]):
                W = W @ Wk
            res = float(torch.linalg.norm(W - pt["target"])) / max(float(torch.linalg.norm(pt["target"])), 1e-300)
            if res > 1e-10:
                out.append("global_minimum")
    if "hidden_width_ge_rank" in names and len(dims) > 2 and min(dims[1:-1]) < r:
        out.append("hidden_width_ge_rank")
    if "equal_target_singular_values" in names and len(set(t)) > 1:
        out.append("equal_target_singular_values")
    if "rank_below_dims" in names and r >= max(dims[0], dims[-1]):
        out.append("rank_below_dims")
    return sorted(out)


def violated_assumptions(claim, config: dict) -> list[str] | None:
    """Names of the claim's assumptions that ``config`` violates, or ``None`` when the claim gives
    no way to tell (a claim may define ``violated_assumptions(config)`` itself)."""
    own = claim.violated_assumptions(config)
    if own is not None:
        return sorted(own)
    if claim.id in ("B0", "B1", "B1-ratio"):
        return _depth_violations(claim, config)
    return None


def config_size(config: dict) -> int:
    """Number of weights of the network a configuration describes (sum of d_l d_{l-1}), 0 if none."""
    dims = config.get("dims")
    if not dims:
        return 0
    return int(sum(int(a) * int(b) for a, b in zip(dims[:-1], dims[1:])))


# ----------------------------------------------------------------------------------------
# the search
@dataclass
class SearchResult:
    """What :func:`find_counterexample` found. ``counterexample`` is the shrunk failing
    configuration's evaluation (``None`` when the search came back empty)."""

    claim_id: str
    dropped: list
    max_examples: int
    seed: int
    device: str
    calls: int = 0  # configurations evaluated, generation and shrinking together
    counterexample: Evaluation | None = None
    first_failure: Evaluation | None = None
    violated: list | None = None
    interrupted: bool = False
    seconds: float = 0.0
    worst_miss_factor: float = 0.0
    note: str = ""
    #: a failure that violates none of the dropped assumptions (a bug in the claim, not a finding
    #: about the assumption); kept aside when ``require_violation`` is on
    unexplained: Evaluation | None = None

    @property
    def found(self) -> bool:
        return self.counterexample is not None

    def summary(self) -> str:
        head = f"{self.claim_id} dropping {', '.join(self.dropped) or 'nothing'}"
        if not self.found:
            tail = " (interrupted)" if self.interrupted else ""
            return "\n".join([f"{head}: no counterexample in {self.calls} examples{tail} "
                              f"(largest error/bound {self.worst_miss_factor:.3g}, {self.seconds:.1f} s)"]
                             + self._unexplained_lines())
        ce = self.counterexample
        lines = [f"{head}: counterexample after {self.calls} evaluations ({self.seconds:.1f} s)"
                 + (" (interrupted: best so far, maybe not fully shrunk)" if self.interrupted else ""),
                 f"  config:    {json.dumps(ce.config)}",
                 f"  size:      {config_size(ce.config)} weights"]
        if ce.outcome == "exception":
            lines.append(f"  raised:    {ce.exception}")
        else:
            lines += [f"  predicted: {ce.predicted}", f"  measured:  {ce.measured}",
                      f"  error:     {ce.error:.6g} > bound {ce.bound:.3g} (misses by x{ce.miss_factor:.3g})"]
        if self.violated is not None:
            lines.append(f"  violates:  {', '.join(self.violated) or 'none of its assumptions (a bug in the claim!)'}")
        return "\n".join(lines + self._unexplained_lines())

    def _unexplained_lines(self) -> list:
        u = self.unexplained
        if u is None:
            return []
        what = u.exception if u.outcome == "exception" else f"error {u.error:.3g} > bound {u.bound:.3g}"
        return [f"  WARNING: the claim also fails where no dropped assumption is violated: "
                f"{json.dumps(u.config)} ({what})"]


class _ClaimBroken(Exception):
    """Raised inside the Hypothesis test so that it records a failure and shrinks it."""


def find_counterexample(claim, drop: Iterable[str] = (), *, max_examples: int = 100, seed: int = 0,
                        device: str = "cpu", progress: bool = False, max_shrink_calls: int = 300,
                        allow_slow: bool = False, require_violation: bool = True) -> SearchResult:
    """Search ``claim.config_strategy(drop)`` for a configuration the claim gets wrong, and shrink it.

    Hypothesis draws up to ``max_examples`` configurations (reproducibly for ``seed``), stops at
    the first failure (error above the bound, or an exception in predict/measure) and shrinks it;
    after ``max_shrink_calls`` evaluations past the first failure the shrinking is cut short (the
    smallest failure so far is kept). Ctrl-C returns the smallest failure found so far with
    ``interrupted=True``.

    With ``require_violation`` (the default) and assumptions dropped, a failing configuration
    counts only if it violates at least one dropped assumption (when the claim can tell, see
    :func:`violated_assumptions`): a failure that violates none is a bug in the claim, kept in
    ``unexplained`` and reported, but not shrunk to, so that the shrunk example is about the
    dropped assumption. With nothing dropped every failure counts.
    """
    from hypothesis import HealthCheck, Phase, Verbosity, given, settings, target
    from hypothesis import seed as hseed
    from hypothesis.control import current_build_context
    from hypothesis.errors import Flaky

    from dlnkit.numerics.device import resolve_device

    if claim.id in SLOW_CLAIMS and not allow_slow:
        raise DlnkitInputError(f"claim {claim.id} trains a network per example: too slow for a counterexample "
                               f"search (pass allow_slow=True to insist)")
    if int(max_examples) < 1:
        raise DlnkitInputError(f"max_examples must be at least 1, got {max_examples}")
    drop = claim.check_drop(drop)
    strategy = claim.config_strategy(drop)
    dev = str(resolve_device(device))
    res = SearchResult(claim.id, sorted(drop), int(max_examples), int(seed), dev)
    state = {"best": None, "final": None}
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(desc=f"counterexample {claim.id}", unit="ex", file=sys.stderr, leave=False)

    def probe(config):
        if res.first_failure is not None and state["best"] is not None and config != state["best"].config \
                and res.calls - first_call[0] > max_shrink_calls:
            return  # shrink budget spent: only the best failure so far still counts as failing
        ev = evaluate(claim, config, dev)
        res.calls += 1
        mf = ev.miss_factor
        if math.isfinite(mf):
            target(math.log10(max(mf, 1e-300)), label="log10(error/bound)")
        res.worst_miss_factor = max(res.worst_miss_factor, mf)
        if bar is not None:
            bar.update(1)
            bar.set_postfix_str(f"worst error/bound {res.worst_miss_factor:.3g}"
                                + (" | shrinking" if res.first_failure else ""))
        if ev.failed and drop and require_violation:
            viol = violated_assumptions(claim, config)
            if viol is not None and not (set(viol) & drop):
                if res.unexplained is None or config_size(config) < config_size(res.unexplained.config):
                    res.unexplained = ev
                return
        if ev.failed:
            if res.first_failure is None:
                res.first_failure = ev
                first_call[0] = res.calls
            state["best"] = ev
            if current_build_context().is_final:
                state["final"] = ev
            raise _ClaimBroken(ev.outcome)

    first_call = [0]
    test = given(strategy)(probe)
    test = settings(database=None, max_examples=int(max_examples), deadline=None, derandomize=False,
                    suppress_health_check=list(HealthCheck), report_multiple_bugs=False, print_blob=False,
                    verbosity=Verbosity.quiet,
                    phases=[Phase.explicit, Phase.generate, Phase.target, Phase.shrink])(test)
    test = hseed(int(seed))(test)
    t0 = time.perf_counter()
    try:
        test()
    except _ClaimBroken:
        pass
    except KeyboardInterrupt:
        res.interrupted = True
    except Flaky as exc:  # pragma: no cover - our measurements are deterministic
        res.note = f"Hypothesis reported flakiness: {exc}"
    finally:
        if bar is not None:
            bar.close()
    res.seconds = time.perf_counter() - t0
    res.counterexample = state["final"] or state["best"]
    if res.counterexample is not None:
        res.violated = violated_assumptions(claim, res.counterexample.config)
    return res


# ----------------------------------------------------------------------------------------
# records, replay, regression tests
def counterexample_record(result: SearchResult, explanation: str = "") -> dict:
    """The JSON record of a found counterexample (see module doc)."""
    import torch

    from dlnkit import __version__

    if result.counterexample is None:
        raise DlnkitInputError(f"no counterexample to save for {result.claim_id}")
    ce = result.counterexample
    rec = {
        "format": FORMAT, "claim": result.claim_id, "dropped": result.dropped, "violated": result.violated,
        "config": ce.config, "seed": ce.config.get("seed"), "size": config_size(ce.config),
        "outcome": ce.outcome, "predicted": ce.predicted, "measured": ce.measured,
        "error": ce.error if math.isfinite(ce.error) else repr(ce.error), "error_hex": float.hex(ce.error),
        "bound": ce.bound if math.isfinite(ce.bound) else repr(ce.bound), "bound_hex": float.hex(ce.bound),
        "miss_factor": ce.miss_factor if math.isfinite(ce.miss_factor) else repr(ce.miss_factor),
        "exception": ce.exception, "predicted_sha256": ce.predicted_sha256, "measured_sha256": ce.measured_sha256,
        "device": result.device, "torch": torch.__version__, "dlnkit": __version__,
        "search": {"max_examples": result.max_examples, "seed": result.seed, "evaluations": result.calls,
                   "seconds": round(result.seconds, 3), "interrupted": result.interrupted},
    }
    if explanation:
        rec["explanation"] = explanation
    return rec


def save_counterexample(result: SearchResult, path, explanation: str = "") -> Path:
    """Write the record of ``result`` to ``path`` (atomically)."""
    from dlnkit.report import write_json_atomic

    return write_json_atomic(path, counterexample_record(result, explanation))


def load_counterexample(path) -> dict:
    try:
        rec = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise DlnkitInputError(f"no such counterexample file: {path}") from None
    except json.JSONDecodeError as exc:
        raise DlnkitInputError(f"{path} is not JSON: {exc}") from None
    if not isinstance(rec, dict) or rec.get("format") != FORMAT:
        raise DlnkitInputError(f"{path} is not a dlnkit counterexample record (format {FORMAT})")
    return rec


@dataclass
class ReplayResult:
    """A record recomputed: ``exact`` when error, bound and both digests are bit-for-bit the stored
    ones; ``still_fails`` when the claim still gets the configuration wrong."""

    record: dict
    now: Evaluation
    exact: bool
    still_fails: bool
    differences: list = field(default_factory=list)

    def summary(self) -> str:
        rec, now = self.record, self.now
        lines = [f"replay {rec['claim']} (dropped {', '.join(rec['dropped']) or 'nothing'}) on {now_device(self)}",
                 f"  config:    {json.dumps(rec['config'])}"]
        if now.outcome == "exception":
            lines.append(f"  raised:    {now.exception}")
        else:
            lines += [f"  predicted: {now.predicted}", f"  measured:  {now.measured}",
                      f"  error:     {now.error!r} (stored {rec['error']!r}), bound {now.bound:.3g}"]
        lines.append(f"  {'bit-for-bit identical to the stored numbers' if self.exact else 'DIFFERS: ' + '; '.join(self.differences)}")
        lines.append(f"  claim {'still fails' if self.still_fails else 'now PASSES'} here")
        return "\n".join(lines)


def now_device(r: ReplayResult) -> str:
    return r.record.get("replay_device", "cpu")


def replay_record(rec: dict, device: str = "cpu") -> ReplayResult:
    """Recompute a counterexample record and compare bitwise with what it stores."""
    from dlnkit.claims import get_claim
    from dlnkit.numerics.device import resolve_device

    claim = get_claim(rec["claim"])
    dev = str(resolve_device(device))
    now = evaluate(claim, rec["config"], dev)
    diffs = []
    if now.outcome != rec["outcome"]:
        diffs.append(f"outcome {now.outcome} vs stored {rec['outcome']}")
    for key, val in (("error_hex", float.hex(now.error)), ("bound_hex", float.hex(now.bound)),
                     ("predicted_sha256", now.predicted_sha256), ("measured_sha256", now.measured_sha256),
                     ("exception", now.exception)):
        if rec.get(key, "") != val:
            diffs.append(f"{key} {val} vs stored {rec.get(key)}")
    rec = {**rec, "replay_device": dev}
    return ReplayResult(rec, now, exact=not diffs, still_fails=now.failed, differences=diffs)


def replay(path, device: str = "cpu") -> ReplayResult:
    """Recompute the counterexample stored in ``path`` (see :func:`replay_record`)."""
    return replay_record(load_counterexample(path), device)


def regression_test_source(path_or_record, name: str | None = None) -> str:
    """A self-contained pytest module (the record is embedded) asserting that replaying the
    counterexample on CPU gives bit-for-bit the stored numbers and that the claim still fails."""
    rec = path_or_record if isinstance(path_or_record, dict) else load_counterexample(path_or_record)
    rec = {k: v for k, v in rec.items() if k != "explanation"}
    slug = name or "_".join([rec["claim"], *rec["dropped"]] or [rec["claim"]])
    slug = "".join(ch if ch.isalnum() else "_" for ch in slug).lower()
    body = json.dumps(rec, indent=1, sort_keys=True)
    return f'''"""Regression: counterexample to claim {rec['claim']} with {', '.join(rec['dropped']) or 'nothing'} dropped.

Generated by dlnkit.counterexample.regression_test_source. Replaying the stored configuration on
CPU must give bit-for-bit the stored numbers (same torch build), and the claim must still fail there.
"""
import json

from dlnkit.counterexample import replay_record

RECORD = json.loads(r"""{body}""")


def test_counterexample_{slug}_still_fails():
    r = replay_record(RECORD, device="cpu")
    assert r.still_fails, r.summary()


def test_counterexample_{slug}_replays_bit_for_bit():
    r = replay_record(RECORD, device="cpu")
    assert r.exact, r.summary()
'''


# ----------------------------------------------------------------------------------------
# explanations (SymPy where there is a derivation) and the gallery
def _rational(x: float):
    import sympy as sp

    return sp.nsimplify(float(x), rational=True)


def _sym_jjt_spectrum(Ws) -> dict:
    """Eigenvalues (with multiplicities) of J J^T = sum_l (P_l P_l^T) (x) (Q_l^T Q_l) for SymPy weights."""
    import sympy as sp

    d_out, d_in = Ws[-1].shape[0], Ws[0].shape[1]
    out = sp.zeros(d_out * d_in, d_out * d_in)
    for k in range(len(Ws)):
        P = sp.eye(d_out)
        for W in Ws[k + 1:]:
            P = P * W
        Q = sp.eye(d_in)
        for W in Ws[:k]:
            Q = W * Q
        out += sp.kronecker_product(P * P.T, Q.T * Q)
    return {sp.simplify(k): v for k, v in out.eigenvals().items()}


def _fmt_spec(spec: dict) -> str:
    import sympy as sp

    items = sorted(spec.items(), key=lambda kv: -float(sp.N(kv[0])) if kv[0].is_number else 0)
    return ", ".join(f"{sp.sstr(k)} (x{v})" for k, v in items)


def _explain_balanced(claim, cfg) -> str:
    import sympy as sp

    from dlnkit.theory import aligned_minimum_weights

    c = sp.Symbol("c", positive=True)
    t = [_rational(x) for x in cfg["t"]]
    Ws = aligned_minimum_weights(cfg["dims"], t)
    Ws[0], Ws[1] = Ws[0] * c, Ws[1] / c
    spec = _sym_jjt_spectrum(Ws)
    cv = _rational(cfg["balance"])
    at_c = {sp.nsimplify(k.subs(c, cv)): v for k, v in spec.items()}
    at_1 = {sp.nsimplify(k.subs(c, 1)): v for k, v in spec.items()}
    text = (f"Rescaling W_1 -> c W_1, W_2 -> W_2/c keeps the end-to-end map (still a global minimum) but "
            f"not the balance. SymPy, in the singular bases at dims {cfg['dims']}, t = {cfg['t']}: the nonzero "
            f"spectrum of J J^T is {_fmt_spec(spec)}; at c = 1 it is the balanced prediction "
            f"{_fmt_spec(at_1)}, at c = {cv} it is {_fmt_spec(at_c)}. The first layer's factor P_1 P_1^T "
            f"scales by c^-2 and the second layer's Q_2^T Q_2 by c^2, so every eigenvalue fed by one "
            f"layer more than the other moves.")
    if claim.id == "B1-ratio":
        depth = len(cfg["dims"]) - 1
        text += (f" The ratio of means stays L only when the input- and output-side bulks move "
                 f"together: at depth 2 with d_in = d_out the c^-2 and c^2 bulks average to the same "
                 f"(c^-2 + c^2)/2 factor as the dominant cluster, so the ratio is 2 for every c; here "
                 f"d_in = {cfg['dims'][0]} != d_out = {cfg['dims'][-1]} (depth {depth}).")
    return text


def _explain_equal(claim, cfg) -> str:
    import sympy as sp

    from dlnkit.theory import balanced_minimum_spectrum

    dims, depth = cfg["dims"], len(cfg["dims"]) - 1
    r, n_in, n_out = len(cfg["t"]), dims[0], dims[-1]
    from dlnkit.theory.symbols import t_i as ti, t_j as tj

    g = {x.name: x for x in balanced_minimum_spectrum(r, n_in, n_out, depth)}
    ts = [_rational(x) for x in cfg["t"]]
    dom = [sp.nsimplify(g["dominant"].value.subs({ti: a, tj: b})) for a in ts for b in ts]
    bulk = ([sp.nsimplify(g["bulk_first_layer"].value.subs(ti, a)) for a in ts for _ in range(n_in - r)]
            + [sp.nsimplify(g["bulk_last_layer"].value.subs(ti, a)) for a in ts for _ in range(n_out - r)])
    ratio_groups = sp.nsimplify(sp.Add(*dom) / len(dom) / (sp.Add(*bulk) / len(bulk)))
    interleave = float(min(dom)) < float(max(bulk))
    s = sp.symbols("s_1:%d" % (r + 1), positive=True)  # s = t^(2/L)
    sym_dom = sum(sp.summation(s[a] ** (depth - sp.Symbol("l")) * s[b] ** (sp.Symbol("l") - 1), (sp.Symbol("l"), 1, depth))
                  for a in range(r) for b in range(r)) / r ** 2
    sym_bulk = sum(s[a] ** (depth - 1) for a in range(r)) / r
    sym_ratio = sp.factor(sp.simplify(sym_dom / sym_bulk))
    text = (f"With unequal target singular values the B1 formula still holds (claim B1), but the two "
            f"clusters are no longer flat. SymPy at depth L = {depth} with s_i = t_i^(2/L): mean(dominant) / "
            f"mean(bulk) of the formula's groups is {sp.sstr(sym_ratio)} (when both bulks have the same "
            f"multiplicity per i)"
            + (", identically 2 at L = 2: the means alone cannot break the claim there" if depth == 2
               else ", which is L only when all s_i are equal")
            + f". At t = {cfg['t']} the formula's dominant values are {sorted(set(dom), key=float, reverse=True)} and "
            f"the bulk values {sorted(set(bulk), key=float, reverse=True)}: the group-mean ratio is "
            f"{float(ratio_groups):.10g} against L = {depth}.")
    if interleave:
        text += (" The clusters also interleave (the smallest dominant value lies below the largest bulk "
                 "value), so splitting the sorted spectrum by counts mislabels eigenvalues as well.")
    else:
        text += " The clusters do not interleave here: the miss is the group means themselves."
    return text


def _explain_whitened(claim, cfg) -> str:
    import sympy as sp

    k, d_in = _rational(cfg["anisotropy"]), cfg["dims"][0]
    ev = [sp.nsimplify(k ** (sp.Rational(-1, 2) + sp.Rational(j, max(d_in - 1, 1)))) for j in range(d_in)] \
        if d_in > 1 else [sp.Integer(1)]
    text = (f"The closed form assumes (1/B) X^T X = I. With input covariance Sigma (eigenvalues {ev}, "
            f"anisotropy k = {k}), every layer's input factor Q_l Q_l^T becomes Q_l Sigma Q_l^T, so the "
            f"Gauss-Newton blocks are weighted by Sigma.")
    if len(cfg["dims"]) == 2:
        text += (" At depth 1 the Hessian is exactly I_{d_out} (x) Sigma: its eigenvalues are Sigma's, "
                 "not the all-ones spectrum B1 predicts.")
    return text


def _explain_aligned(claim, cfg) -> str:
    return ("W_1 -> A W_1, W_2 -> W_2 A^-1 with A = I + e K (not orthogonal) keeps the end-to-end map, so "
            "the point is still a global minimum, but P_1 P_1^T and Q_2^T Q_2 are congruence-transformed by "
            "A^-1 and A, which changes their eigenvalues. Balanced weights are automatically aligned "
            "(W_{l+1}^T W_{l+1} = W_l W_l^T makes the right singular vectors of W_{l+1} the left ones of "
            "W_l), so a misaligned point is never balanced: no configuration violates 'aligned' alone, and "
            "the shrunk example violates both.")


def _explain_minimum(claim, cfg, measured=None) -> str:
    text = ("W_L -> (1 + e) W_L leaves the minimum: the residual E = W - M = e M is nonzero and the Hessian "
            "gains H_res, which is bilinear in E and zero in the diagonal blocks (the loss is quadratic in "
            "each single W_l). A symmetric matrix with zero diagonal blocks has trace zero, so H_res adds "
            "eigenvalues of both signs.")
    if measured is not None:
        import numpy as np

        neg = int((np.asarray(measured) < -1e-12 * float(np.max(np.abs(measured)))).sum())
        text += f" Here the measured spectrum has {neg} negative eigenvalue(s), which B1 never predicts."
    text += " (Scaling W_L alone also unbalances the layers, hence 'balanced' is violated too.)"
    return text


def _explain_linear(claim, cfg) -> str:
    if claim.id == "B0":
        return ("The closed form is the Hessian of a composition of linear maps. With tanh between layers "
                "the network's Hessian gains terms from tanh'' (and tanh' < 1 rescales the Jacobians), which "
                "the closed form for W_L ... W_1 does not have.")
    return ("The same weights with tanh between the layers: tanh' < 1 away from 0 shrinks every Gauss-Newton "
            "factor, the network no longer fits the target (the point is not a minimum of the tanh loss) so a "
            "residual term appears, and tanh'' adds curvature the linear formula does not contain.")


def _explain_width(claim, cfg) -> str:
    dims, r = cfg["dims"], len(cfg["t"])
    P = config_size(cfg)
    nonzero = r * (dims[0] + dims[-1]) - r * r
    return (f"A hidden width h = {min(dims[1:-1])} below the target rank r = {r} caps the network's rank at h, so "
            f"the target cannot be fitted: the best reachable point is the rank-h truncation, not a zero-residual "
            f"minimum. The formula also counts r(d_in + d_out) - r^2 = {nonzero} nonzero eigenvalues, "
            + (f"more than the network's {P} parameters, so the prediction cannot even be formed." if nonzero > P
               else f"which the {P}-parameter network does not have."))


def _explain_rank(claim, cfg) -> str:
    dims, r = cfg["dims"], len(cfg["t"])
    return (f"With r = {r} = d_in = {dims[0]} = d_out = {dims[-1]} the bulk has r(d_in + d_out - 2r) = "
            f"{r * (dims[0] + dims[-1] - 2 * r)} eigenvalues: its mean is undefined (0/0), so the ratio is NaN. "
            f"B1's spectrum is still right; only the ratio statement has no meaning.")


_EXPLAINERS = {"balanced": _explain_balanced, "equal_target_singular_values": _explain_equal,
               "whitened": _explain_whitened, "aligned": _explain_aligned, "linear": _explain_linear,
               "hidden_width_ge_rank": _explain_width, "rank_below_dims": _explain_rank}


def explain(claim, dropped: list, config: dict) -> str:
    """One paragraph on why ``config`` breaks ``claim`` once ``dropped`` are dropped (SymPy where a
    derivation exists; generic otherwise)."""
    if len(dropped) == 1 and claim.id in ("B0", "B1", "B1-ratio"):
        name = dropped[0]
        try:
            if name == "global_minimum":
                measured = claim.measure(config, "cpu") if claim.id == "B1" else None
                return _explain_minimum(claim, config, measured)
            if name in _EXPLAINERS:
                return _EXPLAINERS[name](claim, config)
        except Exception as exc:  # noqa: BLE001 - an explanation must not lose the counterexample
            return f"(explanation failed: {type(exc).__name__}: {exc})"
    return (f"Dropping {', '.join(dropped)} lets the search reach this configuration; the claim's prediction "
            f"does not account for it. (No symbolic explanation is available for this pair.)")


def gallery_pairs(claim_ids=None) -> list:
    """(claim, assumption) pairs of the gallery: every assumption of every searchable claim."""
    from dlnkit.claims import all_claims

    pairs = []
    for cid, claim in all_claims().items():
        if cid in SLOW_CLAIMS or (claim_ids and cid not in claim_ids):
            continue
        pairs += [(claim, name) for name in claim.assumption_names]
    return pairs


def _slug(claim_id: str, dropped: list) -> str:
    return f"{claim_id}--drop-{'+'.join(dropped)}".replace("/", "_")


def generate_gallery(out_dir="counterexamples", *, max_examples: int = 100, seed: int = 0, claim_ids=None,
                     progress: bool = False, log=None) -> list:
    """Search every (claim, assumption) pair, write one shrunk JSON per pair that breaks, and a
    README with an explanation of each and the list of pairs that did not break (plus the searches
    with nothing dropped). Returns the list of :class:`SearchResult`."""
    from dlnkit.claims import get_claim

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.json"):
        old.unlink()
    results, rows, kept_rows = [], [], []
    pairs = gallery_pairs(claim_ids)
    claims_seen = []
    for claim, name in pairs:
        if claim.id not in claims_seen:
            claims_seen.append(claim.id)
    for cid in claims_seen:
        claim = get_claim(cid)
        res = find_counterexample(claim, (), max_examples=max_examples, seed=seed, progress=progress)
        results.append(res)
        kept_rows.append(res)
        if log:
            log(res.summary())
    for claim, name in pairs:
        res = find_counterexample(claim, [name], max_examples=max_examples, seed=seed, progress=progress)
        results.append(res)
        if log:
            log(res.summary())
        if res.found:
            text = explain(claim, res.dropped, res.counterexample.config)
            path = out / f"{_slug(claim.id, res.dropped)}.json"
            save_counterexample(res, path, text)
            rows.append((res, path.name, text))
        else:
            rows.append((res, None, ""))
    (out / "README.md").write_text(_gallery_readme(rows, kept_rows, max_examples, seed))
    return results


def _gallery_readme(rows, kept_rows, max_examples, seed) -> str:
    lines = ["# Counterexample gallery", "",
             "Generated by `dlnkit counterexample --gallery` (do not edit by hand). For each claim and each of its "
             f"assumptions, Hypothesis searched up to {max_examples} configurations (seed {seed}) satisfying every "
             "other assumption, stopped at the first that the claim gets wrong and shrank it. "
             "`dlnkit replay FILE` recomputes any file below; on CPU with the same torch build the numbers "
             "are bit-for-bit the stored ones.", "",
             "| claim | dropped | breaks? | file | weights | error / bound | violates |", "|---|---|---|---|---|---|---|"]
    for res, fname, _ in rows:
        if res.found:
            ce = res.counterexample
            miss = "exception" if ce.outcome == "exception" else f"{ce.error:.3g} / {ce.bound:.0e}"
            lines.append(f"| {res.claim_id} | {', '.join(res.dropped)} | yes | [{fname}]({fname}) | "
                         f"{config_size(ce.config)} | {miss} | {', '.join(res.violated or []) or '?'} |")
        else:
            lines.append(f"| {res.claim_id} | {', '.join(res.dropped)} | **no** (none in {res.calls} examples) | - | - | "
                         f"max {res.worst_miss_factor:.2g} | - |")
    lines += ["", "## With nothing dropped (property-based verification)", ""]
    for res in kept_rows:
        lines.append(f"- {res.summary().splitlines()[0]}")
        if res.found:
            ce = res.counterexample
            lines.append(f"  - **a bug, not a finding about an assumption**: `{json.dumps(ce.config)}` "
                         f"({ce.exception or f'error {ce.error:.3g} > {ce.bound:.1g}'}) satisfies every assumption.")
    bugs = [r for r, _, _ in rows if r.unexplained is not None]
    for res in bugs:
        u = res.unexplained
        lines.append(f"- found on the way, while searching {res.claim_id} without `{', '.join(res.dropped)}`: "
                     f"`{json.dumps(u.config)}` violates none of the assumptions of {res.claim_id} yet "
                     f"{'raises `' + u.exception + '`' if u.outcome == 'exception' else f'misses by {u.error:.3g}'}"
                     " -- **a bug in the claim**, not a finding about an assumption.")
    lines += ["", "## Why each one breaks", ""]
    for res, fname, text in rows:
        if res.found:
            ce = res.counterexample
            lines += [f"### {res.claim_id} without `{', '.join(res.dropped)}` ([{fname}]({fname}))", "",
                      f"Shrunk configuration `{json.dumps(ce.config)}` ({config_size(ce.config)} weights): "
                      + (f"raises `{ce.exception}`." if ce.outcome == "exception" else
                         f"predicted {ce.predicted}, measured {ce.measured}; error {ce.error:.6g} against "
                         f"bound {ce.bound:.1g}."), "", text, ""]
            if res.unexplained is not None:
                lines += [res._unexplained_lines()[0].strip(), ""]
    no = [r for r, f, _ in rows if not r.found]
    if no:
        lines += ["## Pairs that did not break", ""]
        for res in no:
            lines.append(f"- {res.claim_id} without `{', '.join(res.dropped)}`: no counterexample in {res.calls} "
                         f"examples (largest error/bound {res.worst_miss_factor:.2g}).")
        lines.append("")
    return "\n".join(lines)
