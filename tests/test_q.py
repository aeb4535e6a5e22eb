"""Q: modeltype detection, output checks, preprocessors, validating setters, copies."""
import gymnasium as gym
import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import coaxlike
from .conftest import FakeEnv, mlp_type1, mlp_type2, same_arrays

BOX4 = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)


def test_modeltype_detection_and_values(cartpole):
    q2 = coaxlike.Q(mlp_type2(2), cartpole, random_seed=0)
    q1 = coaxlike.Q(mlp_type1(), cartpole, random_seed=0)
    assert (q2.modeltype, q1.modeltype) == (2, 1)
    s = np.array([0.1, -0.2, 0.03, 0.4], np.float32)
    values = q2(s)
    assert values.shape == (2,) and values.dtype == np.float32
    q_sa = q2(s, 1)   # a 0-d array, as coax returns it
    assert isinstance(q_sa, np.ndarray) and q_sa.shape == () and q_sa.dtype == np.float32
    assert q_sa == values[1]
    # type-1 evaluated on every action in one call agrees with calling it per action
    v1 = q1(s)
    assert v1.shape == (2,)
    # two programs, so float32 rounding may differ in the last bits of values near 0
    assert [q1(s, a) for a in (0, 1)] == pytest.approx(v1.tolist(), rel=1e-6, abs=1e-7)


def test_type1_and_type2_views_agree():
    env = FakeEnv(BOX4, gym.spaces.Discrete(3))
    q = coaxlike.Q(mlp_type2(3), env, random_seed=1)
    S = jnp.asarray(np.random.default_rng(0).normal(size=(5, 4)), jnp.float32)
    Q2, _ = q.function_type2(q.params, q.function_state, None, S, False)
    A = jax.nn.one_hot(jnp.array([0, 2, 1, 1, 0]), 3)
    Q1, _ = q.function_type1(q.params, q.function_state, None, S, A, False)
    np.testing.assert_allclose(np.asarray(Q1), np.asarray(Q2)[np.arange(5), [0, 2, 1, 1, 0]],
                               rtol=1e-6)


# coax's exception types and message texts (users' tests match them with regexes): the
# shapes are stated for one example, as coax states them
@pytest.mark.parametrize("func, match", [
    (lambda S, is_training: hk.Linear(3)(S),
     r"^func has bad return shape, expected: \(1, 2\), got: \(1, 3\) \("),
    (lambda S, is_training: hk.Linear(2)(S)[:, 0],
     r"^func has bad return shape, expected: \(1, 2\), got: \(1,\) \("),
    (lambda S, A, is_training: hk.Linear(1)(S),
     r"^func has bad return shape, expected: \(1,\), got: \(1, 1\) \("),
    # a forward pass that only works on two rows: the shapes on two rows are reported
    (lambda S, A, is_training: jnp.reshape(hk.Linear(1)(S), (2, 1)),
     r"^func has bad return shape, expected: \(2,\), got: \(2, 1\) \("),
])
def test_wrong_output_shape_raises_coax_type_error(cartpole, func, match):
    with pytest.raises(TypeError, match=match):
        coaxlike.Q(func, cartpole)


def test_wrong_output_dtype_raises_coax_type_error(cartpole):
    with pytest.raises(TypeError, match=r"^func has bad return dtype; expected a subdtype of "
                       r"jnp\.floating, got dtype=int32$"):
        coaxlike.Q(lambda S, is_training: hk.Linear(2)(S).astype(jnp.int32), cartpole)


def test_bad_signature_and_spaces_raise(cartpole):
    with pytest.raises(TypeError, match=r"^func has bad signature; expected: func\(S, A, "
                       r"is_training\) or func\(S, is_training\), got: func\(S\) \("):
        coaxlike.Q(lambda S: S, cartpole)
    with pytest.raises(TypeError, match=r"got: func\(S, A, is_training, x\) \("):
        coaxlike.Q(lambda S, A, is_training, x: S, cartpole)
    with pytest.raises(TypeError, match="func must be callable"):
        coaxlike.Q(3, cartpole)
    with pytest.raises(TypeError, match="observation_space"):
        coaxlike.Q(mlp_type2(2), object())
    box_actions = FakeEnv(BOX4, gym.spaces.Box(-1, 1, (2,)))
    with pytest.raises(TypeError, match=r"^type-2 q-functions are only well-defined for "
                       r"Discrete action spaces: .*got Box\("):
        coaxlike.Q(mlp_type2(2), box_actions)


