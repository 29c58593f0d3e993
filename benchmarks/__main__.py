"""``python -m benchmarks``: run the benchmark plan, write JSON, print ratios against baselines.

Each (case, method, size) runs in a fresh subprocess with a timeout, so a baseline that runs
out of time is reported as such and the peak memory (ru_maxrss, or CUDA's max allocated) is
that measurement's own. Timing: one untimed warm-up call, then repeats until ``--min-time``
seconds or ``--repeats`` calls; min and median are reported. When the warm-up alone takes
longer than ``--slow`` seconds it is reported as the single measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import socket
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from dlnkit.numerics.validation import DlnkitInputError
from dlnkit.records.outputs import atomic_write_text, check_output_file

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


# ----- the plan ---------------------------------------------------------------------------


def plan(args) -> list[dict]:
    dev = args.device
    quick = args.quick
    specs: list[dict] = []

    def add(case, method, **kw):
        specs.append({"case": case, "method": method, "device": dev, "dtype": kw.pop("dtype", "float64"), **kw})

    # 1. closed-form assembly vs torch.func.hessian; P = h^2 + 26 h
    hs = [4, 8, 20, 44] if quick else [4, 8, 20, 44, 88, 160]
    from benchmarks.cases import assembly_memory_estimate

    for h in hs:
        for m in ("write_P2", "assembled", "closed_form", "torch_func"):
            est = assembly_memory_estimate(h, m)
            add("assembly", m, h=h, memory_estimate=est, skip=est > args.memory_budget_gib * 2**30)
    # 2. nonzero spectrum: J J^T (256 x 256) vs dense eigh; P = h^2 + 32 h
    for h in [8, 25] if quick else [8, 25, 50]:
        add("spectrum", "dense_eigh", h=h)
    for h in [8, 25, 300] if quick else [8, 25, 50, 300, 1000]:
        add("spectrum", "structured", h=h)
    # 3. per-layer h_k, k = 20: one vmapped HVP per layer vs a loop of HVPs
    w3 = [64, 128, 128, 10]
    for m in ("loop", "vmap"):
        add("hk", m, widths=w3, k=20)
    # 4. top-5 eigenvalues and trace of a trained MLP's Hessian
    w4 = [64, 16, 16, 10]
    for m in ("dense_eigh", "lanczos", "scipy_eigsh", "pyhessian"):
        add("topeig", m, widths=w4, trace_samples=20 if quick else 100)
    # 4b. the same at data-set level: zoo MLP over all of digits through a DataLoader (ragged last batch)
    for m in ("pyhessian", "dlnkit_lanczos"):
        add("dataset_topeig", m)
    # memory: dense Hessian of an MLP by chunked HVPs within a budget, vs torch.func
    wc = [64, 40, 20, 10]
    add("chunked", "torch_func", widths=wc, budget_gib=args.chunk_budget_gib)
    add("chunked", "chunked", widths=wc, budget_gib=args.chunk_budget_gib)
    if args.large:
        add("chunked", "chunked", widths=[64, 300, 30, 10], budget_gib=8.0)
    # calibration of the device's reachable FLOP/s
    add("matmul", "matmul", n=2048)
    if args.gpu_case:
        specs += gpu_plan(args)
    if args.cases:
        specs = [s for s in specs if s["case"] in args.cases]
    return specs


def gpu_plan(args) -> list[dict]:
    """Case 5: the same cases on CUDA, float32 and float64 (only when CUDA is available)."""
    out = []
    for dtype in ("float64", "float32"):
        base = {"device": "cuda", "dtype": dtype, "gpu": True}
        for h in (44, 88, 160):
            for m in ("write_P2", "assembled", "torch_func"):
                from benchmarks.cases import assembly_memory_estimate

                est = assembly_memory_estimate(h, m, item=8 if dtype == "float64" else 4)
                out.append(
                    {**base, "case": "assembly", "method": m, "h": h, "skip": est > 60 * 2**30, "memory_estimate": est}
                )
        for h in (70, 1000):
            out.append({**base, "case": "spectrum", "method": "structured", "h": h})
        out.append({**base, "case": "spectrum", "method": "dense_eigh", "h": 70})
        for m in ("loop", "vmap"):
            out.append({**base, "case": "hk", "method": m, "widths": [64, 256, 256, 10], "k": 20})
        out.append({**base, "case": "topeig", "method": "lanczos", "widths": [64, 32, 32, 10], "trace_samples": 100})
        out.append({**base, "case": "matmul", "method": "matmul", "n": 8192})
    return out


# ----- one measurement (in the subprocess) ----------------------------------------------


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def worker(spec: dict, repeats: int, min_time: float, slow: float) -> dict:
    import torch

    from benchmarks.cases import MEASURES

    torch.set_num_threads(int(os.environ.get("BENCH_THREADS") or os.cpu_count() or 1))
    cuda = spec["device"].startswith("cuda")
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    fn, info = MEASURES[spec["case"]](spec)
    rss0 = _rss_mib()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
        mem0 = torch.cuda.memory_allocated()
    sync()
    t0 = time.perf_counter()
    values = fn()
    sync()
    first = time.perf_counter() - t0
    times = []
    if first <= slow:
        total = 0.0
        while len(times) < repeats and (total < min_time or len(times) < 1):
            t0 = time.perf_counter()
            values = fn()
            sync()
            dt = time.perf_counter() - t0
            times.append(dt)
            total += dt
    else:
        times = [first]
    out = {
        "first_s": first,
        "min_s": min(times),
        "median_s": statistics.median(times),
        "runs": len(times),
        "values": values,
        **info,
    }
    if cuda:
        out["peak_mem_mib"] = (torch.cuda.max_memory_allocated() - mem0) / 2**20
    else:
        out["peak_mem_mib"] = _rss_mib() - rss0  # growth of this process's peak RSS during the calls
        out["peak_rss_mib"] = _rss_mib()
    return out


def run_one(spec: dict, args) -> dict:
    if spec.get("skip"):
        return {
            "status": "skipped",
            "reason": f"estimated {spec['memory_estimate'] / 2**30:.1f} GiB > budget {args.memory_budget_gib:g} GiB",
        }
    cmd = [
        sys.executable,
        "-m",
        "benchmarks",
        "--worker",
        json.dumps(spec),
        "--repeats",
        str(args.repeats),
        "--min-time",
        str(args.min_time),
        "--slow",
        str(args.slow),
    ]
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout, cwd=ROOT, env=env)
    except subprocess.TimeoutExpired:
        return {"status": "timeout", "reason": f"over the {args.timeout:g} s limit per measurement"}
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = (proc.stderr or "").strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
        why = "out of memory (killed)" if proc.returncode in (-9, 137) else tail[0][:200]
        return {"status": "error", "reason": why}
    line = [l for l in proc.stdout.splitlines() if l.startswith("{")][-1]
    return {"status": "ok", "wall_s": wall, **json.loads(line)}


# ----- environment and table -------------------------------------------------------------


def machine_info(device: str) -> dict:
    import torch

    info = {
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu_count": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "device": device,
        "cuda_available": torch.cuda.is_available(),
    }
    try:
        with open("/proc/cpuinfo") as fh:
            info["cpu"] = next((l.split(":", 1)[1].strip() for l in fh if l.startswith("model name")), "")
        with open("/proc/meminfo") as fh:
            info["mem_total_gib"] = round(int(fh.readline().split()[1]) / 2**20, 1)
    except OSError:
        pass
    try:
        info["loadavg_start"] = os.getloadavg()
    except OSError:
        pass
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


BASELINES = {
    "assembly": ("torch_func", ["assembled", "closed_form", "write_P2"]),
    "spectrum": ("dense_eigh", ["structured"]),
    "hk": ("loop", ["vmap"]),
    "topeig": ("pyhessian", ["lanczos", "scipy_eigsh", "dense_eigh"]),
    "dataset_topeig": ("pyhessian", ["dlnkit_lanczos"]),
    "chunked": ("torch_func", ["chunked"]),
    "matmul": (None, ["matmul"]),
}


def _size_key(s: dict):
    return (s.get("device"), s.get("dtype"), s.get("h"), json.dumps(s.get("widths")), s.get("n"))


def _fmt_t(r):
    if r is None:
        return "-"
    if r["status"] != "ok":
        return r["status"]
    return f"{r['median_s']:.4g}"


def _fmt_m(r):
    if r is None or r["result"]["status"] != "ok":
        return ""
    return f"{r['result'].get('peak_mem_mib', float('nan')):.0f}"


def summarize(results: list[dict]) -> tuple[str, list[dict]]:
    """A table of median times and ratio = baseline median / method median, per size."""
    groups: dict = {}
    for r in results:
        groups.setdefault((r["spec"]["case"], _size_key(r["spec"])), {})[r["spec"]["method"]] = r
    rows = []
    for (case, _), by_method in groups.items():
        base_name, ours = BASELINES[case]
        base = by_method.get(base_name)
        for m in ours:
            r = by_method.get(m)
            if r is None:
                continue
            any_ok = (
                r if r["result"]["status"] == "ok" else (base if base and base["result"]["status"] == "ok" else None)
            )
            P = any_ok["result"].get("P") if any_ok else None
            ratio = ""
            if base is not None and base["result"]["status"] == "ok" and r["result"]["status"] == "ok":
                ratio = f"{base['result']['median_s'] / r['result']['median_s']:.3g}x"
            elif base is not None and base["result"]["status"] != "ok" and r["result"]["status"] == "ok":
                ratio = f"baseline {base['result']['status']}"
            flops = r["result"].get("flops") if r["result"]["status"] == "ok" else None
            rate = f"{flops / r['result']['median_s'] / 1e9:.3g}" if flops else ""
            rows.append(
                {
                    "case": case,
                    "device": r["spec"]["device"],
                    "dtype": r["spec"]["dtype"],
                    "P": P,
                    "method": m,
                    "time_s": _fmt_t(r["result"]),
                    "baseline": base_name or "",
                    "baseline_s": _fmt_t(base["result"]) if base else "",
                    "ratio": ratio,
                    "mem_mib": _fmt_m(r),
                    "baseline_mem_mib": _fmt_m(base),
                    "gflops": rate,
                }
            )
    head = [
        "case",
        "device",
        "dtype",
        "P",
        "method",
        "time_s",
        "baseline",
        "baseline_s",
        "ratio",
        "mem_mib",
        "baseline_mem_mib",
        "gflops",
    ]
    cells = [[str(row[h]) if row[h] is not None else "" for h in head] for row in rows]
    w = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h) for i, h in enumerate(head)]
    lines = ["  ".join(h.ljust(w[i]) for i, h in enumerate(head)), "  ".join("-" * x for x in w)]
    lines += ["  ".join(c[i].ljust(w[i]) for i in range(len(head))) for c in cells]
    return "\n".join(lines), rows


def checks(results: list[dict]) -> list[str]:
    """Agreement of the routes: the same numbers from every method at each size."""

    notes = []
    groups: dict = {}
    for r in results:
        if r["result"]["status"] == "ok":
            groups.setdefault((r["spec"]["case"], _size_key(r["spec"])), {})[r["spec"]["method"]] = r["result"]
    for (case, key), by in groups.items():
        P = next(iter(by.values())).get("P")
        if case in ("assembly", "chunked"):
            ref = by.get("torch_func")
            for m in ("assembled", "closed_form", "chunked"):
                if ref and m in by and by[m]["values"].get("entries"):
                    a, b = by[m]["values"]["entries"], ref["values"]["entries"]
                    err = max(abs(x - y) for x, y in zip(a, b))
                    notes.append(f"{case} P={P} {m} vs torch_func: max |diff| over 64 sampled entries {err:.2e}")
        if case == "spectrum" and "dense_eigh" in by and "structured" in by:
            a, b = by["structured"]["values"], by["dense_eigh"]["values"]
            rel = max(abs(x - y) / abs(y) for x, y in zip(a["top"], b["top"]))
            notes.append(
                f"spectrum P={P}: {a['count']} structured vs {b['count']} dense nonzero eigenvalues, "
                f"top-20 max rel diff {rel:.2e}"
            )
        if case == "hk" and "vmap" in by and "loop" in by:
            a = [x for l in by["vmap"]["values"]["h"] for x in l]
            b = [x for l in by["loop"]["values"]["h"] for x in l]
            rel = max(abs(x - y) / max(abs(y), 1e-300) for x, y in zip(a, b))
            notes.append(f"hk P={P}: {len(a)} h_k, vmap vs loop max rel diff {rel:.2e}")
        if case == "topeig" and "dense_eigh" in by:
            ref = by["dense_eigh"]["values"]
            for m in ("lanczos", "scipy_eigsh", "pyhessian"):
                if m in by:
                    v = by[m]["values"]
                    rel = max(abs(x - y) / abs(y) for x, y in zip(v["top"], ref["top"]))
                    tr = f", {v['eig_s']:.3g} s" if "eig_s" in v else ""
                    if "trace" in v and "eig_s" in v:
                        tr += (
                            f"; trace {v['trace']:.5g} vs exact {ref['trace']:.5g} "
                            f"({v.get('hvps_trace', '?')} HVPs, {v['trace_s']:.3g} s)"
                        )
                    elif "trace" in v:
                        tr = f"; trace {v['trace']:.5g} vs exact {ref['trace']:.5g} ({v.get('hvps_trace', '?')} HVPs)"
                    ok = "within" if rel <= 1e-4 else "NOT within"
                    notes.append(
                        f"topeig P={P} {m}: top-5 max rel err vs dense eigh {rel:.2e} ({ok} 1e-4), "
                        f"{v.get('hvps_eig', '-')} HVPs for the eigenvalues{tr}"
                    )
        if case == "dataset_topeig" and "dlnkit_lanczos" in by and "pyhessian" in by:
            a, b = by["dlnkit_lanczos"]["values"], by["pyhessian"]["values"]
            rel = max(abs(x - y) / abs(y) for x, y in zip(b["top"], a["top"]))
            notes.append(
                f"dataset_topeig P={P}: PyHessian vs dlnkit top-5 max rel diff {rel:.2e}; HVPs "
                f"{b['hvps_eig']} vs {a['hvps_eig']} (dense reference: python -m benchmarks.real_networks)"
            )
        if case == "matmul":
            r = by["matmul"]
            notes.append(f"matmul calibration ({key[0]}, {key[1]}): {r['flops'] / r['min_s'] / 1e9:.3g} GFLOP/s")
    return notes


#: the case names --cases accepts
CASES = ("assembly", "spectrum", "hk", "topeig", "dataset_topeig", "chunked", "matmul")


def check_arguments(args) -> Path:
    """Refuse bad arguments and an unusable --out before any measurement; return the output path."""
    if args.cases is not None:
        unknown = [c for c in args.cases if c not in CASES]
        if unknown or not args.cases:
            raise DlnkitInputError(
                f"unknown case(s) {', '.join(unknown) or '(none given)'}; use some of {', '.join(CASES)}"
            )
    for name in ("repeats", "threads"):
        v = getattr(args, name)
        if v is not None and v < 1:
            raise DlnkitInputError(f"--{name} must be >= 1, got {v}")
    for name in ("min_time", "slow", "timeout", "memory_budget_gib", "chunk_budget_gib"):
        v = getattr(args, name)
        if not (v > 0 and v < float("inf")):
            raise DlnkitInputError(f"--{name.replace('_', '-')} must be a positive finite number, got {v}")
    if args.device not in ("cpu", "cuda") and not str(args.device).startswith("cuda:"):
        raise DlnkitInputError(f"--device must be cpu or cuda, got {args.device!r}")
    if args.out:
        return check_output_file(args.out, overwrite=args.force, what="--out")
    return HERE / "results" / f"{args.device}-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%SZ')}.json"


def main(argv=None) -> int:
    from dlnkit.cli import OneLineArgumentParser

    p = OneLineArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--quick", action="store_true", help="small sizes only (about a minute)")
    p.add_argument("--cases", nargs="*", help="only these cases (assembly spectrum hk topeig chunked matmul)")
    p.add_argument("--device", default="cpu", help="device for cases 1-4 (cpu or cuda)")
    p.add_argument(
        "--no-gpu",
        dest="gpu_case",
        action="store_false",
        help="skip case 5 (the CUDA runs) even when CUDA is available",
    )
    p.add_argument("--large", action="store_true", help="also build a ~3e4-parameter dense Hessian by chunks (8 GiB)")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads per measurement (default: all cores; 1 is steadier on a busy machine)",
    )
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--min-time", type=float, default=0.5)
    p.add_argument("--slow", type=float, default=5.0, help="a warm-up longer than this is the only run")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds per measurement before it is stopped")
    p.add_argument("--memory-budget-gib", type=float, default=12.0, help="skip runs estimated above this")
    p.add_argument("--chunk-budget-gib", type=float, default=1.5, help="budget for the chunked dense Hessian")
    p.add_argument("--out", help="JSON path (default benchmarks/results/<device>-<UTC time>.json)")
    p.add_argument("--force", action="store_true", help="replace an existing --out file")
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker), args.repeats, args.min_time, args.slow), default=str))
        return 0
    try:
        out = check_arguments(args)
    except DlnkitInputError as exc:  # one line, exit 2 (also through `dlnkit bench`, which runs us as a child)
        print(f"python -m benchmarks: error: {exc}", file=sys.stderr)
        return 2
    import torch

    if args.threads:
        os.environ["BENCH_THREADS"] = str(args.threads)
        torch.set_num_threads(args.threads)
    if args.gpu_case:
        args.gpu_case = torch.cuda.is_available()
        if not args.gpu_case:
            print("case 5 (GPU): skipped, CUDA is not available on this machine", file=sys.stderr)
    specs = plan(args)
    results = []
    t_start = time.perf_counter()
    for i, spec in enumerate(specs, 1):
        label = " ".join(f"{k}={v}" for k, v in spec.items() if k not in ("skip", "memory_estimate"))
        print(f"[{i}/{len(specs)}] {label}", file=sys.stderr, flush=True)
        res = run_one(spec, args)
        print(
            f"    -> {res['status']}"
            + (f" {res['median_s']:.4g} s" if res["status"] == "ok" else f" ({res['reason']})"),
            file=sys.stderr,
            flush=True,
        )
        results.append({"spec": spec, "result": res})
    table, rows = summarize(results)
    notes = checks(results)
    doc = {
        "machine": machine_info(args.device),
        "started_utc": datetime.now(timezone.utc).isoformat(),
        "seconds": time.perf_counter() - t_start,
        "settings": {k: v for k, v in vars(args).items() if k != "worker"},
        "gpu_case": "ran" if args.gpu_case else "skipped: CUDA not available",
        "results": results,
        "table": rows,
        "checks": notes,
    }
    atomic_write_text(out, json.dumps(doc, indent=1, default=str))
    print(table)
    print()
    for n in notes:
        print(n)
    print(f"\nwrote {out} ({doc['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
