"""Tests for coaxlike.StochasticQ: construction checks, means against hand computations,
distrax sampling, type-1/type-2 agreement, vector envs, copy/soft_update, serialization, and
the policies acting on its mean."""
import gymnasium as gym
import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import coaxlike

from ._stats import count_compiles

K = 5


def categorical_type2(S, is_training):
    return {"logits": jnp.reshape(hk.Linear(2 * K)(S), (-1, 2, K))}


def quantile_type2(S, is_training):
    return {"values": jnp.reshape(hk.Linear(2 * K)(S), (-1, 2, K))}


def categorical_type1(S, A, is_training):
    return {"logits": hk.Linear(K)(jnp.concatenate([S, A], axis=-1))}


def quantile_type1(S, A, is_training):
    return {"values": hk.Linear(K)(jnp.concatenate([S, A], axis=-1))}


@pytest.fixture(scope="module")
def env():
    return gym.make("CartPole-v1")


@pytest.fixture(scope="module")
def qs(env):
    """One categorical and one quantile StochasticQ (built once: construction compiles)."""
    return {"categorical": coaxlike.StochasticQ(categorical_type2, env, (-2., 2.), K,
                                                random_seed=0),
            "quantile": coaxlike.StochasticQ(quantile_type2, env, num_bins=K, random_seed=0)}


def _probs(logits):
    return np.asarray(jax.nn.softmax(jnp.asarray(logits), axis=-1))


