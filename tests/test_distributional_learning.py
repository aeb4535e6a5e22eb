"""Distributional learners (C51, QR-DQN) on a StochasticQ, checked against rlax on random
inputs to float32 tolerance: Q-learning, double Q-learning, expected SARSA, n-step bootstrap
factors, masks in the next-state choice, value transforms; plus errors and a pure update."""
import gymnasium as gym
import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import rlax

import coaxlike
from coaxlike.reward_tracing import TransitionBatch
from coaxlike.td_learning import (DoubleQLearning, ExpectedSarsa, QLearning, SoftQLearning,
                                  categorical_projection, categorical_target,
                                  quantile_huber_loss, quantile_target)
from coaxlike.value_transforms import SignedHyperbolic

# rlax's categorical losses call its own cross-entropy, which warns that it is deprecated
pytestmark = pytest.mark.filterwarnings(
    "ignore:Rlax categorical_cross_entropy:PendingDeprecationWarning")

K, N_ACTIONS, B = 11, 3, 16
RANGE = (-5.0, 5.0)


def categorical_func(S, is_training):
    x = jnp.tanh(hk.Linear(8)(S))
    return {"logits": jnp.reshape(hk.Linear(N_ACTIONS * K)(x), (-1, N_ACTIONS, K))}


def quantile_func(S, is_training):
    x = jnp.tanh(hk.Linear(8)(S))
    return {"values": 3 * jnp.reshape(hk.Linear(N_ACTIONS * K)(x), (-1, N_ACTIONS, K))}


class Env:
    observation_space = gym.spaces.Box(-1, 1, (4,), np.float32)
    action_space = gym.spaces.Discrete(N_ACTIONS)


def _batch(seed, mask=False):
    rng = np.random.default_rng(seed)
    mask_next = None
    if mask:
        mask_next = rng.random((B, N_ACTIONS)) < 0.6
        mask_next[0] = False          # no legal action: bootstraps nothing
        mask_next[1] = [True, False, False]
    return TransitionBatch.from_one_step(
        S=rng.uniform(-1, 1, (B, 4)).astype(np.float32), A=rng.integers(0, N_ACTIONS, B),
        Rn=rng.normal(0, 2, B).astype(np.float32),
        In=rng.choice([0.0, 0.9, 0.81], B).astype(np.float32),  # terminal, 1-step, 2-step
        S_next=rng.uniform(-1, 1, (B, 4)).astype(np.float32), mask_next=mask_next)


def _perturbed_copy(q, seed):
    q_targ = q.copy()
    rng = np.random.default_rng(seed)
    q_targ.params = jax.tree_util.tree_map(
        lambda x: x + jnp.asarray(rng.normal(0, 0.3, x.shape), x.dtype), q.params)
    return q_targ


def _dist(q, S):
    dp, _ = q.function_type2(q.params, q.function_state, None, jnp.asarray(S), False)
    return dp


def _loss(learner, tb):
    _, _, metrics = jax.jit(learner.grads_and_metrics)(learner.learner_state, tb,
                                                       jax.random.key(0))
    return float(metrics["loss"])


@pytest.fixture(scope="module")
def nets():
    qc = coaxlike.StochasticQ(categorical_func, Env(), RANGE, K, random_seed=0)
    qq = coaxlike.StochasticQ(quantile_func, Env(), None, K, random_seed=0)
    return {"categorical": (qc, _perturbed_copy(qc, 1)),
            "quantile": (qq, _perturbed_copy(qq, 1))}


# --- pure functions -------------------------------------------------------------------------

def test_categorical_projection_matches_rlax_on_random_inputs():
    rng = np.random.default_rng(0)
    atoms = jnp.linspace(-3., 7., 21)
    for _ in range(5):
        z = jnp.asarray(rng.uniform(-10, 12, 33), jnp.float32)  # some beyond both ends
        p = jnp.asarray(rng.dirichlet(np.ones(33)), jnp.float32)
        np.testing.assert_allclose(categorical_projection(z, p, atoms),
                                   rlax.categorical_l2_project(z, p, atoms), atol=1e-6)


def test_quantile_huber_loss_matches_rlax_and_hand_values():
    rng = np.random.default_rng(1)
    for kappa in (0.0, 1.0, 2.5):
        theta = jnp.asarray(rng.normal(0, 2, 9), jnp.float32)
        tau = jnp.asarray((2 * np.arange(9) + 1) / 18, jnp.float32)
        y = jnp.asarray(rng.normal(0, 2, 13), jnp.float32)
        np.testing.assert_allclose(quantile_huber_loss(theta, tau, y, None, kappa),
                                   rlax.quantile_regression_loss(theta, tau, y, kappa),
                                   rtol=1e-5)
    # one quantile at tau = 0.25 below a target 2 away: 0.25 * (2 - 0.5) with kappa = 1
    assert float(quantile_huber_loss(jnp.zeros(1), jnp.array([0.25]), jnp.array([2.]))) == \
        pytest.approx(0.375)


