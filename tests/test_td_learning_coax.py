"""coax-compatible surface of the TD learners: constructor order, loss functions, Sarsa, both
double-Q variants (hand values and rlax), the default n-step target against the opt-in
Retrace correction, ``update(tb, return_td_error=True)``, coax's warnings and errors."""
import inspect
import math

import chex
import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import rlax

import coaxlike
from coaxlike.td_learning import (
    DoubleQLearning, ExpectedSarsa, QLearning, Sarsa, SoftQLearning, retrace_target)
from coaxlike.value_losses import huber, mse

from .conftest import FakeEnv
from .test_td_learning import ONE_STEP, WINDOW, linear_q, make_batch

f32 = np.float32


# --- constructors as coax's -------------------------------------------------------------------

COAX_PARAMETERS = {
    QLearning: ["q", "pi_targ", "q_targ", "optimizer", "loss_function", "policy_regularizer"],
    DoubleQLearning: ["q", "pi_targ", "q_targ", "optimizer", "loss_function",
                      "policy_regularizer"],
    ExpectedSarsa: ["q", "pi_targ", "q_targ", "optimizer", "loss_function",
                    "policy_regularizer"],
    Sarsa: ["q", "q_targ", "optimizer", "loss_function", "policy_regularizer"],
    SoftQLearning: ["q", "q_targ", "optimizer", "loss_function", "policy_regularizer",
                    "temperature"],
}


@pytest.mark.parametrize("cls", list(COAX_PARAMETERS), ids=lambda c: c.__name__)
def test_positional_parameters_are_coaxs_and_extras_keyword_only(cls):
    params = inspect.signature(cls).parameters.values()
    positional = [p.name for p in params if p.kind is p.POSITIONAL_OR_KEYWORD]
    assert positional == COAX_PARAMETERS[cls]
    assert all(p.kind is p.KEYWORD_ONLY for p in params if p.name not in positional)


def test_coax_style_positional_calls():
    q = linear_q()
    q_targ = q.copy()
    soft = SoftQLearning(q, q_targ, optax.sgd(1.0), mse, None, 0.5)
    assert soft.q_targ is q_targ and soft.temperature == 0.5 and soft.loss_function is mse
    assert Sarsa(q, q_targ, optimizer=optax.sgd(1.0)).q_targ is q_targ
    pi = coaxlike.EpsilonGreedy(q_targ, 0.1)
    assert ExpectedSarsa(q, pi, q_targ).pi_targ is pi
    assert QLearning(q, q_targ=q_targ).loss_function is huber  # coax's default


@pytest.mark.parametrize("cls", [QLearning, DoubleQLearning])
def test_pi_targ_without_correction_is_ignored_with_coaxs_warning(cls):
    q = linear_q()
    q_targ = q.copy()
    with pytest.warns(UserWarning, match="pi_targ is ignored, because action space is discrete"):
        learner = cls(q, coaxlike.EpsilonGreedy(q_targ, 0.1), q_targ)
    assert learner.pi_targ is None
    np.testing.assert_array_equal(learner.td_error(make_batch(**ONE_STEP)),
                                  cls(q, q_targ=q_targ).td_error(make_batch(**ONE_STEP)))


def test_coax_errors():
    q = linear_q()
    with pytest.raises(TypeError, match=r"pi_targ must be a Policy, got: .*"):
        DoubleQLearning(q, q.copy())
    with pytest.raises(TypeError, match="pi_targ must be provided"):
        ExpectedSarsa(q, None, q.copy())
    box = FakeEnv(gym.spaces.Box(-1, 1, (3,), np.float32), gym.spaces.Box(-1, 1, (2,)))
    q_box = coaxlike.Q(lambda S, A, is_training: jnp.sum(S, -1) + jnp.sum(A, -1), box,
                       random_seed=0)
    for cls in (SoftQLearning, ExpectedSarsa, Sarsa):
        with pytest.raises(NotImplementedError,
                           match=f"{cls.__name__} class is only implemented for discrete"):
            cls(q_box, None)
    for cls in (QLearning, DoubleQLearning):
        # coax asks for the policy that would pick the next continuous action ...
        with pytest.raises(TypeError, match=r"^pi_targ must be provided if action space is "
                           r"not discrete \(on Box\("):
            cls(q_box, q_targ=q_box.copy())
        # ... which coaxlike does not provide either way
        with pytest.raises(NotImplementedError,
                           match=f"{cls.__name__} class is only implemented for discrete"):
            cls(q_box, coaxlike.EpsilonGreedy(q, 0.1), q_box.copy())
    with pytest.raises(NotImplementedError, match="policy_regularizer is not supported"):
        Sarsa(q, policy_regularizer=object())


