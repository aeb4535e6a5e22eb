"""Checks of the signatures of user functions: forward passes and preprocessors."""
import inspect

__all__ = []  # private module


def modeltype(func):
    """1 for ``func(S, A, is_training)``, 2 for ``func(S, is_training)``; ``TypeError`` with
    coax's message for anything else."""
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError) as e:
        raise TypeError(f"func must be a callable with an inspectable signature, got {func!r}"
                        ) from e
    positional = [p for p in params
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                  and p.default is p.empty]
    if len(positional) == 2:
        return 2
    if len(positional) == 3:
        return 1
    # the first sentence is coax's message, which coax users' tests match
    raise TypeError("func has bad signature; expected: func(S, A, is_training) or "
                    f"func(S, is_training), got: func{inspect.signature(func)} (func must "
                    "take (S, is_training) for a type-2 model or (S, A, is_training) for a "
                    "type-1 model)")


def check_preprocessor(fn, argname):
    """A custom preprocessor must be a callable of one batch; coax's take ``(rng, x)``."""
    if fn is None:
        return
    if not callable(fn):
        raise TypeError(f"{argname} must be callable or None, got {type(fn).__name__}")
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # e.g. some builtins: nothing to check
        return
    required = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                and p.default is p.empty]
    if len(required) == 2:
        raise TypeError(f"{argname} must take one argument, a batch X, got signature "
                        f"{inspect.signature(fn)}: coax's preprocessors take (rng, x); "
                        "coaxlike's are pure functions of a batch, so drop the rng argument")
