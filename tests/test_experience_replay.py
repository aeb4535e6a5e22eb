"""Tests for coaxlike.experience_replay: uniform, prioritized and in-graph (pytree) buffers.

Statistical tests use fixed seeds and reject at p < 1e-4 (tests/_stats.py): for a correct
sampler a fresh seed would fail one of them with probability 1e-4.
"""
import functools
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coaxlike.experience_replay import _checks
from coaxlike.experience_replay import (
    PrioritizedReplayBuffer, PytreeReplayBuffer, SimpleReplayBuffer, SumTree)
from coaxlike.reward_tracing import NStep, TransitionBatch

from ._stats import assert_frequencies


def make_batch(values, obs_dim=2, masks=False):
    """One-step transitions whose every field encodes ``values`` (so rows can be told apart)."""
    xp = jnp if isinstance(values, jax.Array) else np  # jnp inside compiled code
    v = xp.asarray(values, xp.float32)
    S = xp.repeat(v[:, None], obs_dim, axis=1)
    mask = np.ones((len(v), 3), bool) if masks else None
    return TransitionBatch.from_one_step(S, v.astype(int), v, v / 10, S + 1, mask=mask)


def assert_rows_consistent(tb):
    """Every field of every sampled row comes from the same stored transition."""
    np.testing.assert_array_equal(tb.S[:, 0], tb.Rn)
    np.testing.assert_array_equal(tb.A, tb.Rn)
    np.testing.assert_array_equal(tb.S_seq[:, 1, 0], tb.Rn + 1)
    np.testing.assert_allclose(tb.In, tb.Rn / 10)


# --- SimpleReplayBuffer -----------------------------------------------------------------------

@pytest.mark.parametrize("capacity, error", [
    (0, ValueError), (-1, ValueError), (2.5, TypeError), (True, TypeError), ("10", TypeError)])
def test_capacity_is_validated(capacity, error):
    for cls in (SimpleReplayBuffer, PrioritizedReplayBuffer, PytreeReplayBuffer, SumTree):
        with pytest.raises(error, match=rf"capacity must be an int >= 1, got (\w+ )?"
                                        rf"{re.escape(repr(capacity))}$"):
            cls(capacity)


def test_simple_add_sample_len_clear():
    buffer = SimpleReplayBuffer(capacity=10, random_seed=1)
    assert len(buffer) == 0 and buffer.capacity == 10
    buffer.add(make_batch([1, 2, 3]))
    buffer.add(make_batch([4]))
    assert len(buffer) == 4
    tb = buffer.sample(4)
    assert tb.batch_size == 4 and tb.S.shape == (4, 2) and tb.S_seq.shape == (4, 2, 2)
    assert tb.W.dtype == np.float32 and tb.idx.dtype == np.int32
    np.testing.assert_array_equal(tb.W, np.ones(4))
    np.testing.assert_array_equal(tb.Rn, tb.idx + 1)  # row i holds value i + 1
    assert_rows_consistent(tb)
    buffer.clear()
    assert len(buffer) == 0
    with pytest.raises(ValueError, match="empty buffer"):
        buffer.sample(1)


def test_simple_sample_errors():
    buffer = SimpleReplayBuffer(capacity=10)
    buffer.add(make_batch([1, 2]))
    with pytest.raises(ValueError, match=r"batch_size must be at most len\(buffer\)=2, got 3"):
        buffer.sample(3)
    with pytest.raises(ValueError, match="batch_size must be an int >= 1, got 0"):
        buffer.sample(0)
    with pytest.raises(TypeError, match="batch_size must be an int >= 1, got float 2.0"):
        buffer.sample(2.0)
    assert len(buffer) == 2


@pytest.mark.parametrize("cls", [SimpleReplayBuffer, PrioritizedReplayBuffer,
                                 PytreeReplayBuffer])
