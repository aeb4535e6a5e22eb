"""Sarsa: bootstrap from the action actually taken at the next state."""
from ._base import TDLearner
from ._targets import expected_value

__all__ = ["Sarsa"]


def _value(q_t, q_t_selector, probs_t, mask_t, hyperparams):
    # probs_t is the one-hot of the recorded next action: the expectation is q_t[A_next]
    return expected_value(q_t, probs_t)


class Sarsa(TDLearner):
    r"""n-step SARSA: bootstrap from the value of the action taken next, as coax's ``Sarsa``.

    .. math::

        G = R^{(n)}_t + I^{(n)}_t\, q_\text{targ}(s_{t+K}, a_{t+K})

    with :math:`a_{t+K}` the batch's ``A_next`` (recorded by the n-step tracer), so the
    target follows the behaviour policy (on-policy); there is no target policy and no
    off-policy correction. ``In = 0`` after termination, where ``A_next`` is not read.

    Args:
        q: the :class:`~coaxlike.Q` to train (Discrete actions).
        q_targ: optional target network (e.g. ``q.copy()``); ``None`` bootstraps from ``q``.
        optimizer: an optax ``GradientTransformation``; default ``optax.adam(1e-3)``.
        loss_function: ``(y_true, y_pred, w) -> scalar``; default
            :func:`coaxlike.value_losses.huber`.
        policy_regularizer: not supported; must be ``None``.
        random_seed: seeds the key for forward passes; keyword-only.

    Raises:
        TypeError: wrong kind of ``q``, ``q_targ``, ``optimizer`` or ``loss_function``.
        ValueError: ``q_targ`` does not match ``q`` or is ``q`` itself.
        NotImplementedError: non-Discrete actions, or a ``policy_regularizer``.

    Examples:
        >>> import gymnasium as gym, haiku as hk, numpy as np
        >>> import coaxlike
        >>> from coaxlike.reward_tracing import TransitionBatch
        >>> from coaxlike.td_learning import Sarsa
        >>> env = gym.make("CartPole-v1")
        >>> q = coaxlike.Q(lambda S, is_training: hk.Linear(2)(S), env, random_seed=0)
        >>> sarsa = Sarsa(q, q.copy())
        >>> tb = TransitionBatch.from_one_step(
        ...     S=np.zeros((2, 4), np.float32), A=np.array([0, 1]), Rn=np.ones(2),
        ...     In=np.full(2, 0.9), S_next=np.ones((2, 4), np.float32))._replace(
        ...     A_next=np.array([1, 0]))
        >>> metrics = sarsa.update(tb)
    """

    _value_fn = staticmethod(_value)
    _next_action = True
    _distributional = "sarsa"  # on a StochasticQ: C51 / QR-DQN targets
    _hp_checks = {}

    def __init__(self, q, q_targ=None, optimizer=None, loss_function=None,
                 policy_regularizer=None, *, random_seed=None):
        super().__init__(q, None, q_targ, optimizer, loss_function, policy_regularizer,
                         random_seed=random_seed)
