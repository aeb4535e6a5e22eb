"""Tests for coaxlike.td_learning: pure targets (hand-computed, with and without jit) and the
learner shells (targets through real networks, updates, compilation counts, errors)."""
import json
import math

import chex
import gymnasium as gym
import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import coaxlike
from coaxlike.distributions import epsilon_greedy_logits
from coaxlike.reward_tracing import TransitionBatch
from coaxlike.td_learning import (
    DoubleQLearning, ExpectedSarsa, LearnerState, QLearning, SoftQLearning,
    batched_q_learning_target, batched_retrace_target, double_q_learning_target,
    expected_sarsa_target, q_learning_target, retrace_target, soft_q_learning_target,
    sync_target)

from ._stats import count_compiles
from .conftest import FakeEnv

JIT = pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
f32 = np.float32


def maybe_jit(fn, jit):
    return jax.jit(fn) if jit else fn


# --- pure targets ---------------------------------------------------------------------------

@JIT
def test_q_learning_target_one_step_n_step_termination_truncation(jit):
    target = maybe_jit(q_learning_target, jit)
    q_t = jnp.array([1.0, 3.0, 2.0])
    # one step: 1 + 0.9 * max(1, 3, 2) = 3.7
    assert float(target(f32(1.0), f32(0.9), q_t)) == pytest.approx(3.7)
    # terminated: In = 0, the target is the reward alone
    assert float(target(f32(1.0), f32(0.0), q_t)) == pytest.approx(1.0)
    # 2-step, truncated (bootstraps): Rn = 1 + 0.9 * 0.5 = 1.45, In = 0.81 -> 1.45 + 2.43
    assert float(target(f32(1.45), f32(0.81), q_t)) == pytest.approx(3.88)


@JIT
def test_batched_q_learning_target(jit):
    target = maybe_jit(batched_q_learning_target, jit)
    out = target(jnp.array([1.0, 1.45]), jnp.array([0.0, 0.81]),
                 jnp.array([[1.0, 3.0, 2.0], [1.0, 3.0, 2.0]]), None)
    np.testing.assert_allclose(out, [1.0, 3.88], rtol=1e-6)


@JIT
def test_masked_action_with_huge_value_is_ignored(jit):
    q_t = jnp.array([1.0, 1e6, 2.0])
    mask = jnp.array([True, False, True])
    probs = jnp.exp(epsilon_greedy_logits(q_t, 0.2, mask))
    # every target sees max / argmax / soft-max over {1, 2} only
    assert float(maybe_jit(q_learning_target, jit)(f32(1), f32(.9), q_t, mask)) \
        == pytest.approx(1 + 0.9 * 2)
    assert float(maybe_jit(double_q_learning_target, jit)(f32(1), f32(.9), q_t, q_t, mask)) \
        == pytest.approx(1 + 0.9 * 2)
    # epsilon-greedy over 2 legal actions: probs [0.1, 0, 0.9] -> E = 0.1 + 1.8 = 1.9
    assert float(maybe_jit(expected_sarsa_target, jit)(f32(1), f32(.9), q_t, probs)) \
        == pytest.approx(1 + 0.9 * 1.9)
    assert float(maybe_jit(soft_q_learning_target, jit)(f32(1), f32(.9), q_t, f32(1), mask)) \
        == pytest.approx(1 + 0.9 * math.log(math.exp(1) + math.exp(2)), rel=1e-6)


@JIT
def test_fully_masked_row_with_termination_is_finite(jit):
    q_t = jnp.array([1.0, 2.0])
    none = jnp.array([False, False])
    probs = jnp.exp(epsilon_greedy_logits(q_t, 0.1, none))  # all zero
    outs = [maybe_jit(q_learning_target, jit)(f32(1), f32(0), q_t, none),
            maybe_jit(double_q_learning_target, jit)(f32(1), f32(0), q_t, q_t, none),
            maybe_jit(expected_sarsa_target, jit)(f32(1), f32(0), q_t, probs),
            maybe_jit(soft_q_learning_target, jit)(f32(1), f32(0), q_t, f32(1), none)]
    assert [float(x) for x in outs] == [1.0, 1.0, 1.0, 1.0]


@JIT
def test_double_q_selects_with_online_values_with_target(jit):
    target = maybe_jit(double_q_learning_target, jit)
    q_value = jnp.array([1.0, 3.0, 2.0])     # target network
    q_selector = jnp.array([5.0, 0.0, 1.0])  # online network: argmax is action 0
    assert float(target(f32(1), f32(.9), q_value, q_selector)) == pytest.approx(1 + 0.9 * 1.0)
    # without action 0 the online argmax is action 2, valued 2.0 by the target network
    mask = jnp.array([False, True, True])
    assert float(target(f32(1), f32(.9), q_value, q_selector, mask)) \
        == pytest.approx(1 + 0.9 * 2.0)


