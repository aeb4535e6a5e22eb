"""Test configuration: strict JAX (rank promotion raises), a compilation cache for the
session, and shared fixtures."""
import atexit
import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap

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


# XLA optimises every CPU program as for production use; most test programs are tiny and run
# a few times, so in the default run they are compiled quickly instead (about 30 % of the
# suite's CPU time). Results may differ in the last bits (another order of float operations),
# as between any two programs; speed differs more, so the slow run (training to a threshold,
# benchmarks in subprocesses) keeps XLA's defaults.
_QUICK_XLA = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"


def _slow_run(config):
    expression = config.option.markexpr or ""
    return "slow" in expression and "not slow" not in expression


def pytest_xdist_auto_num_workers(config):
    """``-n auto`` (the default run's addopts): one worker per core, at most 4 (each holds a
    JAX runtime of ~0.5 GB); the slow run stays in one process, because its benchmarks time
    themselves against floors and training tests use both cores already."""
    if _slow_run(config):
        return 0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(4, cores or 1))


def pytest_configure(config):
    if not _slow_run(config):
        # read when the backend starts, i.e. at the first computation, which is later
        os.environ["XLA_FLAGS"] = f"{_QUICK_XLA} {os.environ.get('XLA_FLAGS', '')}".strip()


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


_FINGERPRINTS_CHILD = textwrap.dedent("""
    import json, sys
    from typing import NamedTuple
    import gymnasium as gym, jax, jax.numpy as jnp
    import coaxlike
    from coaxlike.serialization import fingerprint
    from tests.conftest import mlp_type2
    class Pair(NamedTuple):
        first: object
        second: object
    tree = {"q": {name: jnp.zeros((4, 3)) for name in "zyxwvu"}, "key": jax.random.key(0),
            "pair": Pair(1.0, [jnp.zeros(2, jnp.int8)]), "state": {}}
    static = {"class": "m.Q", "sizes": [4, 3], "spaces": {"b": 1, "a": 2}}
    pi = coaxlike.EpsilonGreedy(coaxlike.Q(mlp_type2(2), gym.make("CartPole-v1"),
                                           random_seed=int(sys.argv[1])), 0.1)
    print(json.dumps({"tree": fingerprint(tree, static).hex(),
                      "policy": fingerprint(pi._serial_tree(), pi._serial_static()).hex()}))
""")


@pytest.fixture(scope="session")
def fingerprints_from_two_processes():
    """Fingerprints computed by two fresh interpreters that differ in hash seed and in the
    Q-function's random seed: ``[{"tree": hex, "policy": hex}, {...}]``. One pair of
    processes serves every cross-process test (each start costs seconds of imports)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    children = [subprocess.Popen([sys.executable, "-c", _FINGERPRINTS_CHILD, q_seed], cwd=root,
                                 env=dict(os.environ, PYTHONHASHSEED=hash_seed,
                                          JAX_PLATFORMS="cpu"),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for hash_seed, q_seed in (("1", "0"), ("2", "1"))]   # side by side
    outputs = []
    for child in children:
        out, err = child.communicate(timeout=300)
        assert child.returncode == 0, err
        outputs.append(json.loads(out.strip().splitlines()[-1]))
    return outputs