@pytest.mark.slow  # heavy compile: CI's slow stage keeps the default run under 2 min
def test_targets_with_a_value_transform_by_hand():
    h = SignedHyperbolic()
    atoms = jnp.linspace(-2., 4., 7)
    probs = jax.nn.softmax(jnp.asarray(np.random.default_rng(2).normal(size=(2, 7)),
                                       jnp.float32))
    m = categorical_target(probs, jnp.array([0., 1.]), 3.0, 0.9, atoms, h.transform_func,
                           h.inverse_func)
    z = h.transform_func(3.0 + 0.9 * h.inverse_func(atoms))
    np.testing.assert_allclose(m, rlax.categorical_l2_project(z, probs[1], atoms), atol=1e-6)
    y, w = quantile_target(jnp.ones((2, 3)), jnp.array([0.25, 0.75]), 1.0, 0.5,
                           h.transform_func, h.inverse_func)
    np.testing.assert_allclose(y, np.full(6, float(h.transform_func(1.0 + 0.5 * h.inverse_func(
        1.0)))), rtol=1e-6)
    np.testing.assert_allclose(w, [0.25 / 3] * 3 + [0.75 / 3] * 3, rtol=1e-6)


# --- learners against rlax -----------------------------------------------------------------

def _rlax_categorical(q, q_targ, tb, selector=None, probs_fn=None):
    d, d_t = _dist(q, tb.S)["logits"], _dist(q_targ, tb.S_next)["logits"]
    atoms = jnp.asarray(q.atoms)
    if probs_fn is not None:  # expected SARSA: project the mixture, cross-entropy by hand
        def one(logits, a, r, g, logits_t, pi):
            p = pi @ jax.nn.softmax(logits_t)
            m = rlax.categorical_l2_project(r + g * atoms, p, atoms)
            return -jnp.sum(m * jax.nn.log_softmax(logits[a]))
        return jax.vmap(one)(d, tb.A, tb.Rn, tb.In, d_t, probs_fn(tb.S_next))
    if selector is None:
        return jax.vmap(rlax.categorical_q_learning, (None, 0, 0, 0, 0, None, 0))(
            atoms, d, tb.A, tb.Rn, tb.In, atoms, d_t)
    return jax.vmap(rlax.categorical_double_q_learning, (None, 0, 0, 0, 0, None, 0, 0))(
        atoms, d, tb.A, tb.Rn, tb.In, atoms, d_t, selector)


def _rlax_quantile(q, q_targ, tb, selector=None, probs_fn=None):
    d, d_t = _dist(q, tb.S)["values"], _dist(q_targ, tb.S_next)["values"]
    tau = jnp.asarray(q.quantile_fractions)
    swap = lambda x: jnp.swapaxes(x, 1, 2)  # noqa: E731  rlax: (num_atoms, num_actions)
    if probs_fn is not None:
        return jax.vmap(rlax.quantile_expected_sarsa, (0, None, 0, 0, 0, 0, 0, None))(
            swap(d), tau, tb.A, tb.Rn, tb.In, swap(d_t), probs_fn(tb.S_next), 1.0)
    sel = d_t if selector is None else selector
    return jax.vmap(rlax.quantile_q_learning, (0, None, 0, 0, 0, 0, 0, None))(
        swap(d), tau, tb.A, tb.Rn, tb.In, swap(sel), swap(d_t), 1.0)


@pytest.mark.slow  # heavy compile: CI's slow stage keeps the default run under 2 min
@pytest.mark.parametrize("kind", ["categorical", "quantile"])
def test_q_learning_and_double_q_learning_match_rlax(nets, kind):
    q, q_targ = nets[kind]
    reference = _rlax_categorical if kind == "categorical" else _rlax_quantile
    tb = _batch(0)
    expected = float(jnp.mean(reference(q, q_targ, tb)))
    assert _loss(QLearning(q, q_targ=q_targ), tb) == pytest.approx(expected, rel=1e-5)
    # double: the online network selects
    online = _dist(q, tb.S_next)
    selector = (jax.nn.softmax(online["logits"]) @ q.atoms if kind == "categorical"
                else online["values"])
    expected = float(jnp.mean(reference(q, q_targ, tb, selector=selector)))
    assert _loss(DoubleQLearning(q, q_targ=q_targ), tb) == pytest.approx(expected, rel=1e-5)


