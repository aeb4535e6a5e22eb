"""Initial arrays made from a seed in one compiled call (coaxlike._seeding): the same values
as the eager key operations, for every seed and PRNG implementation, and few compiles."""
import gymnasium as gym
import haiku as hk
import jax
import numpy as np
import optax
import pytest
from hypothesis import given, settings, strategies as st

import coaxlike
from coaxlike._seeding import fold_in_seed, seeded_program

IMPLS = ("threefry2x32", "unsafe_rbg")
EDGE_SEEDS = (0, 1, -1, 2**31 - 1, -2**31, 2**31, 2**32 - 1, 2**40, -2**40)


def _data(key):
    return np.asarray(jax.random.key_data(key))


def _split(key):
    return jax.random.split(key, 3)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("seed", EDGE_SEEDS)
def test_keys_equal_the_eager_ones(impl, seed):
    with jax.default_prng_impl(impl):
        np.testing.assert_array_equal(_data(seeded_program(_split)(seed)),
                                      _data(jax.random.split(jax.random.key(seed), 3)))
        np.testing.assert_array_equal(_data(fold_in_seed(seed, 7)),
                                      _data(jax.random.fold_in(jax.random.key(seed), 7)))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(-2**62, 2**62), data=st.integers(0, 2**32 - 1))
def test_fold_in_equals_the_eager_one(seed, data):
    np.testing.assert_array_equal(_data(fold_in_seed(seed, data)),
                                  _data(jax.random.fold_in(jax.random.key(seed), data)))


def test_the_implementation_in_force_is_used():
    """jit's cache does not tell PRNG implementations apart: the helper must."""
    a, c0 = seeded_program(_split)(5), fold_in_seed(5, 1)  # threefry's programs first
    with jax.default_prng_impl("unsafe_rbg"):
        b = seeded_program(_split)(5)
        c = fold_in_seed(5, 1)
    assert _data(a).shape == (3, 2) and _data(b).shape == (3, 4)
    assert _data(c0).shape == (2,) and _data(c).shape == (4,)
    assert jax.random.key_impl(b) == jax.random.key_impl(jax.random.key(0, impl="unsafe_rbg"))


def _func(S, is_training):
    return hk.nets.MLP([8, 2])(S)


@pytest.mark.parametrize("seed", (3, 2**33))
def test_q_params_and_key_from_its_seed(seed):
    """Q's parameters are the network's (compiled) initialisation with the first half of
    ``split(key(seed))``, its key the second half; a learner's key is ``fold_in(key(seed),
    7)`` and its optimizer state the optimizer's initial state (all as made eagerly)."""
    env = gym.make("CartPole-v1")
    q = coaxlike.Q(_func, env, random_seed=seed)
    init_key, key = jax.random.split(jax.random.key(seed))
    S = np.zeros((2, 4), np.float32)
    # jitted, as Q initialises (eager op-by-op initialisation differs in the last bit)
    params, state = jax.jit(lambda k: hk.transform_with_state(_func).init(k, S, True))(
        init_key)
    jax.tree_util.tree_map(np.testing.assert_array_equal, q.params, params)
    np.testing.assert_array_equal(_data(q._key), _data(key))
    learner = coaxlike.td_learning.QLearning(q, optimizer=optax.adam(1e-3))
    np.testing.assert_array_equal(_data(learner._key),
                                  _data(jax.random.fold_in(jax.random.key(seed), 7)))
    jax.tree_util.tree_map(np.testing.assert_array_equal, learner.optimizer_state,
                           optax.adam(1e-3).init(params))


_COUNT_COMPILES = """
import jax
from coaxlike.agents import DQN
names = []
jax.monitoring.register_event_duration_secs_listener(
    lambda name, secs, **kw: names.append(name)
    if name == "/jax/core/compile/backend_compile_duration" else None)
DQN("CartPole-v1", seed=11, n_envs=1)
print(len(names))
"""


@pytest.mark.slow
def test_building_an_agent_compiles_a_few_programs():
    """In a fresh process, building DQN compiles a few programs (the schedule's check, two
    scalar conversions): its parameters, optimizer state and keys are made on first read,
    each in one compiled program, not one per eager operation (there were 25 compiles)."""
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-c", _COUNT_COMPILES], capture_output=True,
                         text=True, check=True, timeout=300)
    assert 1 <= int(out.stdout.split()[-1]) <= 5, out.stdout


