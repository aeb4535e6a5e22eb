r"""StochasticQ: a distributional state-action value function (C51 or QR-DQN).

The network outputs the parameters of a distribution over the return :math:`G` of each
action, in the network's (transformed) value space:

* **categorical** (``value_range=(v_min, v_max)``, C51): ``{'logits': (..., K)}`` over the
  fixed support :math:`z_i = h(v_\min) + i\,\Delta z`, :math:`\Delta z = (h(v_\max) -
  h(v_\min)) / (K - 1)`, :math:`i = 0..K-1`;
* **quantile** (``value_range=None``, QR-DQN): ``{'values': (..., K)}``, the quantiles at
  the fixed fractions :math:`\hat\tau_i = (2i + 1) / (2K)`; a network may return its own
  ``'quantile_fractions'`` too (IQN-style), which are then used instead.

The values are the network-space mean :math:`\bar z = \sum_i p_i z_i` (or the mean of the
quantiles); ``q(s)`` returns :math:`h^{-1}(\bar z)` and the policies act on :math:`\bar z`,
exactly as for a :class:`~coaxlike.Q` whose network outputs :math:`h(q)`.
"""
import functools
import math

import distrax
import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from . import _spaces
from ._checks import as_real, check_int
from ._deferred import deferred_attribute
from ._model import _call_inputs, _init, _setup, _wire, deferred_parts
from ._q import Q

__all__ = ["StochasticQ"]


# --- pure functions of the distribution parameters ------------------------------------------

def _complete(dist_params, kind, fractions):
    """Check the keys of a forward pass's output (``TypeError``, as coax for a bad return
    structure); add the fixed quantile fractions."""
    if not isinstance(dist_params, dict):
        raise TypeError(f"func must return a dict of distribution parameters, got "
                        f"{type(dist_params).__name__}")
    keys = set(dist_params)
    if kind == "categorical" and keys != {"logits"}:
        raise TypeError(f"a categorical StochasticQ's func must return {{'logits': ...}}, "
                        f"got keys {sorted(keys)}")
    if kind == "quantile":
        if keys not in ({"values"}, {"values", "quantile_fractions"}):
            raise TypeError("a quantile StochasticQ's func must return {'values': ...} "
                            "(optionally with 'quantile_fractions'), got keys "
                            f"{sorted(keys)}")
        if "quantile_fractions" not in keys:
            values = dist_params["values"]
            dist_params = {"values": values, "quantile_fractions": jnp.broadcast_to(
                jnp.asarray(fractions, values.dtype), values.shape)}
    return dist_params


def _mean(dist_params, atoms):
    """Network-space mean over the last axis: ``p @ z`` or the mean of the quantiles."""
    if "logits" in dist_params:
        logits = dist_params["logits"]
        return jax.nn.softmax(logits, axis=-1) @ jnp.asarray(atoms, logits.dtype)
    return jnp.mean(dist_params["values"], axis=-1)


def _mean_with_state(function_type2, atoms, params, state, rng, S, is_training=False):
    """``(values (B, n), state)``: the forward pass the policies act on (network space)."""
    dist_params, state = function_type2(params, state, rng, S, is_training)
    return _mean(dist_params, atoms), state


def _mean_func(function, atoms, params, state, rng, *args):
    dist_params, _ = function(params, state, rng, *args, False)
    return _mean(dist_params, atoms)


def _sample_values(dist_params, atoms, key):
    """Draw a value index per distribution through distrax: ``(network-space value, logp)``."""
    if "logits" in dist_params:
        logits = dist_params["logits"]
        support = jnp.broadcast_to(jnp.asarray(atoms, logits.dtype), logits.shape)
    else:
        support = dist_params["values"]
        logits = jnp.zeros(support.shape, support.dtype)  # each quantile equally likely
    with jax.numpy_rank_promotion("allow"):  # distrax broadcasts by rank promotion
        index, logp = distrax.Categorical(logits=logits).sample_and_log_prob(seed=key)
    return jnp.take_along_axis(support, index[..., None], axis=-1)[..., 0], logp


# --- the shell ------------------------------------------------------------------------------

