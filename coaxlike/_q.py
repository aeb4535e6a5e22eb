"""Q: a state-action value function around a haiku forward pass."""
import secrets

import gymnasium as gym
import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from . import _spaces
from ._checks import check_seed, check_unit
from ._signatures import check_preprocessor, modeltype
from ._transforms import _describe_transform, _qualname, _transform_pair
from ._tree_check import as_checked_tree, check_same_tree, fresh_containers

__all__ = ["Q"]


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


@jax.jit
def _soft_update_tree(new, old, tau):
    return jax.tree_util.tree_map(lambda n, o: (tau * n + (1 - tau) * o).astype(o.dtype),
                                  new, old)


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
        out, _ = jax.eval_shape(lambda p, s: obj.function(p, s, key, *_example_args(obj, 1),
                                                          False), params, state)
        leaves = jax.tree_util.tree_leaves(out)
        got1 = leaves[0].shape if len(leaves) == 1 else f"{len(leaves)} arrays"
    except Exception:  # a forward pass that works on 2 rows only: report what was seen
        got1 = None
    shown = f"expected: {want_of_batch(2)}, got: {got}" if got1 is None else \
        f"expected: {want_of_batch(1)}, got: {got1}"
    return TypeError(f"func has bad return shape, {shown} (func must return shape {what}; "
                     f"on a batch of {batch} it returned {got})")