@JIT
def test_expected_sarsa_under_epsilon_greedy(jit):
    q_t = jnp.array([1.0, 3.0, 2.0])
    probs = jnp.exp(epsilon_greedy_logits(q_t, 0.3))
    # probs = 0.3/3 everywhere + 0.7 on action 1 = [0.1, 0.8, 0.1]
    np.testing.assert_allclose(probs, [0.1, 0.8, 0.1], rtol=1e-6)
    # E = 0.1*1 + 0.8*3 + 0.1*2 = 2.7 -> 1 + 0.9 * 2.7 = 3.43
    out = maybe_jit(expected_sarsa_target, jit)(f32(1), f32(.9), q_t, probs)
    assert float(out) == pytest.approx(3.43)


@JIT
def test_soft_q_target(jit):
    # tau = 0.5, q / tau = [0, ln 3] -> tau * log(1 + 3) = 0.5 * ln 4 = ln 2
    q_t = jnp.array([0.0, 0.5 * math.log(3.0)])
    out = maybe_jit(soft_q_learning_target, jit)(f32(1), f32(.9), q_t, f32(0.5))
    assert float(out) == pytest.approx(1 + 0.9 * math.log(2.0), rel=1e-6)


def _retrace_example(**override):
    """A 3-step window; pi(a_k|s_k) = [-, 0.5, 0.2], mu(a_k|s_k) = [-, 0.25, 0.4]."""
    args = dict(q_a_seq=jnp.array([1.0, 2.0, 0.5]), v_seq=jnp.array([1.5, 1.0, 4.0]),
                r_seq=jnp.array([1.0, 0.0, 2.0]), discount_seq=jnp.array([0.9, 0.9, 0.9]),
                valid_seq=jnp.ones(3), log_pi_seq=jnp.log(jnp.array([1.0, 0.5, 0.2])),
                log_mu_seq=jnp.log(jnp.array([0.5, 0.25, 0.4])), lambda_=f32(0.8))
    args.update(override)
    return args


@JIT
def test_retrace_hand_computed(jit):
    retrace = maybe_jit(retrace_target, jit)
    # c_1 = 0.8 * min(1, 0.5 / 0.25) = 0.8;  c_2 = 0.8 * min(1, 0.2 / 0.4) = 0.4
    # weights: w_0 = 1, w_1 = 0.9 * 0.8 = 0.72, w_2 = 0.72 * 0.9 * 0.4 = 0.2592
    # delta_0 = 1 + 0.9 * 1.5 - 1 = 1.35
    # delta_1 = 0 + 0.9 * 1.0 - 2 = -1.1
    # delta_2 = 2 + 0.9 * 4.0 - 0.5 = 5.1
    # G = 1 + 1.35 + 0.72 * (-1.1) + 0.2592 * 5.1 = 1 + 1.35 - 0.792 + 1.32192 = 2.87992
    assert float(retrace(**_retrace_example())) == pytest.approx(2.87992, rel=1e-6)
    # terminated after step 1 (K = 2, step 2 is padding with a garbage q-value):
    # gamma_1 = 0, so delta_1 = 0 + 0 * 1.0 - 2 = -2 and w_2 = 0:
    # G = 1 + 1.35 + 0.72 * (-2) = 0.91
    term = _retrace_example(discount_seq=jnp.array([0.9, 0.0, 0.0]),
                            valid_seq=jnp.array([1.0, 1.0, 0.0]),
                            q_a_seq=jnp.array([1.0, 2.0, 1e6]))
    assert float(retrace(**term)) == pytest.approx(0.91, rel=1e-6)
    # truncated after step 1: gamma_1 = 0.9 bootstraps through v(s_2) = 1.0 in delta_1,
    # and the padding step contributes nothing: again 1.558
    trunc = dict(term, discount_seq=jnp.array([0.9, 0.9, 0.0]))
    assert float(retrace(**trunc)) == pytest.approx(1.558, rel=1e-6)