def test_wrong_types_are_type_errors_and_bad_values_value_errors(cartpole):
    q = coaxlike.Q(mlp_type2(2), cartpole, random_seed=0)
    for seed in ("0", 1.5, True):   # not converted (int("0"), int(1.5) would hide a mistake)
        with pytest.raises(TypeError, match="random_seed must be an int or None, got"):
            coaxlike.Q(mlp_type2(2), cartpole, random_seed=seed)
    with pytest.raises(TypeError, match="tau must be a float in"):
        q.copy().soft_update(q, "0.5")
    with pytest.raises(ValueError, match=r"tau must be in \[0, 1\], got 1.5"):
        q.copy().soft_update(q, 1.5)


def test_coax_style_preprocessors_with_an_rng_argument_are_refused(cartpole):
    def coax_style(rng, x):
        return x
    for argname in ("observation_preprocessor", "action_preprocessor"):
        with pytest.raises(TypeError, match=rf"^{argname} must take one argument, a batch X, "
                           r"got signature \(rng, x\): .*drop the rng argument"):
            coaxlike.Q(mlp_type1(), cartpole, **{argname: coax_style})
    with pytest.raises(TypeError, match="observation_preprocessor must be callable or None"):
        coaxlike.Q(mlp_type1(), cartpole, observation_preprocessor="onehot")
    # one-argument preprocessors, with or without extra defaults, are used as given
    q = coaxlike.Q(mlp_type1(), cartpole, observation_preprocessor=lambda S, scale=2.0: S * scale,
                   random_seed=0)
    assert q(np.ones(4, np.float32), 1).shape == ()


def test_type1_with_box_actions():
    env = FakeEnv(BOX4, gym.spaces.Box(-1, 1, (2,), np.float32))
    q = coaxlike.Q(mlp_type1(), env, random_seed=0)
    value = q(np.zeros(4, np.float32), np.array([0.5, -0.5], np.float32))
    assert isinstance(value, np.ndarray) and value.shape == () and np.isfinite(value)
    with pytest.raises(ValueError, match=r"^input 'A' is required for type-1 q-function when "
                       r"action space is non-Discrete: pass a"):
        q(np.zeros(4, np.float32))  # coax's error type and message
    with pytest.raises(TypeError, match="Discrete action space"):
        coaxlike.EpsilonGreedy(q)


@pytest.mark.parametrize("space, good, bad", [
    (gym.spaces.Discrete(5, start=10), [10, 14, np.int64(12)], [9, 15, 2.5, "a"]),
    (gym.spaces.MultiDiscrete([3, 2]), [np.array([2, 1])], [np.array([3, 0]), np.array([1])]),
    (gym.spaces.MultiBinary(3), [np.array([1, 0, 1])], [np.array([2, 0, 0]), np.zeros(2)]),
    (BOX4, [np.zeros(4, np.float32), [0.0, 1.0, 2.0, 3.0]], [np.zeros(3), np.array(["a"] * 4)]),
    (gym.spaces.Tuple((gym.spaces.Discrete(2), BOX4)), [(1, np.zeros(4))],
     [(2, np.zeros(4)), (1,), 5]),
    (gym.spaces.Dict({"x": BOX4, "k": gym.spaces.Discrete(3)}),
     [{"x": np.zeros(4), "k": 2}], [{"x": np.zeros(4)}, {"x": np.zeros(4), "k": 3}]),
])
def test_observation_spaces(space, good, bad):
    def func(S, is_training):
        flat = jnp.concatenate([jnp.reshape(x, (x.shape[0], -1))
                                for x in jax.tree_util.tree_leaves(S)], axis=-1)
        return hk.Linear(2)(flat)
    q = coaxlike.Q(func, FakeEnv(space, gym.spaces.Discrete(2)), random_seed=0)
    for s in good:
        assert q(s).shape == (2,)
    for s in bad:
        with pytest.raises(ValueError, match="^s"):
            q(s)


def test_discrete_observation_one_hot_honours_start():
    q = coaxlike.Q(lambda S, is_training: S[:, :2] * 10.0,
                   FakeEnv(gym.spaces.Discrete(3, start=-1), gym.spaces.Discrete(2)))
    np.testing.assert_array_equal(q(-1), [10.0, 0.0])
    np.testing.assert_array_equal(q(0), [0.0, 10.0])
    np.testing.assert_array_equal(q(1), [0.0, 0.0])


