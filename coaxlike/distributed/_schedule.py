"""Ape-X's per-actor exploration rates."""

import numpy as np

from .._checks import as_real, check_int, check_unit

__all__ = ["apex_epsilons"]


def check_count(value, name, minimum=1):
    """Return ``value`` as an int >= ``minimum``: ``TypeError`` unless an int, ``ValueError``
    if below."""
    return check_int(value, name, minimum)


def apex_epsilons(num_actors: int, epsilon: float = 0.4, alpha: float = 7.0) -> np.ndarray:
    r"""The exploration rate of each of ``N`` Ape-X actors (Horgan et al., 2018).

    .. math::

        \epsilon_i = \epsilon^{1 + \alpha\, i / (N - 1)}, \qquad i = 0, \dots, N - 1,

    so actor 0 explores with :math:`\epsilon` and actor :math:`N - 1` with
    :math:`\epsilon^{1 + \alpha}`. For a single actor (:math:`N = 1`, where the formula
    divides by zero) the rate is :math:`\epsilon`.

    Args:
        num_actors: :math:`N`, an int >= 1.
        epsilon: the base rate :math:`\epsilon \in [0, 1]`.
        alpha: the spread :math:`\alpha \ge 0`.

    Returns:
        float64 array ``(num_actors,)``, non-increasing.

    Raises:
        ValueError: if an argument is out of range.

    Examples:
        >>> from coaxlike.distributed import apex_epsilons
        >>> apex_epsilons(3, epsilon=0.4, alpha=7.0).round(6).tolist()
        [0.4, 0.016191, 0.000655]
        >>> apex_epsilons(1).tolist()
        [0.4]
    """
    n = check_count(num_actors, "num_actors")
    epsilon = check_unit(epsilon, "epsilon")
    alpha_ = as_real(alpha, "alpha", "a finite float >= 0")
    if not np.isfinite(alpha_) or alpha_ < 0:
        raise ValueError(f"alpha must be a finite float >= 0, got {alpha!r}")
    if n == 1:
        return np.array([epsilon])
    return epsilon ** (1.0 + alpha_ * np.arange(n) / (n - 1))