@JIT
def test_retrace_special_cases(jit):
    retrace = maybe_jit(retrace_target, jit)
    ex = _retrace_example()
    one_step = 1.0 + 0.9 * 1.5  # r_0 + gamma_0 v(s_1)
    # lambda = 0: the one-step target
    assert float(retrace(**dict(ex, lambda_=f32(0)))) == pytest.approx(one_step)
    # a window of one step: the one-step target
    assert float(retrace(**{k: (v[:1] if k != "lambda_" else v) for k, v in ex.items()})) \
        == pytest.approx(one_step)
    # c == 1 (pi == mu, lambda = 1): sum_k Gamma_k r_k + Gamma_3 v(s_3)
    #   + sum_{k=1,2} Gamma_k (v(s_k) - q(s_k, a_k))
    # = (1 + 0 + 0.81 * 2) + 0.729 * 4 + 0.9 * (1.5 - 2) + 0.81 * (1.0 - 0.5)
    # = 2.62 + 2.916 - 0.45 + 0.405 = 5.491
    on_policy = dict(ex, log_pi_seq=ex["log_mu_seq"], lambda_=f32(1))
    assert float(retrace(**on_policy)) == pytest.approx(5.491, rel=1e-6)
    # ... and when q(s_k, a_k) = v(s_k) the corrections vanish: the n-step expected-SARSA
    # target Rn + In v(s_3) with Rn = 2.62, In = 0.729
    consistent = dict(on_policy, q_a_seq=jnp.array([1.0, 1.5, 1.0]))
    assert float(retrace(**consistent)) == pytest.approx(2.62 + 0.729 * 4.0, rel=1e-6)


@JIT
def test_batched_retrace_matches_rows(jit):
    rows = [_retrace_example(), _retrace_example(lambda_=f32(0.8), r_seq=jnp.zeros(3))]
    stacked = {k: jnp.stack([r[k] for r in rows]) for k in rows[0] if k != "lambda_"}
    out = maybe_jit(batched_retrace_target, jit)(*stacked.values(), f32(0.8))
    want = [float(retrace_target(**r)) for r in rows]
    np.testing.assert_allclose(out, want, rtol=1e-6)


# --- learners: fixtures ---------------------------------------------------------------------

def linear_q(n=3, start=0, seed=0, w=None):
    """A type-2 Q without bias on Box(3,) observations; w = identity makes q(s) = s."""
    env = FakeEnv(gym.spaces.Box(-100, 100, (n,), np.float32), gym.spaces.Discrete(n, start=start))
    q = coaxlike.Q(lambda S, is_training: hk.Linear(n, with_bias=False)(S), env,
                   random_seed=seed)
    q.params = {"linear": {"w": jnp.eye(n) if w is None else jnp.asarray(w, jnp.float32)}}
    return q


def make_batch(S, A, Rn, In, S_next, *, S_seq=None, A_seq=None, R_seq=None, gamma_seq=None,
               valid_seq=None, logP_seq=None, mask_next=None, mask_seq=None, W=None):
    S, S_next = np.asarray(S, f32), np.asarray(S_next, f32)
    A, Rn, In = np.asarray(A), np.asarray(Rn, f32), np.asarray(In, f32)
    B = A.shape[0]
    if S_seq is None:  # one-step window
        S_seq, A_seq, R_seq, gamma_seq = np.stack([S, S_next], 1), A[:, None], Rn[:, None], \
            In[:, None]
        valid_seq, logP_seq = np.ones((B, 1), f32), np.zeros((B, 1), f32)
    return TransitionBatch(
        S=S, A=A, logP=np.zeros(B, f32), Rn=Rn, In=In, S_next=S_next, mask_next=mask_next,
        A_seq=np.asarray(A_seq), logP_seq=np.asarray(logP_seq, f32),
        R_seq=np.asarray(R_seq, f32), gamma_seq=np.asarray(gamma_seq, f32),
        valid_seq=np.asarray(valid_seq, f32), S_seq=np.asarray(S_seq, f32),
        mask_seq=mask_seq, W=np.ones(B, f32) if W is None else np.asarray(W, f32),
        idx=np.zeros(B, np.int32))


# online q(s) = s; target q(s) = s * [3, 1, 1]
# s = [1, 2, 3], a = 1 -> q(s, a) = 2;  s_next = [2, 5, 1]: online [2, 5, 1], target [6, 5, 1]
ONE_STEP = dict(S=[[1, 2, 3]], A=[1], Rn=[1.0], In=[0.9], S_next=[[2, 5, 1]])


@pytest.mark.parametrize("cls, want_G", [
    (QLearning, 1 + 0.9 * 6),        # max of target values
    (DoubleQLearning, 1 + 0.9 * 5),  # online argmax = 1, valued 5 by the target
    (SoftQLearning, 1 + 0.9 * math.log(math.exp(6) + math.exp(5) + math.exp(1))),
])
def test_learner_one_step_td_error(cls, want_G):
    q = linear_q()
    q_targ = linear_q(w=np.diag([3.0, 1.0, 1.0]))
    td = cls(q, q_targ=q_targ).td_error(make_batch(**ONE_STEP))
    assert td.shape == (1,) and td.dtype == np.float32
    assert td[0] == pytest.approx(want_G - 2.0, rel=1e-5)


