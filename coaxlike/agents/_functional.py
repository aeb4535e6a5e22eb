r"""The pure core of the DQN agent: pytrees and pure functions over them.

Everything here is built from the pure functions of the parts the agent composes (the
policy's ``sample_func`` / ``mode_func`` / ``params_func``, the learner's ``update_func``,
:func:`~coaxlike.td_learning.sync_target`), closed over a static :class:`_Static`. The
shell (:class:`~coaxlike.agents.DQN`) exposes them bound as ``agent.predict_func``,
``agent.update_func`` and ``agent.train_func``.
"""
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from ..distributions import greedy_index
from ..policies._pure import _draw_from_logits
from ..td_learning import LearnerState, sync_target
from ..td_learning._update import _select_tree

__all__ = ["DQNParams", "DQNOptState", "PolicyState", "PolicyOutput"]


class DQNParams(NamedTuple):
    """The networks of a DQN agent: a pytree.

    Attributes:
        q: the online Q-function's haiku parameters.
        function_state: its haiku function state (``{}`` for a plain MLP).
        q_targ: the target network's parameters (same structure as ``q``).
        target_function_state: its function state.
    """

    q: Any
    function_state: Any
    q_targ: Any
    target_function_state: Any


class DQNOptState(NamedTuple):
    """The optimizer side of a DQN agent: a pytree.

    Attributes:
        optimizer: the optax state of the learner's optimizer.
        updates: int32 scalar, gradient updates done so far; places target-network syncs
            (see :meth:`~coaxlike.agents.DQN.update_func`).
    """

    optimizer: Any
    updates: Any


class PolicyState(NamedTuple):
    """The acting side's state: a pytree.

    Attributes:
        step: int32 scalar, env steps taken so far (one per observation acted on); the
            exploration schedule is evaluated at it.
    """

    step: Any


class PolicyOutput(NamedTuple):
    """What :meth:`~coaxlike.agents.DQN.predict_func` returns for a batch of ``B``
    observations.

    Attributes:
        actions: int32 ``(B,)`` env actions.
        q_values: float32 ``(B, n_actions)``, the online network's values (for a
            distributional agent the means of its distributions, in network space).
        epsilon: float32 scalar, the exploration hyperparameter used (epsilon for
            epsilon-greedy, the temperature for a Boltzmann policy); 0 when evaluating.
        logp: float32 ``(B,)``, the exact log-propensity of each action under the policy
            that chose it (greedy with uniform tie-breaking when evaluating:
            ``-log(number of tied maxima)``).
    """

    actions: Any
    q_values: Any
    epsilon: Any
    logp: Any


class _Static(NamedTuple):
    """What the pure functions close over (all static under ``jit``)."""

    # (params, state, rng, S, is_training) -> ((B, n), state): a Q's function_type2, a
    # StochasticQ's network-space means
    q_function: Callable
    preprocess: Callable  # raw observations -> network input
    pi: Any  # the exploration policy (its pure functions and params_func)
    schedule: Callable  # env step (int32) -> hyperparameter
    update: Callable  # learner.update_func
    step: Callable  # learner._step_func: unguarded, -> (state, metrics, td_error, ok)
    td_error: Callable  # learner.td_error_func
    hyperparams: Any  # learner hyperparameters (constants)
    uses_rng: bool
    action_start: int
    # target syncs: after update u when (u * env_steps_num) // (target_den) increments
    env_steps_num: int  # train_freq * n_envs
    target_den: int  # gradient_steps * target_update_interval
    tau: float


def _split(static, key, num):
    return tuple(jax.random.split(key, num))


def predict(static, params, policy_state, obs, key, evaluation=False):
    """Pure acting; see :meth:`DQN.predict_func`.

    One forward pass: the policy's distribution is built from its Q-values (the policy's
    logits builder; :func:`~coaxlike.distributions.greedy_index` when evaluating), which
    is what the policy's ``sample_func`` / ``mode_func`` compute from ``S``. The key goes
    whole to that one draw unless the network draws random numbers too (then it is split
    in two): a compiled loop around this function traces one forward pass and one
    random-number call per step instead of two and three. ``key=None`` when evaluating
    (and the network draws no random numbers): the first maximum, no draw at all.
    """
    if key is None and (not evaluation or static.uses_rng):
        raise ValueError("key must be a JAX PRNG key (None only when evaluating with a "
                         f"network that draws no random numbers), got None with "
                         f"evaluation={evaluation!r}")
    S = static.preprocess(obs)
    rng_q, rng_pi = _split(static, key, 2) if static.uses_rng else (None, key)
    q_values, _ = static.q_function(params.q, params.function_state, rng_q, S, False)
    if evaluation and key is None:  # deterministic: the first maximum, no random draw
        finite = jnp.all(jnp.isfinite(q_values), axis=-1)
        index = jnp.where(finite, jnp.argmax(q_values, axis=-1).astype(jnp.int32), -1)
        logp = jnp.where(finite, jnp.float32(0), jnp.float32(jnp.nan))
        return (PolicyOutput(index + static.action_start, q_values, jnp.float32(0), logp),
                policy_state)
    if evaluation:
        actions = greedy_index(q_values, rng_pi) + static.action_start
        ties = jnp.sum(q_values == jnp.max(q_values, axis=-1, keepdims=True), axis=-1)
        logp = -jnp.log(ties.astype(jnp.float32))
        return PolicyOutput(actions, q_values, jnp.float32(0), logp), policy_state
    hp = jnp.asarray(static.schedule(policy_state.step), jnp.float32)
    index, logp = _draw_from_logits(static.pi._builder(q_values, hp, None), rng_pi)
    actions = index + static.action_start
    step = policy_state.step + jnp.asarray(actions.shape[0], policy_state.step.dtype)
    return PolicyOutput(actions, q_values, hp, logp), PolicyState(step)


