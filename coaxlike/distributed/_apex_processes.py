"""Starting Ape-X's Ray processes: the replay server, the rollout actors, the evaluator."""
from ._evaluator import Evaluator
from ._ray import ray
from ._replay_server import ReplayServer
from ._rollout import RolloutActor

__all__ = []  # private module


def start_replay(name, options, capacity, alpha, beta, epsilon, seed):
    """The replay server, a Ray actor named ``name``: the rollout actors find it by its name
    (a handle in their constructor arguments would be kept as an object-store argument,
    which Ray cannot promise to a restart)."""
    replay_cls = ray.remote(ReplayServer).options(max_restarts=0, name=name, **options)
    return replay_cls.remote(capacity, alpha=alpha, beta=beta, epsilon=epsilon,
                             random_seed=seed)


def start_actors(apex, factories, replay_name, per_actor, seed):
    """One :class:`RolloutActor` per rate in ``apex.epsilons``, with ``apex``'s settings.

    Every argument travels by value, inside each actor's creation task: Ray rebuilds a
    restarted actor from that task, and arguments in the object store (``ray.put``, actor
    handles) could be gone by then (ray-project/ray#53727; Ray logs an error for them when
    ``max_restarts > 0``). Ray moves an argument over 100 KiB to the object store.
    """
    actor_cls = ray.remote(RolloutActor)
    return [actor_cls.options(
        max_restarts=apex.max_restarts, max_task_retries=0, **per_actor[i]).remote(
        *factories, replay_name, epsilon=float(eps), index=i, n_step=apex.n_step,
        gamma=apex.gamma, num_envs=apex.envs_per_actor, send_batch_size=apex.send_batch_size,
        seed=seed)
        for i, eps in enumerate(apex.epsilons)]


def start_evaluator(factories, options, num_episodes):
    """The :class:`Evaluator` actor over ``factories`` ``(make_env, make_q)``."""
    return ray.remote(Evaluator).options(**options).remote(*factories,
                                                           num_episodes=num_episodes)
