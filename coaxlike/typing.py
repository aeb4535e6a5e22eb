"""Short type aliases and the shape conventions used throughout coaxlike.

Shape conventions (``B`` is the batch size, ``n`` the number of discrete actions):

* ``S``: a preprocessed batch of observations, a pytree whose leaves have leading axis ``B``.
* ``A``: a batch of actions, shape ``(B,)`` (env actions, i.e. offset by the space's
  ``start``) unless a function says it takes indices ``[0, n)``.
* ``Q``: ``(B, n)`` for type-2 Q-functions, ``(B,)`` for type-1.
* ``logits``: ``(..., n)``; ``logP``: log-propensities, same leading shape as ``A``.

Example:
    >>> from coaxlike.typing import Array
    >>> import jax.numpy as jnp
    >>> isinstance(jnp.zeros(3), Array)
    True
"""
from typing import Any, Callable

import jax

__all__ = ["Array", "PRNGKey", "Params", "State", "Batch", "QFunc"]

Array = jax.Array
"""A JAX array."""

PRNGKey = jax.Array
"""A typed JAX PRNG key, as returned by :func:`jax.random.key`."""

Params = Any
"""A pytree of parameters (haiku's nested ``{module: {name: array}}`` mapping)."""

State = Any
"""A pytree of haiku function state (e.g. BatchNorm moving averages); ``{}`` if none."""

Batch = Any
"""A pytree of arrays sharing a leading batch axis."""

QFunc = Callable[..., Array]
"""A haiku-style forward pass, ``func(S, is_training)`` or ``func(S, A, is_training)``."""
