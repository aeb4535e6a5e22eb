"""Ape-X's settings: every argument of :class:`~coaxlike.distributed.ApeX` (checked on the
host before Ray starts) and of its ``train`` calls, and the Ray resource options of its
processes."""
import os

from .._checks import check_bool, check_positive, check_unit
from ..experience_replay._prioritized import check_priority_args
from ._schedule import apex_epsilons, check_count

__all__ = []  # private module

_DEFAULT_OPTIONS = {"actor": {"num_cpus": 0.5}, "replay": {"num_cpus": 0.25},
                    "evaluator": {"num_cpus": 0.25}}

_COUNTS = ("envs_per_actor", "actor_steps", "send_batch_size", "batch_size",
           "updates_per_sample", "publish_every", "target_update_every", "checkpoint_every",
           "capacity", "eval_episodes", "n_step")


def check_settings(*, num_actors, epsilon, alpha, gamma, priority_alpha, priority_beta,
                   priority_epsilon, warmup, tau, checkpoint_path, checkpoint_replay,
                   evaluate_every, max_restarts, max_updates_per_second, **counts):
    """The settings :class:`ApeX` keeps, by attribute name, each checked (``TypeError`` for
    the wrong type, ``ValueError`` for a value out of range, naming the argument); the
    priority arguments are checked by the buffer's own check and not kept."""
    settings = {"epsilons": apex_epsilons(num_actors, epsilon, alpha),
                "num_actors": check_count(num_actors, "num_actors")}
    settings.update({name: check_count(counts[name], name) for name in _COUNTS})
    check_priority_args(priority_alpha, priority_beta, priority_epsilon, "priority_")
    settings["warmup"] = check_count(warmup, "warmup", 0)
    settings["max_restarts"] = check_count(max_restarts, "max_restarts", 0)
    settings["evaluate_every"] = (None if evaluate_every is None
                                  else check_count(evaluate_every, "evaluate_every"))
    settings["tau"] = check_unit(tau, "tau")
    if settings["tau"] == 0.0:
        raise ValueError("tau must be in (0, 1], got 0 (the target would never move)")
    settings["gamma"] = check_unit(gamma, "gamma")
    settings["max_updates_per_second"] = (
        None if max_updates_per_second is None
        else check_positive(max_updates_per_second, "max_updates_per_second"))
    settings["checkpoint_path"] = None if checkpoint_path is None else os.fspath(checkpoint_path)
    settings["checkpoint_replay"] = check_bool(checkpoint_replay, "checkpoint_replay")
    return settings


def ray_options(num_actors, actor_options, replay_options, evaluator_options):
    """``(per_actor, options)``: the Ray options of each rollout actor (one dict for all, or
    one per actor) and of the replay server and evaluator, over the defaults."""
    if isinstance(actor_options, (list, tuple)):
        if len(actor_options) != num_actors:
            raise ValueError(f"actor_options must be one dict or a list of num_actors="
                             f"{num_actors} dicts, got a list of {len(actor_options)}")
        per_actor = [{**_DEFAULT_OPTIONS["actor"], **(o or {})} for o in actor_options]
    else:
        per_actor = [{**_DEFAULT_OPTIONS["actor"], **(actor_options or {})}] * num_actors
    options = {"replay": {**_DEFAULT_OPTIONS["replay"], **(replay_options or {})},
               "evaluator": {**_DEFAULT_OPTIONS["evaluator"], **(evaluator_options or {})}}
    return per_actor, options


def check_stop(num_updates, target_return, max_env_steps, max_seconds, has_evaluator):
    """``train``'s stopping conditions ``(num_updates, max_env_steps, max_seconds)``, checked:
    at least one condition, each in range, ``target_return`` only with an evaluator."""
    if num_updates is None and target_return is None and max_env_steps is None \
            and max_seconds is None:
        raise ValueError("train needs a stopping condition: num_updates, target_return, "
                         "max_env_steps or max_seconds")
    if num_updates is not None:
        num_updates = check_count(num_updates, "num_updates", 0)
    if max_env_steps is not None:
        max_env_steps = check_count(max_env_steps, "max_env_steps", 0)
    if max_seconds is not None:
        max_seconds = check_positive(max_seconds, "max_seconds")
    if target_return is not None and not has_evaluator:
        raise ValueError("target_return needs evaluate_every (an evaluator); got "
                         "evaluate_every=None")
    return num_updates, max_env_steps, max_seconds
