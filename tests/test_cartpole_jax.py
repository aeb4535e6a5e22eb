"""examples/cartpole_jax.py against gymnasium's CartPole-v1 on identical states and actions.

gymnasium integrates in float64 and rounds the observation to float32; the JAX version
integrates in float32. Each comparison therefore starts both from the same state (the JAX
state is gymnasium's rounded to float32) and allows float32 rounding; a termination flag is
compared only when the new position and angle are not within rounding of a threshold.
"""
import math
import pathlib
import sys

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "examples"))
import cartpole_jax as cp  # noqa: E402

RTOL, ATOL = 2e-6, 2e-6  # float32 physics vs gymnasium's float64


def _ours(jit):
    step = jax.vmap(cp.step)
    return jax.jit(step) if jit else step


def _visited_states(num_steps, seed):
    """States gymnasium's CartPole visits under a mix of random and balancing actions, with
    the action taken from each, until ``num_steps`` steps were taken."""
    env = gym.make("CartPole-v1")
    rng = np.random.default_rng(seed)
    states, actions = [], []
    env.reset(seed=seed)
    while len(states) < num_steps:
        s = np.array(env.unwrapped.state, np.float64)
        balance = int(s[2] + 0.5 * s[3] > 0)  # keeps the pole up for a while
        a = balance if rng.random() < 0.3 else int(rng.integers(2))
        states.append(s)
        actions.append(a)
        _, _, terminated, truncated, _ = env.step(a)
        if terminated or truncated:
            env.reset(seed=int(rng.integers(2**31)))
    env.close()
    return np.array(states), np.array(actions)


def _gym_step_from(env, s, a):
    env.unwrapped.state = s
    env.unwrapped.steps_beyond_terminated = None
    obs, r, terminated, _, _ = env.unwrapped.step(a)
    return obs, r, terminated


def _near_threshold(obs):
    return ((np.abs(np.abs(obs[..., 0]) - cp.X_THRESHOLD) < 1e-5)
            | (np.abs(np.abs(obs[..., 2]) - cp.THETA_THRESHOLD) < 1e-5))


def test_constants_are_gymnasiums():
    env = gym.make("CartPole-v1")
    u = env.unwrapped
    assert (cp.GRAVITY, cp.MASSCART, cp.MASSPOLE, cp.LENGTH, cp.FORCE_MAG, cp.TAU) == (
        u.gravity, u.masscart, u.masspole, u.length, u.force_mag, u.tau)
    assert u.kinematics_integrator == "euler"
    assert cp.THETA_THRESHOLD == pytest.approx(u.theta_threshold_radians, abs=1e-15)
    assert cp.X_THRESHOLD == u.x_threshold
    assert cp.MAX_EPISODE_STEPS == env.spec.max_episode_steps
    assert cp.OBS_SHAPE == env.observation_space.shape
    assert cp.N_ACTIONS == env.action_space.n
    env.close()