def test_constructor_wrong_types_are_type_errors_bad_values_value_errors(cls):
    """The rule across the buffers (and the whole API): the wrong type -> TypeError, a value
    out of range -> ValueError; each message names the argument and shows what was given."""
    for bad in (1e3, "10", True, None):
        with pytest.raises(TypeError, match=r"^capacity must be an int >= 1, got "):
            cls(capacity=bad)
    for bad in (0, -5):
        with pytest.raises(ValueError, match=rf"^capacity must be an int >= 1, got {bad}$"):
            cls(capacity=bad)
    with pytest.raises(TypeError, match=r"^lean must be a bool, got int 1$"):
        cls(capacity=4, lean=1)
    if cls is not PytreeReplayBuffer:            # its sampling keys are JAX keys
        with pytest.raises(TypeError, match="random_seed must be an int or None, got str"):
            cls(capacity=4, random_seed="0")
        with pytest.raises(ValueError, match="random_seed must be an int >= 0 or None, got -1"):
            cls(capacity=4, random_seed=-1)


def test_circular_overwrite():
    buffer = SimpleReplayBuffer(capacity=3, random_seed=0)
    buffer.add(make_batch([1, 2]))
    buffer.add(make_batch([3, 4]))  # 4 overwrites slot 0
    assert len(buffer) == 3
    tb = buffer.sample(3)
    # idx: transition ids (the k-th added has id k), so row k holds k + 1; id 0 was overwritten
    np.testing.assert_array_equal(tb.Rn, tb.idx + 1)
    assert set(tb.idx.tolist()) <= {1, 2, 3}
    buffer.add(make_batch([5, 6, 7, 8, 9]))  # more rows than capacity: the last 3 are kept
    tb = buffer.sample(3)
    assert set(tb.Rn.tolist()) <= {7, 8, 9}
    assert_rows_consistent(tb)


@pytest.mark.parametrize("cls", [SimpleReplayBuffer, PrioritizedReplayBuffer])
def test_mismatched_batches_are_rejected_naming_the_field(cls):
    buffer = cls(capacity=10)
    buffer.add(make_batch([1, 2]))
    with pytest.raises(ValueError, match="field 'S' has rows of shape \\(3,\\)"):
        buffer.add(make_batch([1], obs_dim=3))
    with pytest.raises(ValueError, match="field 'mask_next' has structure"):
        buffer.add(make_batch([1], masks=True))
    bad = make_batch([1, 2])
    with pytest.raises(ValueError, match="field 'A' has dtype float32"):
        buffer.add(bad._replace(A=bad.A.astype(np.float32)))
    with pytest.raises(ValueError, match="field 'Rn' has shape \\(3,\\), expected leading"):
        buffer.add(bad._replace(Rn=np.zeros(3, np.float32)))
    with pytest.raises(TypeError, match="expected a TransitionBatch"):
        buffer.add({"S": np.zeros((1, 2))})
    assert len(buffer) == 2


def test_dict_observations_and_tracer_output():
    tracer = NStep(2, 0.9)
    buffer = SimpleReplayBuffer(capacity=8, random_seed=0)
    for t in range(5):
        tracer.add({"x": np.full(3, t, np.float32), "k": np.int32(t)}, t % 2, 1.0, t == 4,
                   mask=np.array([True, t > 2]))
        while tracer:
            buffer.add(tracer.pop())
    assert len(buffer) == 5
    tb = buffer.sample(5)
    assert tb.S["x"].shape == (5, 3) and tb.S_seq["k"].shape == (5, 3)
    assert tb.mask_seq.shape == (5, 3, 2) and tb.mask_next.dtype == bool
    np.testing.assert_array_equal(tb.S["k"], tb.idx)


def test_simple_samples_uniformly():
    buffer = SimpleReplayBuffer(capacity=16, random_seed=123)
    buffer.add(make_batch(np.arange(20)))  # wraps around: slots hold 4..19
    idx = np.concatenate([buffer.sample(16).idx for _ in range(500)])
    assert_frequencies(idx, np.full(16, 1 / 16))