@pytest.mark.slow  # heavy compile: CI's slow stage keeps the default run under 2 min
@pytest.mark.parametrize("kind", ["categorical", "quantile"])
def test_expected_sarsa_matches_rlax(nets, kind):
    q, q_targ = nets[kind]
    pi = coaxlike.BoltzmannPolicy(q_targ, temperature=0.7)
    probs_fn = lambda S: jax.nn.softmax(  # noqa: E731
        pi.logits_func(pi.params, q_targ.function_state, None, jnp.asarray(S)))
    reference = _rlax_categorical if kind == "categorical" else _rlax_quantile
    tb = _batch(1)
    expected = float(jnp.mean(reference(q, q_targ, tb, probs_fn=probs_fn)))
    assert _loss(ExpectedSarsa(q, pi, q_targ), tb) == pytest.approx(expected, rel=1e-5)


@pytest.mark.slow  # heavy compile: CI's slow stage keeps the default run under 2 min
@pytest.mark.parametrize("kind", ["categorical", "quantile"])
def test_masks_in_the_next_state_choice(nets, kind):
    """Masked actions never bootstrap: rlax's double Q-learning with a selector that is -inf
    (categorical) or very negative (quantile) on them; no legal action = terminal."""
    q, q_targ = nets[kind]
    tb = _batch(2, mask=True)
    legal = tb.mask_next.any(axis=1)
    tb_ref = tb._replace(In=np.where(legal, tb.In, 0.0).astype(np.float32))
    d_t = _dist(q_targ, tb.S_next)
    if kind == "categorical":
        means = jax.nn.softmax(d_t["logits"]) @ q.atoms
        selector = jnp.where(tb.mask_next, means, -jnp.inf)
        expected = _rlax_categorical(q, q_targ, tb_ref, selector=selector)
    else:
        selector = jnp.where(jnp.asarray(tb.mask_next)[:, :, None], d_t["values"], -1e9)
        expected = _rlax_quantile(q, q_targ, tb_ref, selector=selector)
    learner = QLearning(q, q_targ=q_targ)
    assert _loss(learner, tb) == pytest.approx(float(jnp.mean(expected)), rel=1e-5)
    # row 1 may only bootstrap from action 0, whatever the values say
    one = jax.tree_util.tree_map(lambda x: x[1:2], tb)
    S1 = np.asarray(one.S_next)
    if kind == "categorical":
        p0 = jax.nn.softmax(_dist(q_targ, S1)["logits"][0, 0])
        m = rlax.categorical_l2_project(one.Rn[0] + one.In[0] * q.atoms, p0, q.atoms)
        want = float(m @ q.atoms)
    else:
        want = float(one.Rn[0] + one.In[0] * _dist(q_targ, S1)["values"][0, 0].mean())
    pred = q(np.asarray(one.S)[0], int(one.A[0]))
    assert learner.td_error(one)[0] == pytest.approx(want - pred, rel=1e-4, abs=1e-5)


def test_update_learns_a_fixed_batch_and_pure_update_matches(nets):
    q, _ = nets["categorical"]
    q = q.copy()
    learner = QLearning(q, q_targ=q.copy())
    tb = _batch(3)
    ls0 = learner.learner_state
    new_ls, metrics = jax.jit(learner.update_func)(ls0, tb, jax.random.key(0))
    first = float(learner.update(tb)["loss"])
    assert float(metrics["loss"]) == pytest.approx(first, rel=1e-6)
    for a, b in zip(jax.tree_util.tree_leaves(new_ls.params),
                    jax.tree_util.tree_leaves(q.params)):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    for _ in range(30):
        last = float(learner.update(tb)["loss"])
    assert last < first


def test_errors(nets):
    q, q_targ = nets["categorical"]
    qq, _ = nets["quantile"]
    with pytest.raises(TypeError, match="SoftQLearning does not support a StochasticQ"):
        SoftQLearning(q)
    with pytest.raises(TypeError, match="loss_function"):
        QLearning(q, loss_function=lambda y, p, w: 0.0)
    with pytest.warns(UserWarning, match="pi_targ is ignored"):  # as on a plain Q (coax)
        QLearning(q, coaxlike.EpsilonGreedy(q, 0.1))
    pi = coaxlike.EpsilonGreedy(q, 0.1)
    for cls in (QLearning, DoubleQLearning, ExpectedSarsa):  # no Retrace on distributions
        with pytest.raises(ValueError, match="off_policy_correction must be None for "
                                             f"{cls.__name__} on a StochasticQ, got 'retrace'"):
            cls(q, pi, off_policy_correction="retrace")
    with pytest.raises(ValueError, match="q_targ"):
        QLearning(q, q_targ=qq)
    plain = coaxlike.Q(lambda S, is_training: hk.Linear(N_ACTIONS)(S), Env(), random_seed=0)
    with pytest.raises(TypeError, match="q_targ"):
        QLearning(q, q_targ=plain)