def test_learner_termination_and_truncation():
    q = linear_q()
    batch = make_batch(S=[[1, 2, 3]] * 2, A=[1, 1], Rn=[1.0, 1.0], In=[0.0, 0.81],
                       S_next=[[2, 5, 1]] * 2)
    # terminated: G = 1; truncated 2-step: G = 1 + 0.81 * 5
    np.testing.assert_allclose(QLearning(q).td_error(batch), [1 - 2, 1 + 0.81 * 5 - 2],
                               rtol=1e-6)


def test_learner_expected_sarsa_and_action_start():
    q = linear_q(start=1)
    pi = coaxlike.EpsilonGreedy(q, 0.3)
    batch = make_batch(**dict(ONE_STEP, A=[2]))  # env action 2 = index 1
    # probs at s_next [2, 5, 1]: [0.1, 0.8, 0.1] -> E = 0.2 + 4 + 0.1 = 4.3; G = 1 + 3.87
    assert ExpectedSarsa(q, pi).td_error(batch)[0] == pytest.approx(4.87 - 2.0, rel=1e-6)


def test_learner_ignores_masked_next_actions():
    q = linear_q()
    mask = np.array([[True, False, True], [False, False, False]])
    batch = make_batch(S=[[1, 2, 3]] * 2, A=[1, 1], Rn=[1.0, 1.0], In=[0.9, 0.0],
                       S_next=[[2, 1e6, 1]] * 2, mask_next=mask)
    for learner in (QLearning(q), DoubleQLearning(q), SoftQLearning(q),
                    ExpectedSarsa(q, coaxlike.EpsilonGreedy(q, 0.2))):
        td = learner.td_error(batch)
        assert np.isfinite(td).all()
        assert td[1] == pytest.approx(1.0 - 2.0)  # fully masked, terminated: G = r
        assert abs(td[0]) < 10, type(learner).__name__  # the 1e6 action is not used


# A 2-step window, q = q_targ = identity, pi_targ epsilon-greedy(0.2) over q_targ:
# s_0 = [1, 2, 3], a_0 = 2 (q = 3); s_1 = [4, 1, 0], a_1 = 0 (q = 4); s_2 = [0, 2, 1]
# r = [1, 2], gamma = [0.9, 0.9], behaviour mu(a_k) = 0.5
# pi(.|s_1) = [13/15, 1/15, 1/15], pi(.|s_2) = [1/15, 13/15, 1/15], pi(a_1|s_1) = 13/15
WINDOW = dict(S=[[1, 2, 3]], A=[2], Rn=[1 + 0.9 * 2], In=[0.81], S_next=[[0, 2, 1]],
              S_seq=[[[1, 2, 3], [4, 1, 0], [0, 2, 1]]], A_seq=[[2, 0]], R_seq=[[1, 2]],
              gamma_seq=[[0.9, 0.9]], valid_seq=[[1, 1]], logP_seq=np.log([[0.5, 0.5]]))


@pytest.mark.parametrize("cls, correction, want_G", [
    # c_1 = 0.5 * min(1, (13/15) / 0.5) = 0.5
    # expected SARSA: v(s_1) = 4 * 13/15 + 1/15 = 53/15, v(s_2) = 2 * 13/15 + 1/15 = 1.8
    #   delta_0 = 1 + 0.9 * 53/15 - 3 = 1.18, delta_1 = 2 + 0.9 * 1.8 - 4 = -0.38
    #   G = 3 + 1.18 + 0.9 * 0.5 * (-0.38) = 4.009
    (ExpectedSarsa, "retrace", 4.009),
    # default (coax's target): Rn + In E_pi q(s_2) = 2.8 + 0.81 * 1.8 = 4.258
    (ExpectedSarsa, None, 4.258),
    # Q-learning with Retrace: v = max: delta_0 = 1 + 3.6 - 3 = 1.6, delta_1 = 2 + 1.8 - 4
    #   = -0.2;  G = 3 + 1.6 + 0.45 * (-0.2) = 4.51
    (QLearning, "retrace", 4.51),
    # default: plain 2-step Rn + In max q(s_2) = 2.8 + 0.81 * 2 = 4.42
    (QLearning, None, 4.42),
])
def test_learner_retrace_window(cls, correction, want_G):
    q = linear_q()
    q_targ = q.copy()
    pi = coaxlike.EpsilonGreedy(q_targ, 0.2)
    if correction is None and cls is QLearning:
        pi = None  # QLearning ignores pi_targ without a correction (tested elsewhere)
    learner = cls(q, pi, q_targ, off_policy_correction=correction, lambda_=0.5)
    assert learner.td_error(make_batch(**WINDOW))[0] == pytest.approx(want_G - 3.0, rel=1e-5)


