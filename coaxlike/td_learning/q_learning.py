"""QLearning: bootstrap from the greedy value of the target network."""
from ._base import TDLearner
from ._targets import greedy_value

__all__ = ["QLearning"]


def _value(q_t, q_t_selector, probs_t, mask_t, hyperparams):
    return greedy_value(q_t, mask_t)


class QLearning(TDLearner):
    r"""n-step Q-learning, with an opt-in Retrace correction.

    .. math::

        G = R^{(n)}_t + I^{(n)}_t \max_{a \in \mathcal{A}(s_{t+K})} q_\text{targ}(s_{t+K}, a)

    (``In = 0`` after termination, :math:`\gamma^K` otherwise, including truncation): coax's
    target, whatever the window length. With ``off_policy_correction="retrace"`` and windows
    of ``n > 1`` steps the target is Retrace(:math:`\lambda`) with
    :math:`v(s) = \max_a q_\text{targ}(s, a)` and traces cut by ``pi_targ``; see
    :class:`~coaxlike.td_learning.TDLearner` and :doc:`/off_policy`.

    Args:
        q: the :class:`~coaxlike.Q` to train (Discrete actions); updated in place through
            ``q.params = ...``.
        pi_targ: optional target policy (a value policy), used only for Retrace traces;
            without ``off_policy_correction`` it is ignored with a warning (as coax).
        q_targ: optional target network with the structure of ``q`` (e.g. ``q.copy()``);
            ``None`` bootstraps from ``q`` itself under ``stop_gradient``. Not ``q`` itself.
        optimizer: an optax ``GradientTransformation``; default ``optax.adam(1e-3)``.
        loss_function: ``(y_true, y_pred, w) -> scalar``; default
            :func:`coaxlike.value_losses.huber`.
        policy_regularizer: not supported; must be ``None`` (coax's regularizers act on
            parametrized policies, which coaxlike does not provide).
        off_policy_correction: ``None`` (default, coax's n-step target) or ``"retrace"``;
            keyword-only. Retrace needs ``pi_targ`` and batches whose ``logP_seq`` holds
            recorded behaviour log-propensities (NaN, i.e. not recorded, raises).
        lambda_: Retrace trace parameter in ``[0, 1]``; keyword-only.
        random_seed: seeds the key for forward passes; default derived from ``q``;
            keyword-only.

    Raises:
        TypeError: wrong kind of ``q``, ``q_targ``, ``pi_targ`` (e.g. a Q-function passed
            where coax expects ``pi_targ``), ``optimizer`` or ``loss_function``; no
            ``pi_targ`` on non-Discrete actions (coax's error); ``lambda_`` not a real number
            or ``random_seed`` not an int.
        ValueError: ``q_targ`` or ``pi_targ.q`` does not match ``q``; ``q_targ is q``;
            ``lambda_`` out of range; an unknown ``off_policy_correction`` or one without
            ``pi_targ``.
        NotImplementedError: non-Discrete actions (with a ``pi_targ``), or a
            ``policy_regularizer``.

    Examples:
        >>> import gymnasium as gym, haiku as hk, optax
        >>> import coaxlike
        >>> from coaxlike.td_learning import QLearning
        >>> from coaxlike.value_losses import mse
        >>> env = gym.make("CartPole-v1")
        >>> q = coaxlike.Q(lambda S, is_training: hk.Linear(2)(S), env, random_seed=0)
        >>> q_targ = q.copy()
        >>> dqn = QLearning(q, q_targ=q_targ, optimizer=optax.adam(1e-3), loss_function=mse)
        >>> pi_targ = coaxlike.EpsilonGreedy(q_targ, 0.0)
        >>> retrace = QLearning(q, pi_targ, q_targ, off_policy_correction="retrace",
        ...                     lambda_=0.9)
        >>> round(retrace.lambda_, 6)
        0.9

    See :meth:`~coaxlike.td_learning.TDLearner.update` for an update.
    """

    _value_fn = staticmethod(_value)
    _distributional = "greedy"  # on a StochasticQ: C51 / QR-DQN targets
    _box_needs_pi_targ = True
