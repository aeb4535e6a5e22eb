"""``coaxlike.agents.DQN`` with its defaults: seeds solved, env steps and seconds to solve.

For each task and seed: ``DQN(env_id, seed=seed, **defaults).learn(budget)`` with a greedy
evaluation (``evaluate_policy``, 10 episodes side by side) every ``eval_freq`` env steps from
a callback. Reported per task: seeds solved (first evaluation at or above the threshold),
median env steps and median seconds to that evaluation (wall time of ``learn`` up to it,
compilation included, evaluation excluded), and whether the agent that ``learn(budget)``
*returns* still meets the threshold (a fresh 10-episode greedy evaluation on other seeds):
users keep the final agent, not the best evaluation. On FrozenLake, a deterministic maze, the
returned agent must also take the shortest path (14 steps) to count. The rows
``CartPole-v1 C51`` and ``CartPole-v1 QR-DQN`` are the same defaults with
``distributional="categorical"`` or ``"quantile"`` (a :class:`~coaxlike.StochasticQ` with
its default atoms or quantiles).

    python -m benchmarks.agents [--quick] [--tasks "CartPole-v1,CartPole-v1 C51"] [--seeds 0-9]
        [--set name=value ...] [--json PATH]
"""
import argparse
import ast
import json
import statistics
import sys
import time

from . import _timing

TITLE = "coaxlike.agents.DQN with its defaults"
# task -> (threshold on the greedy 10-episode mean, env-step budget, eval_freq, kwargs)
TASKS = {
    "CartPole-v1": (475.0, 100_000, 5_000, {}),
    "Acrobot-v1": (-100.0, 100_000, 5_000, {}),
    "FrozenLake-v1": (1.0, 200_000, 5_000, {"env_kwargs": {"map_name": "8x8",
                                                           "is_slippery": False},
                                            "shortest": 14}),
    "LunarLander-v3": (200.0, 300_000, 10_000, {}),
}
DEFAULT_SEEDS = {"CartPole-v1": range(10), "Acrobot-v1": range(5), "FrozenLake-v1": range(10),
                 "LunarLander-v3": range(3)}
# rows that vary one setting of the defaults: name -> (task, DQN kwargs); seeds as the task's
VARIANTS = {"CartPole-v1 C51": ("CartPole-v1", {"distributional": "categorical"}),
            "CartPole-v1 QR-DQN": ("CartPole-v1", {"distributional": "quantile"})}
ALL_TASKS = ["CartPole-v1", "Acrobot-v1", "FrozenLake-v1", "LunarLander-v3", *VARIANTS]


def resolve(name):
    """``(task, DQN kwargs)`` of a task or variant name."""
    if name in VARIANTS:
        return VARIANTS[name]
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; choose from {ALL_TASKS}")
    return name, {}


def make_env(task, n=None):
    import gymnasium as gym
    kwargs = TASKS[task][3].get("env_kwargs", {})
    if n is None:
        return gym.make(task, **kwargs)
    return gym.make_vec(task, num_envs=n, vectorization_mode="sync", **kwargs)


def run_seed(task, seed, overrides=None, budget=None):
    """One run of a task or variant; dict with ``solved_at`` (env steps or None),
    ``seconds`` (to solve, else the whole run), ``final_return`` and ``curve``."""
    from coaxlike.agents import DQN, evaluate_policy
    name, (task, variant) = task, resolve(task)
    threshold, default_budget, eval_freq, extra = TASKS[task]
    budget = budget or default_budget
    kwargs = dict(extra.get("agent_kwargs", {}), **variant, **(overrides or {}))
    t0 = time.perf_counter()
    agent = DQN(make_env(task, kwargs.pop("n_envs", 4)), seed=seed, **kwargs)
    eval_env = make_env(task, 10)
    state = {"eval_seconds": 0.0, "solved_at": None, "seconds": None, "curve": []}

    def callback(agent, info):
        if agent.num_timesteps // eval_freq > (agent.num_timesteps - _round(agent)) // eval_freq:
            e0 = time.perf_counter()
            score = evaluate_policy(agent, eval_env, 10, seed=10_000 + seed)
            state["eval_seconds"] += time.perf_counter() - e0
            state["curve"].append((agent.num_timesteps, score))
            if score >= threshold and state["solved_at"] is None:
                state["solved_at"] = agent.num_timesteps
                state["seconds"] = time.perf_counter() - t0 - state["eval_seconds"]

    agent.learn(budget, callback=callback, progress_bar=False)
    total = time.perf_counter() - t0 - state["eval_seconds"]
    final = evaluate_policy(agent, eval_env, 10, seed=20_000 + seed)
    eval_env.close()
    out = {"task": name, "seed": seed, "solved_at": state["solved_at"],
           "seconds": state["seconds"] if state["seconds"] is not None else total,
           "run_seconds": total, "final_return": final, "final_ok": final >= threshold,
           "curve": state["curve"]}
    if "shortest" in extra:  # a deterministic task: does the returned agent take its
        out["final_steps"] = greedy_episode_length(agent, task, seed)  # shortest path?
        out["final_ok"] = out["final_ok"] and out["final_steps"] == extra["shortest"]
    return out