def test_pi_targ_over_online_own_or_target_q_agree():
    q = linear_q()
    q_targ, q_own = q.copy(), q.copy()
    batch = make_batch(**WINDOW)
    tds = [ExpectedSarsa(q, coaxlike.EpsilonGreedy(qq, 0.2), q_targ,
                         off_policy_correction="retrace").td_error(batch)
           for qq in (q, q_targ, q_own)]
    np.testing.assert_allclose(tds[0], tds[1], rtol=1e-6)
    np.testing.assert_allclose(tds[0], tds[2], rtol=1e-6)


def test_type1_q_matches_type2():
    q2 = linear_q()
    q1 = coaxlike.Q(lambda S, A, is_training: jnp.sum(hk.Linear(3, with_bias=False)(S) * A,
                                                      axis=-1),
                    FakeEnv(q2.observation_space, q2.action_space), random_seed=0)
    q1.params = q2.params
    batch = make_batch(**ONE_STEP)
    np.testing.assert_allclose(QLearning(q1).td_error(batch), QLearning(q2).td_error(batch))


# --- learners: training ---------------------------------------------------------------------

def random_batch(seed=0, B=32):
    r = np.random.default_rng(seed)
    return make_batch(S=r.normal(size=(B, 3)), A=r.integers(0, 3, B), Rn=r.normal(size=B),
                      In=r.choice([0.0, 0.9], B), S_next=r.normal(size=(B, 3)))


@pytest.mark.parametrize("cls", [QLearning, DoubleQLearning, SoftQLearning])
def test_update_reduces_td_error(cls):
    q = linear_q(w=np.random.default_rng(1).normal(size=(3, 3)))
    learner = cls(q, q_targ=q.copy(), optimizer=optax.adam(0.05))
    batch = random_batch()
    before = np.abs(learner.td_error(batch)).mean()
    metrics = [learner.update(batch) for _ in range(30)]
    after = np.abs(learner.td_error(batch)).mean()
    assert after < 0.7 * before
    assert set(metrics[0]) == {"loss", "td_error_mean", "td_error_abs_mean",
                               "td_error_abs_max", "grad_norm"}
    assert float(metrics[-1]["loss"]) < float(metrics[0]["loss"])
    assert float(metrics[0]["td_error_abs_mean"]) == pytest.approx(before, rel=1e-5)


def test_importance_weights_scale_loss():
    q = linear_q()
    batch = random_batch()
    q2 = q.copy()
    loss1 = float(QLearning(q).update(batch)["loss"])
    loss2 = float(QLearning(q2).update(batch._replace(W=2 * batch.W))["loss"])
    assert loss2 == pytest.approx(2 * loss1, rel=1e-5)


def test_update_compiles_once_with_changing_hyperparameters():
    q = linear_q()
    q_targ = q.copy()
    pi = coaxlike.EpsilonGreedy(q_targ, 0.5)
    learner = ExpectedSarsa(q, pi, q_targ, off_policy_correction="retrace", lambda_=0.9)
    soft = SoftQLearning(q, q_targ=q_targ)
    batch = make_batch(**WINDOW)
    with count_compiles() as n:  # the counter sees the warm-up compilations
        learner.update(batch), soft.update(batch)
        q_targ.soft_update(q, 0.1)
    assert n[0] > 0
    schedule = optax.linear_schedule(0.5, 0.0, 10)
    schedule(0)
    with count_compiles() as n:
        for step in range(10):
            pi.epsilon = schedule(step)
            learner.lambda_ = 0.9 - 0.05 * step
            soft.temperature = 1.0 + step
            learner.update(batch), soft.update(batch)
            q_targ.soft_update(q, 0.1)
    assert n[0] == 0, f"{n[0]} compilations in repeated updates"


def test_epsilon_schedule_does_not_recompile_policy():
    q = linear_q()
    pi = coaxlike.EpsilonGreedy(q, 1.0)
    s = np.array([1.0, 2.0, 3.0], f32)
    schedule = optax.linear_schedule(1.0, 0.05, 10)
    pi.epsilon = schedule(0)
    pi(s)
    with count_compiles() as n:
        for step in range(1, 10):
            pi.epsilon = schedule(step)
            pi(s)
    assert n[0] == 0, f"{n[0]} compilations while following the schedule"
    assert pi.epsilon == pytest.approx(0.05 + 0.95 / 10)


