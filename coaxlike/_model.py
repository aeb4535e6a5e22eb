"""The haiku model behind :class:`~coaxlike.Q` and :class:`~coaxlike.StochasticQ`: their
shared set-up (spaces, model type, preprocessors, value transform, seed), the type-1 /
type-2 views of one forward pass, example inputs, initialisation and the host-side inputs of
a call."""
import secrets

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np

from . import _spaces
from ._checks import check_seed
from ._deferred import Deferred
from ._seeding import seeded_program
from ._signatures import check_preprocessor, modeltype
from ._transforms import _transform_pair

__all__ = []  # private module


def _type1_as_type2(apply, n, start, action_preprocessor):
    """Evaluate a type-1 forward pass on every action in one batched call: each output leaf
    ``(B * n, ...)`` becomes ``(B, n, ...)``."""
    def function_type2(params, state, rng, S, is_training):
        batch = jax.tree_util.tree_leaves(S)[0].shape[0]
        S_rep = jax.tree_util.tree_map(lambda x: jnp.repeat(x, n, axis=0), S)
        A_rep = action_preprocessor(jnp.tile(jnp.arange(n) + start, batch))
        out, state = apply(params, state, rng, S_rep, A_rep, is_training)
        return jax.tree_util.tree_map(
            lambda x: jnp.reshape(x, (batch, n, *x.shape[1:])), out), state
    return function_type2


def _type2_as_type1(apply, n):
    """Pick the entries of a type-2 output for one-hot actions A (B, n): each output leaf
    ``(B, n, ...)`` becomes ``(B, ...)``."""
    def function_type1(params, state, rng, S, A, is_training):
        out, state = apply(params, state, rng, S, is_training)
        return jax.tree_util.tree_map(
            lambda x: jnp.einsum("ba...,ba->b...", x, jnp.asarray(A, x.dtype)), out), state
    return function_type1


def _wire(obj, apply):
    """Set ``function``, ``function_type1`` and ``function_type2`` from a forward pass."""
    obj.function = apply
    if obj.modeltype == 2:
        obj.function_type2 = apply
        obj.function_type1 = _type2_as_type1(apply, obj.n_actions)
    else:
        obj.function_type1 = apply
        obj.function_type2 = (None if obj.n_actions is None else _type1_as_type2(
            apply, obj.n_actions, obj.action_start, obj.action_preprocessor))


def _default_action_preprocessor(space):
    if isinstance(space, gym.spaces.Discrete):
        n, start = int(space.n), int(space.start)
        return lambda a: jax.nn.one_hot(jnp.asarray(a) - start, n, dtype=jnp.float32)
    if isinstance(space, gym.spaces.Box):
        shape = tuple(space.shape)
        return lambda a: jnp.reshape(jnp.asarray(a, jnp.float32), (-1, *shape))
    raise TypeError(f"action space {space!r} is not supported by the default action "
                    "preprocessor; expected Discrete or Box (pass action_preprocessor=)")


def _call_inputs(obj, s, a):
    """Check one observation (a batch with a vector env) and an optional action for a call
    on the host; return them batched, ``A`` ``None`` without an action."""
    S = obj._check_s(s)
    if not obj.batched:
        S = jax.tree_util.tree_map(lambda x: np.expand_dims(x, 0), S)
    if a is None:
        if obj.function_type2 is None:  # coax's error type and message
            raise ValueError("input 'A' is required for type-1 q-function when action space "
                             f"is non-Discrete: pass a, an action of {obj.action_space!r}, "
                             "as q(s, a)")
        return S, None
    A = np.asarray(_spaces.refuse_tracers(a, "a"))
    if A.shape[:1] != (1,) and not obj.batched:
        A = A[None]
    if obj.n_actions is not None and not np.isin(
            A, np.arange(obj.n_actions) + obj.action_start).all():
        raise ValueError(f"a must be an action of {obj.action_space!r}, got {a!r}")
    return S, A


def _example_args(obj, batch):
    """Preprocessed example inputs ``(S,)`` or ``(S, A)`` of ``batch`` rows."""
    S = obj.observation_preprocessor(_spaces.example_batch(obj.observation_space, batch))
    return (S,) if obj.modeltype == 2 else (
        S, obj.action_preprocessor(_spaces.example_batch(obj.action_space, batch)))