# --- SumTree ---------------------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(capacity=st.integers(1, 40), data=st.data())
def test_sumtree_invariants(capacity, data):
    tree, mirror = SumTree(capacity), np.zeros(capacity)
    # no subnormals: with a subnormal total, fraction * total rounds onto the upper edge and the
    # relative tolerance below is 0 (the prioritized buffer clamps priorities to >= 1e-100)
    values = st.floats(0.0, 100.0, allow_nan=False, allow_subnormal=False)
    for _ in range(data.draw(st.integers(1, 5))):
        idx = data.draw(st.lists(st.integers(0, capacity - 1), min_size=1, max_size=2 * capacity))
        vals = data.draw(st.lists(values, min_size=len(idx), max_size=len(idx)))
        tree.set(np.array(idx), np.array(vals))
        for i, v in zip(idx, vals):  # a repeated index: the last value wins
            mirror[i] = v
    np.testing.assert_allclose(tree.total, mirror.sum(), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(tree.get(np.arange(capacity)), mirror)
    if mirror.sum() > 0:
        fractions = np.array(data.draw(st.lists(st.floats(0.0, 1.0, exclude_max=True),
                                                min_size=1, max_size=20)))
        u = fractions * tree.total
        leaf = tree.find(u)
        lower = np.concatenate([[0.0], np.cumsum(mirror)])[leaf]
        tol = 1e-9 * mirror.sum()
        assert np.all(mirror[leaf] > 0)
        assert np.all((lower - tol <= u) & (u < lower + mirror[leaf] + tol))


def test_sumtree_rejects_invalid_input():
    tree = SumTree(4)
    with pytest.raises(ValueError, match=r"idx must be in \[0, 4\)"):
        tree.set(np.array([4]), np.array([1.0]))
    with pytest.raises(ValueError, match="values must be finite and >= 0"):
        tree.set(np.array([0]), np.array([-1.0]))
    with pytest.raises(ValueError, match="same shape"):
        tree.set(np.array([0, 1]), np.array([1.0]))


# --- PrioritizedReplayBuffer ----------------------------------------------------------------

@pytest.mark.parametrize("kwargs, match", [
    (dict(alpha=-0.1), r"alpha must be a number in \[0.0, inf\), got -0.1"),
    (dict(beta=1.5), r"beta must be a number in \[0.0, 1.0\], got 1.5"),
    (dict(epsilon=0.0), r"epsilon must be a number in \(0.0, inf\), got 0.0"),
])
def test_prioritized_validates_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PrioritizedReplayBuffer(10, **kwargs)


def test_beta_is_settable_and_validated():
    buffer = PrioritizedReplayBuffer(10)
    buffer.beta = 0.9
    assert buffer.beta == 0.9
    with pytest.raises(ValueError, match="beta must be a number in"):
        buffer.beta = -0.5


def test_update_validates():
    buffer = PrioritizedReplayBuffer(10)
    buffer.add(make_batch([1, 2, 3]))
    for bad in (np.nan, np.inf, -np.inf):
        with pytest.raises(ValueError, match="Adv must be finite"):
            buffer.update(np.array([0]), np.array([bad]))
    with pytest.raises(ValueError, match=r"Adv must have shape \(2,\)"):
        buffer.update(np.array([0, 1]), np.array([1.0]))
    with pytest.raises(ValueError, match=r"idx holds ids this buffer never handed out \(3 rows"):
        buffer.update(np.array([3]), np.array([1.0]))
    for bad in (np.array([-1]), np.array([2 ** 31])):
        with pytest.raises(ValueError, match="idx must be transition ids"):
            buffer.update(bad, np.array([1.0]))
    with pytest.raises(TypeError, match="idx must be transition ids .*got dtype float64"):
        buffer.update(np.array([0.5]), np.array([1.0]))
    with pytest.raises(TypeError, match="Adv must be an array of numbers"):
        buffer.update(np.array([0]), ["high"])
    np.testing.assert_array_equal(buffer.priorities(np.arange(3)), 1.0)  # unchanged


def test_priorities_follow_updates_and_new_items_get_the_maximum():
    buffer = PrioritizedReplayBuffer(10, alpha=0.5, epsilon=1.0)
    buffer.add(make_batch([1, 2, 3]))
    np.testing.assert_array_equal(buffer.priorities(np.arange(3)), [1.0, 1.0, 1.0])
    buffer.update(np.array([0, 1, 1]), np.array([-3.0, 8.0, 0.0]))  # repeated idx: last wins
    np.testing.assert_allclose(buffer.priorities(np.arange(3)), [2.0, 1.0, 1.0])
    buffer.add(make_batch([4]))
    np.testing.assert_allclose(buffer.priorities(np.arange(4)), [2.0, 1.0, 1.0, 3.0])
    buffer.clear()
    buffer.add(make_batch([5]))  # id 4 (ids keep counting); ids 0-3 are gone
    np.testing.assert_allclose(buffer.priorities(np.array([4, 0])), [1.0, 0.0])


def test_prioritized_samples_in_proportion_to_priority():
    buffer = PrioritizedReplayBuffer(8, alpha=1.0, epsilon=1.0, random_seed=7)
    buffer.add(make_batch(np.arange(6)))
    td = np.array([0.0, 1.0, 2.0, 3.0, 5.0, 9.0])  # priorities 1, 2, 3, 4, 6, 10
    buffer.update(np.arange(6), td)
    tb = buffer.sample(6)
    assert_rows_consistent(tb)
    idx = np.concatenate([buffer.sample(6).idx for _ in range(2000)])
    assert_frequencies(idx, (td + 1) / (td + 1).sum())


@pytest.mark.parametrize("beta, w_full", [
    (1.0, {0: 1.0, 1: 0.5, 2: 0.25}), (0.5, {0: 1.0, 1: 2 ** -0.5, 2: 0.5})])
def test_importance_weights_are_normalised_over_the_batch(beta, w_full):
    # priorities 1, 2, 4 (alpha = 1, epsilon = 1): P = 1/7, 2/7, 4/7, N = 3, so
    # (N P_i)^-beta is proportional to 1, 2^-beta, 4^-beta; each batch divides by its max
    buffer = PrioritizedReplayBuffer(3, alpha=1.0, beta=beta, epsilon=1.0, random_seed=3)
    buffer.add(make_batch([0, 1, 2]))
    buffer.update(np.arange(3), np.array([0.0, 1.0, 3.0]))
    seen = set()
    for _ in range(30):
        tb = buffer.sample(2)
        expected = np.array([w_full[i] for i in tb.idx.tolist()])
        np.testing.assert_allclose(tb.W, expected / expected.max(), rtol=1e-6)
        seen.add(tuple(sorted(tb.idx.tolist())))
    assert len(seen) > 3  # several different batch compositions were checked


# --- PytreeReplayBuffer ----------------------------------------------------------------------

@pytest.mark.slow  # heavy compile: CI's slow stage keeps the default run under 2 min
@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_pytree_init_add_sample(jit):
    buffer = PytreeReplayBuffer(capacity=4)
    state = buffer.init(make_batch([0]))
    assert state.storage.S.shape == (4, 2) and state.storage.S_seq.shape == (4, 2, 2)
    assert state.storage.A.dtype == jnp.int32 and state.storage.W is None
    add = jax.jit(buffer.add) if jit else buffer.add
    sample = jax.jit(buffer.sample, static_argnums=2) if jit else buffer.sample
    state = add(state, make_batch([1, 2, 3]))
    state = add(state, make_batch([4, 5]))  # 5 overwrites slot 0
    assert int(state.size) == 4 and int(state.position) == 1
    np.testing.assert_array_equal(state.storage.Rn, [5, 2, 3, 4])
    tb = sample(state, jax.random.key(0), 16)
    assert tb.W.shape == (16,) and tb.idx.dtype == jnp.int32
    np.testing.assert_array_equal(tb.Rn, np.array([5, 2, 3, 4])[np.asarray(tb.idx)])
    assert_rows_consistent(jax.tree_util.tree_map(np.asarray, tb))
    state = add(state, make_batch(np.arange(10, 16)))  # more rows than capacity
    np.testing.assert_array_equal(np.sort(np.asarray(state.storage.Rn)), [12, 13, 14, 15])


def test_pytree_samples_uniformly_from_filled_part():
    buffer = PytreeReplayBuffer(capacity=10)
    state = jax.jit(buffer.add)(buffer.init(make_batch([0])), make_batch([1, 2, 3]))
    idx = jax.jit(buffer.sample, static_argnums=2)(state, jax.random.key(42), 6000).idx
    assert_frequencies(np.asarray(idx), np.full(3, 1 / 3))


def test_pytree_add_rejects_mismatched_rows():
    buffer = PytreeReplayBuffer(capacity=4)
    state = buffer.init(make_batch([0]))
    with pytest.raises(ValueError, match="field 'S_next' has rows of shape"):
        jax.jit(buffer.add)(state, make_batch([1])._replace(S_next=np.zeros((1, 5))))
    with pytest.raises(ValueError, match="batch_size must be an int >= 1"):
        buffer.sample(state, jax.random.key(0), 0)


def test_pytree_buffer_in_scan_and_vmap():
    buffer = PytreeReplayBuffer(capacity=5)
    example = make_batch([0, 0])

    def step(state, xs):
        value, key = xs
        state = buffer.add(state, make_batch(jnp.stack([value, value + 0.5])))
        return state, buffer.sample(state, key, 3).Rn

    def run(offset, key):
        values = offset + jnp.arange(4, dtype=jnp.float32)
        return jax.lax.scan(step, buffer.init(example), (values, jax.random.split(key, 4)))

    offsets = jnp.array([0.0, 100.0, 200.0])
    states, sampled = jax.jit(jax.vmap(run))(offsets, jax.random.split(jax.random.key(1), 3))
    assert sampled.shape == (3, 4, 3)
    np.testing.assert_array_equal(states.size, [5, 5, 5])
    np.testing.assert_array_equal(states.position, [3, 3, 3])
    for b, offset in enumerate([0.0, 100.0, 200.0]):
        # 8 rows added to 5 slots: slots 0..2 hold the 6th..8th rows
        expected = offset + np.array([2.5, 3.0, 3.5, 1.5, 2.0])
        np.testing.assert_array_equal(states.storage.Rn[b], expected)
        # after the first step only the two rows of that step can be sampled
        assert set(np.asarray(sampled[b, 0]).tolist()) <= {offset, offset + 0.5}
        for t in range(4):  # every sample comes from this buffer's own rows
            assert np.all((sampled[b, t] >= offset) & (sampled[b, t] <= offset + t + 0.5))


@pytest.mark.slow  # heavy compile: CI's slow stage keeps the default run under 2 min
def test_pytree_buffer_vmapped_sample_matches_unbatched():
    buffer = PytreeReplayBuffer(capacity=6)
    add = jax.jit(buffer.add)
    states = [add(buffer.init(make_batch([0])), make_batch(np.arange(3) + 10 * k))
              for k in range(3)]
    stacked = jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *states)
    keys = jax.random.split(jax.random.key(5), 3)
    sample = jax.jit(functools.partial(buffer.sample, batch_size=4))
    batched = jax.jit(jax.vmap(sample))(stacked, keys)
    for k in range(3):
        single = sample(states[k], keys[k])
        np.testing.assert_array_equal(batched.Rn[k], single.Rn)
        np.testing.assert_array_equal(batched.S_seq[k], single.S_seq)