def test_pure_update_func_in_scan_matches_shell():
    q = linear_q(w=np.random.default_rng(1).normal(size=(3, 3)))
    shell, pure = QLearning(q.copy(), q_targ=q.copy()), QLearning(q, q_targ=q.copy())
    batch = jax.tree_util.tree_map(jnp.asarray, random_batch())

    def step(ls, rng):
        return pure.update_func(ls, batch, rng)

    ls, metrics = jax.jit(lambda ls, keys: jax.lax.scan(step, ls, keys))(
        pure.learner_state, jax.random.split(jax.random.key(0), 5))
    assert isinstance(ls, LearnerState) and metrics["loss"].shape == (5,)
    for _ in range(5):
        shell.update(batch)
    np.testing.assert_allclose(ls.params["linear"]["w"], shell.q.params["linear"]["w"],
                               rtol=1e-5)
    pure.learner_state = ls  # written back through the validating setters
    np.testing.assert_array_equal(pure.q.params["linear"]["w"], ls.params["linear"]["w"])


@pytest.mark.parametrize("make", [
    lambda q: QLearning(q),
    lambda q: DoubleQLearning(q, q_targ=q.copy(), optimizer=optax.sgd(0.1)),
    lambda q: ExpectedSarsa(q, coaxlike.EpsilonGreedy(q.copy(), 0.3), q.copy(), lambda_=0.5),
    lambda q: SoftQLearning(q, q_targ=q.copy(), temperature=0.5),
], ids=["no_target", "double_q", "own_pi_targ", "soft_q"])
@JIT
def test_init_func_mirrors_learner_state_and_feeds_update_func(make, jit):
    learner = make(linear_q())
    params = {"linear": {"w": jnp.full((3, 3), 0.5)}}
    ls = maybe_jit(learner.init_func, jit)(params, learner.q.function_state)
    ref = learner.learner_state
    assert jax.tree_util.tree_structure(ls) == jax.tree_util.tree_structure(ref)
    chex.assert_trees_all_equal_shapes_and_dtypes(ls, ref)
    np.testing.assert_array_equal(ls.params["linear"]["w"], 0.5)
    chex.assert_trees_all_equal(ls.opt_state, learner.optimizer.init(params))
    chex.assert_trees_all_equal(ls.hyperparams, ref.hyperparams)
    chex.assert_trees_all_equal(ls.pi_targ, ref.pi_targ)
    if learner.q_targ is None:
        assert ls.target_params is None and ls.target_function_state is None
    else:  # the target starts as a copy of the online network
        chex.assert_trees_all_equal(ls.target_params, params)
    new, metrics = jax.jit(learner.update_func)(ls, random_batch(), jax.random.key(0))
    assert np.isfinite(float(metrics["loss"]))
    learner.learner_state = new  # accepted by the validating setter
    np.testing.assert_array_equal(learner.q.params["linear"]["w"], new.params["linear"]["w"])


@JIT
def test_init_func_defaults_and_explicit_target(jit):
    q = linear_q()
    learner = QLearning(q, q_targ=q.copy())
    params, target = {"linear": {"w": jnp.eye(3)}}, {"linear": {"w": 2 * jnp.eye(3)}}
    ls = maybe_jit(learner.init_func, jit)(params)  # q has no function state: may be omitted
    assert ls.function_state == {} and ls.target_function_state == {}
    ls = maybe_jit(learner.init_func, jit)(params, None, target)
    np.testing.assert_array_equal(ls.target_params["linear"]["w"], 2 * np.eye(3))
    np.testing.assert_array_equal(ls.params["linear"]["w"], np.eye(3))
    # a fresh state per seed, vmapped
    batch_params = {"linear": {"w": jnp.stack([jnp.eye(3), 3 * jnp.eye(3)])}}
    ls = jax.vmap(learner.init_func)(batch_params)
    np.testing.assert_array_equal(ls.target_params["linear"]["w"][1], 3 * np.eye(3))


def test_init_func_rejects_mismatched_arguments():
    q = linear_q()
    params = q.params
    with pytest.raises(ValueError, match="target_params and target_function_state must be "
                                         "None for a learner without q_targ"):
        QLearning(q).init_func(params, None, params)
    learner = QLearning(q, q_targ=q.copy())
    with pytest.raises(ValueError, match=r"params\['linear'\]\['w'\] must have shape \(3, 3\)"):
        learner.init_func({"linear": {"w": jnp.zeros((3, 2))}})
    with pytest.raises(TypeError, match="target_params has another tree structure"):
        learner.init_func(params, None, {"w": jnp.zeros((3, 3))})

    def counting(S, is_training):  # a network with function state
        count = hk.get_state("count", [], init=jnp.zeros)
        hk.set_state("count", count + 1)
        return hk.Linear(3)(S)
    stateful = coaxlike.Q(counting, FakeEnv(q.observation_space, q.action_space),
                          random_seed=0)
    with pytest.raises(TypeError, match="function_state is required"):
        QLearning(stateful).init_func(stateful.params)


