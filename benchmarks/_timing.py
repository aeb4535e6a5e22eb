"""Interleaved timing of a call against its floor, and the table/JSON plumbing shared by
every benchmark module.

Timings on a shared 2-core machine drift by tens of percent within seconds, so a figure is
never compared with one taken at another time: ``compare`` alternates blocks of our call and
blocks of the floor call (ABBA order), and reports medians over blocks and the median of the
per-block-pair ratios, which cancels slow drift.
"""
import argparse
import gc
import json
import os
import platform
import statistics
import sys
import time

__all__ = []  # private module


def compare(ours, floor, *, blocks, calls, warmup=50):
    """Median µs/call of ``ours()`` and ``floor()`` measured in interleaved blocks.

    Args:
        ours, floor: zero-argument callables, each one complete call (result read on host).
        blocks: number of (ours, floor) block pairs; the order alternates ABBA.
        calls: calls per block.
        warmup: calls of each before timing (compilation, caches).

    Returns:
        dict with ``us`` (ours), ``floor_us``, ``ratio`` (median over block pairs of
        ours/floor), ``ratio_iqr`` ([q1, q3] of those ratios) and ``calls`` (timed, each).
    """
    for _ in range(warmup):
        ours()
        floor()
    t_ours, t_floor, ratios, cpu_ratios = [], [], [], []
    clock, cpu_clock = time.perf_counter_ns, time.process_time_ns
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for b in range(blocks):
            order = (ours, floor) if b % 4 in (0, 3) else (floor, ours)
            spent, cpu = {}, {}
            for fn in order:
                c0, t0 = cpu_clock(), clock()
                for _ in range(calls):
                    fn()
                spent[fn] = (clock() - t0) / calls / 1e3
                cpu[fn] = cpu_clock() - c0
            t_ours.append(spent[ours])
            t_floor.append(spent[floor])
            ratios.append(spent[ours] / spent[floor])
            cpu_ratios.append(cpu[ours] / max(cpu[floor], 1))
    finally:
        if gc_was_enabled:
            gc.enable()
    q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3
    return {"us": statistics.median(t_ours), "floor_us": statistics.median(t_floor),
            "ratio": statistics.median(ratios), "ratio_iqr": [q[0], q[2]],
            "cpu_ratio": statistics.median(cpu_ratios), "calls": blocks * calls}


def environment():
    """What the figures depend on: versions, cores, dispatch mode."""
    import jax
    import jaxlib
    return {"python": platform.python_version(), "jax": jax.__version__,
            "jaxlib": jaxlib.__version__, "cpu_count": os.cpu_count(),
            "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
            else None,
            "async_dispatch": bool(jax.config.read("jax_cpu_enable_async_dispatch")),
            "machine": platform.machine()}


def parse_args(description, argv=None):
    """Command line shared by the benchmark modules (each one runs in its own process)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--sync", action="store_true",
                   help='set jax_cpu_enable_async_dispatch=False before any computation')
    p.add_argument("--quick", action="store_true", help="few calls: a smoke test, not figures")
    p.add_argument("--json", metavar="PATH", help="write the results as JSON to PATH ('-' = stdout)")
    p.add_argument("--filter", metavar="TEXT", default="",
                   help="only the rows whose name contains TEXT (for profiling one row)")
    return p.parse_args(argv)


def set_dispatch(sync):
    """Must run before the first JAX computation of the process."""
    import jax
    if sync:
        jax.config.update("jax_cpu_enable_async_dispatch", False)


def format_table(rows, title):
    """A plain-text table of result rows (dicts with name, us, floor_us, ratio, target)."""
    lines = [title, f"{'benchmark':64s} {'ours':>10s} {'floor':>10s} {'ratio':>6s} "
                    f"{'target':>6s}  ok"]
    for r in rows:
        unit = r.get("unit", "µs")
        if unit == "actions/s":
            ours, fl = _rate(r["actions_per_s"]), _rate(r["floor_actions_per_s"])
        else:
            ours, fl = f"{r['us']:.1f}µs", f"{r['floor_us']:.1f}µs"
        target = r.get("target")
        ok = "" if target is None else ("yes" if r["ratio"] <= target else "NO")
        lines.append(f"{r['name']:64s} {ours:>10s} {fl:>10s} {r['ratio']:6.2f} "
                     f"{'' if target is None else f'{target:.2f}':>6s}  {ok}")
    return "\n".join(lines)


def _rate(x):
    return f"{x / 1e6:.2f}M/s" if x >= 1e6 else f"{x / 1e3:.1f}k/s"


def emit(result, args, title, formatter=None):
    """Print the table (``formatter(result)``, else the rows under ``title``); write JSON
    where asked (``-`` writes only JSON to stdout)."""
    if args.json == "-":
        json.dump(result, sys.stdout)
        sys.stdout.write("\n")
        return
    print(formatter(result) if formatter else format_table(result["rows"], title))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


def main(name, title, rows, description, argv=None):
    """Command-line entry of a benchmark module: parse, set the dispatch mode, measure, emit.

    ``rows(quick, only)`` must import JAX only when called, after ``set_dispatch``.
    """
    args = parse_args(description, argv)
    set_dispatch(args.sync)
    result = {"benchmark": name, "environment": environment(), "quick": args.quick,
              "rows": rows(args.quick, args.filter)}
    mode = "sync dispatch" if args.sync else "default (async) dispatch"
    emit(result, args, f"{title}, {mode}")
    return result


def main_with(run, title, formatter, description, argv=None):
    """Command-line entry of a benchmark whose ``run(quick) -> dict`` prints with its own
    ``formatter(result)`` (the training benchmarks, which have no floor rows)."""
    args = parse_args(description, argv)
    set_dispatch(args.sync)
    result = run(args.quick)
    emit(result, args, title, formatter)
    return result
