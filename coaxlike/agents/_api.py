"""The DQN agent's functional API in baselax's shape: pure functions over pytrees.

Each function here is a method of :class:`~coaxlike.agents.DQN` (``DQN.init_params =
init_params``, ...), bound to an agent for its static parts (Q-function, policy, schedule,
learner); the arrays it reads and returns are all arguments. They call the pure core of
``_functional``.
"""
import jax.numpy as jnp

from . import _build, _functional
from ._functional import DQNOptState, DQNParams, PolicyState

__all__ = []  # private module: the functions are DQN's methods


def init_params(self, key):
    """Pure: fresh network parameters (the target a copy), e.g. one set per seed.

    Args:
        key: a JAX PRNG key.

    Returns:
        :class:`~coaxlike.agents.DQNParams`, with the structure of :attr:`params`.
    """
    S = self.q.observation_preprocessor(_build.example_obs(self.q.observation_space, 1))
    params, state = self._init_net(key, S, True)
    return DQNParams(params, state, params, state)


def init_policy(self, key=None):
    """A fresh :class:`~coaxlike.agents.PolicyState` (step 0). ``key`` is unused (the
    policy draws from the key passed to :meth:`predict_func`); kept for the baselax
    signature."""
    del key
    return PolicyState(jnp.zeros((), jnp.int32))


def init_optimizer(self, params):
    """Pure: a fresh :class:`~coaxlike.agents.DQNOptState` for ``params`` (update
    count 0)."""
    return DQNOptState(self.learner.optimizer.init(params.q), jnp.zeros((), jnp.int32))


def predict_func(self, params, policy_state, obs, key, evaluation=False):
    """Pure acting on a batch: jit-, vmap- and scan-able.

    The policy's hyperparameter is ``exploration(policy_state.step)``, evaluated
    in-graph; the step advances by the batch size ``B`` (not when evaluating). One forward
    pass: actions are drawn from the policy's distribution built on the returned
    ``q_values`` (the distribution of the policy's ``sample_func``; when evaluating,
    :func:`~coaxlike.distributions.greedy_index`'s), with ``key`` used whole for that one
    draw (split in two only when the network draws random numbers too), so a compiled loop
    traces less. The draws differ from those of ``agent.policy`` under the same key; their
    distribution and log-propensities are the same.

    Args:
        params: :class:`~coaxlike.agents.DQNParams`.
        policy_state: :class:`~coaxlike.agents.PolicyState`.
        obs: raw observations, a batch ``(B, ...)``.
        key: a JAX PRNG key; or ``None`` when evaluating with a network that draws no
            random numbers: then each row takes the *first* of its greedy actions, a
            deterministic policy (log-propensity 0, NaN and action ``start - 1`` for a
            row with a non-finite Q-value), with no random draw to trace or compile.
        evaluation: a Python bool (static): greedy actions, ties broken uniformly (first
            maximum with ``key=None``).

    Returns:
        ``(PolicyOutput(actions, q_values, epsilon, logp), policy_state)``.

    Examples:
        >>> import jax
        >>> from coaxlike.agents import DQN
        >>> agent = DQN("CartPole-v1", seed=0)
        >>> params, ps = agent.init_params(jax.random.key(0)), agent.init_policy()
        >>> out, ps = jax.jit(agent.predict_func)(params, ps, jax.numpy.zeros((3, 4)),
        ...                                      jax.random.key(1))
        >>> out.actions.shape, out.q_values.shape, float(out.epsilon), int(ps.step)
        ((3,), (3, 2), 1.0, 3)
    """
    return _functional.predict(self._static, params, policy_state, obs, key, evaluation)


def update_func(self, params, opt_state, batch, key=None):
    """Pure: one gradient step of the learner, then the target move it brings.

    Args:
        params: :class:`~coaxlike.agents.DQNParams`.
        opt_state: :class:`~coaxlike.agents.DQNOptState`.
        batch: a :class:`~coaxlike.reward_tracing.TransitionBatch` of ``B`` rows.
        key: a JAX PRNG key (needed only when the network draws random numbers).

    Returns:
        ``(params, opt_state, metrics)``; ``metrics`` as the learner's ``update_func``.
    """
    return _functional.update(self._static, params, opt_state, batch, key)


def train_func(self, params, opt_state, batches, key, *, guarded=True):
    """Pure: one training round, ``G`` updates in one ``jax.lax.scan``.

    Args:
        params, opt_state: as for :meth:`update_func`.
        batches: a :class:`~coaxlike.reward_tracing.TransitionBatch` with leaves
            ``(G, B, ...)``.
        key: a JAX PRNG key.
        guarded: a Python bool (static). ``True``: every update is :meth:`update_func`'s,
            which leaves the state unchanged when its batch fails a range check or its loss
            or gradient norm is not finite. ``False``: every update is applied and only
            ``finite`` tells; check it and throw the round away when it is ``False``, as
            :meth:`learn` does. The accepted updates are bit for bit the same; unguarded
            rounds compile to less and, on CPU, run faster (no select of every parameter
            and optimizer leaf waiting on the global gradient norm; see the performance
            page).

    Returns:
        ``(params, opt_state, key, metrics, finite)``: ``metrics`` with leaves ``(G,)``,
        ``finite`` whether every loss and every online parameter is finite.
    """
    return _functional.train(self._static, params, opt_state, batches, key,
                             guarded=bool(guarded))
