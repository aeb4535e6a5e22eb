"""DQN on CartPole-v1: coaxlike against SBX (Stable-Baselines in JAX), interleaved per seed.

Three runs per seed, in this order, each in a fresh process: SBX with the rl-zoo recipe,
coaxlike with the same recipe, coaxlike with its defaults. The zoo recipe (rl-zoo3's
``dqn.yml`` for CartPole-v1): MLP 256x256, Adam 2.3e-3, batch 64, buffer 100k, learning
starts 1000, gamma 0.99, target update every 10 env steps, 128 gradient steps every 256 env
steps, epsilon 1 -> 0.04 over 8000 env steps, one env. SB3 (and SBX) move the target while
collecting, so with an interval of 10 < 256 the target is the parameters of the end of the
last round; coaxlike places syncs among the updates of a round by env step, so the same
schedule is ``target_update_interval=256`` with ``tau=1`` there (one hard copy after each
round; the agent's default is a Polyak average, ``tau=0.005``). Every run evaluates greedily
(10 episodes, ``evaluate_policy`` of this library for both) every 5000 env steps, excluded
from its time, and stops at the first evaluation with a mean return >= 475, or at 100k env
steps. Time to solve = wall seconds from the agent's construction to that evaluation,
compilation included.

Per env step, fixed work (``--part steps``, also in the default ``all``): after the three
runs of a seed, SBX and coaxlike with the zoo recipe each learn 8192 env steps (epsilon at
its floor of 0.04 by then, so that SBX, which draws random actions on the host without a
forward pass, acts through its network as often as coaxlike) and then 5120 more (20 rounds
of 256 env steps and 128 updates), timed; no evaluation. The per-seed ratio of those times
is the ratio of wall time per env step, training included, independent of how many steps a
run needed to solve; the ratio of the process CPU times (all threads) is printed beside it.

SBX lives in its own virtualenv (``--peers-python``, default ``/work/venv-peers/bin/python``;
the ``peers`` extra of pyproject.toml lists what it needs). Figures are per-seed ratios
(coaxlike / SBX) and their median: the machine is shared, and ratios measured side by side
survive its load better than absolute seconds. A seed SBX did not solve within the budget is
left out of the medians (no time to compare with); one coaxlike did not solve counts as inf.

    python -m benchmarks.agents_peers [--seeds 0-4] [--part all|solve|steps] [--json PATH]
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time

from . import _timing
from .agents import output, parse_seeds

TITLE = "DQN on CartPole-v1: coaxlike vs SBX, time to solve (interleaved per seed)"
PEERS_PYTHON = "/work/venv-peers/bin/python"
BUDGET, EVAL_FREQ, THRESHOLD = 100_000, 5_000, 475.0
WARM_STEPS, TIMED_STEPS = 8_192, 5_120  # per-env-step runs: past epsilon's decay, 20 rounds
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# the child: one run, printing one JSON line; argv = kind, seed. A kind ending in "-steps"
# learns WARM steps, then times TIMED steps (no evaluation)
_CHILD = r'''
import json, sys, time
import gymnasium as gym
import numpy as np
kind, seed = sys.argv[1], int(sys.argv[2])
steps_only, kind = kind.endswith("-steps"), kind.removesuffix("-steps")
BUDGET, EVAL_FREQ, THRESHOLD, WARM, TIMED = %d, %d, %f, %d, %d
import importlib, os, types
# the evaluation of this library (gymnasium and numpy only), also in the peers' virtualenv
# (which has no distrax): its module and coaxlike._checks are imported under stand-in
# packages that run no __init__, which are then forgotten (coaxlike proper is imported
# later, inside the timed run, as SBX is)
_root = os.path.join(os.environ["PYTHONPATH"], "coaxlike")
for _name, _path in (("coaxlike", _root), ("coaxlike.agents", os.path.join(_root, "agents"))):
    sys.modules[_name] = types.ModuleType(_name)
    sys.modules[_name].__path__ = [_path]
evaluate_policy = importlib.import_module("coaxlike.agents._evaluation").evaluate_policy
for _name in [m for m in sys.modules if m.split(".")[0] == "coaxlike"]:
    del sys.modules[_name]
eval_env = gym.make_vec("CartPole-v1", num_envs=10, vectorization_mode="sync")
t0 = time.perf_counter()
state = {"eval": 0.0, "solved_at": None, "seconds": None, "curve": []}

def check(agent, steps):
    e0 = time.perf_counter()
    score = evaluate_policy(agent, eval_env, 10, seed=10_000 + seed)
    state["eval"] += time.perf_counter() - e0
    state["curve"].append((steps, score))
    if score >= THRESHOLD:
        state["solved_at"] = steps
        state["seconds"] = time.perf_counter() - t0 - state["eval"]
        return False
    return True

if kind == "sbx":
    import optax  # noqa: F401
    from sbx import DQN
    from stable_baselines3.common.callbacks import BaseCallback
    class Eval(BaseCallback):
        def _on_step(self):
            if self.num_timesteps %% EVAL_FREQ == 0:
                return check(self.model, self.num_timesteps)
            return True
    model = DQN("MlpPolicy", gym.make("CartPole-v1"), learning_rate=2.3e-3, batch_size=64,
                buffer_size=100_000, learning_starts=1000, gamma=0.99,
                target_update_interval=10, train_freq=256, gradient_steps=128,
                exploration_fraction=0.16, exploration_final_eps=0.04,
                policy_kwargs=dict(net_arch=[256, 256]), seed=seed, verbose=0)
    if steps_only:
        model.learn(WARM)
        t1, c1 = time.perf_counter(), time.process_time()
        model.learn(TIMED, reset_num_timesteps=False)  # epsilon stays at its floor
        print(json.dumps({"kind": "sbx-steps", "seed": seed,
                          "seconds": time.perf_counter() - t1,
                          "cpu_seconds": time.process_time() - c1, "steps": TIMED}))
        sys.exit()
    model.learn(BUDGET, callback=Eval())
else:
    import optax
    from coaxlike.agents import DQN
    if kind == "zoo":
        # SB3 moves the target every 10 env steps *while collecting*, i.e. once per round,
        # to the parameters the round ended with: here, one sync per 256-env-step round
        agent = DQN(gym.make("CartPole-v1"), hidden=(256, 256), learning_rate=2.3e-3,
                    batch_size=64, buffer_size=100_000, learning_starts=1000, gamma=0.99,
                    target_update_interval=256, tau=1.0, train_freq=256, gradient_steps=128,
                    exploration=optax.linear_schedule(1.0, 0.04, 8000), n_step=1,
                    double=False, max_grad_norm=10.0, adam_eps=1e-8, seed=seed)
    else:
        agent = DQN("CartPole-v1", seed=seed)
    if steps_only:
        agent.learn(WARM, progress_bar=False)
        t1, c1 = time.perf_counter(), time.process_time()
        agent.learn(TIMED, progress_bar=False)
        print(json.dumps({"kind": kind + "-steps", "seed": seed,
                          "seconds": time.perf_counter() - t1,
                          "cpu_seconds": time.process_time() - c1, "steps": TIMED}))
        sys.exit()

    def callback(agent, info):
        n, k = agent.num_timesteps, agent._config["train_freq"] * agent._config["n_envs"]
        if n // EVAL_FREQ > (n - k) // EVAL_FREQ:
            return check(agent, n)
    agent.learn(BUDGET, callback=callback, progress_bar=False)
print(json.dumps({"kind": kind, "seed": seed, "solved_at": state["solved_at"],
                  "seconds": state["seconds"], "curve": state["curve"],
                  "total": time.perf_counter() - t0 - state["eval"]}))
''' % (BUDGET, EVAL_FREQ, THRESHOLD, WARM_STEPS, TIMED_STEPS)


def run_child(kind, seed, python):
    env = dict(os.environ, PYTHONPATH=ROOT)
    done = subprocess.run([python, "-c", _CHILD, kind, str(seed)], capture_output=True,
                          text=True, env=env, cwd=ROOT, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{kind} seed {seed} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


SOLVE_KINDS = ("sbx", "zoo", "defaults")
STEP_KINDS = ("sbx-steps", "zoo-steps")
NAMES = {"sbx": "SBX, zoo recipe", "zoo": "coaxlike, zoo recipe",
         "defaults": "coaxlike, defaults"}


def run(seeds, peers_python=PEERS_PYTHON, part="all"):
    """Per seed, interleaved: the runs to solve (``part`` "solve" or "all"), then the
    per-env-step runs ("steps" or "all"), each in a fresh process."""
    kinds = ((SOLVE_KINDS if part in ("all", "solve") else ())
             + (STEP_KINDS if part in ("all", "steps") else ()))
    t0, runs = time.perf_counter(), []
    for seed in seeds:
        for kind in kinds:
            python = peers_python if kind.startswith("sbx") else sys.executable
            runs.append(run_child(kind, seed, python))
            print(json.dumps({k: v for k, v in runs[-1].items() if k != "curve"}),
                  file=sys.stderr, flush=True)
    result = {"benchmark": "agents_peers", "environment": _timing.environment(),
              "seeds": list(seeds), "part": part, "runs": runs, "summary": {},
              "ratios": {}, "rows": []}
    if part in ("all", "solve"):
        _solve_figures(result, runs, seeds)
    if part in ("all", "steps"):
        _step_figures(result, runs, seeds)
    result["seconds"] = round(time.perf_counter() - t0, 1)
    return result


def _run_of(runs, kind, seed):
    return next(r for r in runs if r["kind"] == kind and r["seed"] == seed)


def _solve_figures(result, runs, seeds):
    def seconds(kind, seed):
        r = _run_of(runs, kind, seed)
        return r["seconds"] if r["solved_at"] is not None else float("inf")

    for kind in SOLVE_KINDS:
        mine = [r for r in runs if r["kind"] == kind]
        result["summary"][kind] = {
            "solved": sum(r["solved_at"] is not None for r in mine),
            "median_seconds": statistics.median(seconds(kind, s) for s in seeds),
            "median_steps": statistics.median(
                r["solved_at"] if r["solved_at"] is not None else float("inf") for r in mine)}

    def ratio(kind, seed):
        # a seed SBX did not solve has no time to compare with: left out of the median (it
        # used to give 0, which flattered coaxlike); one coaxlike did not solve counts as inf
        mine, peer = seconds(kind, seed), seconds("sbx", seed)
        return None if math.isinf(peer) and not math.isinf(mine) else mine / peer

    ratios = {kind: [ratio(kind, s) for s in seeds] for kind in ("zoo", "defaults")}
    compared = {kind: [v for v in values if v is not None] or [math.inf]
                for kind, values in ratios.items()}
    result["ratios"].update(ratios)
    result["rows"] += [
        {"name": "zoo recipe, coaxlike / SBX time to solve (median of per-seed ratios)",
         "value": statistics.median(compared["zoo"]), "target": 1.0,
         "ok": statistics.median(compared["zoo"]) <= 1.0},
        {"name": "coaxlike defaults / SBX zoo time to solve (median of per-seed ratios)",
         "value": statistics.median(compared["defaults"]), "target": 0.5,
         "ok": statistics.median(compared["defaults"]) <= 0.5}]


def _step_figures(result, runs, seeds):
    def ms(kind, seed, clock="seconds"):
        r = _run_of(runs, kind, seed)
        return 1e3 * r[clock] / r["steps"]

    for kind in STEP_KINDS:
        result["summary"][kind] = {
            "median_ms_per_env_step": statistics.median(ms(kind, s) for s in seeds),
            # the process's CPU time (all its threads): what the env step costs the machine
            "median_cpu_ms_per_env_step": statistics.median(
                ms(kind, s, "cpu_seconds") for s in seeds)}
    ratios = [ms("zoo-steps", s) / ms("sbx-steps", s) for s in seeds]
    result["ratios"]["zoo-steps"] = ratios
    result["ratios"]["zoo-steps CPU"] = [
        ms("zoo-steps", s, "cpu_seconds") / ms("sbx-steps", s, "cpu_seconds") for s in seeds]
    value = statistics.median(ratios)
    result["rows"].append(
        {"name": f"zoo recipe, coaxlike / SBX wall time per env step ({TIMED_STEPS} env "
               f"steps after {WARM_STEPS}, training included; median of per-seed ratios)",
         "value": value, "target": 1.0, "ok": value <= 1.0})


def format_table(result):
    lines = [TITLE]
    n = len(result["seeds"])
    solve = [kind for kind in SOLVE_KINDS if kind in result["summary"]]
    if solve:
        lines.append(f"{'run':22s} {'solved':>7s} {'median steps':>13s} {'median s':>9s}")
    for kind in solve:
        s = result["summary"][kind]
        lines.append(f"{NAMES[kind]:22s} {s['solved']:>3d}/{n:<3d} {s['median_steps']:>13.0f} "
                     f"{s['median_seconds']:>9.1f}")
    for kind in STEP_KINDS:
        if kind in result["summary"]:
            s = result["summary"][kind]
            lines.append(f"{NAMES[kind.removesuffix('-steps')]}: "
                         f"{s['median_ms_per_env_step']:.2f} ms wall, "
                         f"{s['median_cpu_ms_per_env_step']:.2f} ms process CPU per env step "
                         "(medians)")
    for r in result["rows"]:
        lines.append(f"{r['name']}: {r['value']:.2f} (target <= {r['target']}) "
                     f"{'ok' if r['ok'] else 'NO'}")
    for kind, values in result["ratios"].items():
        lines.append(f"  per-seed {kind}/SBX: " + ", ".join(
            "SBX unsolved" if v is None else f"{v:.2f}" for v in values))
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="0-4")
    p.add_argument("--quick", action="store_true", help="seed 0 only")
    p.add_argument("--part", choices=("all", "solve", "steps"), default="all",
                   help="time to solve, time per env step, or both (default)")
    p.add_argument("--peers-python", default=PEERS_PYTHON)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    seeds = parse_seeds(args.seeds)
    result = run(seeds[:1] if args.quick else seeds, args.peers_python, args.part)
    return output(result, args.json, format_table)


if __name__ == "__main__":
    main()
