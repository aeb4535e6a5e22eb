"""A round of draws (coaxlike/policies/_rounds.py): the keys and noise of many draws drawn in
one call give, bit for bit, the actions, log-propensities, errors and final key of as many
calls of the policy."""
import gymnasium as gym
import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import coaxlike
from coaxlike.policies import _pure, _rounds
from .conftest import FakeEnv
from .test_policies import identity_q

POLICIES = {"eps0.3": lambda q: coaxlike.EpsilonGreedy(q, 0.3),
            "boltzmann": lambda q: coaxlike.BoltzmannPolicy(q, 0.5)}


def observations(rng, steps, vector):
    """Q-values (the identity Q's observations) with ties: halves in [-1, 1]."""
    shape = (steps, 3, 4) if vector else (steps, 4)
    return (rng.integers(-2, 3, size=shape) / 2).astype(np.float32)


@pytest.mark.parametrize("masked", [False, True], ids=["nomask", "mask"])
@pytest.mark.parametrize("vector", [False, True], ids=["single", "vector"])
@pytest.mark.parametrize("make", POLICIES.values(), ids=POLICIES.keys())
def test_a_round_draws_what_the_calls_draw(make, vector, masked):
    rng = np.random.default_rng(1)
    steps = 30
    S = observations(rng, steps, vector)
    masks = rng.random(S.shape) < 0.7 if masked else [None] * steps
    if masked:
        masks[..., 2] = True  # an allowed action in every row
    pi, calls = make(identity_q(vector=vector, start=1)), make(identity_q(vector=vector, start=1))
    assert _rounds.usable(pi)
    rnd = _rounds.Round(pi, S[0], steps + 7)  # longer than used: the draws use a prefix
    for i in range(steps):
        a, logp = rnd.finish(rnd.start(S[i], i, masks[i]), True)
        a_call, logp_call = calls(S[i], return_logp=True, action_mask=masks[i])
        np.testing.assert_array_equal(a, a_call)
        np.testing.assert_array_equal(logp, logp_call)
        assert type(a) is type(a_call) and type(logp) is type(logp_call)
    key = jax.random.key_data(pi._key)
    rnd.end()
    assert not np.array_equal(key, jax.random.key_data(pi._key))  # moved on by 30 draws
    np.testing.assert_array_equal(jax.random.key_data(pi._key),
                                  jax.random.key_data(calls._key))


@pytest.mark.parametrize("vector", [False, True], ids=["single", "vector"])
def test_a_draw_that_fails_leaves_the_key_after_the_draws_that_passed(vector):
    rng = np.random.default_rng(2)
    S = observations(rng, 6, vector)
    S[4, ..., 1] = np.nan  # a non-finite Q-value at the fifth draw
    pi = coaxlike.EpsilonGreedy(identity_q(vector=vector), 0.5)
    calls = coaxlike.EpsilonGreedy(identity_q(vector=vector), 0.5)
    rnd = _rounds.Round(pi, S[0], 6)
    for i in range(4):
        rnd.finish(rnd.start(S[i], i), False)
        calls(S[i])
    with pytest.raises(ValueError, match="finite"):
        rnd.finish(rnd.start(S[4], 4), False)
    with pytest.raises(ValueError, match="finite"):
        calls(S[4])
    rnd.end()
    np.testing.assert_array_equal(jax.random.key_data(pi._key),
                                  jax.random.key_data(calls._key))
    rnd.end()  # a second end() changes nothing
    np.testing.assert_array_equal(jax.random.key_data(pi._key),
                                  jax.random.key_data(calls._key))


_round_noise = jax.jit(_rounds.round_noise, static_argnums=(1, 2, 3))
_draw_from_logits, _draw_from_uniform = (jax.jit(_pure._draw_from_logits),
                                         jax.jit(_rounds.draw_from_uniform))


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2 ** 31 - 1), batch=st.sampled_from([1, 3]), n=st.sampled_from([2, 5]),
       special=st.sampled_from([None, -np.inf, np.nan, np.inf]))
def test_draw_from_uniform_is_distrax_sample_and_log_prob(seed, batch, n, special):
    """Against the policies' own sampler (distrax's sample_and_log_prob under rng_a), both
    compiled: logits with -inf (impossible actions), NaN, +inf and large values."""
    rng = np.random.default_rng(seed)
    logits = (rng.normal(size=(batch, n)) * rng.choice([1.0, 30.0])).astype(np.float32)
    if special is not None:
        logits[rng.random((batch, n)) < 0.3] = special
    keys, noise = _round_noise(jax.random.key(seed), 3, (batch, n), jnp.float32)
    key = jax.random.key(seed)
    for i in range(3):
        key, _, rng_a = jax.random.split(key, 3)
        np.testing.assert_array_equal(jax.random.key_data(keys[i]), jax.random.key_data(key))
        want = _draw_from_logits(logits, rng_a)
        got = _draw_from_uniform(logits, noise[i])
        jax.tree_util.tree_map(np.testing.assert_array_equal, got, want)


def test_a_network_that_draws_random_numbers_keeps_the_plain_calls():
    env = FakeEnv(gym.spaces.Box(-1, 1, (3,), np.float32), gym.spaces.Discrete(3))

    def dropout_func(S, is_training):
        return hk.dropout(hk.next_rng_key(), 0.5, hk.Linear(3)(S))
    pi = coaxlike.EpsilonGreedy(coaxlike.Q(dropout_func, env, random_seed=0), 0.1)
    assert pi.q.uses_rng and not _rounds.usable(pi)
    assert _rounds.usable(coaxlike.EpsilonGreedy(identity_q(), 0.1))
