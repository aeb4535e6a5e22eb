"""Gymnasium spaces: validation of raw observations, default preprocessors, example data.

Three things per space, each built once (at construction of a ``Q``) and then reused:

* a host-side *checker* ``check(x) -> x`` that raises ``ValueError`` when a raw observation
  (or a batch of them) does not belong to the space, and returns it as numpy data;
* a pure, jit-able *preprocessor* ``f(X) -> S`` that turns a batch of raw observations into
  the model's input (``float32`` arrays; one-hot for discrete parts; pytrees for Tuple/Dict);
* a deterministic *example* batch used to initialise network parameters.

Box bounds are not enforced: many environments emit values outside their declared bounds,
and checking them costs a full pass over the data on every call. Shapes and dtypes are.
"""
import numbers

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np

__all__ = []  # private module

_TRACED = (
    "{name} is a JAX tracer: calling a Q or a policy object (q(s), pi(s), pi.mode(s), "
    "pi.log_proba(s, a), ...) is a stateful host-side step (it checks inputs on the host and "
    "advances a PRNG key) that jax.jit, jax.vmap, jax.grad and lax.scan cannot trace. Inside "
    "traced code use the pure functions instead: pi.sample_func, pi.mode_func, "
    "pi.logits_func, pi.log_proba_func with pi.params (or pi.params_func) and "
    "q.function_state, or q.function_type1 / q.function_type2 with q.params.")


def refuse_tracers(x, name):
    """Return ``x``; raise ``TypeError`` pointing to the pure functions if it is a tracer."""
    if isinstance(x, jax.core.Tracer):
        raise TypeError(_TRACED.format(name=name))
    return x


def batch_size(S):
    """The leading dimension of a checked batch of observations (any pytree of arrays)."""
    return (S if isinstance(S, np.ndarray) else jax.tree_util.tree_leaves(S)[0]).shape[0]


def env_spaces(env):
    """Return ``(observation_space, action_space, batched)`` for an env or vector env.

    Raises:
        ValueError: for a vector env whose ``metadata["autoreset_mode"]`` is not gymnasium's
            default ``NEXT_STEP`` (see :func:`check_autoreset_mode`).
    """
    if hasattr(env, "single_observation_space") and hasattr(env, "single_action_space"):
        check_autoreset_mode(env)
        return env.single_observation_space, env.single_action_space, True
    if hasattr(env, "observation_space") and hasattr(env, "action_space"):
        return env.observation_space, env.action_space, False
    raise TypeError(
        "env must have gymnasium 'observation_space' and 'action_space' attributes "
        f"(or 'single_observation_space'/'single_action_space' for a vector env), "
        f"got {type(env).__name__}")


def check_autoreset_mode(env):
    """Refuse a vector env that does not autoreset on the next step (gymnasium's default).

    In ``SAME_STEP`` mode the observation returned with ``done`` is already the next
    episode's first one (the final one is only in ``info``), and in ``DISABLED`` mode the
    caller resets; the tracer, which takes the final observation from the step after the
    end, would record wrong transitions in both. An env without the metadata key passes.
    """
    mode = getattr(env, "metadata", None) or {}
    mode = mode.get("autoreset_mode") if isinstance(mode, dict) else None
    if mode is None or getattr(mode, "value", mode) == gym.vector.AutoresetMode.NEXT_STEP.value:
        return
    raise ValueError(
        f"env is a vector env with autoreset_mode={getattr(mode, 'name', mode)}, which is not "
        "supported: coaxlike expects gymnasium's default NEXT_STEP mode (the final "
        "observation comes back with done, the reset happens at the next step). Create it "
        "with autoreset_mode=gymnasium.vector.AutoresetMode.NEXT_STEP")


