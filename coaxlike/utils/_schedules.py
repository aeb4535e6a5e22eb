"""Piecewise-linear schedules (coax's ``StepwiseLinearFunction``)."""
import numbers

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["StepwiseLinearFunction"]


class StepwiseLinearFunction:
    """A function of the step count that is linear between given points and flat outside.

    With points :math:`(t_0, v_0), \\dots, (t_n, v_n)`, :math:`t_0 < \\dots < t_n`:

    .. math::

        f(T) = \\begin{cases} v_0 & T \\le t_0 \\\\
               v_i + (v_{i+1} - v_i) \\frac{T - t_i}{t_{i+1} - t_i} & t_i \\le T \\le t_{i+1} \\\\
               v_n & T \\ge t_n \\end{cases}

    Called with a Python or numpy number it returns a ``float``; called with a JAX array
    (also inside ``jit``) it returns a JAX array, so the same object serves as an in-graph
    schedule (``count -> value``, like an optax schedule).

    Args:
        *steps: two or more pairs ``(timestep, value)``: ``timestep`` an int, ``value`` a
            real number, in strictly increasing order of ``timestep``.

    Raises:
        TypeError: if fewer than two steps are given or a step is not an ``(int, number)``
            pair.
        ValueError: if the timesteps are not strictly increasing or a value is not finite.

    Examples:
        >>> from coaxlike.utils import StepwiseLinearFunction
        >>> epsilon = StepwiseLinearFunction((0, 1.0), (1000, 0.1), (2000, 0.01))
        >>> epsilon(-5), epsilon(500), epsilon(1500), epsilon(10**6)
        (1.0, 0.55, 0.055, 0.01)
    """

    def __init__(self, *steps):
        if len(steps) < 2:
            raise TypeError(f"StepwiseLinearFunction needs at least two (timestep, value) "
                            f"steps, got {len(steps)}")
        for step in steps:
            if not (isinstance(step, tuple) and len(step) == 2
                    and isinstance(step[0], numbers.Integral) and not isinstance(step[0], bool)
                    and isinstance(step[1], numbers.Real) and not isinstance(step[1], bool)):
                raise TypeError(f"each step must be a pair (int timestep, number value), "
                                f"got {step!r}")
        timesteps = [int(t) for t, _ in steps]
        if any(t1 >= t2 for t1, t2 in zip(timesteps, timesteps[1:])):
            raise ValueError(f"the timesteps must be strictly increasing, got {timesteps}")
        values = [float(v) for _, v in steps]
        if not all(np.isfinite(values)):
            raise ValueError(f"the values must be finite, got {values}")
        self.steps = tuple(zip(timesteps, values))
        self._t = np.asarray(timesteps, np.float64)
        self._v = np.asarray(values, np.float64)

    def __call__(self, timestep):
        """The value at ``timestep`` (a number, or a JAX array: then a JAX array)."""
        if isinstance(timestep, jax.Array):
            return jnp.interp(timestep, jnp.asarray(self._t, jnp.float32),
                              jnp.asarray(self._v, jnp.float32))
        return float(np.interp(timestep, self._t, self._v))

    def __repr__(self):
        return f"StepwiseLinearFunction{self.steps}"
