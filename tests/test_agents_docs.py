"""The training loops printed in the docs learn when run to completion (slow).

The getting-started page's three lines are ``DQN("CartPole-v1", seed=0).learn(100_000)``,
run on three seeds by ``test_agents.py``; the off-policy page's hand-written loop is taken
from the page as printed (only ``seed = 0`` is replaced) and run here on three seeds.
"""
import pathlib
import re

import gymnasium as gym
import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _block_after(path, heading):
    """The first ``testcode`` block after ``heading`` in a reST file, dedented."""
    text = path.read_text()
    rest = text[text.index(heading):]
    match = re.search(r"\.\. testcode::\n\n((?:   .*\n|\n)+)", rest)
    return "\n".join(line[3:] for line in match.group(1).splitlines()) + "\n"


def _greedy_mean_return(pi, episodes=10, seed=1234):
    env = gym.make("CartPole-v1")
    returns = []
    for k in range(episodes):
        s, _ = env.reset(seed=seed + k)
        done, ret = False, 0.0
        while not done:
            s, r, terminated, truncated, _ = env.step(pi.mode(s))
            ret += r
            done = terminated or truncated
        returns.append(ret)
    return float(np.mean(returns))


def test_the_off_policy_loop_is_found_as_printed():
    code = _block_after(ROOT / "doc" / "off_policy.rst", "A training loop\n")
    assert "seed = 0\n" in code and "learner.update(" in code


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_off_policy_loop_solves_cartpole(seed):
    code = _block_after(ROOT / "doc" / "off_policy.rst", "A training loop\n")
    namespace = {"__name__": "__off_policy__"}
    exec(compile(code.replace("seed = 0\n", f"seed = {seed}\n"), "off_policy.rst", "exec"),
         namespace)
    assert _greedy_mean_return(namespace["pi"]) >= 475