def describe_space(space):
    """A JSON-able, process-independent description of a space (for fingerprints)."""
    if isinstance(space, gym.spaces.Box):
        return {"Box": {"shape": list(space.shape), "dtype": str(space.dtype),
                        # as text: bounds may be infinite, which JSON cannot hold
                        "low": str(np.asarray(space.low).tolist()),
                        "high": str(np.asarray(space.high).tolist())}}
    if isinstance(space, gym.spaces.Discrete):
        return {"Discrete": {"n": int(space.n), "start": int(space.start)}}
    if isinstance(space, gym.spaces.MultiDiscrete):
        return {"MultiDiscrete": {"nvec": np.asarray(space.nvec).tolist(),
                                  "start": np.asarray(space.start).tolist()}}
    if isinstance(space, gym.spaces.MultiBinary):
        return {"MultiBinary": {"n": np.asarray(space.n).tolist()}}
    if isinstance(space, gym.spaces.Tuple):
        return {"Tuple": [describe_space(s) for s in space.spaces]}
    if isinstance(space, gym.spaces.Dict):
        return {"Dict": {k: describe_space(s) for k, s in space.spaces.items()}}
    return {type(space).__name__: repr(space)}


def _unsupported(space):
    return TypeError(
        f"observation space {space!r} is not supported by the default preprocessor; "
        "expected Box, Discrete, MultiDiscrete, MultiBinary, Tuple or Dict "
        "(pass observation_preprocessor= to handle it yourself)")


# --- preprocessors (pure, batched) ----------------------------------------------------------

def make_preprocessor(space):
    """Pure function mapping a batch of raw observations ``(B, ...)`` to model input.

    Box -> float32 ``(B, *shape)``; Discrete -> one-hot float32 ``(B, n)`` (honouring
    ``start``); MultiDiscrete -> concatenated one-hots ``(B, sum(nvec))``; MultiBinary ->
    float32 ``(B, *shape)``; Tuple/Dict -> tuple/dict of the parts.
    """
    if isinstance(space, gym.spaces.Box):
        return lambda x: jnp.asarray(x, jnp.float32)
    if isinstance(space, gym.spaces.Discrete):
        n, start = int(space.n), int(space.start)
        return lambda x: jax.nn.one_hot(jnp.asarray(x) - start, n, dtype=jnp.float32)
    if isinstance(space, gym.spaces.MultiDiscrete):
        nvec = np.asarray(space.nvec).ravel().tolist()
        start = np.asarray(space.start).ravel().tolist()

        def multi_discrete(x):
            x = jnp.reshape(jnp.asarray(x), (jnp.shape(x)[0], len(nvec)))
            return jnp.concatenate(
                [jax.nn.one_hot(x[:, i] - s, k, dtype=jnp.float32)
                 for i, (k, s) in enumerate(zip(nvec, start))], axis=-1)
        return multi_discrete
    if isinstance(space, gym.spaces.MultiBinary):
        return lambda x: jnp.asarray(x, jnp.float32)
    if isinstance(space, gym.spaces.Tuple):
        parts = tuple(make_preprocessor(s) for s in space.spaces)
        return lambda x: tuple(f(xi) for f, xi in zip(parts, x))
    if isinstance(space, gym.spaces.Dict):
        parts = {k: make_preprocessor(s) for k, s in space.spaces.items()}
        return lambda x: {k: f(x[k]) for k, f in parts.items()}
    raise _unsupported(space)


# --- host-side checkers ---------------------------------------------------------------------