def _sync_example():
    """Online w = [1, 2], count 4 (int32); target w = [3, 6], count 0."""
    return LearnerState(
        params={"w": jnp.array([1.0, 2.0])}, function_state={"count": jnp.int32(4)},
        opt_state=(), target_params={"w": jnp.array([3.0, 6.0])},
        target_function_state={"count": jnp.int32(0)}, pi_targ=None, hyperparams={})


@JIT
def test_sync_target_hand_values(jit):
    sync = maybe_jit(sync_target, jit)
    ls = _sync_example()
    # 0.25 * [1, 2] + 0.75 * [3, 6] = [2.5, 5];  count: 0.25 * 4 = 1 (int32)
    out = sync(ls, 0.25)
    np.testing.assert_allclose(out.target_params["w"], [2.5, 5.0])
    assert out.target_function_state["count"].dtype == jnp.int32
    assert int(out.target_function_state["count"]) == 1
    chex.assert_trees_all_equal(out.params, ls.params)  # the online network is unchanged
    chex.assert_trees_all_equal(sync(ls, 0.0), ls)
    # tau = 1 is an exact copy, even of a diverged (non-finite) target
    diverged = ls._replace(target_params={"w": jnp.array([jnp.nan, jnp.inf])})
    chex.assert_trees_all_equal(sync(diverged, 1.0).target_params, ls.params)
    chex.assert_trees_all_equal(sync(ls, 1).target_function_state, ls.function_state)


def test_sync_target_traced_tau_compiles_once():
    sync = jax.jit(sync_target)
    ls = _sync_example()
    sync(ls, jnp.float32(0.0))
    with count_compiles() as n:
        outs = [sync(ls, jnp.float32(tau)) for tau in (0.5, 1.0, 0.0)]
    assert n[0] == 0, f"{n[0]} compilations for new values of tau"
    np.testing.assert_allclose(outs[0].target_params["w"], [2.0, 4.0])
    np.testing.assert_array_equal(outs[1].target_params["w"], [1.0, 2.0])
    np.testing.assert_array_equal(outs[2].target_params["w"], [3.0, 6.0])


def test_sync_target_errors():
    ls = _sync_example()
    for bad in (1.5, -0.1, float("nan")):
        with pytest.raises(ValueError, match="tau must be in"):
            sync_target(ls, bad)
    with pytest.raises(AssertionError, match="rank"):  # chex, at trace time
        sync_target(ls, jnp.array([0.5, 0.5]))
    without = ls._replace(target_params=None, target_function_state=None)
    with pytest.raises(ValueError, match="no target network"):
        sync_target(without, 1.0)


def test_grads_and_metrics_is_pure():
    learner = QLearning(linear_q())
    ls = learner.learner_state
    grads, state, metrics = jax.jit(learner.grads_and_metrics)(ls, random_batch(),
                                                               jax.random.key(0))
    assert jax.tree_util.tree_structure(grads) == jax.tree_util.tree_structure(ls.params)
    assert float(metrics["grad_norm"]) > 0
    np.testing.assert_array_equal(learner.q.params["linear"]["w"], ls.params["linear"]["w"])


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_metrics_match_the_td_errors_and_gradients(jit):
    q = linear_q(w=np.random.default_rng(3).normal(size=(3, 3)))
    learner = DoubleQLearning(q, q_targ=q.copy())
    batch = random_batch(seed=4, B=17)
    td = learner.td_error(batch).astype(np.float64)
    fn = jax.jit(learner.grads_and_metrics) if jit else learner.grads_and_metrics
    grads, _, metrics = fn(learner.learner_state, batch, jax.random.key(0))
    leaves = [np.asarray(g, np.float64).ravel() for g in jax.tree_util.tree_leaves(grads)]
    want = {"td_error_mean": td.mean(), "td_error_abs_mean": np.abs(td).mean(),
            "td_error_abs_max": np.abs(td).max(),
            "grad_norm": np.sqrt(sum((x * x).sum() for x in leaves))}
    for name, value in want.items():
        assert float(metrics[name]) == pytest.approx(value, rel=1e-5), name
    # and the shell reports the same numbers from its packed array
    shell = learner.update(batch)
    for name, value in want.items():
        assert float(shell[name]) == pytest.approx(value, rel=1e-5), name


def test_serial_protocol_round_trip():
    q = linear_q()
    learner = SoftQLearning(q, q_targ=q.copy(), temperature=0.5)
    json.dumps(learner._serial_static())
    assert learner._serial_static()["class"] == "SoftQLearning"
    snapshot = learner._serial_tree()  # JAX arrays are immutable: no copy needed
    learner.update(random_batch())
    learner.temperature = 3.0
    learner._serial_restore(snapshot)
    np.testing.assert_array_equal(q.params["linear"]["w"], snapshot["params"]["linear"]["w"])
    assert learner.temperature == 0.5


