"""The one command: every benchmark, in each dispatch mode, each in its own process.

    python -m benchmarks.run [--quick] [--json PATH] [--only acting,batched]

``jax_cpu_enable_async_dispatch`` must be set before the first computation of a process,
so each (benchmark, mode) pair runs as ``python -m benchmarks.<name> [--sync] --json -``
in a subprocess; this process only collects the JSON, prints the tables and writes
everything to ``--json`` (default ``benchmarks/results.json``).
"""
import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time

from . import (_timing, acting, agents, agents_peers, apex, batched, end_to_end, ingraph,
               replay, stochastic_acting, update)

BENCHMARKS = ("acting", "stochastic_acting", "batched", "update", "end_to_end", "ingraph",
              "agents", "agents_peers", "replay", "atari", "apex")
MODES = (("default", []), ("sync", ["--sync"]))
# the training benchmarks are one long program each: default dispatch only
MODES_OF = {"acting": MODES, "stochastic_acting": MODES, "batched": MODES, "update": MODES,
            "end_to_end": MODES[:1], "ingraph": MODES[:1], "agents": MODES[:1],
            "agents_peers": MODES[:1], "replay": MODES[:1], "atari": MODES[:1],
            "apex": MODES[:1]}


def _format_atari(result):  # imported when used: benchmarks.atari imports the example
    from . import atari
    return atari.format_table(result)


# optional dependencies (extras) a benchmark needs
NEEDS = {"atari": ("ale_py", "cv2"), "apex": ("ray",)}
TITLES = {"acting": acting.TITLE, "stochastic_acting": stochastic_acting.TITLE,
          "batched": batched.TITLE, "update": update.TITLE}
FORMATS = {"end_to_end": end_to_end.format_table, "ingraph": ingraph.format_table,
           "agents": agents.format_table, "agents_peers": agents_peers.format_table,
           "replay": replay.format_table, "atari": _format_atari, "apex": apex.format_table}


def run_one(name, mode_flags, quick=False, extra=()):
    """Run ``benchmarks.<name>`` in a fresh interpreter and return its parsed JSON."""
    cmd = [sys.executable, "-m", f"benchmarks.{name}", *mode_flags, "--json", "-", *extra]
    if quick:
        cmd.append("--quick")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run(cmd, cwd=root, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="few calls: a smoke test, not figures")
    p.add_argument("--json", metavar="PATH",
                   default=os.path.join(os.path.dirname(__file__), "results.json"))
    p.add_argument("--only", default=",".join(BENCHMARKS),
                   help=f"comma-separated subset of {','.join(BENCHMARKS)}")
    args = p.parse_args(argv)
    names = [n for n in args.only.split(",") if n]
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        p.error(f"--only: unknown benchmark(s) {unknown}; choose from {list(BENCHMARKS)}")
    results, t0 = {}, time.time()
    for name in names:
        missing = [m for m in NEEDS.get(name, ()) if importlib.util.find_spec(m) is None]
        if missing:
            print(f"{name} skipped: needs {', '.join(missing)} (its optional extra)\n",
                  flush=True)
            continue
        if name == "agents_peers" and not os.path.exists(agents_peers.PEERS_PYTHON):
            print(f"agents_peers skipped: no SBX virtualenv at {agents_peers.PEERS_PYTHON} "
                  "(see benchmarks/agents_peers.py)\n", flush=True)
            continue
        for mode, flags in MODES_OF[name]:
            result = run_one(name, flags, args.quick)
            results[f"{name}/{mode}"] = result
            dispatch = "sync dispatch" if flags else "default (async) dispatch"
            if name in FORMATS:
                print(FORMATS[name](result))
            else:
                print(_timing.format_table(result["rows"], f"{TITLES[name]}, {dispatch}"))
            print(flush=True)
    out = {"quick": args.quick, "seconds": round(time.time() - t0, 1), "results": results}
    with open(args.json, "w") as f:
        json.dump(out, f, indent=1)
    print(f"wrote {args.json}")
    return out


if __name__ == "__main__":
    main()
