"""Bad batches never reach the parameters: the shell refuses them with an error naming the
field and leaves q, the optimizer state and the key as they were; the pure update_func
returns the state unchanged with metrics['skipped'] == 1."""
import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import coaxlike
from coaxlike.td_learning import ExpectedSarsa, QLearning, Sarsa

from .test_td_learning import linear_q, make_batch

f32 = np.float32
GOOD = dict(S=[[1, 2, 3], [0, 1, 0]], A=[1, 2], Rn=[1.0, 0.5], In=[0.9, 0.0],
            S_next=[[2, 5, 1], [1, 1, 1]])


def _bad(field, row, value):
    values = {k: np.array(v, f32 if k != "A" else np.int64) for k, v in GOOD.items()}
    values["W"] = np.ones(2, f32)
    values[field][row] = value
    return make_batch(**values)


def _snapshot(learner):
    return jax.tree_util.tree_map(np.array, (learner.q.params, learner.q.function_state,
                                             learner.optimizer_state,
                                             jax.random.key_data(learner._key)))


BAD = [
    ("Rn", (1, np.nan), "Rn must be finite, got nan at row 1"),
    ("Rn", (0, np.inf), "Rn must be finite, got inf at row 0"),
    ("In", (0, 1.5), r"In must be in \[0, 1\].*got 1.5 at row 0"),
    ("In", (1, -0.25), r"In must be in \[0, 1\].*got -0.25 at row 1"),
    ("In", (0, np.nan), r"In must be in \[0, 1\].*got nan at row 0"),
    ("W", (1, np.nan), "W must be finite and >= 0, got nan at row 1"),  # not read by td_error
    ("W", (0, -1.0), "W must be finite and >= 0, got -1.0 at row 0"),
    ("A", (1, 3), r"A must be actions in \[0, 2\].*got 3 at row 1"),
    ("A", (0, -1), r"A must be actions in \[0, 2\].*got -1 at row 0"),
    ("S", (1, np.nan), r"S must be finite, got nan at row 1, index \(0,\)"),
    ("S_next", (0, -np.inf), r"S_next must be finite, got -inf at row 0, index \(0,\)"),
]


@pytest.fixture(scope="module")
def learner():
    """One learner for every bad batch (it compiles once); each test starts from its state."""
    q = linear_q()
    learner = QLearning(q, q_targ=q.copy(), optimizer=optax.adam(0.1))
    learner.update(_bad("Rn", 0, 1.0))  # a real step first: non-trivial optimizer state
    return learner


@pytest.mark.parametrize("field, change, message", BAD, ids=[f"{b[0]}={b[1][1]}" for b in BAD])
def test_update_refuses_bad_batch_and_changes_nothing(learner, field, change, message):
    q = learner.q
    before = _snapshot(learner)
    with pytest.raises(ValueError, match=f"transition_batch.{message}.*unchanged"):
        learner.update(_bad(field, *change))
    chex.assert_trees_all_equal(_snapshot(learner), before)
    with pytest.raises(ValueError, match=f"transition_batch.{message}"):
        learner.update(_bad(field, *change), return_td_error=True)
    if field != "W":  # TD errors do not depend on the weights
        with pytest.raises(ValueError, match=f"transition_batch.{message}.*key is unchanged"):
            learner.td_error(_bad(field, *change))
    chex.assert_trees_all_equal(_snapshot(learner), before)
    learner.update(_bad("Rn", 0, 1.0))  # still usable
    assert np.isfinite(np.asarray(q.params["linear"]["w"])).all()


def test_sarsa_refuses_next_actions_out_of_range():
    q = linear_q()
    learner = Sarsa(q)
    batch = make_batch(**GOOD)._replace(A_next=np.array([0, 7]))
    with pytest.raises(ValueError, match=r"A_next must be actions in \[0, 2\].*got 7 at row 1"):
        learner.update(batch)


def test_retrace_refuses_bad_window_discounts():
    q = linear_q()
    learner = ExpectedSarsa(q, coaxlike.EpsilonGreedy(q, 0.1), off_policy_correction="retrace")
    batch = make_batch(
        S=[[1, 2, 3]], A=[2], Rn=[2.8], In=[0.81], S_next=[[0, 2, 1]],
        S_seq=[[[1, 2, 3], [4, 1, 0], [0, 2, 1]]], A_seq=[[2, 0]], R_seq=[[1, 2]],
        gamma_seq=[[0.9, 1.9]], valid_seq=[[1, 1]], logP_seq=np.log([[0.5, 0.5]]))
    with pytest.raises(ValueError, match=r"gamma_seq must be in \[0, 1\], got 1.9"):
        learner.update(batch)


def test_diverging_step_raises_floating_point_error_and_changes_nothing():
    q = linear_q(w=np.full((3, 3), 1e38))  # finite weights and inputs, q(s) overflows to inf
    learner = QLearning(q, optimizer=optax.sgd(0.1))
    before = _snapshot(learner)
    with pytest.raises(FloatingPointError, match="valid batch.*unchanged"):
        learner.update(make_batch(**GOOD))
    chex.assert_trees_all_equal(_snapshot(learner), before)


def test_pure_update_func_skips_bad_batches_in_scan():
    q = linear_q()
    learner = QLearning(q, q_targ=q.copy(), optimizer=optax.adam(0.1))
    good, nan = _bad("Rn", 0, 1.0), _bad("Rn", 1, np.nan)
    out_of_range = _bad("In", 0, 3.0)
    batches = jax.tree_util.tree_map(lambda *x: np.stack(x), good, nan, out_of_range, good)

    def body(ls, tb):
        ls, metrics = learner.update_func(ls, tb, None)
        return ls, (metrics["skipped"], ls.params)

    ls0 = learner.learner_state
    ls, (skipped, params) = jax.jit(lambda ls, b: jax.lax.scan(body, ls, b))(ls0, batches)
    np.testing.assert_array_equal(skipped, [0.0, 1.0, 1.0, 0.0])
    chex.assert_trees_all_equal(jax.tree_util.tree_map(lambda x: x[1], params),
                                jax.tree_util.tree_map(lambda x: x[0], params))
    chex.assert_trees_all_equal(jax.tree_util.tree_map(lambda x: x[2], params),
                                jax.tree_util.tree_map(lambda x: x[0], params))
    assert all(np.isfinite(x).all() for x in jax.tree_util.tree_leaves(ls))
    # a skipped step is exactly a no-op: the same as the two good steps alone
    twice = jax.tree_util.tree_map(lambda *x: np.stack(x), good, good)
    ls_good, _ = jax.jit(lambda ls, b: jax.lax.scan(body, ls, b))(ls0, twice)
    chex.assert_trees_all_equal(ls.params, ls_good.params)
    chex.assert_trees_all_equal(ls.opt_state, ls_good.opt_state)