def test_serialize_deserialize_round_trip(tmp_path):
    q = linear_q()
    q_targ = q.copy()
    learner = DoubleQLearning(q, q_targ=q_targ, lambda_=0.7)
    learner.update(random_batch())
    path = learner.serialize(tmp_path / "learner")
    q2 = linear_q(w=np.zeros((3, 3)))
    back = DoubleQLearning.deserialize(path, q2, q_targ=q2.copy())
    np.testing.assert_array_equal(q2.params["linear"]["w"], q.params["linear"]["w"])
    assert back.lambda_ == pytest.approx(0.7)
    chex.assert_trees_all_equal(back.optimizer_state, learner.optimizer_state)
    batch = random_batch(1)
    np.testing.assert_allclose(back.td_error(batch), learner.td_error(batch), rtol=1e-6)


# --- learners: bad arguments ----------------------------------------------------------------

def test_bad_arguments_name_the_argument():
    q = linear_q()
    with pytest.raises(TypeError, match="pi_targ must be a Policy, got: Q.*positionally"):
        QLearning(q, q.copy())  # coax's message; a Q where pi_targ goes
    with pytest.raises(TypeError, match="pi_targ must be provided"):
        ExpectedSarsa(q)
    other = coaxlike.Q(lambda S, is_training: hk.Linear(3)(S),
                      FakeEnv(q.observation_space, q.action_space), random_seed=0)  # bias
    with pytest.raises(TypeError, match="q_targ.params"):
        QLearning(q, q_targ=other)
    with pytest.raises(TypeError, match="q_targ"):
        QLearning(q, q_targ="q")
    with pytest.raises(TypeError, match="q must be"):
        QLearning(coaxlike.EpsilonGreedy(q))
    with pytest.raises(TypeError, match="optimizer"):
        QLearning(q, optimizer="adam")
    with pytest.raises(TypeError, match="loss_function"):
        QLearning(q, loss_function=1.0)
    with pytest.raises(NotImplementedError, match="policy_regularizer"):
        QLearning(q, policy_regularizer=object())
    with pytest.raises(ValueError, match="lambda_"):
        QLearning(q, lambda_=1.5)
    with pytest.raises(ValueError, match="temperature"):
        SoftQLearning(q, temperature=0.0)
    with pytest.raises(TypeError, match="lambda_ must be a float in"):
        QLearning(q, lambda_="0.9")
    with pytest.raises(TypeError, match="temperature must be a positive float, got str"):
        SoftQLearning(q, temperature="1")
    with pytest.raises(TypeError, match="random_seed must be an int or None, got float"):
        QLearning(q, random_seed=1.0)
    learner = QLearning(q)
    bad = learner.learner_state._replace(hyperparams={"lambda_": jnp.float32(2.0)})
    with pytest.raises(ValueError, match="lambda_"):
        learner.learner_state = bad
    assert learner.lambda_ == 1.0
    small = linear_q(n=2)
    with pytest.raises(ValueError, match="pi_targ.q"):
        QLearning(q, pi_targ=coaxlike.EpsilonGreedy(small))


@pytest.mark.slow  # heavy compile: CI's slow stage keeps the default run under 2 min
def test_networks_that_draw_random_numbers_get_fresh_keys():
    """A dropout network needs rng: the learner passes keys (and advances them); a
    deterministic network gets rng=None and no PRNG work."""
    env = FakeEnv(gym.spaces.Box(-100, 100, (3,), np.float32), gym.spaces.Discrete(3))

    def dropout_func(S, is_training):
        x = hk.Linear(16)(S)
        x = hk.dropout(hk.next_rng_key(), 0.5, x) if is_training else x
        return hk.Linear(3)(x)
    q = coaxlike.Q(dropout_func, env, random_seed=0)
    assert q.uses_rng and not linear_q().uses_rng
    learner = QLearning(q, q_targ=q.copy(), optimizer=optax.adam(0.01))
    batch = random_batch()
    key_before = jax.random.key_data(learner._key)
    losses = [float(learner.update(batch)["loss"]) for _ in range(3)]
    assert all(np.isfinite(losses)) and len(set(losses)) == 3  # dropout masks differ
    assert not np.array_equal(jax.random.key_data(learner._key), key_before)
    deterministic = QLearning(linear_q(), optimizer=optax.sgd(0.0))
    assert len({float(deterministic.update(batch)["loss"]) for _ in range(3)}) == 1
