"""The rollout actors as seen from the learner: keep each busy, report and restart failures."""
import logging
import time

from ._ray import ray

__all__ = ["ActorFleet", "ReplayServerLost"]

logger = logging.getLogger("coaxlike.distributed")


class ReplayServerLost(RuntimeError):
    """The replay server's Ray actor died (its process or node was lost).

    Its transitions are gone. :class:`ApeX` writes a learner checkpoint first when it has a
    ``checkpoint_path``; a new :class:`ApeX` with the same path resumes from it, with the
    replay contents of the last checkpoint (``checkpoint_replay``) or an empty buffer
    (refilled by the actors before learning restarts).
    """


class ActorFleet:
    """Rollout-actor handles with ``depth`` :meth:`RolloutActor.run` calls queued on each.

    Ray runs one actor's calls in order, so a second queued call starts as soon as the first
    returns and the actor never waits for the learner. Failures of a call are of two kinds:

    * the actor's process died (``RayActorError``; a crash, ``ray.kill``, a lost node): Ray
      restarts it (the handle's ``max_restarts``) and the next call waits for the restart;
    * the call raised (``RayTaskError``, e.g. the env raised): the error and its remote
      traceback are logged at ERROR level and the actor is restarted with
      ``ray.kill(handle, no_restart=False)``, which rebuilds it from its constructor.

    Either counts as one failure of that actor (the queued calls that fail with it are not
    counted twice); the ``max_restarts + 1``-th failure raises ``RuntimeError`` chained to
    the last error. A call that failed because the replay server died raises
    :class:`ReplayServerLost`.
    """

    def __init__(self, handles, max_restarts, depth=2):
        self.handles, self.max_restarts, self.depth = list(handles), max_restarts, depth
        self.failures = [0] * len(self.handles)
        self._generation = [0] * len(self.handles)
        self._pending = {}  # ObjectRef -> (actor index, generation at submission)

    def fill(self, network_state_ref, num_steps):
        """Queue calls until every actor has ``depth`` of them."""
        queued = [0] * len(self.handles)
        for i, _ in self._pending.values():
            queued[i] += 1
        for i, count in enumerate(queued):
            for _ in range(self.depth - count):
                ref = self.handles[i].run.remote(network_state_ref, num_steps)
                self._pending[ref] = (i, self._generation[i])

    def poll(self, timeout, first=False):
        """Collect finished calls (waiting at most ``timeout`` seconds for all of them, or
        only for the first one with ``first=True``; sleeping ``timeout`` seconds when no call
        is queued).

        Returns:
            list of the dicts returned by :meth:`RolloutActor.run`.
        """
        if not self._pending:
            time.sleep(timeout)
            return []
        ready, _ = ray.wait(list(self._pending), num_returns=1 if first else len(self._pending),
                            timeout=timeout, fetch_local=True)
        results = []
        for ref in ready:
            i, generation = self._pending.pop(ref)
            try:
                results.append(ray.get(ref))
            except ray.exceptions.RayTaskError as e:
                if isinstance(e.cause, ray.exceptions.RayActorError):
                    raise ReplayServerLost(f"rollout actor {i} lost the replay server: "
                                           f"{e.cause}") from e
                self._failed(i, generation, e, restart=True)
            except ray.exceptions.ActorUnavailableError:
                pass  # restarting (after a failure already counted): fill() queues again
            except ray.exceptions.RayActorError as e:
                self._failed(i, generation, e, restart=False)
        return results

    def _failed(self, i, generation, error, restart):
        if generation != self._generation[i]:
            return  # queued with a call that already failed: the same failure
        self._generation[i] += 1
        self.failures[i] += 1
        if self.failures[i] > self.max_restarts:
            raise RuntimeError(f"rollout actor {i} failed {self.failures[i]} times, more than "
                               f"max_restarts={self.max_restarts}; last error: {error}") from error
        if restart:
            logger.error("rollout actor %d raised; restarting it (failure %d of at most %d):\n%s",
                         i, self.failures[i], self.max_restarts, error)
            ray.kill(self.handles[i], no_restart=False)
        else:
            logger.warning("rollout actor %d died; Ray restarts it (failure %d of at most %d): "
                           "%s", i, self.failures[i], self.max_restarts, error)

    @property
    def pending(self):
        """The number of queued calls not yet collected."""
        return len(self._pending)

    def cancel(self):
        """Forget queued calls (their actors are about to be killed)."""
        self._pending.clear()