# --- coax's API and hardening (issues 10 and 11) ----------------------------------------------

def test_coax_signatures_and_defaults():
    import inspect
    assert list(inspect.signature(SimpleReplayBuffer).parameters)[:2] == [
        "capacity", "random_seed"]
    params = inspect.signature(PrioritizedReplayBuffer).parameters
    assert list(params)[:5] == ["capacity", "alpha", "beta", "epsilon", "random_seed"]
    buffer = PrioritizedReplayBuffer(10, 0.5, 0.25, 0.1, 3)
    assert (buffer.alpha, buffer.beta, buffer.epsilon) == (0.5, 0.25, 0.1)
    default = PrioritizedReplayBuffer(10)
    assert (default.alpha, default.beta, default.epsilon) == (1.0, 1.0, 1e-4)
    for cls in (SimpleReplayBuffer, PrioritizedReplayBuffer):
        buffer = cls(100, random_seed=0)
        buffer.add(make_batch(np.arange(40)))
        assert buffer.sample().batch_size == 32  # coax's default batch size


def test_prioritized_add_with_advantages_sets_initial_priorities():
    buffer = PrioritizedReplayBuffer(4, alpha=0.5, epsilon=1.0)
    buffer.add(make_batch([1, 2]), Adv=np.array([3.0, -8.0]))
    np.testing.assert_allclose(buffer.priorities(np.arange(2)), [2.0, 3.0])
    buffer.add(make_batch([3]))  # no Adv: the largest |Adv| + epsilon so far, 9
    np.testing.assert_allclose(buffer.priorities(np.arange(3)), [2.0, 3.0, 3.0])
    buffer.add(make_batch(np.arange(6)), Adv=np.arange(6.0))  # more rows than capacity
    np.testing.assert_allclose(np.sort(buffer.priorities(np.arange(3, 7))),  # ids kept
                               np.sqrt(np.arange(2.0, 6.0) + 1))
    for bad, match in [(np.ones(2), r"Adv must have shape \(1,\)"),
                       (np.array([np.nan]), "Adv must be finite")]:
        with pytest.raises(ValueError, match=match):
            buffer.add(make_batch([9]), Adv=bad)
    assert 9 not in np.concatenate([buffer.sample(4).A for _ in range(10)])  # not stored


