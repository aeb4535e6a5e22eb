"""EpsilonGreedy: greedy with probability 1 - epsilon, uniform with probability epsilon."""
import functools

from .._checks import check_unit
from ..distributions import epsilon_greedy_logits
from ._base import ValuePolicy

__all__ = ["EpsilonGreedy"]


class EpsilonGreedy(ValuePolicy):
    r"""Epsilon-greedy policy over a type-1 or type-2 :class:`~coaxlike.Q` (Discrete actions).

    Action probabilities (allowed actions :math:`\mathcal{A}`, tied maxima
    :math:`\mathcal{G}`):

    .. math::

        \pi(a|s) = \frac{\varepsilon}{|\mathcal{A}|}[a \in \mathcal{A}]
                 + \frac{1-\varepsilon}{|\mathcal{G}|}[a \in \mathcal{G}]

    Sampling goes through a :class:`distrax.Categorical` over ``log pi``, so
    ``pi(s, return_logp=True)`` returns the exact log-propensity of the sampled action.
    ``epsilon`` is an array leaf of ``params``: ``pi.epsilon = x`` takes effect on the next call
    without recompiling.

    Args:
        q: a :class:`~coaxlike.Q` with a Discrete action space (shared, not copied), or a
            :class:`~coaxlike.StochasticQ` (the policy acts on its network-space means).
        epsilon: float in ``[0, 1]``.
        random_seed: seeds the policy's PRNG key; default derived from ``q.random_seed``.

    Raises:
        TypeError: ``q`` is not a ``Q`` or its action space is not Discrete; ``epsilon`` is
            not a real number (``"0.5"``, ``b"0.5"`` and ``True`` are refused) or
            ``random_seed`` not an int.
        ValueError: ``epsilon`` lies outside ``[0, 1]`` (or is NaN).

    Examples:
        >>> import gymnasium as gym, haiku as hk
        >>> import coaxlike
        >>> env = gym.make("CartPole-v1")
        >>> q = coaxlike.Q(lambda S, is_training: hk.Linear(2)(S), env, random_seed=0)
        >>> pi = coaxlike.EpsilonGreedy(q, epsilon=0.1)
        >>> s, _ = env.reset(seed=0)
        >>> a, logp = pi(s, return_logp=True)
        >>> a in (0, 1), logp <= 0.0
        (True, True)
        >>> pi.epsilon = 0.5  # no recompilation
    """

    _hp_name = "epsilon"
    _builder = staticmethod(epsilon_greedy_logits)
    _check_hp = staticmethod(functools.partial(check_unit, name="epsilon"))
    _seed_salt = 1

    def __init__(self, q, epsilon=0.1, *, random_seed=None):
        super().__init__(q, epsilon, random_seed=random_seed)

    @property
    def epsilon(self):
        """The exploration probability: the shortest float that rounds to the stored float32
        (``0.05``, not ``0.05000000074505806``); the setter validates ``0 <= epsilon <= 1``."""
        return self._hp_value()

    @epsilon.setter
    def epsilon(self, value):
        self._set_hp(value)
