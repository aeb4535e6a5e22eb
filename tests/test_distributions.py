"""Exact values of the pure logits builders, with and without jit, and their invariants."""
import distrax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from coaxlike.distributions import boltzmann_logits, epsilon_greedy_logits, greedy_index
from ._stats import assert_frequencies

JIT = pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])


def probs_of(builder, q, hp, mask=None, jit=False):
    f = jax.jit(builder) if jit else builder
    q = jnp.asarray(q, jnp.float32)
    logits = f(q, jnp.float32(hp), None if mask is None else jnp.asarray(mask))
    return np.asarray(jnp.exp(jax.nn.log_softmax(logits)))


@JIT
@pytest.mark.parametrize("q, eps, mask, expected", [
    # unique maximum: 0.2/4 everywhere, plus 0.8 on the greedy action
    ([1., 3., 2., 0.], 0.2, None, [0.05, 0.85, 0.05, 0.05]),
    # a tie of two splits the greedy mass: 0.05 + 0.8/2
    ([1., 3., 3., 0.], 0.2, None, [0.05, 0.45, 0.45, 0.05]),
    # all tied: uniform whatever epsilon is
    ([2., 2., 2., 2.], 0.3, None, [0.25, 0.25, 0.25, 0.25]),
    # epsilon 0: greedy only, the others exactly 0
    ([1., 3., 2., 0.], 0.0, None, [0., 1., 0., 0.]),
    ([1., 3., 3., 0.], 0.0, None, [0., 0.5, 0.5, 0.]),
    # epsilon 1: uniform
    ([1., 3., 2., 0.], 1.0, None, [0.25, 0.25, 0.25, 0.25]),
    # mask: the best action (index 1) is masked; greedy among allowed = {2, 3} tied;
    # epsilon 0.3 spread over 3 allowed actions = 0.1 each, 0.7/2 = 0.35 on each greedy
    ([1., 5., 3., 3.], 0.3, [True, False, True, True], [0.1, 0., 0.45, 0.45]),
    # a single allowed action gets everything
    ([1., 5., 3., 3.], 0.3, [False, False, True, False], [0., 0., 1., 0.]),
])
def test_epsilon_greedy_exact(q, eps, mask, expected, jit):
    p = probs_of(epsilon_greedy_logits, q, eps, mask, jit)
    np.testing.assert_allclose(p, expected, rtol=1e-6, atol=0)
    assert np.all((p == 0) == (np.asarray(expected) == 0)), "zero probabilities must be exact"


@JIT
def test_epsilon_greedy_logits_are_log_probabilities(jit):
    f = jax.jit(epsilon_greedy_logits) if jit else epsilon_greedy_logits
    logits = f(jnp.array([1., 3., 2., 0.]), 0.2)
    np.testing.assert_allclose(np.asarray(logits), np.log([0.05, 0.85, 0.05, 0.05]), rtol=1e-6)


@JIT
def test_boltzmann_exact(jit):
    q, t = np.array([1., 2., 4.]), 0.5
    e = np.exp(q / t)
    np.testing.assert_allclose(probs_of(boltzmann_logits, q, t, jit=jit), e / e.sum(),
                               rtol=1e-5)
    # masking action 2 renormalises over {0, 1}
    p = probs_of(boltzmann_logits, q, t, [True, True, False], jit)
    np.testing.assert_allclose(p, [e[0] / e[:2].sum(), e[1] / e[:2].sum(), 0.], rtol=1e-5)
    assert p[2] == 0.0


@JIT
@pytest.mark.parametrize("builder, hp", [(epsilon_greedy_logits, 0.1),
                                         (boltzmann_logits, 1.0)])
def test_nonfinite_allowed_values_give_nan_rows(builder, hp, jit):
    f = jax.jit(builder) if jit else builder
    q = jnp.array([[1., jnp.nan, 0.], [1., jnp.inf, 0.], [-jnp.inf, 1., 2.], [1., 2., 0.]])
    logits = np.asarray(f(q, hp, None))
    # the bad entries are NaN, so each bad row's log-probabilities are NaN throughout
    np.testing.assert_array_equal(np.isnan(logits), [[0, 1, 0], [0, 1, 0], [1, 0, 0],
                                                     [0, 0, 0]])
    logp = np.asarray(jax.nn.log_softmax(logits))
    assert np.isnan(logp[:3]).all() and np.isfinite(logp[3]).all()
    for seed in range(20):
        with jax.numpy_rank_promotion("allow"):  # distrax broadcasts by rank promotion
            _, logP = distrax.Categorical(logits=logits).sample_and_log_prob(
                seed=jax.random.key(seed))
        # NaN, or -inf where the sampler returned an out-of-range index for the NaN row
        assert not np.isfinite(np.asarray(logP)[:3]).any() and np.isfinite(float(logP[3]))
    # a non-finite value under a masked action is irrelevant
    masked = np.asarray(f(q, hp, jnp.array([True, False, True])))
    assert not np.isnan(masked[[0, 1, 3]]).any() and np.isnan(masked[2]).any()


