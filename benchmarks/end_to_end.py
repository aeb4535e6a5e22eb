"""End-to-end: DQN on CartPole-v1 with the Python env loop of ``examples/dqn_cartpole.py``.

    python -m benchmarks.end_to_end [--quick] [--json PATH|-]

Protocol (issue 5): greedy 10-episode mean return >= 475, evaluated every 5000 env steps on
separate envs; the wall time includes compilation and excludes evaluation. Reports env steps
and seconds per seed and their medians, then a breakdown of where the time goes from one
extra run with ``breakdown=True`` (which waits for every update to finish, so that the
update's time is not charged to the next call that reads a result).
"""
import importlib.util
import os
import statistics
import sys

from . import _timing

TITLE = "DQN on CartPole-v1, Python env loop (examples/dqn_cartpole.py)"
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _example():
    path = os.path.join(_ROOT, "examples", "dqn_cartpole.py")
    spec = importlib.util.spec_from_file_location("dqn_cartpole", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(quick=False, seeds=(0, 1, 2, 3, 4)):
    """Train one run per seed (``quick``: one short run) and one timed breakdown run.

    Returns:
        dict with ``runs`` (per seed: solved, steps, seconds, curve), ``median_seconds``,
        ``median_steps``, ``all_solved`` and ``breakdown`` (µs per env step by part).
    """
    dqn = _example()
    max_steps = 3_000 if quick else 150_000
    seeds = seeds[:1] if quick else seeds
    runs = []
    for seed in seeds:
        out = dqn.train(seed=seed, max_steps=max_steps)
        runs.append({"seed": seed, "solved": out["solved"], "steps": out["steps"],
                     "seconds": round(out["seconds"], 2), "curve": out["curve"]})
        print(f"seed {seed}: solved={out['solved']} steps={out['steps']} "
              f"seconds={out['seconds']:.1f}", file=sys.stderr, flush=True)
    steps = 2_000 if quick else 20_000
    parts = dqn.train(seed=0, max_steps=steps, eval_every=10**9, breakdown=True)
    breakdown = {k: round(v / steps * 1e6, 1) for k, v in parts["breakdown"].items()}
    breakdown["total (incl. compile)"] = round(parts["seconds"] / steps * 1e6, 1)
    return {"runs": runs,
            "median_seconds": statistics.median(r["seconds"] for r in runs),
            "median_steps": statistics.median(r["steps"] for r in runs),
            "all_solved": all(r["solved"] for r in runs),
            "breakdown_us_per_env_step": breakdown,
            "environment": _timing.environment()}


def format_table(result):
    lines = [TITLE, f"{'seed':>4} {'solved':>6} {'env steps':>9} {'seconds':>8}"]
    for r in result["runs"]:
        lines.append(f"{r['seed']:>4} {str(r['solved']):>6} {r['steps']:>9} {r['seconds']:>8.1f}")
    lines.append(f"median: {result['median_steps']:.0f} env steps, "
                 f"{result['median_seconds']:.1f} s; every seed solved: {result['all_solved']}")
    lines.append("time per env step (µs): " + ", ".join(
        f"{k} {v}" for k, v in result["breakdown_us_per_env_step"].items()))
    return "\n".join(lines)


def main(argv=None):
    return _timing.main_with(run, TITLE, format_table, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    main()
