"""Attributes made on first read: initial arrays that some uses of an object never need.

A Q-function's parameters and key, a learner's optimizer state and key, a policy's key:
making them compiles programs (in a fresh process 0.3-0.5 s for a small MLP's
initialisation, about 0.2 s for Adam's zeros, one per parameter shape, and 0.05-0.1 s for a
key's fold-in), which a caller that uses only the objects' pure functions (the agents'
functional API, a compiled training run) never needs, or can make beside other work. Such
an attribute holds a :class:`Deferred` until it is first read: the same value as made at
once, from the same inputs (captured when deferred), only later.
"""

import jax

__all__ = []  # private module


class Deferred:
    """A value to make on first read: ``fn(*args)``.

    Examples:
        >>> class Learner:
        ...     state = deferred_attribute()
        ...     def __init__(self):
        ...         self.state = Deferred(sum, (1, 2))
        >>> learner = Learner()
        >>> type(learner.__dict__["state"]).__name__, learner.state, learner.__dict__["state"]
        ('Deferred', 3, 3)
    """

    __slots__ = ("fn", "args", "_made", "spec")

    def __init__(self, fn, *args, spec=None):
        # spec: the value's jax.ShapeDtypeStruct tree when known (see spec_of)
        self.fn, self.args, self._made, self.spec = fn, args, _UNMADE, spec

    def value(self):
        """``fn(*args)``, made on the first call and kept: attributes deferring to the same
        :class:`Deferred` share one value."""
        if self._made is _UNMADE:
            self._made = self.fn(*self.args)
        return self._made

    def __getstate__(self):
        return self.fn, self.args, self._made, self.spec

    def __setstate__(self, state):
        self.fn, self.args, self._made, self.spec = state


class _Unmade:
    def __reduce__(self):
        return "_UNMADE"


_UNMADE = _Unmade()


def resolve(value):
    """``value``, or what it defers to if it is a :class:`Deferred`."""
    return value.value() if isinstance(value, Deferred) else value


def spec_of(obj, name):
    """The ``jax.ShapeDtypeStruct`` tree of array attribute ``name`` of ``obj``, without
    making it if it is deferred with a known ``spec``."""
    value = stored(obj, name)
    if isinstance(value, Deferred) and value.spec is not None:
        return value.spec
    return jax.eval_shape(lambda tree: tree, resolve(value))


def stored(obj, name):
    """The attribute ``name`` of ``obj`` as stored: a :class:`Deferred` is not made."""
    return obj.__dict__[name]


class deferred_attribute:  # noqa: N801 - used as a decorator-like class attribute
    """A data descriptor for an attribute that may be set to a :class:`Deferred`: the first
    read makes the value and stores it in the instance's ``__dict__`` under the same name
    (so objects pickled with the plain value load unchanged); assigning sets it."""

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        try:
            value = obj.__dict__[self.name]
        except KeyError:
            raise AttributeError(f"{type(obj).__name__!r} object has no attribute "
                                 f"{self.name!r}") from None
        if isinstance(value, Deferred):
            value = obj.__dict__[self.name] = value.value()
        return value

    def __set__(self, obj, value):
        obj.__dict__[self.name] = value