def test_alpha_setter_re_exponentiates_stored_priorities():
    buffer = PrioritizedReplayBuffer(4, alpha=1.0, epsilon=1.0)
    buffer.add(make_batch([1, 2, 3]), Adv=np.array([0.0, 3.0, 8.0]))
    buffer.alpha = 0.5
    np.testing.assert_allclose(buffer.priorities(np.arange(3)), [1.0, 2.0, 3.0])
    buffer.alpha = 0.0  # uniform
    buffer.alpha = 2.0  # and back, exactly: the base priorities were kept
    np.testing.assert_allclose(buffer.priorities(np.arange(3)), [1.0, 16.0, 81.0])


# not a number: TypeError, as coax raises for buffer.alpha = 'foo'; a number out of range:
# ValueError (coax: TypeError for those too; Python's convention)
@pytest.mark.parametrize("name", ["alpha", "beta", "epsilon"])
@pytest.mark.parametrize("bad, error", [
    (-1.0, ValueError), (np.nan, ValueError), (np.inf, ValueError), ("0.5", TypeError),
    ("foo", TypeError), (b"0.5", TypeError), (True, TypeError), (None, TypeError),
    (np.array([0.5, 0.5]), TypeError)])
def test_prioritized_setters_refuse_bad_values(name, bad, error):
    buffer = PrioritizedReplayBuffer(4)
    before = getattr(buffer, name)
    message = f"^{name} must be a number in .*, got {re.escape(repr(bad))}$"
    with pytest.raises(error, match=message):
        setattr(buffer, name, bad)
    with pytest.raises(error, match=f"^{name} must be a number in"):
        PrioritizedReplayBuffer(4, **{name: bad})
    assert getattr(buffer, name) == before