def greedy_episode_length(agent, task, seed):
    """Steps of one greedy episode of ``agent`` (its return is what ``final_return``
    checks)."""
    env = make_env(task)
    try:
        s, _ = env.reset(seed=seed)
        for t in range(1, 10_000):
            s, _, terminated, truncated, _ = env.step(agent.predict(s)[0])
            if terminated or truncated:
                return t
        return None
    finally:
        env.close()


def _round(agent):
    return agent._config["train_freq"] * agent._config["n_envs"]


def summarise(task, runs):
    threshold = TASKS[resolve(task)[0]][0]
    solved = [r for r in runs if r["solved_at"] is not None]
    return {"task": task, "threshold": threshold, "seeds": len(runs), "solved": len(solved),
            "final_ok": sum(r["final_ok"] for r in runs),
            "median_steps": statistics.median(r["solved_at"] for r in solved) if solved else None,
            "median_seconds": (statistics.median(r["seconds"] if r["solved_at"] is not None
                                                 else float("inf") for r in runs)),
            "runs": runs}


def parse_seeds(text):
    """``'0-4'`` or ``'0,3,5'`` -> a list of ints."""
    out = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out += list(range(int(lo), int(hi) + 1)) if hi else [int(lo)]
    return out


def run(quick=False, tasks=None, seeds=None, overrides=None):
    tasks = tasks or (["CartPole-v1"] if quick else ALL_TASKS)
    t0, rows, summaries = time.perf_counter(), [], []
    for task in tasks:
        if task == "LunarLander-v3":
            try:
                import Box2D  # noqa: F401
            except ImportError:
                summaries.append({"task": task, "skipped": "Box2D is not installed"})
                continue
        task_seeds = seeds if seeds is not None else list(DEFAULT_SEEDS[resolve(task)[0]])
        if quick:
            task_seeds = task_seeds[:1]
        runs = []
        for seed in task_seeds:
            runs.append(run_seed(task, seed, overrides, budget=20_000 if quick else None))
            print(json.dumps({k: v for k, v in runs[-1].items() if k != "curve"}),
                  file=sys.stderr, flush=True)
        s = summarise(task, runs)
        summaries.append(s)
        rows.append({"name": f"{task}: seeds solved", "value": s["solved"],
                     "unit": f"/{s['seeds']}", "target": s["seeds"],
                     "ok": s["solved"] == s["seeds"]})
    return {"benchmark": "agents", "environment": _timing.environment(), "quick": quick,
            "overrides": overrides or {}, "summaries": summaries, "rows": rows,
            "seconds": round(time.perf_counter() - t0, 1)}


def format_table(result):
    lines = [TITLE, f"{'task':18s} {'solved':>7s} {'final ok':>9s} {'median steps':>13s} "
             f"{'median s':>9s}"]
    for s in result["summaries"]:
        if "skipped" in s:
            lines.append(f"{s['task']:18s} skipped: {s['skipped']}")
            continue
        steps = "-" if s["median_steps"] is None else f"{s['median_steps']:.0f}"
        lines.append(f"{s['task']:18s} {s['solved']:>3d}/{s['seeds']:<3d} "
                     f"{s['final_ok']:>5d}/{s['seeds']:<3d} {steps:>13s} "
                     f"{s['median_seconds']:>9.1f}")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--tasks", default=None)
    p.add_argument("--seeds", default=None, help="e.g. 0-9 or 0,3,5")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="override a DQN argument (Python literal)")
    p.add_argument("--json", default=None, help="write the result as JSON ('-': stdout)")
    args = p.parse_args(argv)
    overrides = {}
    for item in args.set:
        name, _, value = item.partition("=")
        overrides[name] = ast.literal_eval(value)
    result = run(args.quick, args.tasks.split(",") if args.tasks else None,
                 parse_seeds(args.seeds) if args.seeds else None, overrides)
    return output(result, args.json, format_table)


def output(result, path, formatter):
    """Print ``result`` as one JSON line (``path == '-'``, for ``benchmarks.run``) or as
    a table, writing the JSON to ``path`` if given; returns ``result``."""
    if path == "-":
        print(json.dumps(result))
    else:
        print(formatter(result))
        if path:
            with open(path, "w") as f:
                json.dump(result, f, indent=1)
    return result


if __name__ == "__main__":
    main()