def test_a_learners_optimizer_state_is_made_from_the_parameters_it_was_built_with():
    """On parameters already made, the optimizer state is made at construction (as before
    deferral existed); the key on first use. An optimizer whose state holds the parameters
    sees those of construction, not later ones."""
    from coaxlike._deferred import Deferred
    env = gym.make("CartPole-v1")
    q = coaxlike.Q(_func, env, random_seed=0)
    built_with = q.params  # made
    holds_params = optax.GradientTransformation(lambda params: {"p": params},
                                                lambda g, s, p=None: (g, s))
    learner = coaxlike.td_learning.QLearning(q, optimizer=holds_params)
    assert not isinstance(learner.__dict__["_opt_state"], Deferred)
    assert isinstance(learner.__dict__["_key"], Deferred)
    q.params = jax.tree_util.tree_map(lambda x: x + 1, q.params)
    jax.tree_util.tree_map(np.testing.assert_array_equal, learner.optimizer_state["p"],
                           built_with)


def test_an_agent_built_for_its_functions_makes_no_parameters_optimizer_state_or_keys():
    from coaxlike._deferred import Deferred
    from coaxlike.agents import DQN
    agent = DQN("CartPole-v1", hidden=(8,), n_envs=1)
    params = agent.init_params(jax.random.key(0))
    agent.init_optimizer(params)
    for obj, name in ((agent.learner, "_opt_state"), (agent.learner, "_key"),
                      (agent.policy, "_key"), (agent.q, "_params"), (agent.q_targ, "_params")):
        assert isinstance(obj.__dict__[name], Deferred), name
    np.testing.assert_array_equal(  # made when read: the value made eagerly before
        _data(agent.policy._key),
        _data(jax.random.fold_in(jax.random.key(0), type(agent.policy)._seed_salt)))


def test_q_parameters_are_made_on_first_read_with_the_prng_of_construction():
    import pickle
    from coaxlike._deferred import Deferred
    env = gym.make("CartPole-v1")
    with jax.default_prng_impl("unsafe_rbg"):
        q = coaxlike.Q(_func, env, random_seed=5)
        expected = coaxlike.Q(_func, env, random_seed=5).params  # made inside
    assert isinstance(q.__dict__["_params"], Deferred)
    target = q.copy()  # before either is made
    restored = pickle.loads(pickle.dumps(q))  # pickling makes them
    jax.tree_util.tree_map(np.testing.assert_array_equal, q.params, expected)
    jax.tree_util.tree_map(np.testing.assert_array_equal, restored.params, expected)
    assert _data(q._key).shape == (4,)  # an unsafe_rbg key, made outside the context
    q.params = jax.tree_util.tree_map(lambda x: x + 1, q.params)
    jax.tree_util.tree_map(np.testing.assert_array_equal, target.params, expected)


def test_a_learner_built_on_deferred_parameters_initialises_its_optimizer_on_them():
    from coaxlike._deferred import Deferred
    env = gym.make("CartPole-v1")
    q = coaxlike.Q(_func, env, random_seed=6)
    holds_params = optax.GradientTransformation(lambda params: {"p": params},
                                                lambda g, s, p=None: (g, s))
    learner = coaxlike.td_learning.QLearning(q, q_targ=q.copy(), optimizer=holds_params)
    assert isinstance(learner.__dict__["_opt_state"], Deferred)
    initial = q.params
    q.params = jax.tree_util.tree_map(lambda x: x * 2, q.params)
    jax.tree_util.tree_map(np.testing.assert_array_equal, learner.optimizer_state["p"],
                           initial)
    jax.tree_util.tree_map(np.testing.assert_array_equal, learner.q_targ.params, initial)


def test_a_q_and_its_compiled_initialisation_are_freed_together():
    """The initialisation program is the Q's own (not in a process-wide cache that would
    keep every Q alive)."""
    import gc
    import weakref
    env = gym.make("CartPole-v1")
    q = coaxlike.Q(_func, env, random_seed=1)
    q.params  # made
    unread = coaxlike.Q(_func, env, random_seed=2)  # never made
    refs = [weakref.ref(q), weakref.ref(unread)]
    del q, unread
    gc.collect()
    assert [ref() for ref in refs] == [None, None]
