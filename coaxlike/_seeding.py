"""Building an object's initial arrays from its integer seed in one compiled call.

Each eager JAX operation on a fresh shape compiles a program of its own (5-60 ms on a CPU:
a key from a seed, a split, a fold-in, a zero-filled array per parameter shape), so an
object that makes its key and its zeros op by op spends most of its construction
compiling. :func:`with_seed_key` runs the whole initialisation as one program instead, with
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


def with_seed_key(fn, seed, *args, impl=None):
    """``fn(jax.random.key(seed), *args)`` as one compiled call.

    ``seed`` is an int; the key is of PRNG implementation ``impl`` (a name; ``None``: the
    default in force at the call).
    A seed that fits int32 is passed into the call and made into a key there (the same key
    as ``jax.random.key(seed)`` eagerly); a larger one (which JAX folds from 64 bits on the
    host) is made into a key eagerly first. ``fn`` must be traceable; its result's arrays
    are JAX arrays.

    Args:
        fn: ``fn(key, *args) -> pytree``.
        seed: a Python int.
        *args: arrays (pytrees) passed through.

    Returns:
        ``fn``'s result.

    Examples:
        >>> import jax
        >>> keys = with_seed_key(lambda key: jax.random.split(key), 3)
        >>> bool((jax.random.key_data(keys)
        ...       == jax.random.key_data(jax.random.split(jax.random.key(3)))).all())
        True
    """
    impl = prng_impl() if impl is None else impl  # passed: jit's cache does not key on it
    if _INT32.min <= seed <= _INT32.max:
        return _from_seed(np.int32(seed), args, fn=fn, impl=impl)
    return _from_key(jax.random.key(seed, impl=impl), args, fn=fn)


def seeded_program(fn, impl=None):
    """``call(seed, *args) -> fn(jax.random.key(seed), *args)`` as one compiled call, for a
    ``fn`` made per object (a closure): unlike :func:`with_seed_key`, whose compiled
    programs are cached per ``fn`` for the whole process, ``call`` holds its own, freed
    with it (tracing ``call`` under ``jax.eval_shape`` first leaves the trace for the
    compile). ``impl``: the PRNG implementation's name, ``None`` the default in force now.

    Examples:
        >>> import jax
        >>> call = seeded_program(lambda key, n: jax.random.uniform(key, (2,)) * n)
        >>> float(call(3, 2.0)[0]) == float(jax.random.uniform(jax.random.key(3), (2,))[0] * 2)
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
    :func:`with_seed_key`)."""
    return with_seed_key(_fold_in, seed, np.uint32(data), impl=impl)


def _fold_in(key, data):
    return jax.random.fold_in(key, data)


# fn static: for module-level fns, compiled once per process (a closure would be kept alive
# by the cache: use seeded_program)
@functools.partial(jax.jit, static_argnames=("fn", "impl"))
def _from_seed(seed, args, *, fn, impl):
    return fn(jax.random.key(seed, impl=impl), *args)


@functools.partial(jax.jit, static_argnames=("fn",))
def _from_key(key, args, *, fn):
    return fn(key, *args)
