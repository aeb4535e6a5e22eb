"""Tests for coaxlike.value_transforms and Q(..., value_transform=...): exact values against
rlax and hand computations, inverse round trips (hypothesis), targets h(R + I h^-1(q'))."""
import pickle

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import rlax
from hypothesis import given, settings
from hypothesis import strategies as st

import coaxlike
from coaxlike.reward_tracing import TransitionBatch
from coaxlike.td_learning import ExpectedSarsa, QLearning
from coaxlike.value_transforms import (LogTransform, SignedHyperbolic, ValueTransform,
                                       log_transform, log_transform_inverse, signed_hyperbolic,
                                       signed_hyperbolic_inverse)

from .conftest import mlp_type1, mlp_type2

FINITE = st.floats(-1e4, 1e4, allow_nan=False, width=32)


def test_signed_hyperbolic_matches_rlax_and_float64():
    x = jnp.asarray(np.random.default_rng(0).normal(0, 50, 1000), jnp.float32)
    for eps in (1e-3, 1e-2):
        y = signed_hyperbolic(x, eps)
        np.testing.assert_allclose(y, rlax.signed_hyperbolic(x, eps), rtol=1e-6, atol=1e-6)
        # rlax's signed_parabolic loses ~1e-4 (relative) to cancellation in float32; ours
        # is checked against the float64 formula to 1e-6 and against rlax to rlax's error
        y64 = np.asarray(y, np.float64)
        root = (np.sqrt(1 + 4 * eps * (np.abs(y64) + 1 + eps)) - 1) / (2 * eps)
        exact = np.sign(y64) * (root ** 2 - 1)
        inverse = np.asarray(signed_hyperbolic_inverse(y, eps))
        np.testing.assert_allclose(inverse, exact, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(inverse, rlax.signed_parabolic(y, eps), rtol=1e-3, atol=1e-3)
    # eps = 0: (|y| + 1)^2 - 1 exactly (rlax divides by eps)
    np.testing.assert_allclose(signed_hyperbolic_inverse(jnp.array([-2., 0., 3.]), 0.0),
                               [-8., 0., 15.])


def test_log_transform_hand_values():
    # scale 2: h(6) = 2 log(1 + 3) = 2 log 4; h(-6) = -2 log 4; h(0) = 0
    np.testing.assert_allclose(log_transform(jnp.array([6., -6., 0.]), 2.0),
                               [2 * np.log(4), -2 * np.log(4), 0.0], rtol=1e-6)
    np.testing.assert_allclose(log_transform_inverse(jnp.float32(2 * np.log(4)), 2.0), 6.0,
                               rtol=1e-5)


@settings(max_examples=200, deadline=None)
@given(FINITE, st.sampled_from([LogTransform(), LogTransform(0.1), LogTransform(30.0),
                                SignedHyperbolic(), SignedHyperbolic(0.0),
                                SignedHyperbolic(0.1)]))
def test_inverse_round_trip(x, h):
    x = np.float32(x)
    y = h.transform_func(x)
    assert float(h.inverse_func(y)) == pytest.approx(float(x), rel=2e-5, abs=2e-5)
    # increasing and odd
    assert float(h.transform_func(np.float32(x + 1))) > float(y)
    assert float(h.transform_func(-x)) == pytest.approx(-float(y), rel=1e-6, abs=1e-7)


def test_pair_unpacking_pickle_and_repr():
    h = LogTransform(scale=3.0)
    f, f_inv = h
    assert f is h.transform_func and f_inv is h.inverse_func
    assert pickle.loads(pickle.dumps(h)).scale == 3.0
    assert repr(SignedHyperbolic(0.01)) == "SignedHyperbolic(eps=0.01)"


@pytest.mark.parametrize("bad, error", [
    (0.0, ValueError), (-1.0, ValueError), (float("nan"), ValueError), (float("inf"), ValueError),
    ("1", TypeError), (True, TypeError), (None, TypeError)])
def test_log_transform_rejects_bad_scale(bad, error):
    with pytest.raises(error, match="^scale must be a finite float > 0, got"):
        LogTransform(scale=bad)


@pytest.mark.parametrize("bad, error", [
    (-1e-3, ValueError), (float("nan"), ValueError), ("x", TypeError)])
def test_signed_hyperbolic_rejects_bad_eps(bad, error):
    with pytest.raises(error, match="^eps must be a finite float >= 0, got"):
        SignedHyperbolic(eps=bad)


def test_value_transform_rejects_non_callables():
    with pytest.raises(TypeError, match="inverse_func"):
        ValueTransform(lambda x: x, 3)


# --- on Q -----------------------------------------------------------------------------------

def test_q_returns_untransformed_values_policies_see_transformed(cartpole):
    h = LogTransform()
    plain = coaxlike.Q(mlp_type2(2), cartpole, random_seed=1)
    q = coaxlike.Q(mlp_type2(2), cartpole, None, None, h, 1)  # coax's positional order
    s, _ = cartpole.reset(seed=0)
    raw = plain(s)  # same network and seed: the raw network output
    np.testing.assert_allclose(q(s), h.inverse_func(raw), rtol=1e-6)
    assert q(s, 1) == pytest.approx(float(h.inverse_func(raw[1])), rel=1e-6)
    pi = coaxlike.BoltzmannPolicy(q, temperature=0.5)
    np.testing.assert_allclose(pi.dist_params(s)["logits"], raw / 0.5, rtol=1e-6)


def test_q_rejects_bad_value_transform(cartpole):
    with pytest.raises(TypeError, match="value_transform"):
        coaxlike.Q(mlp_type2(2), cartpole, value_transform=3)


def test_fingerprint_names_the_transform(cartpole, tmp_path):
    q = coaxlike.Q(mlp_type2(2), cartpole, value_transform=LogTransform(2.0), random_seed=0)
    path = q.serialize(tmp_path / "q")
    coaxlike.Q.deserialize(path, mlp_type2(2), cartpole, value_transform=LogTransform(2.0))
    with pytest.raises(ValueError):
        coaxlike.Q.deserialize(path, mlp_type2(2), cartpole, value_transform=LogTransform(1.0))


@pytest.mark.parametrize("func", [mlp_type2(2), mlp_type1()], ids=["type2", "type1"])
def test_learner_targets_apply_the_transform(cartpole, func):
    h = SignedHyperbolic()
    q = coaxlike.Q(func, cartpole, value_transform=h, random_seed=0)
    q_targ = q.copy()
    rng = np.random.default_rng(0)
    tb = TransitionBatch.from_one_step(
        S=rng.normal(size=(5, 4)).astype(np.float32), A=rng.integers(0, 2, 5),
        Rn=rng.normal(0, 30, 5).astype(np.float32), In=np.array([.9, 0, .9, .81, .9], np.float32),
        S_next=rng.normal(size=(5, 4)).astype(np.float32))
    net = lambda qq, S: np.asarray(qq.function_type2(  # noqa: E731
        qq.params, qq.function_state, None, jnp.asarray(S), False)[0])
    q_next = np.asarray(h.inverse_func(net(q_targ, tb.S_next)))
    pred = net(q, tb.S)[np.arange(5), tb.A]
    G = np.asarray(h.transform_func(tb.Rn + tb.In * q_next.max(axis=1)))
    learner = QLearning(q, q_targ=q_targ)
    np.testing.assert_allclose(learner.td_error(tb), G - pred, rtol=1e-5, atol=1e-5)
    # expected SARSA: the expectation is taken over untransformed values
    pi = coaxlike.EpsilonGreedy(q_targ, 0.3)
    p_all = np.stack([np.exp(np.asarray(jax.nn.log_softmax(jnp.asarray(
        pi.dist_params(s)["logits"])))) for s in np.asarray(tb.S_next)])
    G = np.asarray(h.transform_func(tb.Rn + tb.In * (p_all * q_next).sum(axis=1)))
    np.testing.assert_allclose(ExpectedSarsa(q, pi, q_targ).td_error(tb), G - pred,
                               rtol=1e-5, atol=1e-5)


def test_transform_and_stochastic_q_mean(cartpole):
    h = LogTransform()

    def func(S, is_training):
        return {"logits": jnp.reshape(hk.Linear(2 * 5)(S), (-1, 2, 5))}
    q = coaxlike.StochasticQ(func, cartpole, (-10., 10.), 5, value_transform=h, random_seed=0)
    np.testing.assert_allclose(q.atoms, np.linspace(h.transform_func(-10.),
                                                    h.transform_func(10.), 5), rtol=1e-6)
    s, _ = cartpole.reset(seed=0)
    p = np.asarray(jax.nn.softmax(jnp.asarray(q.dist_params(s)["logits"])))
    np.testing.assert_allclose(q(s), h.inverse_func(p @ q.atoms), rtol=1e-5, atol=1e-6)
    values = {round(float(q.sample(s, 0)), 3) for _ in range(30)}
    assert values <= {round(float(h.inverse_func(z)), 3) for z in q.atoms}
