"""DoubleQLearning: the online network picks the action, the target network values it."""
from ._base import TDLearner
from ._targets import double_q_value

__all__ = ["DoubleQLearning"]


def _value(q_t, q_t_selector, probs_t, mask_t, hyperparams):
    return double_q_value(q_t, q_t_selector, mask_t)


class DoubleQLearning(TDLearner):
    r"""n-step double Q-learning (van Hasselt et al., 2016), optionally Retrace-corrected.

    .. math::

        G = R^{(n)}_t + I^{(n)}_t\, q_\text{targ}(s_{t+K}, a^*), \qquad
        a^* = \arg\max_{a \in \mathcal{A}(s_{t+K})} q(s_{t+K}, a)

    with the online :math:`q` choosing (lowest index among ties) and the target network
    valuing. Without ``q_targ`` both are ``q`` and this is Q-learning. Arguments, Retrace and
    errors as for :class:`~coaxlike.td_learning.QLearning`.

    Examples:
        >>> import gymnasium as gym, haiku as hk
        >>> import coaxlike
        >>> from coaxlike.td_learning import DoubleQLearning
        >>> env = gym.make("CartPole-v1")
        >>> q = coaxlike.Q(lambda S, is_training: hk.Linear(2)(S), env, random_seed=0)
        >>> DoubleQLearning(q, q_targ=q.copy()).lambda_
        1.0
    """

    _value_fn = staticmethod(_value)
    _distributional = "double"  # on a StochasticQ: C51 / QR-DQN targets
    _needs_selector = True