def make_checker(space, batched, name="s"):
    """Host-side check ``check(x) -> numpy data``; ``batched`` adds a leading batch axis.

    Raises ``ValueError`` naming the argument, the expected and the received shape/value.
    """
    lead = "(batch, " if batched else "("

    if isinstance(space, gym.spaces.Box):
        shape, ndim = tuple(space.shape), len(space.shape) + int(batched)

        def check_box(x):
            x = np.asarray(refuse_tracers(x, name))
            if x.ndim != ndim or x.shape[int(batched):] != shape or x.dtype.kind not in "fiub":
                if not batched and x.shape[1:] == shape and x.dtype.kind in "fiub":
                    raise ValueError(_single_env_batch(name, x.shape, space))
                raise ValueError(
                    f"{name} must be a numeric array of shape {lead}{_shape_str(shape)}) for "
                    f"{space!r}, got {x.dtype} array of shape {x.shape}")
            return x
        return check_box

    if isinstance(space, (gym.spaces.Discrete, gym.spaces.MultiDiscrete,
                          gym.spaces.MultiBinary)):
        if isinstance(space, gym.spaces.Discrete):
            shape, low, high = (), int(space.start), int(space.start) + int(space.n) - 1
        elif isinstance(space, gym.spaces.MultiDiscrete):
            shape = tuple(space.shape)
            low = np.asarray(space.start)
            high = low + np.asarray(space.nvec) - 1
        else:
            shape, low, high = tuple(space.shape), 0, 1

        def check_integer(x):
            if not batched and isinstance(x, numbers.Integral) and not isinstance(x, bool):
                x = np.asarray(x, np.int64)
            else:
                x = np.asarray(refuse_tracers(x, name))
            if x.dtype.kind not in "iub" and not (
                    x.dtype.kind == "f" and np.all(np.mod(x, 1) == 0)):
                raise ValueError(f"{name} must hold integers for {space!r}, got {x.dtype} "
                                 f"values {x!r}")
            if x.shape[int(batched):] != shape or x.ndim != len(shape) + int(batched):
                if not batched and x.shape[1:] == shape:
                    raise ValueError(_single_env_batch(name, x.shape, space))
                raise ValueError(f"{name} must have shape {lead}{_shape_str(shape)}) for "
                                 f"{space!r}, got shape {x.shape}")
            if np.any(x < low) or np.any(x > high):
                raise ValueError(f"{name} must lie in [{low}, {high}] for {space!r}, "
                                 f"got {x!r}")
            return x.astype(np.int32)
        return check_integer

    if isinstance(space, gym.spaces.Tuple):
        parts = [make_checker(s, batched, f"{name}[{i}]") for i, s in enumerate(space.spaces)]

        def check_tuple(x):
            if not isinstance(x, (tuple, list)) or len(x) != len(parts):
                raise ValueError(f"{name} must be a tuple of {len(parts)} parts for "
                                 f"{space!r}, got {type(x).__name__}")
            return tuple(f(xi) for f, xi in zip(parts, x))
        return check_tuple

    if isinstance(space, gym.spaces.Dict):
        parts = {k: make_checker(s, batched, f"{name}[{k!r}]")
                 for k, s in space.spaces.items()}

        def check_dict(x):
            if not hasattr(x, "keys") or set(x.keys()) != set(parts):
                got = sorted(x.keys()) if hasattr(x, "keys") else type(x).__name__
                raise ValueError(f"{name} must be a dict with keys {sorted(parts)} for "
                                 f"{space!r}, got {got}")
            return {k: f(x[k]) for k, f in parts.items()}
        return check_dict

    def check_any(x):  # custom spaces: the user's preprocessor decides
        return x
    return check_any


def _single_env_batch(name, got, space):
    return (f"{name} must be one observation of {space!r}, got a batch of shape {got}: this "
            "Q was built on a single env. To act on batches, build the Q on a vector env "
            "(e.g. gymnasium.make_vec(...) or gymnasium.vector.SyncVectorEnv), or on any "
            "object with single_observation_space and single_action_space; or call the pure "
            "functions (pi.sample_func, pi.mode_func, q.function_type2) on the batch")


def _shape_str(shape):
    return ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "")


# --- example data ---------------------------------------------------------------------------

def example_batch(space, batch_size=1):
    """A deterministic batch of valid raw observations (or actions), leading axis ``B``."""
    if isinstance(space, gym.spaces.Box):
        low = np.broadcast_to(np.asarray(space.low, np.float64), space.shape)
        high = np.broadcast_to(np.asarray(space.high, np.float64), space.shape)
        x = np.clip(np.zeros(space.shape), low, high)
        return np.broadcast_to(x.astype(space.dtype), (batch_size, *space.shape)).copy()
    if isinstance(space, gym.spaces.Discrete):
        return np.full((batch_size,), int(space.start), np.int32)
    if isinstance(space, gym.spaces.MultiDiscrete):
        x = np.asarray(space.start, np.int32)
        return np.broadcast_to(x, (batch_size, *x.shape)).copy()
    if isinstance(space, gym.spaces.MultiBinary):
        return np.zeros((batch_size, *space.shape), np.int32)
    if isinstance(space, gym.spaces.Tuple):
        return tuple(example_batch(s, batch_size) for s in space.spaces)
    if isinstance(space, gym.spaces.Dict):
        return {k: example_batch(s, batch_size) for k, s in space.spaces.items()}
    sample = space.sample()
    return jax.tree_util.tree_map(lambda x: np.stack([np.asarray(x)] * batch_size), sample)