def test_q_targ_is_q_is_refused():
    q = linear_q()
    for make in (lambda: QLearning(q, q_targ=q), lambda: Sarsa(q, q),
                 lambda: SoftQLearning(q, q)):
        with pytest.raises(ValueError, match=r"q_targ must be a separate.*q\.copy\(\)"):
            make()


def test_off_policy_correction_arguments():
    q = linear_q()
    with pytest.raises(ValueError, match="off_policy_correction='retrace' needs pi_targ"):
        QLearning(q, off_policy_correction="retrace")
    with pytest.raises(ValueError, match="off_policy_correction must be one of"):
        QLearning(q, coaxlike.EpsilonGreedy(q), off_policy_correction="tree-backup")


# --- loss functions -----------------------------------------------------------------------------

@pytest.mark.parametrize("loss, hand", [
    (mse, lambda td, w: np.mean(w * 0.5 * td ** 2)),
    (huber, lambda td, w: np.mean(w * np.where(np.abs(td) <= 1, 0.5 * td ** 2,
                                               np.abs(td) - 0.5))),
])
def test_learner_uses_its_loss_function(loss, hand):
    q = linear_q()
    batch = make_batch(S=[[1, 2, 3], [0, 0, 1]], A=[1, 2], Rn=[1.0, 0.2], In=[0.9, 0.0],
                       S_next=[[2, 5, 1], [1, 1, 1]], W=[1.0, 3.0])
    learner = QLearning(q, loss_function=loss, optimizer=optax.sgd(0.0))
    td = np.array([1 + 0.9 * 5 - 2, 0.2 - 1], f32)  # G - q(s, a)
    assert float(learner.update(batch)["loss"]) == pytest.approx(hand(td, np.array([1.0, 3.0])),
                                                                 rel=1e-6)


# --- double Q-learning: both variants ---------------------------------------------------------

# online q(s) = s, target q(s) = s * [3, 1, 1]; s_next = [2, 5, 1]: online [2, 5, 1],
# target [6, 5, 1]; q(s, a) = 2
@pytest.mark.parametrize("select_with, want_G", [
    ("online", 1 + 0.9 * 5),  # van Hasselt: online argmax = 1, valued 5 by the target
    ("target", 1 + 0.9 * 2),  # coax: target argmax = 0, valued 2 by the online network
])
def test_double_q_variants_hand_values(select_with, want_G):
    learner = DoubleQLearning(linear_q(), q_targ=linear_q(w=np.diag([3.0, 1.0, 1.0])),
                              select_with=select_with)
    assert learner.td_error(make_batch(**ONE_STEP))[0] == pytest.approx(want_G - 2, rel=1e-6)


def test_double_q_coax_variant_averages_tied_target_maxima():
    # target q(s) = s * [1, 1, 0]: at s_next = [4, 4, 1] the target ties actions 0 and 1;
    # online values there [4, 4, 1]... use online w = diag(1, 3, 1): [4, 12, 1] -> mean 8
    learner = DoubleQLearning(linear_q(w=np.diag([1.0, 3.0, 1.0])),
                              q_targ=linear_q(w=np.diag([1.0, 1.0, 0.0])),
                              select_with="target")
    batch = make_batch(S=[[1, 0, 0]], A=[0], Rn=[0.5], In=[0.5], S_next=[[4, 4, 1]])
    assert learner.td_error(batch)[0] == pytest.approx(0.5 + 0.5 * 8 - 1, rel=1e-6)


@pytest.mark.parametrize("select_with", ["online", "target"])
def test_double_q_variants_match_rlax(select_with):
    rng = np.random.default_rng(3)
    w_online, w_target = rng.normal(size=(2, 3, 3))
    q, q_targ = linear_q(w=w_online), linear_q(w=w_target)
    B = 16
    S, S_next = rng.normal(size=(2, B, 3)).astype(f32)
    A = rng.integers(0, 3, B)
    Rn = rng.normal(size=B).astype(f32)
    In = np.where(rng.random(B) < 0.2, 0.0, 0.9).astype(f32)
    td = DoubleQLearning(q, q_targ=q_targ, select_with=select_with).td_error(
        make_batch(S=S, A=A, Rn=Rn, In=In, S_next=S_next))
    online_next, target_next = S_next @ w_online, S_next @ w_target
    value, selector = ((target_next, online_next) if select_with == "online"
                       else (online_next, target_next))
    want = jax.vmap(rlax.double_q_learning)(S @ w_online, A, Rn, In, value, selector)
    np.testing.assert_allclose(td, want, rtol=1e-5, atol=1e-5)


