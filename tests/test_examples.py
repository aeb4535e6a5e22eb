"""The example scripts: the acting demo runs, and DQN on CartPole-v1 solves it (slow)."""
import importlib.util
import os
import runpy

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_example(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "examples",
                                                                     f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_acting_demo_runs_and_prints_probabilities(capsys):
    # as a script, in this process (a fresh interpreter would spend seconds importing JAX)
    runpy.run_path(os.path.join(ROOT, "examples", "cartpole_policies.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "EpsilonGreedy(0.1)" in out and "BoltzmannPolicy(0.5)" in out
    # epsilon-greedy over 2 actions: every printed propensity is 0.05 or 0.95
    eps_lines = out.split("BoltzmannPolicy")[0]
    probs = {float(tok.split("=")[1].rstrip(",")) for tok in eps_lines.split() if
             tok.startswith("p=")}
    assert probs <= {0.05, 0.95} and probs


@pytest.mark.slow  # heavy compile: CI's slow stage keeps the default run under 2 min
def test_dqn_loop_runs_a_few_iterations(tmp_path):
    dqn = load_example("dqn_cartpole")
    out = dqn.train(seed=0, max_steps=600, warmup=200, eval_every=300)
    assert out["steps"] == 600 and not out["solved"]
    assert all(np.isfinite(out["q"].params["mlp/~/linear_0"]["w"]).ravel())
    assert len(out["episode_returns"]) == len(out["episode_steps"]) > 0
    # the file it reports is there to be used
    path, same = dqn.save_and_reload(out["pi"], str(tmp_path / "policy"), out["eval_envs"])
    assert same and path == str(tmp_path / "policy.cxl") and os.path.getsize(path) > 85
    # the figure: one x-axis in env steps for both curves, a title, the solve threshold
    fig = dqn.plot(out, seed=0)
    (ax,) = fig.axes
    episodes, evaluations, threshold = ax.get_lines()
    assert list(episodes.get_xdata()) == out["episode_steps"]
    assert list(evaluations.get_xdata()) == [300, 600]
    assert list(threshold.get_ydata()) == [475, 475] and "solved" in threshold.get_label()
    assert "env steps" in ax.get_xlabel() and "CartPole-v1" in ax.get_title()
    out["eval_envs"].close()


@pytest.mark.slow
def test_dqn_solves_cartpole_from_a_fixed_seed():
    """Greedy 10-episode mean return >= 475 (evaluated every 5000 env steps); seed 2 solves
    at 40,000 env steps with the example's default hyperparameters (deterministic)."""
    dqn = load_example("dqn_cartpole")
    out = dqn.train(seed=2, max_steps=60_000)
    assert out["solved"], f"not solved: evaluation curve {out['curve']}"
    pi_eval = dqn.coaxlike.EpsilonGreedy(out["q"], 0.0)
    assert dqn.evaluate(pi_eval.mode, out["eval_envs"], seed=123) >= 475
