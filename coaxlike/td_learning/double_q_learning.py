"""DoubleQLearning: one network picks the next action, the other values it."""

from ._base import TDLearner
from ._targets import double_q_value

__all__ = ["DoubleQLearning"]


def _online_selects(q_t, q_t_selector, probs_t, mask_t, hyperparams):
    return double_q_value(q_t, q_t_selector, mask_t)


def _target_selects(q_t, q_t_selector, probs_t, mask_t, hyperparams):
    # coax's variant: the target network's argmax (ties averaged), valued by the online one
    return double_q_value(q_t_selector, q_t, mask_t, average_ties=True)


_VALUES = {"online": _online_selects, "target": _target_selects}


class DoubleQLearning(TDLearner):
    r"""n-step double Q-learning (van Hasselt et al., 2016), or coax's variant on request.

    With the default ``select_with="online"`` (van Hasselt's Double DQN, as rlax and most
    libraries) the online network chooses the next action and the target network values it:

    .. math::

        G = R^{(n)}_t + I^{(n)}_t\, q_\text{targ}(s_{t+K}, a^*), \qquad
        a^* = \arg\max_{a \in \mathcal{A}(s_{t+K})} q(s_{t+K}, a)

    (lowest index among ties). With ``select_with="target"`` (what coax's
    ``DoubleQLearning`` computes) the roles swap: the target network chooses, the online
    network values (under ``stop_gradient``), averaging over tied maxima as coax does:

    .. math::

        G = R^{(n)}_t + I^{(n)}_t\, \frac{1}{|\mathcal{G}|} \sum_{a \in \mathcal{G}}
            q(s_{t+K}, a), \qquad
        \mathcal{G} = \arg\max_{a \in \mathcal{A}(s_{t+K})} q_\text{targ}(s_{t+K}, a)

    Both decouple choosing from valuing; without ``q_targ`` both are Q-learning on ``q``.
    Arguments, Retrace and errors as for :class:`~coaxlike.td_learning.QLearning`.

    Args:
        select_with: ``"online"`` (van Hasselt, default) or ``"target"`` (coax's variant):
            the network whose argmax is the next action; keyword-only.

    Raises:
        ValueError: ``select_with`` is neither ``"online"`` nor ``"target"``.

    Examples:
        >>> import gymnasium as gym, haiku as hk
        >>> import coaxlike
        >>> from coaxlike.td_learning import DoubleQLearning
        >>> env = gym.make("CartPole-v1")
        >>> q = coaxlike.Q(lambda S, is_training: hk.Linear(2)(S), env, random_seed=0)
        >>> DoubleQLearning(q, q_targ=q.copy()).select_with
        'online'
        >>> coax_style = DoubleQLearning(q, q_targ=q.copy(), select_with="target")
    """

    _distributional = "double"  # on a StochasticQ: C51 / QR-DQN targets (online selects)
    _needs_selector = True
    _box_needs_pi_targ = True

    def __init__(self, q, pi_targ=None, q_targ=None, optimizer=None, loss_function=None,
                 policy_regularizer=None, *, select_with="online", off_policy_correction=None,
                 lambda_=1.0, random_seed=None):
        if select_with not in _VALUES:
            raise ValueError(f"select_with must be 'online' or 'target', got {select_with!r}")
        self.select_with = select_with
        self._value_fn = _VALUES[select_with]
        super().__init__(q, pi_targ, q_targ, optimizer, loss_function, policy_regularizer,
                         off_policy_correction=off_policy_correction, lambda_=lambda_,
                         random_seed=random_seed)

    def _serial_static(self):
        return {**super()._serial_static(), "select_with": self.select_with}