@pytest.mark.parametrize("name", ["alpha", "beta", "epsilon"])
def test_prioritized_setters_accept_arrays_and_schedule_values(name):
    import optax
    buffer = PrioritizedReplayBuffer(4)
    schedule = optax.linear_schedule(0.4, 1.0, 100)
    for value in (np.float32(0.5), np.array(0.5), jnp.asarray(0.5), schedule(50)):
        setattr(buffer, name, value)
        assert getattr(buffer, name) == pytest.approx(float(value)) and isinstance(
            getattr(buffer, name), float)


def test_priorities_at_the_edges_of_float64_keep_sampling_finite():
    buffer = PrioritizedReplayBuffer(8, alpha=2.0, epsilon=1e-300, random_seed=0)
    buffer.add(make_batch(np.arange(8)))
    big = np.finfo(np.float64).max
    buffer.update(np.arange(8), np.array([big, big, -big, 0.0, 1e-310, 1e200, 1.0, 0.0]))
    for _ in range(20):
        tb = buffer.sample(8)
        assert np.all(np.isfinite(tb.W)) and tb.W.max() == 1.0
    assert np.all(np.isfinite(buffer.priorities(np.arange(8))))
    assert np.all(buffer.priorities(np.arange(8)) > 0)
    buffer.alpha = 1e6  # overflowing exponents are clamped too
    assert np.all(np.isfinite(buffer.sample(8).W))