def test_batched_rows_are_independent_of_each_other():
    q = jnp.array([[1., 3., 2.], [0., 0., 0.]])
    mask = jnp.array([[True, True, True], [True, False, True]])
    p = np.exp(np.asarray(jax.nn.log_softmax(epsilon_greedy_logits(q, 0.3, mask))))
    np.testing.assert_allclose(p, [[0.1, 0.8, 0.1], [0.5, 0.0, 0.5]], rtol=1e-6)


@pytest.mark.slow  # heavy compile: CI's slow stage keeps the default run under 2 min
def test_epsilon_zero_gives_no_nan_in_entropy_or_gradients():
    q = jnp.array([1., 3., 2.])
    logits = epsilon_greedy_logits(q, 0.0)
    assert float(distrax.Categorical(logits=logits).entropy()) == 0.0
    g = jax.grad(lambda qq, e: distrax.Categorical(
        logits=epsilon_greedy_logits(qq, e)).log_prob(1), argnums=(0, 1))(q, 0.0)
    assert all(np.isfinite(np.asarray(x)).all() for x in g)
    g = jax.grad(lambda qq: distrax.Categorical(
        logits=boltzmann_logits(qq, 1.0, jnp.array([True, False, True]))).log_prob(0))(q)
    # allowed {0, 2}: p0 = e^1 / (e^1 + e^2) = 1 / (1 + e); d log p0 / dq = onehot(0) - p
    p0 = 1 / (1 + np.e)
    np.testing.assert_allclose(np.asarray(g), [1 - p0, 0., -(1 - p0)],
                               rtol=1e-5)


@JIT
@pytest.mark.slow  # statistical
def test_greedy_index_breaks_ties_uniformly(jit):
    f = jax.jit(greedy_index) if jit else greedy_index
    q = jnp.broadcast_to(jnp.array([1., 3., 0., 3., 3.]), (30000, 5))
    idx = np.asarray(f(q, jax.random.key(0)))
    assert_frequencies(idx, [0, 1 / 3, 0, 1 / 3, 1 / 3])


@JIT
def test_greedy_index_picks_tied_maxima_respects_masks_and_marks_nan(jit):
    f = jax.jit(greedy_index) if jit else greedy_index
    q = jnp.broadcast_to(jnp.array([1., 3., 0., 3., 3.]), (200, 5))
    assert set(np.asarray(f(q, jax.random.key(0))).tolist()) == {1, 3, 4}
    masked = np.asarray(f(q, jax.random.key(1), jnp.array([True, False, True, True, False])))
    assert (masked == 3).all()
    assert int(f(jnp.array([jnp.nan, 0.]), jax.random.key(0))) == -1


# compiled once per shape: run eagerly, every example paid for dozens of small dispatches
_epsilon_greedy_logits = jax.jit(epsilon_greedy_logits)
_boltzmann_logits = jax.jit(boltzmann_logits)


@settings(max_examples=60, deadline=None)
@given(q=hnp.arrays(np.float32, st.integers(1, 7),
                    elements=st.sampled_from([-1.0, 0.0, 0.5, 2.0, 2.5])),
       eps=st.floats(0.0, 1.0),
       data=st.data())
def test_epsilon_greedy_invariants(q, eps, data):
    mask = data.draw(hnp.arrays(bool, q.shape))
    mask[data.draw(st.integers(0, len(q) - 1))] = True  # at least one allowed
    p = np.exp(np.asarray(jax.nn.log_softmax(_epsilon_greedy_logits(q, eps, mask)),
                          np.float64))
    assert abs(p.sum() - 1.0) < 1e-5
    assert (p[~mask] == 0).all()
    best = q[mask].max()
    greedy = mask & (q == best)
    # every greedy action gets the same probability, at least that of any allowed action
    np.testing.assert_allclose(p[greedy], p[greedy][0], rtol=1e-6)
    assert (p[mask] <= p[greedy][0] + 1e-6).all()
    np.testing.assert_allclose(p[greedy][0], eps / mask.sum() + (1 - eps) / greedy.sum(),
                               rtol=1e-5)


@settings(max_examples=60, deadline=None)
@given(q=hnp.arrays(np.float32, st.integers(1, 7), elements=st.floats(-10, 10, width=32)),
       temperature=st.floats(0.05, 10.0), data=st.data())
def test_boltzmann_invariants(q, temperature, data):
    mask = data.draw(hnp.arrays(bool, q.shape))
    mask[data.draw(st.integers(0, len(q) - 1))] = True
    p = np.exp(np.asarray(jax.nn.log_softmax(_boltzmann_logits(q, temperature, mask)),
                          np.float64))
    assert abs(p.sum() - 1.0) < 1e-5
    assert (p[~mask] == 0).all()
    # order of probabilities follows order of values among allowed actions
    allowed = np.flatnonzero(mask)
    order_q, order_p = q[allowed], p[allowed]
    for i in range(len(allowed)):
        for j in range(len(allowed)):
            if order_q[i] > order_q[j]:
                assert order_p[i] >= order_p[j]
