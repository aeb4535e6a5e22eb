"""ApeX: Ape-X DQN on Ray (rollout actors, a replay server, one learner in this process)."""
import logging
import os
import time
import uuid

import gymnasium as gym

import numpy as np

from .._checks import check_positive
from ._apex_processes import start_actors, start_evaluator, start_replay
from ._apex_settings import check_settings, check_stop, ray_options
from ._checkpoint import LearnerCheckpoint
from ._fleet import ActorFleet, ReplayServerLost
from ._params import network_state
from ._process import peak_rss_mb
from ._ray import init_ray, ray

__all__ = ["ApeX"]

logger = logging.getLogger("coaxlike.distributed")


class ApeX:
    r"""Ape-X (Horgan et al., 2018): many rollout actors, one prioritized replay, one learner.

    Composed from the library's parts and run on Ray:

    * ``num_actors`` :class:`RolloutActor` s, each with its own envs, a copy of the
      Q-function, an :class:`~coaxlike.EpsilonGreedy` with rate :func:`apex_epsilons` ``[i]``
      and an :class:`~coaxlike.reward_tracing.NStep`; they send chunks of transitions with
      their log-propensities and initial priorities to the replay server through Ray's object
      store and load fresh parameters every ``actor_steps`` vector steps;
    * a :class:`ReplayServer` (a :class:`~coaxlike.experience_replay.PrioritizedReplayBuffer`
      in a Ray actor);
    * the learner, in this process: ``make_learner(q, q_targ)``, one of the TD learners. It
      fetches ``updates_per_sample`` batches per round trip (the next round trip is in flight
      while it updates), sends the TD errors back as priorities, moves the target network
      every ``target_update_every`` updates and publishes both networks every
      ``publish_every`` updates with one ``ray.put``;
    * optionally an :class:`Evaluator` playing greedy episodes every ``evaluate_every``
      updates.

    **Ray.** If Ray is not initialised, the constructor calls ``ray.init(**ray_init)``: with no
    ``address`` this joins the cluster of this machine started by ``ray start`` (or named by
    ``RAY_ADDRESS``) and otherwise starts a local one, so the same code runs on a laptop and on
    a cluster. Arguments that only size a new local instance (``num_cpus``,
    ``object_store_memory``, ...) are dropped, with a log line, when it joins a cluster. :meth:`close` (or leaving a ``with`` block) kills the actors and, when this
    object started Ray, shuts it down.

    **Faults.** Rollout actors are restarted by Ray after a crash (``max_restarts``) and after
    an exception in their env (logged with its traceback); training continues meanwhile.
    With ``checkpoint_path`` the learner (networks, optimizer state, key, counters) is saved
    every ``checkpoint_every`` updates in the fingerprinted format of
    :mod:`coaxlike.serialization`, and so are the replay server's contents
    (``checkpoint_replay``); a new ``ApeX`` with the same path resumes from both. A lost
    replay server raises :class:`ReplayServerLost` after a last learner checkpoint.

    Args:
        make_env: ``() -> gymnasium.Env``; must be picklable (e.g. a module-level function).
        make_q: ``(envs) -> coaxlike.Q``, given a ``gymnasium.vector.SyncVectorEnv`` of
            ``make_env()`` envs (so ``q`` takes batches of observations).
        make_learner: ``(q, q_targ) -> TDLearner``, e.g.
            ``lambda q, q_targ: DoubleQLearning(q, q_targ=q_targ, optimizer=optax.adam(1e-3))``.
        num_actors: an int >= 1.
        epsilon, alpha: the exploration rates' base and spread (:func:`apex_epsilons`).
        n_step, gamma: the tracers' horizon and discount.
        envs_per_actor: envs each actor steps together, an int >= 1.
        actor_steps: vector steps per :meth:`RolloutActor.run` call (parameters are loaded at
            the start of each call), an int >= 1.
        send_batch_size: rows per chunk sent by an actor, an int >= 1.
        capacity, priority_alpha, priority_beta, priority_epsilon: the replay buffer's.
        batch_size: transitions per gradient step, an int >= 1.
        updates_per_sample: batches fetched per round trip to the replay server, int >= 1.
        warmup: transitions in the replay before the first update, an int >= 0.
        publish_every: updates between publications of the parameters, an int >= 1.
        target_update_every: updates between target moves, an int >= 1.
        tau: the target move ``q_targ.soft_update(q, tau)``, in ``(0, 1]``.
        checkpoint_path: file to checkpoint the learner to, or ``None``.
        checkpoint_every: updates between checkpoints, an int >= 1.
        resume: load ``checkpoint_path`` if it exists.
        checkpoint_replay: with each checkpoint, the replay server saves its contents to
            ``<checkpoint_path>.replay.cxl`` (from its own process: on a cluster that path
            must be reachable from the replay server's node); on resume it restores them. A
            buffer whose rows take more than 2 GiB written densely is not saved (logged).
        evaluate_every: updates between greedy evaluations, or ``None`` for no evaluator.
        eval_episodes: episodes per evaluation, an int >= 1.
        max_restarts: failures allowed per rollout actor, an int >= 0.
        max_updates_per_second: throttle the learner (e.g. to leave cores to the actors), or
            ``None``.
        actor_options: Ray actor options (``num_cpus``, ``resources``,
            ``scheduling_strategy``, ...) merged into the default ``{"num_cpus": 0.5}``: one
            dict for all actors, or a list of ``num_actors`` dicts (e.g. to place actors on
            given nodes through custom resources).
        replay_options, evaluator_options: the same for the replay server and the evaluator
            (defaults ``{"num_cpus": 0.25}`` each).
        ray_init: keyword arguments for ``ray.init`` when Ray is not initialised.
        seed: base random seed.

    Raises:
        ValueError: a count, interval or rate is out of range.
        ImportError: Ray is not installed (raised when :mod:`coaxlike.distributed` is imported).
    """

    def __init__(self, make_env, make_q, make_learner, *, num_actors=2, epsilon=0.4, alpha=7.0,
                 n_step=3, gamma=0.99, envs_per_actor=1, actor_steps=100, send_batch_size=64,
                 capacity=100_000, priority_alpha=0.6, priority_beta=0.4, priority_epsilon=1e-4,
                 batch_size=64, updates_per_sample=4, warmup=1_000, publish_every=10,
                 target_update_every=500, tau=1.0, checkpoint_path=None, checkpoint_every=1_000,
                 resume=True, checkpoint_replay=True, evaluate_every=None, eval_episodes=10,
                 max_restarts=3,
                 max_updates_per_second=None, actor_options=None, replay_options=None,
                 evaluator_options=None, ray_init=None, seed=0):
        for name, fn in [("make_env", make_env), ("make_q", make_q),
                         ("make_learner", make_learner)]:
            if not callable(fn):
                raise TypeError(f"{name} must be callable, got {type(fn).__name__}")
        vars(self).update(check_settings(
            num_actors=num_actors, epsilon=epsilon, alpha=alpha, n_step=n_step, gamma=gamma,
            envs_per_actor=envs_per_actor, actor_steps=actor_steps,
            send_batch_size=send_batch_size, capacity=capacity, priority_alpha=priority_alpha,
            priority_beta=priority_beta, priority_epsilon=priority_epsilon,
            batch_size=batch_size, updates_per_sample=updates_per_sample, warmup=warmup,
            publish_every=publish_every, target_update_every=target_update_every, tau=tau,
            checkpoint_path=checkpoint_path, checkpoint_every=checkpoint_every,
            checkpoint_replay=checkpoint_replay, evaluate_every=evaluate_every,
            eval_episodes=eval_episodes, max_restarts=max_restarts,
            max_updates_per_second=max_updates_per_second))
        per_actor, options = ray_options(self.num_actors, actor_options, replay_options,
                                         evaluator_options)

        self._owns_ray = not ray.is_initialized()
        if self._owns_ray:
            init_ray(**(ray_init or {}))

        # the learner, in this process
        env = gym.vector.SyncVectorEnv([make_env])
        self.q = make_q(env)
        self.q_targ = self.q.copy()
        self.learner = make_learner(self.q, self.q_targ)
        self._checkpoint = LearnerCheckpoint(self.learner)
        resumed = self.checkpoint_path is not None and resume and os.path.exists(
            self._checkpoint.file(self.checkpoint_path))
        if resumed:
            self._checkpoint.load(self.checkpoint_path)
            logger.info("resumed the learner from %s at update %d", self.checkpoint_path,
                        self._checkpoint.updates)
        env.close()

        self._replay_name = f"coaxlike-apex-replay-{uuid.uuid4().hex}"
        self.replay = start_replay(self._replay_name, options["replay"], capacity,
                                   priority_alpha, priority_beta, priority_epsilon, seed)
        self._factories = (make_env, make_q, make_learner)
        if resumed and checkpoint_replay and ray.get(self.replay.restore_on_first_add.remote(
                LearnerCheckpoint.replay_file(self.checkpoint_path))):
            logger.info("the replay server restores its contents from %s with the first chunk",
                        LearnerCheckpoint.replay_file(self.checkpoint_path))
        self.actors = start_actors(self, self._factories, self._replay_name, per_actor, seed)
        self._fleet = ActorFleet(self.actors, self.max_restarts)
        self.evaluator = (None if self.evaluate_every is None else start_evaluator(
            self._factories[:2], options["evaluator"], self.eval_episodes))
        self._published = None
        self._replay_saved = None  # the replay server's last save call (close waits for it)
        self._publish()
        self._sample_ref = None
        self._eval_ref = None
        self.evaluations = []       # (updates, env_steps, mean_return)
        self.episode_returns = []
        self.actor_stats = {}       # index -> latest dict returned by RolloutActor.run
        self.closed = False

    # --- counters ----------------------------------------------------------------------------

    @property
    def updates(self):
        """Gradient steps taken (restored on resume)."""
        return self._checkpoint.updates

    @property
    def env_steps(self):
        """Env steps taken by all actors (restored on resume)."""
        return self._checkpoint.env_steps

    @property
    def actor_failures(self):
        """Failures (restarts) per rollout actor so far, a list of ints."""
        return list(self._fleet.failures)

    # --- training ---------------------------------------------------------------------------

    def train(self, num_updates=None, *, target_return=None, max_env_steps=None,
              max_seconds=None):
        """Run actors and learner until a stopping condition holds (at least one is required).

        Args:
            num_updates: stop after this many more gradient steps.
            target_return: stop when a greedy evaluation reaches this mean return (needs
                ``evaluate_every``).
            max_env_steps: stop when the actors' env steps (in total) reach this number.
            max_seconds: stop after this wall time.

        Returns:
            dict: ``solved`` (``target_return`` reached), ``updates``, ``env_steps`` (this
            call), ``seconds``, ``env_steps_per_second``, ``updates_per_second``,
            ``evaluations`` (list of ``(updates, env_steps, mean_return)``, all so far),
            ``actor_failures``, ``peak_rss_mb`` (``{"learner": ..., "actor_i": ...}``).

        Raises:
            ValueError: no stopping condition, or one is out of range; ``target_return``
                without an evaluator.
            ReplayServerLost: the replay server died.
            RuntimeError: a rollout actor failed more than ``max_restarts`` times; ``close``
                was called.
        """
        if self.closed:
            raise RuntimeError("this ApeX is closed; build a new one (it resumes from "
                               "checkpoint_path)")
        num_updates, max_env_steps, max_seconds = check_stop(
            num_updates, target_return, max_env_steps, max_seconds, self.evaluator is not None)
        t0, updates0, steps0 = time.perf_counter(), self.updates, self.env_steps
        solved = False
        try:
            while True:
                if num_updates is not None and self.updates - updates0 >= num_updates:
                    break
                if max_env_steps is not None and self.env_steps >= max_env_steps:
                    break
                if max_seconds is not None and time.perf_counter() - t0 >= max_seconds:
                    break
                if target_return is not None and self._poll_evaluation() is not None \
                        and self.evaluations[-1][2] >= target_return:
                    solved = True
                    break
                self._fleet.fill(self._published, self.actor_steps)
                self._collect(self._fleet.poll(timeout=0))
                batches = self._next_batches()
                if batches is None:  # warming up: wait for the actors instead
                    self._collect(self._fleet.poll(timeout=0.05))
                    continue
                if num_updates is not None:  # stop at exactly num_updates
                    batches = batches[:num_updates - (self.updates - updates0)]
                for batch in batches:
                    self._learn(batch)
                self._throttle(t0, updates0)
        except ray.exceptions.RayActorError as e:  # from a call to the replay server
            self._replay_lost(e)
        seconds = time.perf_counter() - t0
        return {"solved": solved, "updates": self.updates - updates0,
                "env_steps": self.env_steps - steps0, "seconds": seconds,
                "env_steps_per_second": (self.env_steps - steps0) / seconds,
                "updates_per_second": (self.updates - updates0) / seconds,
                "evaluations": list(self.evaluations), "actor_failures": self.actor_failures,
                "peak_rss_mb": self.peak_rss_mb()}

    def wait_idle(self, timeout=60.0):
        """Let the actors finish the calls ``train`` queued for them and count their steps;
        no new call is queued, so the actors then idle (using no CPU) until the next ``train``.

        Useful between training phases, e.g. before evaluating or measuring something else on
        the same machine.

        Args:
            timeout: seconds to wait at most, > 0.

        Returns:
            bool: whether every queued call finished within ``timeout``.

        Raises:
            ReplayServerLost, RuntimeError: as :meth:`train`, for failures of those calls.
        """
        timeout = check_positive(timeout, "timeout")
        deadline = time.perf_counter() + timeout
        while self._fleet.pending and (left := deadline - time.perf_counter()) > 0:
            self._collect(self._fleet.poll(timeout=min(left, 1.0)))
        return not self._fleet.pending

    def _collect(self, results):
        for stats in results:
            self.actor_stats[stats["index"]] = stats
            self._checkpoint.env_steps += stats["env_steps"]
            self.episode_returns.extend(stats["episode_returns"])

    def _next_batches(self):
        """The batches fetched by the previous round trip (or ``None``); starts the next."""
        ref, self._sample_ref = self._sample_ref, self.replay.sample.remote(
            self.batch_size, self.updates_per_sample, max(self.warmup, self.batch_size))
        return None if ref is None else ray.get(ref)

    def _learn(self, batch):
        _, td_error = self.learner.update(batch, return_td_error=True)
        self.replay.update.remote(batch.idx, np.asarray(td_error))
        self._checkpoint.updates += 1
        n = self.updates
        if n % self.target_update_every == 0:
            self.q_targ.soft_update(self.q, self.tau)
        if n % self.publish_every == 0:
            self._publish()
        if self.checkpoint_path is not None and n % self.checkpoint_every == 0:
            self.save_checkpoint()
        if self.evaluate_every is not None and n % self.evaluate_every == 0 \
                and self._eval_ref is None:
            self._eval_ref = self.evaluator.evaluate.remote(self._published)
            self._eval_at = (self.updates, self.env_steps)

    def _publish(self):
        """One ``ray.put`` of both networks; actors' next calls load it."""
        self._published = ray.put(network_state(self.q, self.q_targ))

    def _poll_evaluation(self):
        if self._eval_ref is None or not ray.wait([self._eval_ref], timeout=0)[0]:
            return None
        result, self._eval_ref = ray.get(self._eval_ref), None
        self.evaluations.append((*self._eval_at, result["mean_return"]))
        logger.info("evaluation at update %d (%d env steps): mean return %.1f",
                    *self.evaluations[-1])
        return result

    def _throttle(self, t0, updates0):
        if self.max_updates_per_second is None:
            return
        due = t0 + (self.updates - updates0) / self.max_updates_per_second
        while (wait := due - time.perf_counter()) > 0:  # keep the actors busy while waiting
            self._fleet.fill(self._published, self.actor_steps)  # else they idle, learner-paced
            self._collect(self._fleet.poll(timeout=wait, first=True))

    def _replay_lost(self, error):
        saved = (self.save_checkpoint(replay=False) if self.checkpoint_path is not None
                 else None)
        replay = ("the replay contents of the last checkpoint" if self.checkpoint_replay
                  else "an empty buffer")
        where = (f"the learner was checkpointed to {saved} at update {self.updates}; a new "
                 f"ApeX with the same checkpoint_path resumes from it with {replay}"
                 if saved else "no checkpoint_path was given, so the learner was not saved")
        raise ReplayServerLost(f"the replay server died and its transitions are lost ({error}); "
                               f"{where}") from error

    # --- state ------------------------------------------------------------------------------

    def save_checkpoint(self, path=None, replay=None):
        """Save the learner and counters to ``path`` (default ``checkpoint_path``) and, with
        ``checkpoint_replay``, ask the replay server to save its contents beside it
        (``<path>.replay.cxl``, written by the replay server's process, without waiting).

        Args:
            path: the learner's file (``.cxl`` is appended unless given).
            replay: save the replay's contents too; ``None``: ``checkpoint_replay``.

        Returns:
            str: the file written.
        """
        path = self.checkpoint_path if path is None else path
        if path is None:
            raise ValueError("save_checkpoint needs a path: none given and checkpoint_path "
                             "is None")
        written = self._checkpoint.save(path)
        if self.checkpoint_replay if replay is None else replay:
            self._replay_saved = self.replay.save.remote(LearnerCheckpoint.replay_file(path))
        return written

    def peak_rss_mb(self):
        """Peak resident memory (MiB) of the learner's process and of each process that has
        reported (``actor_i``, ``replay``, ``evaluator``)."""
        out = {"learner": peak_rss_mb()}
        out.update({f"actor_{i}": s["peak_rss_mb"] for i, s in sorted(self.actor_stats.items())})
        try:
            out["replay"] = ray.get(self.replay.stats.remote(), timeout=10)["peak_rss_mb"]
        except (ray.exceptions.RayError, TimeoutError):
            pass
        return out

    def close(self):
        """Kill the actors, the replay server and the evaluator (after the replay server has
        written a checkpoint it was asked for); shut Ray down if this object started it.
        Idempotent."""
        if self.closed:
            return
        self.closed = True
        self._fleet.cancel()
        if self._replay_saved is not None:  # let the replay server finish writing its file
            try:
                ray.get(self._replay_saved, timeout=120)
            except (ray.exceptions.RayError, TimeoutError) as e:
                logger.warning("the replay server's last checkpoint was not written: %s", e)
        for handle in [*self.actors, self.replay, self.evaluator]:
            if handle is not None:
                ray.kill(handle, no_restart=True)
        self._published = self._sample_ref = self._eval_ref = None
        if self._owns_ray:
            ray.shutdown()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

