"""SoftQLearning: bootstrap from the log-sum-exp (soft maximum) of the target network."""
from .._checks import check_positive
from ._base import TDLearner
from ._targets import soft_value

__all__ = ["SoftQLearning"]


def _value(q_t, q_t_selector, probs_t, mask_t, hyperparams):
    return soft_value(q_t, hyperparams["temperature"], mask_t)


class SoftQLearning(TDLearner):
    r"""n-step soft Q-learning (Haarnoja et al., 2017), optionally Retrace-corrected.

    .. math::

        G = R^{(n)}_t + I^{(n)}_t\, \tau \log \sum_{a \in \mathcal{A}(s_{t+K})}
            \exp\big(q_\text{targ}(s_{t+K}, a) / \tau\big)

    ``temperature`` (:math:`\tau`) is an array hyperparameter: ``learner.temperature = x``
    takes effect on the next update without recompiling. The arguments are coax's, in
    coax's order ``(q, q_targ, optimizer, loss_function, policy_regularizer, temperature)``;
    ``pi_targ`` (only for ``off_policy_correction="retrace"``), ``lambda_`` and
    ``random_seed`` are keyword-only. Errors as for :class:`~coaxlike.td_learning.QLearning`.

    Args:
        temperature: positive float :math:`\tau`.
        pi_targ: optional target policy, used only for Retrace traces.

    Raises:
        TypeError: ``temperature`` not a real number.
        ValueError: ``temperature`` not finite and positive.

    Examples:
        >>> import gymnasium as gym, haiku as hk
        >>> import coaxlike
        >>> from coaxlike.td_learning import SoftQLearning
        >>> env = gym.make("CartPole-v1")
        >>> q = coaxlike.Q(lambda S, is_training: hk.Linear(2)(S), env, random_seed=0)
        >>> learner = SoftQLearning(q, temperature=0.5)
        >>> learner.temperature = 0.2  # no recompilation
    """

    _value_fn = staticmethod(_value)
    _hp_checks = {**TDLearner._hp_checks, "temperature": check_positive}

    def __init__(self, q, q_targ=None, optimizer=None, loss_function=None,
                 policy_regularizer=None, temperature=1.0, *, pi_targ=None,
                 off_policy_correction=None, lambda_=1.0, random_seed=None):
        super().__init__(q, pi_targ, q_targ, optimizer, loss_function, policy_regularizer,
                         off_policy_correction=off_policy_correction, lambda_=lambda_,
                         random_seed=random_seed, _hyperparams={"temperature": temperature})

    @property
    def temperature(self):
        """The soft-max temperature (float); the setter validates ``temperature > 0``."""
        return float(self._hyperparams["temperature"])

    @temperature.setter
    def temperature(self, value):
        self._set_hyperparam("temperature", value)
