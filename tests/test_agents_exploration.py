"""coaxlike.agents.DQN's exploration clock: with ``explore_until_reward`` the schedule holds
at its start value until a reward other than 0 arrives, then counts env steps from the start
of that training round; the clock survives saving and loading, and an agent that sees a
reward at its first step acts exactly as with the plain clock."""
import gymnasium as gym
import jax
import numpy as np
import optax
import pytest

from coaxlike.agents import DQN

ROUND = 4  # env steps per training round below (train_freq=4, one env)
NO_UPDATES = dict(hidden=(8,), learning_starts=10**6, buffer_size=256, batch_size=4,
                  train_freq=ROUND, gradient_steps=1,
                  exploration=optax.linear_schedule(1.0, 0.0, 100))


class LateReward(gym.Env):
    """One state, two actions, episodes of 100 steps; one reward of 1, at the env's
    ``first + 1``-th step (counted over episodes); every other reward is 0."""

    observation_space = gym.spaces.Discrete(1)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, first):
        self.first, self.steps, self.t = first, 0, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return 0, {}

    def step(self, action):
        self.steps += 1
        self.t += 1
        return 0, float(self.steps == self.first + 1), self.t == 100, False, {}


def _epsilons(agent, steps):
    """The epsilon of each training round that ``learn(steps)`` runs."""
    seen = []
    agent.learn(steps, progress_bar=False,
                callback=lambda agent, info: seen.append(info["epsilon"]))
    return seen


def _schedule(steps):
    return [float(NO_UPDATES["exploration"](s)) for s in steps]


def test_the_schedule_holds_until_a_reward_then_counts_from_that_round():
    agent = DQN(LateReward(first=10), seed=0, **NO_UPDATES)  # first reward: env step 11
    assert agent.exploration_start is None
    eps = _epsilons(agent, 8)  # rounds [0, 4), [4, 8): rewards all 0
    assert eps == [1.0, 1.0] and agent.exploration_start is None
    assert int(agent.policy_state.step) == 0
    eps = _epsilons(agent, 16)  # the reward comes in round [8, 12)
    assert agent.exploration_start == 8
    assert eps == pytest.approx(_schedule([0, 4, 8, 12]))  # rounds from 8, 12, 16, 20
    assert int(agent.policy_state.step) == 24 - 8


def test_without_it_the_schedule_counts_from_birth():
    agent = DQN(LateReward(first=10), seed=0, explore_until_reward=False, **NO_UPDATES)
    assert agent.exploration_start == 0
    assert _epsilons(agent, 24) == pytest.approx(_schedule([0, 4, 8, 12, 16, 20]))
    assert int(agent.policy_state.step) == 24


@pytest.mark.parametrize("first, split", [(10, 6), (10, 11), (100, 30)])
def test_save_load_keeps_the_clock_even_inside_a_round(tmp_path, first, split):
    straight = DQN(LateReward(first), seed=1, **NO_UPDATES)
    want = _epsilons(straight, 40)
    agent = DQN(LateReward(first), seed=1, **NO_UPDATES)
    got = _epsilons(agent, split)
    path = agent.save(tmp_path / "agent")
    env = LateReward(first)
    env.steps = agent.env.envs[0].unwrapped.steps  # the env's own counter goes on
    loaded = DQN.load(path, env=env, exploration=NO_UPDATES["exploration"])
    assert loaded.exploration_start == agent.exploration_start
    got_rest = _epsilons(loaded, 40 - split)
    # a call that ends inside a round reports that round again when the next call ends it
    assert got[:-1] + got_rest == want if split % ROUND else got + got_rest == want
    assert loaded.exploration_start == straight.exploration_start
    assert float(loaded.policy._hp) == float(straight.policy._hp)


def test_an_agent_rewarded_at_once_acts_as_with_the_plain_clock():
    kwargs = dict(seed=2, hidden=(16,), learning_starts=64, buffer_size=2_000, batch_size=16,
                  train_freq=4, gradient_steps=8, exploration=optax.linear_schedule(1, 0, 500))
    held = DQN("CartPole-v1", **kwargs).learn(640, progress_bar=False)
    plain = DQN("CartPole-v1", explore_until_reward=False, **kwargs).learn(
        640, progress_bar=False)
    assert held.exploration_start == 0
    same = jax.tree_util.tree_map(lambda x, y: bool(np.array_equal(x, y)), held.params,
                                  plain.params)
    assert all(jax.tree_util.tree_leaves(same))
    assert float(held.policy._hp) == float(plain.policy._hp) < 1.0


def test_explore_until_reward_must_be_a_bool():
    with pytest.raises(TypeError, match="explore_until_reward"):
        DQN("CartPole-v1", explore_until_reward="yes")