def test_params_setter_validates_and_leaves_object_unchanged(cartpole):
    q = coaxlike.Q(mlp_type2(2), cartpole, random_seed=0)
    old = q.params
    wrong_shape = jax.tree_util.tree_map(lambda x: x, old)
    wrong_shape["mlp/~/linear_0"]["w"] = jnp.zeros((4, 3))
    with pytest.raises(ValueError, match=r"params\['mlp/~/linear_0'\]\['w'\].*\(4, 16\).*\(4, 3\)"):
        q.params = wrong_shape
    wrong_dtype = jax.tree_util.tree_map(lambda x: x.astype(jnp.float16), old)
    with pytest.raises(ValueError, match="dtype float32, got .*float16"):
        q.params = wrong_dtype
    missing = {k: v for k, v in old.items() if k != "mlp/~/linear_1"}
    with pytest.raises(TypeError, match="linear_1"):
        q.params = missing
    with pytest.raises(TypeError, match="function_state"):
        q.function_state = {"bn": {"mean": jnp.zeros(3)}}
    assert same_arrays(q.params, old)
    new = jax.tree_util.tree_map(lambda x: x + 1.0, old)
    q.params = new
    np.testing.assert_array_equal(q.params["mlp/~/linear_1"]["b"], old["mlp/~/linear_1"]["b"] + 1)


def test_copy_is_independent_and_soft_update(cartpole):
    q = coaxlike.Q(mlp_type2(2), cartpole, random_seed=0)
    q_targ = q.copy()
    s = np.ones(4, np.float32)
    np.testing.assert_array_equal(q(s), q_targ(s))
    q.params = jax.tree_util.tree_map(lambda x: x + 1.0, q.params)
    assert not np.allclose(q(s), q_targ(s))
    before = q_targ.params["mlp/~/linear_0"]["b"]
    q_targ.soft_update(q, tau=0.25)
    # b_targ <- 0.25 * (b + 1) + 0.75 * b = b + 0.25
    np.testing.assert_allclose(q_targ.params["mlp/~/linear_0"]["b"], before + 0.25, rtol=1e-6)
    q_targ.soft_update(q, tau=1.0)
    np.testing.assert_array_equal(q(s), q_targ(s))
    with pytest.raises(ValueError, match=r"tau must be in \[0, 1\], got 1.5"):
        q_targ.soft_update(q, 1.5)


def test_batchnorm_function_state(cartpole):
    def func(S, is_training):
        x = hk.BatchNorm(True, True, 0.9)(S, is_training)
        return hk.Linear(2)(x)
    q = coaxlike.Q(func, cartpole, random_seed=0)
    assert set(q.function_state) == {"batch_norm/~/mean_ema", "batch_norm/~/var_ema"}
    S = jnp.ones((3, 4))
    _, new_state = q.function(q.params, q.function_state, None, S, True)
    q.function_state = new_state
    assert q(np.ones(4, np.float32)).shape == (2,)


def test_vector_env_batches():
    envs = gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1")] * 3)
    q = coaxlike.Q(mlp_type2(2), envs, random_seed=0)
    S, _ = envs.reset(seed=0)
    assert q.batched and q(S).shape == (3, 2)
    np.testing.assert_allclose(q(S, np.array([0, 1, 0])), q(S)[np.arange(3), [0, 1, 0]],
                               rtol=1e-6)
    with pytest.raises(ValueError, match=r"shape \(batch, 4,\)"):
        q(S[0])
    envs.close()


def test_same_seed_same_params(cartpole):
    a = coaxlike.Q(mlp_type2(2), cartpole, random_seed=3)
    b = coaxlike.Q(mlp_type2(2), cartpole, random_seed=3)
    c = coaxlike.Q(mlp_type2(2), cartpole, random_seed=4)
    s = np.ones(4, np.float32)
    np.testing.assert_array_equal(a(s), b(s))
    assert not np.allclose(a(s), c(s))


def test_params_and_state_reads_cannot_bypass_the_setter(cartpole):
    q = coaxlike.Q(mlp_type2(2), cartpole, random_seed=0)
    s = np.array([0.1, -0.2, 0.03, 0.4], np.float32)
    before, values = q.params, q(s)
    edited = q.params
    edited["mlp/~/linear_0"]["w"] = jnp.zeros((4, 3))    # the wrong shape, in place
    edited["intruder"] = {"w": jnp.zeros(1)}
    del edited["mlp/~/linear_1"]
    assert same_arrays(q.params, before)
    np.testing.assert_array_equal(q(s), values)
    state = q.function_state
    state["bn"] = {"mean": jnp.zeros(3)}
    assert q.function_state == {}
    # the leaves are shared, not copied: reading params stays cheap
    assert q.params["mlp/~/linear_0"]["w"] is before["mlp/~/linear_0"]["w"]
