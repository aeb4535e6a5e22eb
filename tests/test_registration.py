"""Gymnasium ids registered by ``import coaxlike``, as ``import coax`` registers them."""
import gymnasium as gym

import coaxlike  # noqa: F401


def test_frozen_lake_non_slippery_is_registered_and_deterministic():
    env = gym.make("FrozenLakeNonSlippery-v0")
    assert env.spec.max_episode_steps == 20 and env.spec.reward_threshold == 0.99
    assert env.unwrapped.desc.shape == (4, 4)
    # the shortest path on the 4x4 map: down, down, right, down, right, right (no slipping)
    for seed in range(5):
        s, _ = env.reset(seed=seed)
        for a in (1, 1, 2, 1, 2, 2):
            s, r, terminated, truncated, _ = env.step(a)
        assert (s, r, terminated) == (15, 1.0, True)


def test_frozen_lake_non_slippery_is_truncated_at_20_steps():
    env = gym.make("FrozenLakeNonSlippery-v0")
    env.reset(seed=0)
    for t in range(20):
        *_, terminated, truncated, _ = env.step(0)  # left into the wall: stays at 0
    assert truncated and not terminated