@pytest.mark.parametrize("jit", [False, True])
def test_step_matches_gymnasium_on_identical_states_and_actions(jit):
    """Both actions from 1500 visited states (3000 steps, about 100 terminations)."""
    states, _ = _visited_states(1500, seed=0)
    states = np.concatenate([states, states])
    actions = np.repeat(np.array([0, 1]), len(states) // 2)
    env = gym.make("CartPole-v1")
    want = [_gym_step_from(env, s, int(a)) for s, a in zip(states, actions)]
    env.close()
    want_obs = np.array([w[0] for w in want])
    want_term = np.array([w[2] for w in want])
    t = np.zeros(len(states), np.int32)
    new, obs, reward, terminated, truncated = _ours(jit)(
        cp.CartPoleState(jnp.asarray(states, jnp.float32), jnp.asarray(t)),
        jnp.asarray(actions))
    assert obs.dtype == jnp.float32 and obs.shape == (len(states), 4)
    np.testing.assert_allclose(obs, want_obs, rtol=RTOL, atol=ATOL)
    np.testing.assert_array_equal(new.physics, obs)
    np.testing.assert_array_equal(reward, np.ones(len(states), np.float32))
    clear = ~_near_threshold(want_obs)
    assert want_term.sum() > 50 and clear.mean() > 0.99
    np.testing.assert_array_equal(np.asarray(terminated)[clear], want_term[clear])
    np.testing.assert_array_equal(new.t, t + 1)
    assert not np.asarray(truncated).any()


@pytest.mark.parametrize("jit", [False, True])
def test_episode_flags_match_gymnasium_over_whole_episodes(jit):
    """Follow gymnasium (with its TimeLimit) for whole episodes, one of them truncated at 500
    steps; at each step the JAX CartPole starts from gymnasium's state, keeps its own step
    counter and must report the same observation, termination and truncation."""
    step = jax.jit(cp.step) if jit else cp.step
    env = gym.make("CartPole-v1")
    rng = np.random.default_rng(1)
    flags_seen = set()
    for episode in range(4):
        _, _ = env.reset(seed=episode)
        state = cp.CartPoleState(jnp.asarray(env.unwrapped.state, jnp.float32),
                                 jnp.zeros((), jnp.int32))
        for t in range(1, 501):
            s = np.array(env.unwrapped.state)
            # episode 0 balances (truncated at 500); the others end by termination
            noise = 0.0 if episode == 0 else 0.3 * t / 20
            a = int(s[2] + 0.5 * s[3] + 0.01 * s[0] + 0.05 * s[1]
                    + noise * rng.standard_normal() > 0)
            obs, r, terminated, truncated, _ = env.step(a)
            state = state._replace(physics=jnp.asarray(s, jnp.float32))
            state, o, rj, tj, trj = step(state, jnp.int32(a))
            np.testing.assert_allclose(o, obs, rtol=RTOL, atol=ATOL)
            assert float(rj) == r == 1.0
            assert bool(trj) == truncated and int(state.t) == t
            if not _near_threshold(obs):
                assert bool(tj) == terminated
            if terminated or truncated:
                flags_seen.add("truncated" if truncated else "terminated")
                break
    env.close()
    assert flags_seen == {"truncated", "terminated"}


def test_reset_is_uniform_in_the_gymnasium_bounds():
    states, obs = jax.vmap(cp.reset)(jax.random.split(jax.random.key(0), 4000))
    obs = np.asarray(obs)
    assert obs.shape == (4000, 4) and obs.dtype == np.float32
    np.testing.assert_array_equal(states.physics, obs)
    np.testing.assert_array_equal(states.t, np.zeros(4000, np.int32))
    assert obs.min() >= -0.05 and obs.max() < 0.05
    # mean of U(-0.05, 0.05) is 0 with sd 0.05/sqrt(3) per draw: |mean| < 4.5 sd fails
    # with probability < 1e-5 per coordinate
    sd = 0.05 / math.sqrt(3) / math.sqrt(4000)
    assert np.all(np.abs(obs.mean(axis=0)) < 4.5 * sd)
    # and its variance is 0.1**2 / 12
    np.testing.assert_allclose(obs.var(axis=0), 0.1**2 / 12, rtol=0.1)


def test_reset_where_resets_only_finished_episodes():
    key = jax.random.key(3)
    states, obs = jax.vmap(cp.reset)(jax.random.split(key, 3))
    states, obs, _, _, _ = jax.vmap(cp.step)(states, jnp.array([0, 1, 0]))
    done = jnp.array([True, False, True])
    new_states, new_obs = cp.reset_where(done, jax.random.key(4), states, obs)
    np.testing.assert_array_equal(new_states.t, [0, 1, 0])
    np.testing.assert_array_equal(new_obs[1], obs[1])
    np.testing.assert_array_equal(new_states.physics, new_obs)
    assert not np.allclose(new_obs[0], obs[0]) and not np.allclose(new_obs[2], obs[2])


def test_random_rollout_episode_length_is_cartpoles():
    """Uniform random actions: mean episode length about 22 steps (gymnasium's too)."""
    episodes = int(jax.jit(cp.random_rollout, static_argnums=(1, 2))(
        jax.random.key(0), 256, 200))
    assert 18 < 256 * 200 / episodes < 27
