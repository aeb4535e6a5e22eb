"""Host-side validation of the DQN agent's hyperparameters (each error names its argument):
``TypeError`` for the wrong type, ``ValueError`` for a value out of range (see
``coaxlike._checks``)."""
import math
import numbers

import jax

from .._checks import as_real, check_bool, check_int

__all__ = []  # private module


def positive_int(value, name, *, allow=()):
    """``value`` as an int >= 1 (or one of ``allow``): ``TypeError`` naming ``name`` unless an
    int, ``ValueError`` if out of range."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and value in allow:
        return int(value)
    try:
        return check_int(value, name, 1)
    except (TypeError, ValueError) as error:
        if not allow:
            raise
        extra = "".join(f" or {a}" for a in allow)
        raise type(error)(f"{name} must be an int >= 1{extra}, got {value!r}") from None


def nonnegative_int(value, name):
    return check_int(value, name, 0)


def real_in(value, name, low, high, *, low_open=False, high_open=False):
    """``value`` as a finite float in the interval: ``TypeError`` naming ``name`` unless a real
    number, ``ValueError`` if outside the interval or not finite."""
    interval = (f"{'(' if low_open else '['}{low}, {high}"
                f"{')' if high_open or high == math.inf else ']'}")
    x = as_real(value, name, f"a finite number in {interval}")
    if not (math.isfinite(x) and (low < x if low_open else low <= x)
            and (x < high if high_open else x <= high)):
        raise ValueError(f"{name} must be a finite number in {interval}, got {value!r}")
    return x


def hidden_sizes(value, name="hidden"):
    if not isinstance(value, (tuple, list)):
        raise TypeError(f"{name} must be a non-empty tuple of ints >= 1, got "
                        f"{type(value).__name__} {value!r}")
    if not value:
        raise ValueError(f"{name} must be a non-empty tuple of ints >= 1, got {value!r}")
    return tuple(check_int(h, f"{name}[{i}]", 1) for i, h in enumerate(value))


def number_or_schedule(value, name, low, high, *, low_open=False):
    """A float in range (checked) or a callable schedule (checked at step 0)."""
    if callable(value):
        try:
            first = float(_at_step_0(value))
        except Exception as error:  # noqa: BLE001 - report any failure as a bad argument
            raise ValueError(f"{name} must be a number or a schedule step -> number; calling "
                             f"it at step 0 failed: {error!r}") from error
        real_in(first, f"{name}(0)", low, high, low_open=low_open)
        return value
    return real_in(value, name, low, high, low_open=low_open)


def _at_step_0(schedule):
    """``schedule(0)``, as one compiled call when it traces (one compile instead of one per
    eager operation of the schedule), else eagerly (whose error is then reported)."""
    try:
        return jax.jit(schedule)(0)
    except Exception:  # noqa: BLE001 - not traceable: the eager call tells what is wrong
        return schedule(0)


def agent_config(n_envs, env_id, *, hidden, buffer_size, learning_starts, batch_size, gamma,
                 train_freq, gradient_steps, target_update_interval, tau, max_grad_norm,
                 adam_eps, n_step, double, prioritized, explore_until_reward, seed):
    """The DQN agent's static hyperparameters, each checked (``TypeError`` or ``ValueError``
    naming it)."""
    c = {"hidden": hidden_sizes(hidden),
         "buffer_size": positive_int(buffer_size, "buffer_size"),
         "learning_starts": nonnegative_int(learning_starts, "learning_starts"),
         "batch_size": positive_int(batch_size, "batch_size"),
         "gamma": real_in(gamma, "gamma", 0.0, 1.0),
         "train_freq": positive_int(train_freq, "train_freq"),
         "gradient_steps": positive_int(gradient_steps, "gradient_steps", allow=(-1,)),
         "target_update_interval": positive_int(target_update_interval,
                                                "target_update_interval"),
         "tau": real_in(tau, "tau", 0.0, 1.0, low_open=True),
         "max_grad_norm": None if max_grad_norm is None else real_in(
             max_grad_norm, "max_grad_norm", 0.0, math.inf, low_open=True),
         "adam_eps": real_in(adam_eps, "adam_eps", 0.0, math.inf, low_open=True),
         "n_step": positive_int(n_step, "n_step"),
         "double": check_bool(double, "double"),
         "prioritized": check_bool(prioritized, "prioritized"),
         "explore_until_reward": check_bool(explore_until_reward, "explore_until_reward"),
         "n_envs": n_envs, "env_id": env_id,
         "seed": nonnegative_int(seed, "seed")}
    if c["gradient_steps"] == -1:
        c["gradient_steps"] = c["train_freq"] * c["n_envs"]
    if c["batch_size"] > c["buffer_size"]:
        raise ValueError(f"batch_size must be at most buffer_size={c['buffer_size']}, got "
                         f"{c['batch_size']}")
    return c
