"""Building an object's initial arrays from its integer seed in one compiled call.

Each eager JAX operation on a fresh shape compiles a program of its own (5-60 ms on a CPU:
a key from a seed, a split, a fold-in, a zero-filled array per parameter shape), so an
object that makes its key and its zeros op by op spends most of its construction
compiling. :func:`seeded_program` runs a whole initialisation as one program instead, with
the key made inside it: the same arrays, bit for bit, as the eager operations give.
"""
import functools

import jax
import numpy as np

__all__ = []  # private module

_INT32 = np.iinfo(np.int32)


def prng_impl():
    """The name of the default PRNG implementation in force now (to make a key later under
    it: :class:`~coaxlike._deferred.Deferred` values are made outside the caller's
    ``jax.default_prng_impl`` context)."""
    return jax.config.jax_default_prng_impl


def seeded_program(fn, impl=None):
    """``call(seed, *args) -> fn(jax.random.key(seed), *args)`` as one compiled call.

    ``seed`` is an int. A seed that fits int32 is passed into the call and made into a key
    there (the same key as ``jax.random.key(seed)`` eagerly); a larger one (which JAX folds
    from 64 bits on the host) is made into a key eagerly first. The key is of PRNG
    implementation ``impl`` (a name; ``None``: the default in force now), passed explicitly
    because jit's cache does not key on ``jax.default_prng_impl``. ``call`` holds its own
    compiled programs, freed with it (tracing ``call`` under ``jax.eval_shape`` first
    leaves the trace for the compile). ``fn`` must be traceable; ``args`` are arrays
    (pytrees).

    Examples:
        >>> import jax
        >>> split = seeded_program(lambda key: jax.random.split(key))
        >>> bool((jax.random.key_data(split(3))
        ...       == jax.random.key_data(jax.random.split(jax.random.key(3)))).all())
        True
    """
    impl = prng_impl() if impl is None else impl
    from_seed = jax.jit(lambda seed, args: fn(jax.random.key(seed, impl=impl), *args))
    from_key = jax.jit(lambda key, args: fn(key, *args))

    def call(seed, *args):
        if _INT32.min <= seed <= _INT32.max:
            return from_seed(np.int32(seed), args)
        return from_key(jax.random.key(seed, impl=impl), args)
    return call


def fold_in_seed(seed, data, impl=None):
    """``jax.random.fold_in(jax.random.key(seed), data)`` as one compiled call, compiled
    once per process and PRNG implementation (``data`` an int, traced; ``impl`` as for
    :func:`seeded_program`)."""
    return _fold_in_program(prng_impl() if impl is None else impl)(seed, np.uint32(data))


@functools.cache
def _fold_in_program(impl):
    return seeded_program(jax.random.fold_in, impl)
