"""Test configuration: strict JAX (rank promotion raises), a compilation cache for the
session, and shared fixtures."""
import atexit
import gc
import shutil
import tempfile

import gymnasium as gym
import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import pytest

jax.config.update("jax_numpy_rank_promotion", "raise")

# Many tests build a fresh Q or policy whose programs are identical to ones compiled before
# (same network, same shapes): a persistent compilation cache, private to this session, serves
# them from disk instead of recompiling (about a third of the suite's CPU time). It starts
# empty, so nothing leaks between runs. JAX reports a cache hit as a backend compilation
# (the "/jax/core/compile/backend_compile_duration" event that tests/_stats.count_compiles
# counts), so "compiles once" assertions keep their meaning.
_CACHE_DIR = tempfile.mkdtemp(prefix="coaxlike-tests-jax-cache-")
atexit.register(shutil.rmtree, _CACHE_DIR, ignore_errors=True)
jax.config.update("jax_compilation_cache_dir", _CACHE_DIR)
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """Drop JAX's compilation caches after each test module.

    Every ``Q`` and policy compiles its own programs, and JAX keeps each executable for the
    life of the process: over the whole suite that grew one pytest process to 3.1 GB. Tests
    never rely on a program compiled by another module, so nothing is recompiled in vain.
    """
    yield
    jax.clear_caches()
    gc.collect()


def mlp_type2(n_actions, hidden=(16,)):
    """A type-2 forward pass ``func(S, is_training) -> (B, n)``."""
    def func(S, is_training):
        return hk.nets.MLP([*hidden, n_actions])(jnp.reshape(S, (S.shape[0], -1)))
    return func


def mlp_type1(hidden=(16,)):
    """A type-1 forward pass ``func(S, A, is_training) -> (B,)``."""
    def func(S, A, is_training):
        x = jnp.concatenate([jnp.reshape(S, (S.shape[0], -1)), A], axis=-1)
        return hk.nets.MLP([*hidden, 1])(x)[:, 0]
    return func


def same_arrays(a, b):
    """Whether two pytrees have the same structure and the very same leaf objects (a setter
    that refused a value left the tree as it was)."""
    leaves_a, tree_a = jax.tree_util.tree_flatten(a)
    leaves_b, tree_b = jax.tree_util.tree_flatten(b)
    return tree_a == tree_b and all(x is y for x, y in zip(leaves_a, leaves_b))


class FakeEnv:
    """Anything with gymnasium spaces is an env for coaxlike."""

    def __init__(self, observation_space, action_space):
        self.observation_space = observation_space
        self.action_space = action_space


@pytest.fixture
def cartpole():
    env = gym.make("CartPole-v1")
    yield env
    env.close()


@pytest.fixture
def rng():
    return np.random.default_rng(0)
