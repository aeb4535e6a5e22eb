"""Ape-X on a real Ray instance (slow): CartPole solved with 2 actors, an actor killed mid-run,
an env that raises, checkpoint and resume (learner and replay contents), a lost replay
server, and a two-node cluster
simulated on this machine.

One small Ray instance (2 CPUs, 80 MiB object store, no dashboard) serves the module; the
multi-node test starts its own cluster after it. Every test closes its ``ApeX`` (killing its
actors) and the fixtures shut Ray down.
"""
import functools
import logging
import os
import sys
import time
import warnings

import gymnasium as gym
import haiku as hk
import numpy as np
import optax
import pytest

import coaxlike
from coaxlike.td_learning import DoubleQLearning

ray = pytest.importorskip("ray")
from coaxlike.distributed import ApeX, ReplayServerLost  # noqa: E402

# the factories below travel to Ray's worker processes by value: the workers need not be able
# to import this test module (they may not have the repository on their path)
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])

# JAX warns at every os.fork once its threads run; Ray (ray.init, the simulated cluster's
# nodes) forks only to exec its own processes at once, which is safe
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:os.fork:RuntimeWarning")]

SMALL_RAY = {"num_cpus": 2, "object_store_memory": 80 * 2**20, "include_dashboard": False}
QUICK = {"warmup": 200, "batch_size": 32, "actor_steps": 50, "send_batch_size": 32,
         "publish_every": 5, "target_update_every": 100}


def make_env():
    return gym.make("CartPole-v1")


def make_q(envs):
    return coaxlike.Q(lambda S, is_training: hk.nets.MLP([64, 64, 2])(S), envs, random_seed=0)


def make_learner(q, q_targ):
    return DoubleQLearning(q, q_targ=q_targ, optimizer=optax.adam(1e-3))


class FlakyEnv(gym.Wrapper):
    """CartPole whose ``step`` raises once, in the first process that reaches step 30."""

    def __init__(self, marker):
        super().__init__(gym.make("CartPole-v1"))
        self.marker, self.steps = marker, 0

    def step(self, action):
        self.steps += 1
        if self.steps == 30 and not os.path.exists(self.marker):
            open(self.marker, "w").close()
            raise RuntimeError("the env broke (injected by the test)")
        return self.env.step(action)


def make_flaky_env(marker):
    return FlakyEnv(marker)


def init_ray(**kwargs):
    with warnings.catch_warnings():  # JAX warns of any fork; Ray's forks exec at once
        warnings.filterwarnings("ignore", "os.fork", RuntimeWarning)
        ray.init(**kwargs)


def train_until(apex, condition, seconds=180):
    """Train in one-second rounds until ``condition()`` holds (at most ``seconds``): a new
    actor process imports JAX and compiles for seconds before it delivers."""
    for _ in range(seconds):
        apex.train(max_seconds=1.0)
        if condition():
            return True
    return False


@pytest.fixture(scope="module")
def local_ray():
    init_ray(**SMALL_RAY)
    yield
    ray.shutdown()


def test_apex_solves_cartpole_with_two_actors(local_ray):
    with ApeX(make_env, make_q, make_learner, num_actors=2, evaluate_every=250) as apex:
        out = apex.train(target_return=475.0, max_seconds=240)
        assert out["solved"], f"not solved in 240 s: {out['evaluations']}"
        assert out["evaluations"][-1][2] >= 475.0
        assert sorted(apex.actor_stats) == [0, 1]  # both actors delivered
        assert out["env_steps"] > 0 and out["updates"] > 0
        assert set(out["peak_rss_mb"]) >= {"learner", "actor_0", "actor_1", "replay"}
        np.testing.assert_allclose(apex.epsilons, [0.4, 0.4 ** 8])


def test_killed_actor_restarts_and_training_continues(local_ray, capfd):
    with ApeX(make_env, make_q, make_learner, num_actors=2, **QUICK) as apex:
        apex.train(num_updates=50)
        pid = apex.actor_stats[0]["pid"]
        ray.kill(apex.actors[0], no_restart=False)  # the process dies; Ray restarts it
        steps_before, updates_before = apex.env_steps, apex.updates
        # actor 0 delivers again, from a new process
        assert train_until(apex, lambda: apex.actor_stats[0]["pid"] != pid)
        assert apex.env_steps > steps_before and apex.updates > updates_before
        assert apex.actor_failures[1] == 0
        # wait_idle: the queued calls finish and are counted, then the actors send nothing
        steps = apex.env_steps
        assert apex.wait_idle(timeout=60)
        assert apex.env_steps >= steps
        added = ray.get(apex.replay.stats.remote())["added"]
        time.sleep(1.0)
        assert ray.get(apex.replay.stats.remote())["added"] == added
    # the actors' constructor arguments travel inside their creation tasks, not through the
    # object store, from which a restart could not rebuild them (Ray logs an error for that)
    assert "constructor arguments in the object store" not in capfd.readouterr().err