class StochasticQ:
    r"""A distributional Q-function :math:`\mathbb{P}_\theta(G_t \mid S_t = s, A_t = a)`:
    categorical (C51, Bellemare et al., 2017) or quantile (QR-DQN, Dabney et al., 2018).

    ``func`` is a haiku-style forward pass, told apart by its signature like
    :class:`~coaxlike.Q`'s:

    * **type-2** ``func(S, is_training)`` returns ``{'logits': (B, n, K)}`` (categorical) or
      ``{'values': (B, n, K)}`` (quantile): one distribution per discrete action;
    * **type-1** ``func(S, A, is_training)`` returns ``{'logits': (B, K)}`` or
      ``{'values': (B, K)}`` for the given actions.

    With ``value_range=(v_min, v_max)`` the distribution is categorical over ``K = num_bins``
    evenly spaced atoms from :math:`h(v_\min)` to :math:`h(v_\max)` (both included;
    :math:`h` is the value transform, the identity by default). With ``value_range=None`` it
    is a quantile distribution over ``K = num_bins`` quantiles at fractions
    :math:`\hat\tau_i = (2i+1)/(2K)` (a quantile network may also return
    ``'quantile_fractions'`` of the shape of ``'values'``).

    **Values.** The *network-space value* of an action is the mean
    :math:`\bar z = \sum_i p_i z_i` (categorical) or :math:`\frac1K\sum_i \theta_i`
    (quantile); ``q(s)`` and :meth:`mean` return :math:`h^{-1}(\bar z)`. ``EpsilonGreedy``
    and ``BoltzmannPolicy`` act on :math:`\bar z`, so with the identity transform they act
    on the mean return (with a transform, like a :class:`~coaxlike.Q` with one, the
    Boltzmann logits are :math:`\bar z / \tau`).

    Args:
        func: the forward pass, see above.
        env: a gymnasium env (or vector env, then every call takes and returns a batch).
        value_range: ``(v_min, v_max)`` with ``v_min < v_max`` (finite, untransformed) for a
            categorical distribution; ``None`` for quantiles.
        num_bins: ``K``, the number of atoms (>= 2) or quantiles (>= 1).
        observation_preprocessor: as for :class:`~coaxlike.Q`.
        action_preprocessor: as for :class:`~coaxlike.Q`.
        value_transform: optional :class:`~coaxlike.value_transforms.ValueTransform` (or a
            pair ``(h, h_inv)``); the atoms, quantiles and learning targets live in the
            transformed space.
        random_seed: seeds initialisation, the evaluation key and the key of :meth:`sample`;
            ``None`` draws one from the operating system.

    Attributes:
        kind: ``'categorical'`` or ``'quantile'``.
        atoms: float32 ``(K,)`` numpy array, the categorical support in network space
            (``None`` for quantiles).
        quantile_fractions: float32 ``(K,)`` numpy array of the fixed fractions (``None`` for
            the categorical kind).
        function_type1: pure ``(params, state, rng, S, A, is_training) -> (dist_params,
            state)``, leaves ``(B, K)``.
        function_type2: pure ``(params, state, rng, S, is_training) -> (dist_params,
            state)``, leaves ``(B, n, K)`` (``None`` for non-Discrete actions).
        mean_func_type1: pure ``(params, state, rng, S, A) -> (B,)`` network-space means.
        mean_func_type2: pure ``(params, state, rng, S) -> (B, n)`` network-space means.
        modeltype, uses_rng, value_transform: as for :class:`~coaxlike.Q`.

    Raises:
        TypeError: bad ``func`` signature, unsupported spaces, type-2 with non-Discrete
            actions, ``num_bins`` not an integer, ``value_range`` not a pair of numbers;
            ``func`` returns something else than a dict of floating-point arrays with the
            expected keys and shapes (coax's error type for a bad return).
        ValueError: ``value_range`` not finite with ``v_min < v_max``, ``num_bins`` too
            small.

    Examples:
        >>> import gymnasium as gym, haiku as hk, jax.numpy as jnp
        >>> import coaxlike
        >>> env = gym.make("CartPole-v1")
        >>> def func(S, is_training):
        ...     logits = hk.Linear(2 * 11)(S)
        ...     return {"logits": jnp.reshape(logits, (-1, 2, 11))}
        >>> q = coaxlike.StochasticQ(func, env, value_range=(0., 100.), num_bins=11,
        ...                          random_seed=0)
        >>> s, _ = env.reset(seed=0)
        >>> q(s).shape, q.dist_params(s)["logits"].shape, q.atoms[:3].tolist()
        ((2,), (2, 11), [0.0, 10.0, 20.0])
        >>> pi = coaxlike.EpsilonGreedy(q, epsilon=0.1)  # acts on the mean
        >>> pi(s) in (0, 1)
        True
    """

    def __init__(self, func, env, value_range=None, num_bins=51, observation_preprocessor=None,
                 action_preprocessor=None, value_transform=None, random_seed=None):
        num_bins = _check_num_bins(num_bins, value_range is not None)
        value_range = _check_value_range(value_range)
        _setup(self, func, env, observation_preprocessor, action_preprocessor, value_transform,
               random_seed)
        self.value_range, self.num_bins = value_range, num_bins
        if value_range is None:
            self.kind, self.atoms = "quantile", None
            self.quantile_fractions = ((2 * np.arange(num_bins) + 1)
                                       / (2 * num_bins)).astype(np.float32)
        else:
            self.kind, self.quantile_fractions = "categorical", None
            low, high = (float(self._transform(jnp.float32(v))) for v in value_range)
            if not (math.isfinite(low) and math.isfinite(high) and low < high):
                raise ValueError(f"value_range must map to an increasing finite interval "
                                 f"under value_transform, got ({low}, {high})")
            self.atoms = np.linspace(low, high, num_bins, dtype=np.float32)
        self._build()
        (self._params, self._function_state, self._key,
         self._sample_key) = self._init_and_check()

    # made on first read, as Q's
    _params = deferred_attribute()
    _function_state = deferred_attribute()
    _key = deferred_attribute()
    _sample_key = deferred_attribute()
    _DEFERRED = ("_params", "_function_state", "_key", "_sample_key")

    # built by _build() from func, the spaces, the preprocessors and the support: not pickled
    _DERIVED = ("_transformed", "function", "function_type1", "function_type2",
                "mean_func_type1", "mean_func_type2", "_mean_type2", "_check_s", "_dist_jit",
                "_mean_jit", "_sample_jit")

    def _build(self):
        """The haiku transform, the type-1/type-2 views, the means and the compiled helpers."""
        self._transformed = hk.transform_with_state(self._func)
        _wire(self, functools.partial(_apply_complete, self._transformed.apply, self.kind,
                                      self.quantile_fractions))
        self.mean_func_type1 = functools.partial(_mean_func, self.function_type1, self.atoms)
        self.mean_func_type2 = self._mean_type2 = None
        if self.function_type2 is not None:
            self.mean_func_type2 = functools.partial(_mean_func, self.function_type2,
                                                     self.atoms)
            self._mean_type2 = functools.partial(_mean_with_state, self.function_type2,
                                                 self.atoms)
        self._check_s = _spaces.make_checker(self.observation_space, self.batched, "s")
        self._dist_jit = jax.jit(self._dist)
        self._mean_jit = jax.jit(self._mean)
        self._sample_jit = jax.jit(self._sample)

    def _init_and_check(self):
        made, (params, state, _), out, batch = _init(
            self, self.random_seed, more_keys=lambda key: jax.random.fold_in(key, 3))
        want, what = (((batch, self.n_actions, self.num_bins), "(batch, n_actions, num_bins)")
                      if self.modeltype == 2 else ((batch, self.num_bins), "(batch, num_bins)"))
        for name, leaf in out.items():
            if leaf.shape != want:
                raise TypeError(f"func must return {name!r} of shape {what} = {want} for a "
                                f"type-{self.modeltype} StochasticQ on a batch of {batch}, "
                                f"got {leaf.shape}")
            if not jnp.issubdtype(leaf.dtype, jnp.floating):
                raise TypeError(f"func must return floating-point {name!r}, got {leaf.dtype}")
        return deferred_parts(made, 4, (params, state))

    # --- parameters and state: shared with Q (same fields, same checks) ------------------

    params = Q.params
    function_state = Q.function_state
    __getstate__ = Q.__getstate__
    __setstate__ = Q.__setstate__
    copy = Q.copy
    soft_update = Q.soft_update
    serialize = Q.serialize
    deserialize = Q.__dict__["deserialize"]
    _serial_tree = Q._serial_tree
    _serial_restore = Q._serial_restore

    def _serial_static(self):
        return {**Q._serial_static(self), "kind": self.kind, "num_bins": self.num_bins,
                "value_range": None if self.value_range is None else list(self.value_range)}

    # --- convenience calls -----------------------------------------------------------------

    def _dist(self, params, state, key, S, A):
        S = self.observation_preprocessor(S)
        if A is None:
            dist_params, _ = self.function_type2(params, state, key, S, False)
        else:
            dist_params, _ = self.function_type1(params, state, key, S,
                                                 self.action_preprocessor(A), False)
        return dist_params

    def _mean(self, params, state, key, S, A):
        return self._inverse(_mean(self._dist(params, state, key, S, A), self.atoms))

    def _sample(self, params, state, key, sample_key, S, A):
        sample_key, subkey = jax.random.split(sample_key)
        value, logp = _sample_values(self._dist(params, state, key, S, A), self.atoms, subkey)
        return (self._inverse(value), logp), sample_key

    def _unbatch(self, x):
        """A batched result back to the shape of the call (0-d for one ``(s, a)``, as Q)."""
        x = np.asarray(x)
        return x if self.batched else x[0, ...]

    def __call__(self, s, a=None):
        r"""The mean value :math:`h^{-1}(\bar z)` of every action (``a=None``) or of ``a``.

        Args:
            s: one raw observation, or a batch ``(B, ...)`` with a vector env.
            a: optional action (a ``(B,)`` batch with a vector env).

        Returns:
            numpy ``(n,)`` (``(B, n)`` batched), or a 0-d array (``(B,)`` batched) with
            ``a``.
        """
        S, A = _call_inputs(self, s, a)
        return self._unbatch(self._mean_jit(self._params, self._function_state, self._key,
                                            S, A))

    def mean(self, s, a=None):
        """Same as ``q(s, a)``: the mean value (untransformed), see :meth:`__call__`."""
        return self(s, a)

    def mode(self, s, a=None):
        r"""The most probable value, :math:`h^{-1}(z_{\arg\max_i p_i})` (categorical only).

        Raises:
            TypeError: for a quantile StochasticQ (equally likely quantiles have no mode).
        """
        if self.kind != "categorical":
            raise TypeError("mode is only defined for a categorical StochasticQ; a quantile "
                            "distribution's quantiles are equally likely")
        logits = self.dist_params(s, a)["logits"]
        return np.asarray(self._inverse(self.atoms[np.argmax(logits, axis=-1)]))

    def dist_params(self, s, a=None):
        """The distribution parameters at ``s`` (network space) as numpy arrays.

        Returns:
            ``{'logits': (n, K)}`` (categorical) or ``{'values': (n, K),
            'quantile_fractions': (n, K)}`` (quantile); ``(K,)`` leaves with ``a``, and a
            leading batch axis with a vector env.
        """
        S, A = _call_inputs(self, s, a)
        out = self._dist_jit(self._params, self._function_state, self._key, S, A)
        return {k: (np.asarray(v) if self.batched else np.asarray(v)[0])
                for k, v in out.items()}

    def sample(self, s, a=None, return_logp=False):
        """Sample a value from the distribution (through :class:`distrax.Categorical` over
        the atoms, or uniformly over the quantiles), untransformed.

        Advances the StochasticQ's own sampling key (seeded by ``random_seed``).

        Args:
            s: one raw observation (a batch with a vector env).
            a: optional action.
            return_logp: also return the log-probability of the drawn atom (quantile: of
                the drawn quantile index, ``-log K``).

        Returns:
            like ``q(s, a)``, or ``(value, logp)`` of that shape with ``return_logp=True``.
        """
        S, A = _call_inputs(self, s, a)
        (value, logp), self._sample_key = self._sample_jit(
            self._params, self._function_state, self._key, self._sample_key, S, A)
        value = self._unbatch(value)
        return (value, self._unbatch(logp)) if return_logp else value

    def __repr__(self):
        extra = (f"value_range={self.value_range}" if self.kind == "categorical"
                 else "quantile")
        return (f"StochasticQ({extra}, num_bins={self.num_bins}, modeltype={self.modeltype}, "
                f"observation_space={self.observation_space!r}, "
                f"action_space={self.action_space!r}, batched={self.batched})")


def _apply_complete(apply, kind, fractions, *args):
    dist_params, state = apply(*args)
    return _complete(dist_params, kind, fractions), state


def _check_num_bins(num_bins, categorical):
    return check_int(num_bins, "num_bins", 2 if categorical else 1)


def _check_value_range(value_range):
    if value_range is None:
        return None
    want = "a pair of floats (v_min, v_max) or None"
    if not (isinstance(value_range, (tuple, list)) and len(value_range) == 2):
        raise TypeError(f"value_range must be {want}, got {value_range!r}")
    low, high = (as_real(v, "value_range", want) for v in value_range)
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(f"value_range must be finite with v_min < v_max, got {value_range!r}")
    return low, high