def _learner_state(static, params, opt_state):
    return LearnerState(params=params.q, function_state=params.function_state,
                        opt_state=opt_state.optimizer, target_params=params.q_targ,
                        target_function_state=params.target_function_state, pi_targ=None,
                        hyperparams=static.hyperparams)


def _sync_due(static, updates):
    """Whether an env-step multiple of ``target_update_interval`` falls between update
    ``updates - 1`` and ``updates`` (>= 1): a bool scalar."""
    num, den = static.env_steps_num, static.target_den
    return (updates * num) // den > ((updates - 1) * num) // den


def target_tau(static, updates):
    """The sync weight after update number ``updates`` (>= 1): ``tau`` where an env-step
    multiple of ``target_update_interval`` falls between update ``updates - 1`` and
    ``updates``, else 0. An int32 scalar in, a float32 scalar out."""
    return jnp.where(_sync_due(static, updates), jnp.float32(static.tau), jnp.float32(0))


def _synced_targets(static, ls, updates):
    """The target fields after update ``updates``: the values of ``sync_target(ls,
    target_tau(static, updates))``, computed as :func:`sync_target` with the static ``tau``
    (a copy when it is 1) kept where :func:`_sync_due`, one select per leaf: no traced mix
    of every leaf (the cheaper program to compile), and no ``lax.cond`` (slow inside a
    scan on XLA:CPU)."""
    synced = sync_target(ls, static.tau)
    return _select_tree(_sync_due(static, updates),
                        (synced.target_params, synced.target_function_state),
                        (ls.target_params, ls.target_function_state))


def update(static, params, opt_state, batch, key=None, guarded=True):
    """Pure: one gradient step and the target sync it brings; see :meth:`DQN.update_func`.

    ``guarded=False`` applies the step whatever its batch and gradients (no in-graph range
    check and no select of every parameter and optimizer leaf on the result): for loops
    that check the whole result once at the end, as :func:`train` does for the agent's
    rounds. The values of an accepted step are the same either way."""
    ls = _learner_state(static, params, opt_state)
    rng = key if static.uses_rng else None
    if guarded:
        ls, metrics = static.update(ls, batch, rng)
    else:
        ls, metrics, _, _ = static.step(ls, batch, rng)
    updates = opt_state.updates + 1
    q_targ, target_function_state = _synced_targets(static, ls, updates)
    return (DQNParams(ls.params, ls.function_state, q_targ, target_function_state),
            DQNOptState(ls.opt_state, updates), metrics)


def train(static, params, opt_state, batches, key, with_td_error=False, guarded=True,
          keep=None):
    """Pure: ``G`` gradient steps as one ``lax.scan``; see :meth:`DQN.train_func`.

    The agent's own rounds call it with ``guarded=False`` (see :func:`update`): a round
    whose result is not finite is thrown away whole by the shell, so a per-update guard
    would only cost time. Measured on a 2-core CPU, a round of 128 updates of a 256x256
    MLP: the guard's selects, which wait for the global gradient norm, doubled the round's
    CPU time, apparently XLA's two worker threads waiting on each other (pinned to one
    core, the guarded round was within 5-8% of a hand-written scan). ``keep``: the names of
    the metrics to return (``None``: all), so that XLA drops the rest of the work."""
    def body(carry, batch):
        params, opt_state, key = carry
        key, rng = jax.random.split(key)
        rng_td, rng_up = jax.random.split(rng)
        extra = {}
        if with_td_error:
            extra["td_error"] = static.td_error(_learner_state(static, params, opt_state),
                                                batch, rng_td if static.uses_rng else None)
        params, opt_state, metrics = update(static, params, opt_state, batch, rng_up,
                                            guarded)
        metrics = {**metrics, **extra}
        if keep is not None:
            metrics = {name: metrics[name] for name in keep}
        return (params, opt_state, key), metrics

    (params, opt_state, key), metrics = jax.lax.scan(body, (params, opt_state, key), batches)
    finite = jnp.all(jnp.isfinite(metrics["loss"]))
    for leaf in jax.tree_util.tree_leaves(params.q):
        finite &= jnp.all(jnp.isfinite(leaf))
    return params, opt_state, key, metrics, finite