def _bad_return(obj, params, state, key, what, got, batch, want_of_batch):
    """coax's message for a forward pass whose output does not fit: coax describes it on a
    batch of one, so the output shape is re-evaluated (abstractly) for one example."""
    try:
        out, _ = jax.eval_shape(lambda p, s, k: obj.function(p, s, k, *_example_args(obj, 1),
                                                             False), params, state, key)
        leaves = jax.tree_util.tree_leaves(out)
        got1 = leaves[0].shape if len(leaves) == 1 else f"{len(leaves)} arrays"
    except Exception:  # a forward pass that works on 2 rows only: report what was seen
        got1 = None
    shown = f"expected: {want_of_batch(2)}, got: {got}" if got1 is None else \
        f"expected: {want_of_batch(1)}, got: {got1}"
    return TypeError(f"func has bad return shape, {shown} (func must return shape {what}; "
                     f"on a batch of {batch} it returned {got})")


def _init(obj, seed, batch=2, more_keys=None):
    """Set up ``obj``'s network initialisation on example data built from its spaces and set
    ``obj.uses_rng``; return ``(made, shapes, output shapes, batch)``, where ``made`` is a
    :class:`~coaxlike._deferred.Deferred` of ``(params, state, key, extra)`` and ``shapes``
    the ``jax.ShapeDtypeStruct`` trees of its first three parts.

    The seed's key is split in two: the first initialises the network, the second is
    ``key`` (the object's own), and ``extra`` is ``more_keys(key)`` (``None`` without it).
    All in one compiled program (:func:`~coaxlike._seeding.seeded_program`) instead of one
    eager dispatch and compile per key operation and initialiser op: the values of
    ``init_key, key = jax.random.split(jax.random.key(seed))`` and an eager initialisation.
    The program is traced here (the checks need its shapes) and compiled and run when its
    values are first read, so that an agent built for its pure functions can compile it
    alongside other work, or never."""
    args = _example_args(obj, batch)

    def init(seed_key, *args):
        init_key, key = jax.random.split(seed_key)
        params, state = obj._transformed.init(init_key, *args, True)
        return params, state, key, (None if more_keys is None else more_keys(key))

    program = seeded_program(init)  # the key's implementation is the one in force now
    made = Deferred(program, seed, *args)
    params, state, key, _ = jax.eval_shape(lambda *a: program(seed, *a), *args)
    out, _ = jax.eval_shape(lambda p, s, k: obj.function(p, s, k, *args, False), params,
                            state, key)
    try:  # haiku refuses rng=None when the forward pass draws random numbers
        jax.eval_shape(lambda p, s: obj.function(p, s, None, *args, True), params, state)
        obj.uses_rng = False
    except ValueError:
        obj.uses_rng = True
    return made, (params, state, key), out, batch


def made_part(made, i):
    """Part ``i`` of a deferred initialisation's ``(params, state, key, extra)``."""
    return made.value()[i]


def deferred_parts(made, count, specs=()):
    """One :class:`~coaxlike._deferred.Deferred` per part of ``made``'s result, all made
    by one run of it; ``specs``: the shapes of the first parts."""
    specs = tuple(specs) + (None,) * count
    return tuple(Deferred(made_part, made, i, spec=specs[i]) for i in range(count))


def _setup(obj, func, env, observation_preprocessor, action_preprocessor, value_transform,
           random_seed):
    """The part of ``__init__`` that ``Q`` and ``StochasticQ`` share: spaces, model type,
    preprocessors, value transform and seed (host-side checks first)."""
    if not callable(func):
        raise TypeError(f"func must be callable, got {type(func).__name__}")
    obj.observation_space, obj.action_space, obj.batched = _spaces.env_spaces(env)
    obj.modeltype = modeltype(func)
    discrete = isinstance(obj.action_space, gym.spaces.Discrete)
    if obj.modeltype == 2 and not discrete:  # coax's message first
        raise TypeError(f"type-2 {'q-functions' if type(obj).__name__ == 'Q' else 'models'} are only "
                        "well-defined for Discrete action spaces: a type-2 "
                        f"{type(obj).__name__} func(S, is_training) needs one, got "
                        f"{obj.action_space!r}")
    obj._transform, obj._inverse = _transform_pair(value_transform)
    obj.value_transform = value_transform
    obj.n_actions = int(obj.action_space.n) if discrete else None
    obj.action_start = int(obj.action_space.start) if discrete else 0
    check_preprocessor(observation_preprocessor, "observation_preprocessor")
    check_preprocessor(action_preprocessor, "action_preprocessor")
    obj.observation_preprocessor = (observation_preprocessor
                                    or _spaces.make_preprocessor(obj.observation_space))
    obj.action_preprocessor = (action_preprocessor
                               or _default_action_preprocessor(obj.action_space))
    random_seed = check_seed(random_seed)
    obj.random_seed = secrets.randbits(31) if random_seed is None else random_seed
    obj._default_preprocessors = (observation_preprocessor is None,
                                  action_preprocessor is None)
    obj._func = func
