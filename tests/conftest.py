"""Test configuration: strict JAX (rank promotion raises) and shared fixtures."""
import gymnasium as gym
import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import pytest

jax.config.update("jax_numpy_rank_promotion", "raise")


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