@pytest.mark.parametrize("cls", [SimpleReplayBuffer, PrioritizedReplayBuffer])
def test_integers_that_do_not_fit_the_stored_dtype_are_refused(cls):
    buffer = cls(10, random_seed=0)
    first = make_batch([1, 2])
    buffer.add(first._replace(A=first.A.astype(np.uint8), A_seq=first.A_seq.astype(np.uint8)))
    wide = make_batch([3, 300])
    with pytest.raises(ValueError, match=r"field 'A' holds values in \[3, 300\], which do not "
                                         r"fit the stored dtype uint8"):
        buffer.add(wide)
    negative = make_batch([1])._replace(A=np.array([-1]))
    with pytest.raises(ValueError, match=r"field 'A' holds values in \[-1, -1\]"):
        buffer.add(negative)
    assert len(buffer) == 2
    buffer.add(make_batch([3, 255]))  # int64 values that fit are stored exactly
    assert max(np.concatenate([buffer.sample(4).A for _ in range(30)])) == 255


@pytest.mark.parametrize("cls", [SimpleReplayBuffer, PrioritizedReplayBuffer])
def test_a_rejected_first_add_leaves_a_usable_buffer(cls):
    buffer = cls(10, random_seed=0)
    bad = make_batch([1, 2])._replace(Rn=np.zeros(3, np.float32), S=np.zeros((2, 7)))
    with pytest.raises(ValueError, match="field"):
        buffer.add(bad)
    buffer.add(make_batch([1, 2]))
    assert len(buffer) == 2
    assert_rows_consistent(buffer.sample(2))


@pytest.mark.parametrize("cls", [SimpleReplayBuffer, PrioritizedReplayBuffer])
def test_adding_while_sampling_from_another_thread_never_tears_rows(cls):
    import threading
    buffer = cls(4, random_seed=0)
    buffer.add(make_batch([0, 1, 2, 3]))
    stop = threading.Event()

    def writer():
        i = 4
        while not stop.is_set():
            buffer.add(make_batch(np.arange(i, i + 3)))
            i = (i + 3) % 1000

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for _ in range(3000):
            assert_rows_consistent(buffer.sample(4))
    finally:
        stop.set()
        thread.join()


# --- transition ids and stale updates (issue 12) ----------------------------------------------

def test_update_of_an_overwritten_transition_is_skipped_not_written_to_the_new_occupant():
    buffer = PrioritizedReplayBuffer(4, alpha=1.0, epsilon=1.0, random_seed=0)
    buffer.add(make_batch([10, 11, 12, 13]))
    sampled = buffer.sample(4)
    assert set(sampled.idx.tolist()) <= {0, 1, 2, 3}
    buffer.add(make_batch([14, 15]), Adv=np.array([1.0, 2.0]))  # ids 4, 5 take slots 0, 1
    # a learner that lags: TD errors for ids 0 and 1 (overwritten) and 2 (still held)
    assert buffer.update(np.array([0, 1, 2]), np.array([50.0, 60.0, 70.0])) == 1
    np.testing.assert_allclose(buffer.priorities(np.array([4, 5, 2, 3])),
                               [2.0, 3.0, 71.0, 1.0])  # newcomers keep their own priorities
    np.testing.assert_array_equal(buffer.priorities(np.array([0, 1])), [0.0, 0.0])
    tb = buffer.sample(4)
    np.testing.assert_array_equal(tb.Rn, tb.idx + 10)  # ids name rows, across the wrap