def test_env_that_raises_is_logged_and_its_actor_restarted(local_ray, tmp_path, caplog):
    marker = str(tmp_path / "raised")
    with caplog.at_level(logging.ERROR, logger="coaxlike.distributed"):
        with ApeX(functools.partial(make_flaky_env, marker), make_q, make_learner,
                  num_actors=1, **QUICK) as apex:
            out = apex.train(num_updates=100)
            assert out["updates"] == 100 and os.path.exists(marker)
            assert apex.actor_failures == [1]
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any("rollout actor 0 raised" in m and "the env broke (injected by the test)" in m
               for m in errors), errors


def test_actor_failing_more_than_max_restarts_raises(local_ray, tmp_path):
    with ApeX(functools.partial(make_flaky_env, str(tmp_path / "raised")), make_q,
              make_learner, num_actors=1, max_restarts=0, **QUICK) as apex:
        with pytest.raises(RuntimeError, match="(?s)rollout actor 0 failed 1 times, more than "
                                               "max_restarts=0.*the env broke"):
            apex.train(num_updates=100)


def test_checkpoint_resume_and_lost_replay_server(local_ray, tmp_path):
    path = str(tmp_path / "learner")
    with ApeX(make_env, make_q, make_learner, num_actors=1, checkpoint_path=path,
              checkpoint_every=40, **QUICK) as apex:
        apex.train(num_updates=100)
        assert os.path.exists(path + ".cxl")
        held = ray.get(apex.replay.size.remote())  # after the replay's last save (in order)
        assert os.path.exists(path + ".replay.cxl") and held > 0
        ray.kill(apex.replay, no_restart=True)
        with pytest.raises(ReplayServerLost, match="(?s)replay server died.*checkpointed to "
                                                   f"{path}.cxl at update 1[0-9][0-9]"):
            apex.train(num_updates=100)
        saved_updates, saved_steps = apex.updates, apex.env_steps
        w = np.asarray(apex.q.params["mlp/~/linear_0"]["w"])
        w_targ = np.asarray(apex.q_targ.params["mlp/~/linear_0"]["w"])
    with ApeX(make_env, make_q, make_learner, num_actors=1, checkpoint_path=path,
              **QUICK) as resumed:
        assert (resumed.updates, resumed.env_steps) == (saved_updates, saved_steps)
        np.testing.assert_array_equal(resumed.q.params["mlp/~/linear_0"]["w"], w)
        np.testing.assert_array_equal(resumed.q_targ.params["mlp/~/linear_0"]["w"], w_targ)
        out = resumed.train(num_updates=20)  # the replay's contents come back, learning goes on
        assert out["updates"] == 20 and resumed.updates == saved_updates + 20
        stats = ray.get(resumed.replay.stats.remote())
        assert 0 < stats["restored"] <= held and stats["size"] >= stats["restored"]
        os.remove(path + ".replay.cxl")
        resumed.save_checkpoint()  # the replay server writes without the learner waiting...
    assert os.path.exists(path + ".replay.cxl")  # ...but close waits for it


def test_two_node_cluster_simulated_on_this_machine(local_ray, monkeypatch, caplog):
    """A head node (learner, replay) and a worker node (both actors), as after `ray start
    --head` and `ray start --address=...`; ApeX joins the running cluster (named by
    RAY_ADDRESS) with the very ray_init that starts a local instance elsewhere, and the actors
    are placed on the worker node by a custom resource."""
    from ray.cluster_utils import Cluster
    ray.shutdown()  # the module's instance: this test needs its own cluster
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "object_store_memory": 80 * 2**20, "include_dashboard": False})
    try:
        cluster.add_node(num_cpus=1, resources={"worker_node": 2},
                         object_store_memory=80 * 2**20)
        monkeypatch.setenv("RAY_ADDRESS", cluster.address)
        with caplog.at_level(logging.INFO, logger="coaxlike.distributed"):
            apex = ApeX(make_env, make_q, make_learner, num_actors=2, ray_init=SMALL_RAY,
                        actor_options={"num_cpus": 0.25, "resources": {"worker_node": 1}},
                        **QUICK)
        with apex:
            assert any("joining a running Ray cluster: ignoring num_cpus, object_store_memory"
                       in r.getMessage() for r in caplog.records)
            nodes = {n["NodeID"] for n in ray.nodes() if n["Alive"]}
            assert len(nodes) == 2
            head = ray.get_runtime_context().get_node_id()
            assert train_until(apex, lambda: len(apex.actor_stats) == 2 and apex.updates > 0)
            actor_nodes = {s["node_id"] for s in apex.actor_stats.values()}
            assert actor_nodes == nodes - {head}  # both actors ran on the other node
            assert apex.env_steps > 0
        assert not ray.is_initialized()  # ApeX connected, so it disconnected
    finally:
        ray.shutdown()
        cluster.shutdown()
        monkeypatch.delenv("RAY_ADDRESS")
    init_ray(**SMALL_RAY)  # the module's instance again, for the fixture's teardown