def _init(obj, key, batch=2):
    """Initialise ``obj``'s network on example data built from its spaces and set
    ``obj.uses_rng``; return ``(params, state, output shapes, batch)``."""
    args = _example_args(obj, batch)
    # one compiled program instead of one eager dispatch (and compile) per initialiser op
    params, state = jax.jit(lambda k, *a: obj._transformed.init(k, *a, True))(key, *args)
    out, _ = jax.eval_shape(lambda p, s: obj.function(p, s, key, *args, False), params, state)
    try:  # haiku refuses rng=None when the forward pass draws random numbers
        jax.eval_shape(lambda p, s: obj.function(p, s, None, *args, True), params, state)
        obj.uses_rng = False
    except ValueError:
        obj.uses_rng = True
    return params, state, out, batch


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
        raise TypeError(f"type-2 {'q-functions' if type(obj) is Q else 'models'} are only "
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


class Q:
    """A state-action value function :math:`q(s, a)` around a haiku-style forward pass.

    Two kinds of forward pass are accepted, told apart by the signature of ``func``:

    * **type-2** ``func(S, is_training) -> (B, n)``: one value per discrete action;
    * **type-1** ``func(S, A, is_training) -> (B,)``: the value of the given actions (``A`` is
      one-hot ``(B, n)`` for Discrete actions, ``float32 (B, *shape)`` for Box actions).

    ``func`` is transformed with :func:`haiku.transform_with_state`, initialised on example
    data built from the spaces and its output shape is checked at construction.

    Observations: with a plain env, ``q(s)`` takes one observation; with a gymnasium vector env
    (it has ``single_observation_space``) every call takes and returns a batch.

    A ``Q`` pickles (standard :mod:`pickle`, hence :mod:`multiprocessing` and Ray) whenever
    ``func``, any custom preprocessors and the value transform do, e.g. module-level
    functions: params, function state and key are pickled, the haiku transform and compiled
    programs are rebuilt.

    Args:
        func: the forward pass, see above.
        env: anything with gymnasium ``observation_space`` and ``action_space`` (or a vector
            env with ``single_observation_space``/``single_action_space``).
        observation_preprocessor: pure function mapping a batch of raw observations to the
            network input; default: Box -> float32, Discrete -> one-hot, Tuple/Dict -> pytrees.
        action_preprocessor: pure function mapping a batch of env actions to the type-1
            network's action input; default: one-hot for Discrete, float32 for Box.
        value_transform: optional :class:`~coaxlike.value_transforms.ValueTransform` (or a
            pair of functions ``(h, h_inv)``): the network learns :math:`h(q)`, ``q(s)``
            returns :math:`h^{-1}` of its output, learners build targets
            :math:`h(R + I h^{-1}(q'))`, and policies act on the network's (transformed)
            values, so a Boltzmann policy's logits are :math:`h(q)/\tau` (as in coax).
            ``None``: no transform.
        random_seed: seeds parameter initialisation and the key used for forward passes;
            ``None`` draws a seed from the operating system.

    Attributes:
        modeltype: 1 or 2.
        value_transform: what was passed (``None`` for no transform).
        uses_rng: whether the forward pass draws random numbers (e.g. dropout); when it does
            not, pure functions may pass ``rng=None`` and learners skip key splitting.

    Raises:
        TypeError: ``func`` has neither signature, a space is unsupported, type-2 with a
            non-Discrete action space, or ``func`` returns the wrong shape or a non-float
            dtype on example data (coax's exception types and messages); a preprocessor
            takes coax's ``(rng, x)``; ``random_seed`` is not an int or ``None``.

    Examples:
        >>> import gymnasium as gym, haiku as hk, jax.numpy as jnp
        >>> import coaxlike
        >>> env = gym.make("CartPole-v1")
        >>> def func(S, is_training):
        ...     return hk.nets.MLP([8, env.action_space.n])(S)
        >>> q = coaxlike.Q(func, env, random_seed=0)
        >>> q.modeltype, q(env.observation_space.sample()).shape
        (2, (2,))
    """

    def __init__(self, func, env, observation_preprocessor=None, action_preprocessor=None,
                 value_transform=None, random_seed=None):
        _setup(self, func, env, observation_preprocessor, action_preprocessor, value_transform,
               random_seed)
        self._build()
        init_key, self._key = jax.random.split(jax.random.key(self.random_seed))
        self._params, self._function_state = self._init_and_check(init_key)

    # built by _build() from func, the spaces and the preprocessors: not pickled
    _DERIVED = ("_transformed", "function", "function_type1", "function_type2", "_check_s",
                "_values_jit")

    def _build(self):
        """The haiku transform, the type-1/type-2 views and the compiled helpers."""
        self._transformed = hk.transform_with_state(self._func)
        _wire(self, self._transformed.apply)
        self._check_s = _spaces.make_checker(self.observation_space, self.batched, "s")
        self._values_jit = jax.jit(self._values)

    def __getstate__(self):
        drop = set(self._DERIVED)
        if self._default_preprocessors[0]:  # closures: rebuilt from the space
            drop.add("observation_preprocessor")
        if self._default_preprocessors[1]:
            drop.add("action_preprocessor")
        return {k: v for k, v in self.__dict__.items() if k not in drop}

    def __setstate__(self, state):
        self.__dict__.update(state)
        if self._default_preprocessors[0]:
            self.observation_preprocessor = _spaces.make_preprocessor(self.observation_space)
        if self._default_preprocessors[1]:
            self.action_preprocessor = _default_action_preprocessor(self.action_space)
        self._build()

    def _init_and_check(self, key):
        params, state, out, batch = _init(self, key)
        def want_of(b):
            return (b, self.n_actions) if self.modeltype == 2 else (b,)

        what = "(batch, n_actions)" if self.modeltype == 2 else "(batch,)"
        out = jax.tree_util.tree_leaves(out)
        if len(out) != 1 or out[0].shape != want_of(batch):
            got = out[0].shape if len(out) == 1 else f"{len(out)} arrays"
            raise _bad_return(self, params, state, key, f"{what} for a type-{self.modeltype} "
                              "Q-function", got, batch, want_of)
        if not jnp.issubdtype(out[0].dtype, jnp.floating):
            raise TypeError("func has bad return dtype; expected a subdtype of jnp.floating, "
                            f"got dtype={out[0].dtype}")
        return params, state

    # --- parameters and state --------------------------------------------------------------

    @property
    def params(self):
        """The haiku parameters (a pytree of JAX arrays).

        Each read returns new containers around the (immutable) arrays: editing them in place
        changes nothing. Assign a whole tree instead; the setter checks structure, shapes and
        dtypes before changing anything.
        """
        return fresh_containers(self._params)

    @params.setter
    def params(self, new_params):
        self._params = as_checked_tree(new_params, self._params, "params")

    @property
    def function_state(self):
        """The haiku function state (e.g. BatchNorm statistics); ``{}`` when there is none.
        New containers on each read, as :attr:`params`; the setter validates likewise."""
        return fresh_containers(self._function_state)

    @function_state.setter
    def function_state(self, new_state):
        self._function_state = as_checked_tree(new_state, self._function_state,
                                               "function_state")

    def copy(self):
        """Return a new ``Q`` with the same function and copies of params and state.

        The copy shares nothing mutable with the original: updating one leaves the other
        unchanged (the usual way to make a target network).

        Examples:
            >>> q_targ = q.copy()  # doctest: +SKIP
        """
        new = object.__new__(type(self))   # not copy.copy: that would rebuild via pickling
        new.__dict__.update(self.__dict__)
        new._params = jax.tree_util.tree_map(jnp.array, self._params)
        new._function_state = jax.tree_util.tree_map(jnp.array, self._function_state)
        return new

    def soft_update(self, other, tau):
        r"""Move params and state towards ``other``'s: :math:`\theta \leftarrow \tau
        \theta_\text{other} + (1 - \tau)\theta`; ``tau=1`` is a hard copy.

        Args:
            other: a ``Q`` with the same structure (e.g. the online network).
            tau: float in ``[0, 1]``.

        Raises:
            TypeError: ``tau`` not a real number.
            ValueError: ``tau`` outside ``[0, 1]`` or structures differ.
        """
        tau = check_unit(tau, "tau")
        check_same_tree(other.params, self._params, "other.params")
        tau = jnp.float32(tau)
        self._params = _soft_update_tree(other.params, self._params, tau)
        self._function_state = _soft_update_tree(
            other.function_state, self._function_state, tau)

    # --- convenience calls -----------------------------------------------------------------

    def _values(self, params, state, key, S, A):
        S = self.observation_preprocessor(S)
        if A is None:
            Q, _ = self.function_type2(params, state, key, S, False)
        else:
            Q, _ = self.function_type1(params, state, key, S, self.action_preprocessor(A),
                                       False)
        return self._inverse(Q)

    def __call__(self, s, a=None):
        """Evaluate :math:`q(s, \\cdot)` (``a=None``) or :math:`q(s, a)`.

        Args:
            s: one raw observation, or a batch ``(B, ...)`` with a vector env.
            a: optional action (batch ``(B,)`` with a vector env).

        Returns:
            ``q(s, .)`` as a numpy array ``(n,)`` (``(B, n)`` batched), or ``q(s, a)`` as a
            0-d numpy array, as coax returns it (``(B,)`` batched).

        Raises:
            ValueError: ``s`` is not an observation of the space, ``a`` not an action of a
                Discrete space, or ``a`` is missing on a non-Discrete action space (a type-1
                ``Q`` on Box actions has no ``q(s, .)``; coax's error type and message).
        """
        S, A = _call_inputs(self, s, a)
        Q = np.asarray(self._values_jit(self._params, self._function_state, self._key, S, A))
        return Q if self.batched else Q[0, ...]   # one observation: (n,) or 0-d

    # --- serialization ---------------------------------------------------------------------

    def serialize(self, path, *, suffix=".cxl"):
        """Save params and function state to ``path`` (``suffix`` appended unless present).

        The file is fingerprinted with the class, modeltype, spaces, preprocessors and the
        params' structure, shapes and dtypes; see :mod:`coaxlike.serialization`.

        Returns:
            the path written.
        """
        from .serialization import save_object
        return save_object(path, self, suffix=suffix)

    @classmethod
    def deserialize(cls, path, *args, suffix=".cxl", **kwargs):
        """Build ``cls(*args, **kwargs)``, verify the file against it, then load into it.

        Raises:
            ValueError: the file is damaged, not a coaxlike file, or its skeleton differs from
                the one built (the message names what differs).

        Examples:
            >>> q.serialize("q")  # doctest: +SKIP
            >>> q2 = Q.deserialize("q", func, env)  # doctest: +SKIP
        """
        from .serialization import load_object
        obj = cls(*args, **kwargs)
        load_object(path, obj, suffix=suffix)
        return obj

    def _serial_static(self):
        return {"modeltype": self.modeltype,
                "observation_preprocessor": _qualname(self.observation_preprocessor),
                "action_preprocessor": _qualname(self.action_preprocessor),
                "value_transform": _describe_transform(self.value_transform),
                "observation_space": _spaces.describe_space(self.observation_space),
                "action_space": _spaces.describe_space(self.action_space),
                "batched": self.batched}

    def _serial_tree(self):
        return {"params": self._params, "function_state": self._function_state}

    def _serial_restore(self, tree):
        self.params = tree["params"]
        self.function_state = tree["function_state"]

    def __repr__(self):
        return (f"Q(modeltype={self.modeltype}, observation_space={self.observation_space!r}, "
                f"action_space={self.action_space!r}, batched={self.batched})")
