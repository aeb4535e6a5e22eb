"""BoltzmannPolicy: softmax over Q-values divided by a temperature."""
import functools

from .._checks import check_positive_float32
from ..distributions import boltzmann_logits
from ._base import ValuePolicy

__all__ = ["BoltzmannPolicy"]


class BoltzmannPolicy(ValuePolicy):
    r"""Boltzmann (softmax) policy over a :class:`~coaxlike.Q` (Discrete actions).

    .. math::

        \pi(a|s) \propto \exp\big(q(s, a) / \tau\big) \quad (a \text{ allowed})

    ``logits = q / temperature``; sampling goes through a :class:`distrax.Categorical`, so
    ``pi(s, return_logp=True)`` returns the exact log-propensity. ``temperature`` is an array
    leaf of ``params``: changing it never recompiles.

    Args:
        q: a :class:`~coaxlike.Q` with a Discrete action space (shared, not copied), or a
            :class:`~coaxlike.StochasticQ` (the policy acts on its network-space means).
        temperature: positive float in the normal float32 range (about 1.2e-38 to 3.4e38:
            it is stored as float32).
        random_seed: seeds the policy's PRNG key; default derived from ``q.random_seed``.

    Raises:
        TypeError: ``q`` is not a ``Q`` or its action space is not Discrete; ``temperature``
            is not a real number (strings and ``bool`` are refused) or ``random_seed`` not an
            int.
        ValueError: ``temperature`` is not finite and positive, or outside the float32
            range.

    Examples:
        >>> import gymnasium as gym, haiku as hk
        >>> import coaxlike
        >>> env = gym.make("CartPole-v1")
        >>> q = coaxlike.Q(lambda S, is_training: hk.Linear(2)(S), env, random_seed=0)
        >>> pi = coaxlike.BoltzmannPolicy(q, temperature=0.5)
        >>> s, _ = env.reset(seed=0)
        >>> sorted(pi.dist_params(s))
        ['logits']
        >>> pi.temperature = 0.1  # no recompilation
    """

    _hp_name = "temperature"
    _builder = staticmethod(boltzmann_logits)
    _check_hp = staticmethod(functools.partial(check_positive_float32, name="temperature"))
    _seed_salt = 2

    def __init__(self, q, temperature=0.02, *, random_seed=None):
        super().__init__(q, temperature, random_seed=random_seed)

    @property
    def temperature(self):
        """The softmax temperature: the shortest float that rounds to the stored float32
        (``0.1``, not ``0.10000000149011612``); the setter validates as the constructor."""
        return self._hp_value()

    @temperature.setter
    def temperature(self, value):
        self._set_hp(value)