def test_categorical_atoms_mean_mode_and_dist_params(env, qs):
    q = qs["categorical"]
    assert q.kind == "categorical" and q.num_bins == K and q.quantile_fractions is None
    np.testing.assert_allclose(q.atoms, [-2., -1., 0., 1., 2.])
    s, _ = env.reset(seed=1)
    logits = q.dist_params(s)["logits"]
    assert logits.shape == (2, K)
    mean = _probs(logits) @ q.atoms
    np.testing.assert_allclose(q(s), mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(q.mean(s), mean, rtol=1e-5, atol=1e-6)
    assert q(s, 1) == pytest.approx(float(mean[1]), rel=1e-5, abs=1e-6)
    np.testing.assert_array_equal(q.mode(s), q.atoms[np.argmax(logits, axis=-1)])
    assert q.dist_params(s, 0)["logits"].shape == (K,)


def test_quantile_fractions_mean_and_no_mode(env, qs):
    q = qs["quantile"]
    assert q.kind == "quantile" and q.atoms is None
    np.testing.assert_allclose(q.quantile_fractions, [0.1, 0.3, 0.5, 0.7, 0.9], rtol=1e-6)
    s, _ = env.reset(seed=1)
    dp = q.dist_params(s)
    np.testing.assert_allclose(dp["quantile_fractions"][1], q.quantile_fractions)
    np.testing.assert_allclose(q(s), dp["values"].mean(axis=-1), rtol=1e-5, atol=1e-6)
    with pytest.raises(TypeError, match="mode"):
        q.mode(s)


def test_sampling_frequencies_follow_the_distribution(env, qs):
    """600 draws of action 0's value; chi-square with 4 dof, threshold 18.47 (false-failure
    rate 0.001; fixed seed)."""
    q = qs["categorical"]
    s, _ = env.reset(seed=2)
    p = _probs(q.dist_params(s, 0)["logits"])
    draws = [q.sample(s, 0, return_logp=True) for _ in range(600)]
    values = np.array([v for v, _ in draws])
    counts = np.array([np.sum(np.isclose(values, z)) for z in q.atoms])
    assert counts.sum() == 600
    chi2 = np.sum((counts - 600 * p) ** 2 / (600 * p))
    assert chi2 < 18.47
    # exact log-propensities of the drawn atoms
    for v, logp in draws[:20]:
        assert logp == pytest.approx(float(np.log(p[np.isclose(q.atoms, v)][0])), rel=1e-5)
    # quantile: each quantile equally likely
    v, logp = qs["quantile"].sample(s, return_logp=True)
    assert v.shape == (2,) and np.allclose(logp, -np.log(K))


@pytest.mark.parametrize("kind", ["categorical", "quantile"])
def test_type1_agrees_with_type2_layout(env, kind):
    func = categorical_type1 if kind == "categorical" else quantile_type1
    value_range = (-2., 2.) if kind == "categorical" else None
    q = coaxlike.StochasticQ(func, env, value_range, K, random_seed=0)
    assert q.modeltype == 1
    s, _ = env.reset(seed=3)
    key = "logits" if kind == "categorical" else "values"
    both = q.dist_params(s)[key]
    assert both.shape == (2, K)
    np.testing.assert_allclose(q.dist_params(s, 1)[key], both[1], rtol=1e-5)
    np.testing.assert_allclose(q(s)[1], q(s, 1), rtol=1e-5)


def test_vector_env_batches(qs):
    venv = gym.make_vec("CartPole-v1", 3)
    q = coaxlike.StochasticQ(categorical_type2, venv, (-2., 2.), K, random_seed=0)
    S, _ = venv.reset(seed=0)
    values = q(S)
    assert values.shape == (3, 2)
    # the same parameters give the same values as the single-env Q, row by row
    single = qs["categorical"]
    for s, v in zip(S, values):
        np.testing.assert_allclose(single(s), v, rtol=1e-5, atol=1e-6)
    assert q(S, np.array([0, 1, 0])).shape == (3,)
    assert q.sample(S).shape == (3, 2)
    assert q.dist_params(S)["logits"].shape == (3, 2, K)
    venv.close()


def test_constructor_errors(env):
    with pytest.raises(ValueError, match="value_range"):
        coaxlike.StochasticQ(categorical_type2, env, (2., -2.), K)
    with pytest.raises(ValueError, match="value_range"):
        coaxlike.StochasticQ(categorical_type2, env, (0., float("inf")), K)
    with pytest.raises(TypeError, match="value_range must be a pair of floats"):
        coaxlike.StochasticQ(categorical_type2, env, "ab", K)
    with pytest.raises(TypeError, match="value_range must be a pair of floats"):
        coaxlike.StochasticQ(categorical_type2, env, ("-1", 1), K)
    with pytest.raises(TypeError, match="num_bins"):
        coaxlike.StochasticQ(categorical_type2, env, (0., 1.), 5.0)
    with pytest.raises(ValueError, match="num_bins"):
        coaxlike.StochasticQ(categorical_type2, env, (0., 1.), 1)
    # a func returning the wrong thing: TypeError, as coax (and as Q)
    with pytest.raises(TypeError, match=r"'logits' of shape"):
        coaxlike.StochasticQ(categorical_type2, env, (0., 1.), K + 1)
    with pytest.raises(TypeError, match="must return {'logits'"):
        coaxlike.StochasticQ(quantile_type2, env, (0., 1.), K)
    with pytest.raises(TypeError, match="must return {'values'"):
        coaxlike.StochasticQ(categorical_type2, env, None, K)
    with pytest.raises(TypeError, match="func must return a dict of distribution parameters"):
        coaxlike.StochasticQ(lambda S, is_training: hk.Linear(2)(S), env, (0., 1.), K)
    with pytest.raises(TypeError, match="func must return floating-point 'logits'"):
        coaxlike.StochasticQ(lambda S, is_training: {"logits": jnp.zeros((S.shape[0], 2, K),
                                                                         jnp.int32)},
                             env, (0., 1.), K)
    with pytest.raises(TypeError, match="Discrete"):
        coaxlike.StochasticQ(categorical_type2, gym.make("Pendulum-v1"), (0., 1.), K)


def test_copy_soft_update_and_setters(qs):
    q = qs["categorical"]
    q_targ = q.copy()
    assert q_targ.kind == q.kind and q_targ.params is not q.params
    zero = jax.tree_util.tree_map(jnp.zeros_like, q.params)
    q_targ.params = zero
    q_targ.soft_update(q, 0.25)
    for a, b in zip(jax.tree_util.tree_leaves(q_targ.params),
                    jax.tree_util.tree_leaves(q.params)):
        np.testing.assert_allclose(a, 0.25 * np.asarray(b), rtol=1e-6)
    with pytest.raises(ValueError, match="tau"):
        q_targ.soft_update(q, 1.5)
    with pytest.raises((TypeError, ValueError), match="params"):
        q_targ.params = {"linear": {"w": jnp.zeros(3)}}


def test_serialization_round_trip_and_refusal(env, qs, tmp_path):
    q = qs["quantile"]
    path = q.serialize(tmp_path / "zq")
    q2 = coaxlike.StochasticQ.deserialize(path, quantile_type2, env, num_bins=K, random_seed=5)
    s, _ = env.reset(seed=4)
    np.testing.assert_array_equal(q2(s), q(s))
    with pytest.raises(ValueError):  # another distribution: the fingerprint differs
        coaxlike.StochasticQ.deserialize(path, categorical_type2, env, (-2., 2.), K)


@pytest.mark.slow  # heavy compile: CI's slow stage keeps the default run under 2 min
@pytest.mark.parametrize("kind", ["categorical", "quantile"])
def test_policies_act_on_the_mean(env, qs, kind):
    q = qs[kind]
    s, _ = env.reset(seed=5)
    mean = q(s)
    pi = coaxlike.BoltzmannPolicy(q, temperature=0.3)
    np.testing.assert_allclose(pi.dist_params(s)["logits"], mean / 0.3, rtol=1e-5, atol=1e-6)
    eps = coaxlike.EpsilonGreedy(q, epsilon=0.2)
    greedy = int(np.argmax(mean))
    assert eps.mode(s) == greedy
    a, logp = eps(s, return_logp=True)
    assert logp == pytest.approx(np.log(0.9 if a == greedy else 0.1), rel=1e-5)
    assert eps.log_proba(s, 1 - greedy) == pytest.approx(np.log(0.1), rel=1e-5)
    mask = np.array([greedy == 1, greedy == 0])  # only the non-greedy action allowed
    assert eps(s, action_mask=mask) == 1 - greedy
    A, logP = jax.jit(eps.sample_func)(eps.params, q.function_state, jax.random.key(0),
                                       jnp.asarray(s)[None])
    assert A.shape == (1,) and logP.shape == (1,)


def test_epsilon_change_does_not_recompile(env, qs):
    pi = coaxlike.EpsilonGreedy(qs["categorical"], epsilon=0.1)
    s, _ = env.reset(seed=6)
    pi(s)
    with count_compiles() as compiles:
        for eps in (0.2, 0.3, 0.4):
            pi.epsilon = eps
            pi(s)
    assert compiles[0] == 0


def test_pickle_round_trip(env, qs):
    import pickle
    q = qs["quantile"]
    q2 = pickle.loads(pickle.dumps(q))
    s, _ = env.reset(seed=7)
    np.testing.assert_array_equal(q2(s), q(s))
    np.testing.assert_array_equal(q2.dist_params(s)["values"], q.dist_params(s)["values"])
    assert q2.kind == "quantile" and q2.mean_func_type2 is not None
