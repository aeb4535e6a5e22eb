"""Building the parts a DQN agent composes: the env, the Q-function, policy, learner, buffer."""
import gymnasium as gym
import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import optax

from .. import _spaces
from .._checks import check_int
from ..experience_replay import PrioritizedReplayBuffer, SimpleReplayBuffer
from ..reward_tracing import NStep
from ..td_learning import DoubleQLearning, QLearning

__all__ = []  # private module

DEFAULT_N_ENVS = 4


def make_env(env, n_envs):
    """``(vector_env, env_id or None)`` from an id, a gymnasium env or a vector env."""
    if n_envs is not None:
        check_int(n_envs, "n_envs", 1)
    if isinstance(env, str):
        k = DEFAULT_N_ENVS if n_envs is None else int(n_envs)
        return gym.make_vec(env, num_envs=k, vectorization_mode="sync"), env
    env_id = getattr(getattr(env, "spec", None), "id", None)
    if hasattr(env, "single_action_space") and hasattr(env, "num_envs"):
        if n_envs is not None and n_envs != env.num_envs:
            raise ValueError(f"n_envs must be None or the vector env's num_envs="
                             f"{env.num_envs}, got {n_envs!r}")
        mode = env.metadata.get("autoreset_mode", gym.vector.AutoresetMode.NEXT_STEP)
        if mode != gym.vector.AutoresetMode.NEXT_STEP:
            raise ValueError("env must be a vector env in gymnasium's default NEXT_STEP "
                             f"autoreset mode, got {mode!r}")
        return env, env_id
    if not (hasattr(env, "action_space") and hasattr(env, "observation_space")
            and hasattr(env, "step")):
        raise TypeError("env must be a gymnasium env id (str), a gymnasium env or a vector "
                        f"env, got {type(env).__name__}")
    if n_envs not in (None, 1):
        raise ValueError(f"n_envs must be None or 1 for a single env instance, got {n_envs!r}"
                         " (pass an env id or a vector env for more)")
    return gym.vector.SyncVectorEnv([lambda: env]), env_id


def check_action_space(envs):
    space = envs.single_action_space
    if not isinstance(space, gym.spaces.Discrete):
        raise TypeError(f"DQN needs a Discrete action space, got {space!r}")
    return space


def mlp(hidden, n_actions, distributional=None, num_bins=None):
    """The default Q-network: ``func(S, is_training) -> (B, n_actions)``, ReLU MLP; with
    ``distributional`` its ``n_actions * num_bins`` outputs reshaped to ``{'logits'`` (or
    ``'values'`` for quantiles) ``: (B, n_actions, num_bins)}``."""
    def func(S, is_training):
        x = hk.Flatten()(S) if S.ndim > 2 else S
        if distributional is None:
            return hk.nets.MLP([*hidden, n_actions])(x)
        out = hk.nets.MLP([*hidden, n_actions * num_bins])(x)
        key = "logits" if distributional == "categorical" else "values"
        return {key: jnp.reshape(out, (-1, n_actions, num_bins))}
    return func


def make_optimizer(learning_rate, max_grad_norm, adam_eps):
    adam = optax.adam(learning_rate, eps=adam_eps)
    if max_grad_norm is None:
        return adam
    return optax.chain(optax.clip_by_global_norm(max_grad_norm), adam)


def make_learner(q, double, optimizer):
    cls = DoubleQLearning if double else QLearning
    return cls(q, q_targ=q.copy(), optimizer=optimizer)


def make_buffer(prioritized, capacity, seed):
    if prioritized:
        # the documented agent setting (Schaul et al.'s proportional variant), not the
        # buffer's coax-compatible alpha = beta = 1 defaults
        return PrioritizedReplayBuffer(capacity, alpha=0.6, beta=0.4, random_seed=seed)
    return SimpleReplayBuffer(capacity, random_seed=seed)


def strip_window(tb):
    """The fields a learner without a target policy reads (the window fields are dropped)."""
    return tb._replace(A_seq=None, logP_seq=None, R_seq=None, gamma_seq=None,
                       valid_seq=None, S_seq=None, mask_seq=None)


def template_rows(observation_space, n_step, gamma, action_space):
    """One stripped transition of the shapes and dtypes the tracer emits (to allocate the
    buffer up front, so that its storage has a fixed skeleton for saving)."""
    tracer = NStep(n_step, gamma, num_envs=1)
    s = _spaces.example_batch(observation_space, 1)
    a = np.full((1,), int(action_space.start), np.int64)
    for _ in range(n_step + 1):
        tracer.add(s, a, np.zeros(1), np.zeros(1, bool), np.zeros(1))
    return strip_window(tracer.pop())


def allocate(buffer, template):
    """Allocate ``buffer``'s storage from ``template`` and leave it empty."""
    buffer.add(template)
    buffer.clear()


def example_obs(observation_space, n):
    return jax.tree_util.tree_map(np.asarray, _spaces.example_batch(observation_space, n))
