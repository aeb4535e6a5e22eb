"""Q: a state-action value function around a haiku forward pass."""

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from . import _spaces
from ._checks import check_unit
from ._deferred import Deferred, deferred_attribute, resolve, stored
from ._model import (_bad_return, _call_inputs, _default_action_preprocessor, _init, _setup,
                     _wire, deferred_parts)
from ._transforms import _describe_transform, _qualname
from ._tree_check import as_checked_tree, check_same_tree, copy_arrays, fresh_containers

__all__ = ["Q"]


@jax.jit
def _soft_update_tree(new, old, tau):
    return jax.tree_util.tree_map(lambda n, o: (tau * n + (1 - tau) * o).astype(o.dtype),
                                  new, old)


def _copy_of(value):
    return copy_arrays(resolve(value))


class Q:
    """A state-action value function :math:`q(s, a)` around a haiku-style forward pass.

    Two kinds of forward pass are accepted, told apart by the signature of ``func``:

    * **type-2** ``func(S, is_training) -> (B, n)``: one value per discrete action;
    * **type-1** ``func(S, A, is_training) -> (B,)``: the value of the given actions (``A`` is
      one-hot ``(B, n)`` for Discrete actions, ``float32 (B, *shape)`` for Box actions).

    ``func`` is transformed with :func:`haiku.transform_with_state` and its output shape is
    checked at construction on example data built from the spaces (traced, not run). The
    parameters, function state and key are made on first use (:attr:`params`, a call, a
    learner's update, pickling), by one compiled program under the PRNG implementation in
    force at construction, the same values as made at once: an agent built only for its
    pure functions compiles no initialisation it does not need.

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
        self._params, self._function_state, self._key = self._init_and_check()

    # made on first read (see coaxlike._model._init): an agent built for its pure functions
    # compiles the initialisation alongside other work, or never
    _params = deferred_attribute()
    _function_state = deferred_attribute()
    _key = deferred_attribute()
    _DEFERRED = ("_params", "_function_state", "_key")

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
        for name in self._DEFERRED:  # made now: a deferred one holds the haiku closures
            getattr(self, name)
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

    def _init_and_check(self):
        made, (params, state, key), out, batch = _init(self, self.random_seed)
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
        return deferred_parts(made, 3, (params, state))

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
        for name in ("_params", "_function_state"):  # a deferred original: a deferred copy
            value = stored(self, name)
            setattr(new, name, Deferred(_copy_of, value, spec=value.spec)
                    if isinstance(value, Deferred) else copy_arrays(value))
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