def test_double_q_select_with_is_checked_and_fingerprinted():
    q = linear_q()
    with pytest.raises(ValueError, match="select_with must be 'online' or 'target'"):
        DoubleQLearning(q, select_with="both")
    a, b = (DoubleQLearning(q, select_with=s)._serial_static() for s in ("online", "target"))
    assert a != b


# --- SARSA --------------------------------------------------------------------------------------

def test_sarsa_hand_values_and_rlax():
    q, q_targ = linear_q(), linear_q(w=np.diag([3.0, 1.0, 1.0]))
    # s_next = [2, 5, 1]: target values [6, 5, 1]; A_next = 2 -> 1; terminated row ignores it
    batch = make_batch(S=[[1, 2, 3]] * 3, A=[1, 1, 0], Rn=[1.0, 1.0, 0.5], In=[0.9, 0.9, 0.0],
                       S_next=[[2, 5, 1]] * 3)._replace(A_next=np.array([2, 0, 1]))
    td = Sarsa(q, q_targ).td_error(batch)
    np.testing.assert_allclose(td, [1 + 0.9 * 1 - 2, 1 + 0.9 * 6 - 2, 0.5 - 1], rtol=1e-6)
    want = jax.vmap(rlax.sarsa)(np.array([[1, 2, 3]] * 3, f32), np.array([1, 1, 0]),
                                np.array([1.0, 1.0, 0.5], f32), np.array([0.9, 0.9, 0.0], f32),
                                np.array([[6, 5, 1]] * 3, f32), np.array([2, 0, 1]))
    np.testing.assert_allclose(td, want, rtol=1e-6)


def test_sarsa_with_action_start_and_update():
    q = linear_q(start=1)
    batch = make_batch(S=[[1, 2, 3]], A=[2], Rn=[1.0], In=[0.5],
                       S_next=[[2, 5, 1]])._replace(A_next=np.array([3]))  # index 2 -> 1
    sarsa = Sarsa(q, optimizer=optax.sgd(0.1))
    assert sarsa.td_error(batch)[0] == pytest.approx(1 + 0.5 * 1 - 2)
    before = q.params["linear"]["w"]
    sarsa.update(batch)
    assert not np.array_equal(q.params["linear"]["w"], before)


def test_sarsa_coax_style_with_the_tracer():
    """coax's loop: NStep records A_next, Sarsa bootstraps from it."""
    from coaxlike.reward_tracing import NStep
    q = linear_q()
    tracer = NStep(n=1, gamma=0.9)
    steps = [([1, 2, 3], 1, 1.0), ([2, 5, 1], 2, 0.5), ([0, 1, 0], 0, 2.0)]
    for s, a, r in steps:
        tracer.add(np.array(s, f32), a, r, False)
    batch = tracer.flush()
    np.testing.assert_array_equal(batch.A_next, [2, 0])
    # q = identity: G_0 = 1 + 0.9 * q([2, 5, 1], 2) = 1.9, G_1 = 0.5 + 0.9 * q([0, 1, 0], 0)
    np.testing.assert_allclose(Sarsa(q).td_error(batch), [1.9 - 2, 0.5 - 1], rtol=1e-6)


# --- default n-step target vs the opt-in Retrace correction -------------------------------------

def _three_step_window(logP_seq):
    # q = identity; s_0 = [1, 0, 2], a_0 = 2; s_1 = [0, 3, 1], a_1 = 1; s_2 = [2, 1, 0],
    # a_2 = 0; s_3 = [1, 4, 0]; r = [1, 0.5, 2], gamma = 0.9
    r = np.array([1.0, 0.5, 2.0])
    return make_batch(
        S=[[1, 0, 2]], A=[2], Rn=[r @ 0.9 ** np.arange(3)], In=[0.9 ** 3], S_next=[[1, 4, 0]],
        S_seq=[[[1, 0, 2], [0, 3, 1], [2, 1, 0], [1, 4, 0]]], A_seq=[[2, 1, 0]],
        R_seq=[r], gamma_seq=[[0.9] * 3], valid_seq=[[1, 1, 1]], logP_seq=logP_seq)


