"""ExpectedSarsa: bootstrap from the expected value under a target policy."""
from ._base import TDLearner
from ._targets import expected_value

__all__ = ["ExpectedSarsa"]


def _value(q_t, q_t_selector, probs_t, mask_t, hyperparams):
    return expected_value(q_t, probs_t)


class ExpectedSarsa(TDLearner):
    r"""n-step expected SARSA under ``pi_targ``, with an opt-in Retrace correction.

    .. math::

        G = R^{(n)}_t + I^{(n)}_t \sum_a \pi_\text{targ}(a|s_{t+K})\, q_\text{targ}(s_{t+K}, a)

    coax's target, whatever the window length. With ``off_policy_correction="retrace"`` and
    windows of ``n > 1`` steps, :func:`~coaxlike.td_learning.retrace_target` with
    :math:`v(s) = \sum_a \pi_\text{targ}(a|s) q_\text{targ}(s, a)` (exact Retrace, Munos et
    al., 2016). Masked actions have probability 0 under ``pi_targ``. Arguments and errors as
    for :class:`~coaxlike.td_learning.QLearning`, except that ``pi_targ`` is required (and
    always used).

    Raises:
        TypeError: ``pi_targ`` is ``None`` or not a value policy.

    Examples:
        >>> import gymnasium as gym, haiku as hk
        >>> import coaxlike
        >>> from coaxlike.td_learning import ExpectedSarsa
        >>> env = gym.make("CartPole-v1")
        >>> q = coaxlike.Q(lambda S, is_training: hk.Linear(2)(S), env, random_seed=0)
        >>> q_targ = q.copy()
        >>> pi = coaxlike.EpsilonGreedy(q_targ, 0.1)
        >>> learner = ExpectedSarsa(q, pi, q_targ)  # coax's n-step target
        >>> retrace = ExpectedSarsa(q, pi, q_targ, off_policy_correction="retrace", lambda_=0.9)
    """

    _value_fn = staticmethod(_value)
    _distributional = "expected"  # on a StochasticQ: C51 / QR-DQN targets
    _needs_probs = True
    _pi_targ_required = True