def test_ids_go_stale_on_clear_and_restore_and_are_int32():
    buffer = PrioritizedReplayBuffer(3, random_seed=0)
    buffer.add(make_batch([1, 2]))
    old = buffer.sample(2).idx
    assert old.dtype == np.int32
    rows, counters = buffer._storage.snapshot()
    buffer._storage.restore(rows, counters)
    assert buffer.update(old, np.ones(2)) == 0  # restored rows get new ids
    new = buffer.sample(2).idx
    assert buffer.update(new, np.ones(2)) == 2
    buffer.clear()
    buffer.add(make_batch([3]))
    assert buffer.update(new, np.ones(2)) == 0


@pytest.mark.parametrize("cls", [SimpleReplayBuffer, PrioritizedReplayBuffer])
def test_a_capacity_that_cannot_fit_fails_at_construction(cls, monkeypatch):
    # without an example the row size is unknown: the least a transition takes is checked
    with pytest.raises(MemoryError, match=r"capacity=1000000000000 needs .* GiB \(at the very "
                                          r"least: .* bytes per transition\), but only"):
        cls(10 ** 12)  # nothing is allocated before the check
    # with an example the storage is laid out and checked at construction
    example = make_batch([1, 2])
    monkeypatch.setattr(_checks, "available_memory", lambda: 10 ** 5)
    with pytest.raises(MemoryError, match=r"capacity=10000 needs .* GiB \(transitions like "
                                          r"this batch: \d+ bytes per transition\), but only "
                                          r"0.00 GiB"):
        cls(10_000, example_transition=example)
    monkeypatch.undo()
    buffer = cls(10_000, example_transition=example)
    assert buffer.nbytes > 0 and len(buffer) == 0  # allocated, empty
    buffer.add(make_batch([3, 4]))
    assert len(buffer) == 2
    with pytest.raises(TypeError, match="expected a TransitionBatch, got dict"):
        cls(10, example_transition={"S": np.zeros((1, 4))})


def test_ids_and_slots_invert_each_other_across_wraps_clears_and_restores():
    rng = np.random.default_rng(3)
    buffer = SimpleReplayBuffer(5, random_seed=0)
    storage, value = buffer._storage, 0
    for step in range(40):
        op = rng.integers(6)
        if op == 0 and len(buffer):
            storage.restore(*storage.snapshot())
        elif op == 1:
            buffer.clear()
        else:
            k = int(rng.integers(1, 8))
            buffer.add(make_batch(np.arange(value, value + k)))
            value += k
        if len(buffer):
            tb = buffer.sample(min(4, len(buffer)))
            slots, current = storage.slots(tb.idx)
            assert current.all()
            rows = storage.gather(slots, tb.W)
            np.testing.assert_array_equal(rows.Rn, tb.Rn)
            np.testing.assert_array_equal(rows.idx, tb.idx)
            # ids are consecutive in ring order: the newest row has the largest
            newest = storage.ids(np.array([(storage.position - 1) % 5]))[0]
            assert np.all(tb.idx <= newest) and np.all(tb.idx > newest - len(buffer))


def test_pytree_init_refuses_a_capacity_that_cannot_fit_before_allocating(monkeypatch):
    with pytest.raises(MemoryError, match=r"capacity=1000000000000 needs .* GiB \(the in-graph "
                                          r"buffer's arrays: \d+ bytes per transition\)"):
        PytreeReplayBuffer(10 ** 12).init(make_batch([1]))  # would be terabytes
    monkeypatch.setattr(_checks, "available_memory", lambda: 10 ** 4)
    with pytest.raises(MemoryError, match="only 0.00 GiB"):
        PytreeReplayBuffer(1000).init(make_batch([1]))
    monkeypatch.undo()
    assert PytreeReplayBuffer(1000).init(make_batch([1])).storage.A.shape == (1000,)