@pytest.mark.parametrize("cls", [QLearning, ExpectedSarsa])
def test_default_n_step_target_is_coaxs_and_retrace_is_opt_in(cls):
    q = linear_q()
    pi = coaxlike.EpsilonGreedy(q, 0.3)  # greedy prob 0.8, others 0.1
    batch = _three_step_window(np.log([[0.5, 0.2, 0.5]]))
    Rn, In = 1 + 0.45 + 2 * 0.81, 0.729
    v = (lambda s: max(s)) if cls is QLearning else (
        lambda s: 0.8 * max(s) + 0.1 * (sum(s) - max(s)))
    coax_G = Rn + In * v([1, 4, 0])
    default = cls(q, pi) if cls is ExpectedSarsa else cls(q)
    assert default.td_error(batch)[0] == pytest.approx(coax_G - 2, rel=1e-6)
    # Retrace: q(s_k, a_k) = [2, 3, 2], v(s_k+1), pi(a_k|s_k) = [0.8, 0.8, 0.8]
    want = retrace_target(
        jnp.array([2.0, 3.0, 2.0]), jnp.array([v([0, 3, 1]), v([2, 1, 0]), v([1, 4, 0])]),
        jnp.array([1.0, 0.5, 2.0]), jnp.full(3, 0.9), jnp.ones(3), jnp.log(jnp.full(3, 0.8)),
        jnp.log(jnp.array([0.5, 0.2, 0.5])), 0.7)
    retrace = cls(q, pi, off_policy_correction="retrace", lambda_=0.7)
    got = retrace.td_error(batch)[0]
    assert got == pytest.approx(float(want) - 2, rel=1e-6)
    assert abs(got - (coax_G - 2)) > 0.1  # the correction changes the target here


def test_retrace_on_unrecorded_log_propensities_raises():
    q = linear_q()
    learner = ExpectedSarsa(q, coaxlike.EpsilonGreedy(q, 0.3), off_policy_correction="retrace")
    batch = _three_step_window([[np.nan, np.nan, np.nan]])  # what a tracer without logp gives
    params = q.params
    with pytest.raises(ValueError, match=r"logP_seq must be recorded.*row 0, index \(1,\)"):
        learner.update(batch)
    chex.assert_trees_all_equal(q.params, params)
    # the default target does not read log-propensities: the same batch is fine
    assert np.isfinite(ExpectedSarsa(q, coaxlike.EpsilonGreedy(q, 0.3)).td_error(batch)).all()


# --- update(tb, return_td_error=True) ---------------------------------------------------------

def test_update_returns_td_error_before_the_step():
    q, q2 = linear_q(), linear_q()
    batch = make_batch(S=[[1, 2, 3], [0, 0, 1]], A=[1, 2], Rn=[1.0, 0.2], In=[0.9, 0.0],
                       S_next=[[2, 5, 1], [1, 1, 1]])
    learner, twin = (QLearning(qq, optimizer=optax.sgd(0.1)) for qq in (q, q2))
    td_before = learner.td_error(batch)
    metrics, td = learner.update(batch, return_td_error=True)
    assert isinstance(td, np.ndarray) and td.shape == (2,) and td.dtype == np.float32
    np.testing.assert_allclose(td, td_before, rtol=1e-6)
    assert float(metrics["td_error_mean"]) == pytest.approx(td.mean(), rel=1e-6)
    twin.update(batch)  # the same step as without td errors
    chex.assert_trees_all_close(q.params, q2.params, rtol=1e-6)
    assert not math.isclose(float(learner.td_error(batch)[0]), float(td[0]))


# --- the pure SARSA target ------------------------------------------------------------------

@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_batched_sarsa_target_matches_rlax(jit):
    from coaxlike.td_learning import batched_sarsa_target, sarsa_target
    rng = np.random.default_rng(5)
    q_tm1, q_t = rng.normal(size=(2, 8, 4)).astype(f32)
    a_tm1, a_t = rng.integers(0, 4, (2, 8))
    r_t = rng.normal(size=8).astype(f32)
    discount_t = np.where(rng.random(8) < 0.25, 0.0, 0.9).astype(f32)
    target = jax.jit(batched_sarsa_target) if jit else batched_sarsa_target
    G = target(r_t, discount_t, q_t, a_t)
    want = jax.vmap(rlax.sarsa)(q_tm1, a_tm1, r_t, discount_t, q_t, a_t)
    np.testing.assert_allclose(G - q_tm1[np.arange(8), a_tm1], want, rtol=1e-6)
    assert float(sarsa_target(f32(1.0), f32(0.5), jnp.array([2.0, 4.0]), 1)) == 3.0