# --- learning a known return distribution ---------------------------------------------------

def _table(kind, bins):
    key = "logits" if kind == "categorical" else "values"

    def func(S, is_training):  # S: one-hot of Discrete(2) observations
        return {key: jnp.reshape(hk.Linear(2 * bins, with_bias=False,
                                           w_init=jnp.zeros)(S), (-1, 2, bins))}
    return func


@pytest.mark.parametrize("kind", ["categorical", "quantile"])
def test_learns_the_return_distribution_of_a_two_step_chain(kind):
    """State 0 -> state 1 (reward 0), then termination with reward -1 or +1 (p = 1/2 each),
    gamma = 0.5: Z(1) = +-1 and Z(0) = +-0.5. C51 on atoms -2..2 (step 0.5) puts 1/2 on each
    of the two atoms. QR-DQN's 4 quantiles (fractions 1/8..7/8) go to the minimisers of the
    quantile *Huber* loss (kappa = 1), computed by hand below: for targets +-1 a quantile
    tau < 1/2 settles at tau / (1 - tau) - 1 (linear branch for +1, quadratic for -1); state
    0's targets are 0.5 * those quantiles, all within kappa, where the minimiser is the
    tau-expectile."""
    import optax
    env = type("Chain", (), {"observation_space": gym.spaces.Discrete(2),
                             "action_space": gym.spaces.Discrete(2)})()
    bins = 9 if kind == "categorical" else 4
    q = coaxlike.StochasticQ(_table(kind, bins), env, (-2., 2.) if kind == "categorical"
                             else None, bins, random_seed=0)
    learner = QLearning(q, q_targ=q.copy(), optimizer=optax.adam(0.05))
    rng = np.random.default_rng(0)
    for step in range(300):
        first = rng.random(64) < 0.5  # half the batch: the first transition
        tb = TransitionBatch.from_one_step(
            S=np.where(first, 0, 1), A=np.zeros(64, int),
            Rn=np.where(first, 0.0, rng.choice([-1.0, 1.0], 64)).astype(np.float32),
            In=np.where(first, 0.5, 0.0).astype(np.float32), S_next=np.ones(64, int))
        learner.update(tb)
        if step % 10 == 9:
            learner.q_targ.soft_update(q, 1.0)
    for s, a in ((1, 1.0), (0, 0.5)):
        dp = q.dist_params(s, 0)
        if kind == "categorical":
            p = np.asarray(jax.nn.softmax(jnp.asarray(dp["logits"])))
            want = np.isclose(q.atoms, -a) | np.isclose(q.atoms, a)
            np.testing.assert_allclose(p[want], [0.5, 0.5], atol=0.08)
            assert p[~want].sum() < 0.1
        else:
            tau = q.quantile_fractions.astype(np.float64)
            if s == 1:
                low = tau[:2] / (1 - tau[:2]) - 1
                want = np.concatenate([low, -low[::-1]])
            else:
                want = np.array([_expectile(0.5 * want_1, t) for t in tau])
            want_1 = want
            np.testing.assert_allclose(dp["values"], want, atol=0.05)
        assert q(s, 0) == pytest.approx(0.0, abs=0.15)


def _expectile(y, tau):
    """The tau-expectile of equally likely samples y (fixed point of the weighted mean)."""
    theta = float(np.mean(y))
    for _ in range(200):
        w = np.where(y >= theta, tau, 1 - tau)
        theta = float(np.sum(w * y) / np.sum(w))
    return theta


@pytest.mark.slow  # heavy compile: CI's slow stage keeps the default run under 2 min
def test_type1_stochastic_q_learns_like_its_type2_layout():
    """A type-1 categorical StochasticQ is evaluated on every action for the next-state
    choice; its loss equals rlax's on the same (type-2 shaped) outputs."""
    def func(S, A, is_training):
        return {"logits": hk.Linear(K)(jnp.concatenate([S, A], axis=-1))}
    q = coaxlike.StochasticQ(func, Env(), RANGE, K, random_seed=0)
    q_targ = _perturbed_copy(q, 2)
    tb = _batch(4)
    expected = float(jnp.mean(_rlax_categorical(q, q_targ, tb)))
    assert _loss(QLearning(q, q_targ=q_targ), tb) == pytest.approx(expected, rel=1e-5)
