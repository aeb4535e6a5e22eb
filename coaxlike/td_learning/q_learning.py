"""QLearning: bootstrap from the greedy value of the target network."""
from ._base import TDLearner
from ._targets import greedy_value

__all__ = ["QLearning"]


def _value(q_t, q_t_selector, probs_t, mask_t, hyperparams):
    return greedy_value(q_t, mask_t)


class QLearning(TDLearner):
    r"""n-step Q-learning, optionally Retrace-corrected.

    .. math::

        G = R^{(n)}_t + I^{(n)}_t \max_{a \in \mathcal{A}(s_{t+K})} q_\text{targ}(s_{t+K}, a)

    (``In = 0`` after termination, :math:`\gamma^K` otherwise, including truncation). With
    ``pi_targ`` and windows of ``n > 1`` steps the target is Retrace(:math:`\lambda`) with
    :math:`v(s) = \max_a q_\text{targ}(s, a)` and traces cut by ``pi_targ``; see
    :class:`~coaxlike.td_learning.TDLearner`.

    Args:
        q: the :class:`~coaxlike.Q` to train (Discrete actions); updated in place through
            ``q.params = ...``.
        pi_targ: optional target policy (a value policy) for Retrace traces.
        q_targ: optional target network with the structure of ``q`` (e.g. ``q.copy()``);
            ``None`` bootstraps from ``q`` itself under ``stop_gradient``.
        optimizer: an optax ``GradientTransformation``; default ``optax.adam(1e-3)``.
        loss_function: ``(y_true, y_pred, w) -> scalar``; default
            :func:`~coaxlike.td_learning.huber_loss`.
        policy_regularizer: not supported yet; must be ``None``.
        lambda_: Retrace trace parameter in ``[0, 1]``.
        random_seed: seeds the key for forward passes; default derived from ``q``.

    Raises:
        TypeError: wrong kind of ``q``, ``q_targ``, ``pi_targ``, ``optimizer`` or
            ``loss_function``.
        ValueError: ``q_targ`` or ``pi_targ.q`` does not match ``q``; ``lambda_`` out of range.
        NotImplementedError: ``policy_regularizer`` is not ``None``.

    Examples:
        >>> import gymnasium as gym, haiku as hk, numpy as np
        >>> import coaxlike
        >>> from coaxlike.reward_tracing import TransitionBatch
        >>> from coaxlike.td_learning import QLearning
        >>> env = gym.make("CartPole-v1")
        >>> q = coaxlike.Q(lambda S, is_training: hk.Linear(2)(S), env, random_seed=0)
        >>> learner = QLearning(q, q_targ=q.copy())
        >>> tb = TransitionBatch.from_one_step(
        ...     S=np.zeros((2, 4), np.float32), A=np.array([0, 1]), Rn=np.ones(2),
        ...     In=np.full(2, 0.9), S_next=np.ones((2, 4), np.float32))
        >>> metrics = learner.update(tb)  # no host sync: metrics are JAX scalars
        >>> sorted(metrics)
        ['grad_norm', 'loss', 'td_error_abs_max', 'td_error_abs_mean', 'td_error_mean']
        >>> learner.td_error(tb).shape
        (2,)
    """

    _value_fn = staticmethod(_value)
    _distributional = "greedy"  # on a StochasticQ: C51 / QR-DQN targets
