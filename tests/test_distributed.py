"""coaxlike.distributed without a Ray cluster: epsilons, argument checks, the import error, and
the parts (rollout actor, replay server, evaluator, checkpoint) run in this process (those
that compile a learner are ``slow``).

The Ray runs (training, faults, a simulated multi-node cluster) are in
``test_distributed_ray.py`` under the ``slow`` marker.
"""
import logging
import os
import subprocess
import sys

import gymnasium as gym
import haiku as hk
import numpy as np
import optax
import pytest

import coaxlike
from coaxlike.distributed import (ApeX, Evaluator, ReplayServer, RolloutActor,
                                  apex_epsilons)
from coaxlike.distributed._checkpoint import LearnerCheckpoint
from coaxlike.td_learning import DoubleQLearning

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_env():
    return gym.make("CartPole-v1")


def make_q(envs):
    return coaxlike.Q(lambda S, is_training: hk.nets.MLP([8, 2])(S), envs, random_seed=0)


def make_learner(q, q_targ):
    return DoubleQLearning(q, q_targ=q_targ, optimizer=optax.adam(1e-3))


# --- epsilons ---------------------------------------------------------------------------------

def test_apex_epsilons_match_the_formula_by_hand():
    eps = apex_epsilons(8)  # eps_i = 0.4 ** (1 + 7 i / 7) = 0.4 ** (1 + i)
    np.testing.assert_allclose(eps, [0.4 ** (1 + i) for i in range(8)], rtol=1e-12)
    np.testing.assert_allclose(apex_epsilons(3, epsilon=0.5, alpha=2.0),
                               [0.5, 0.25, 0.125], rtol=1e-12)
    assert apex_epsilons(1).tolist() == [0.4]  # N = 1: the base rate (no division by zero)
    assert apex_epsilons(4, alpha=0.0).tolist() == [0.4] * 4


@pytest.mark.parametrize("kwargs, match, error", [
    ({"num_actors": 0}, "num_actors must be an int >= 1, got 0", ValueError),
    ({"num_actors": 2.0}, "num_actors must be an int >= 1, got float 2.0", TypeError),
    ({"num_actors": True}, "num_actors must be an int >= 1, got bool True", TypeError),
    ({"num_actors": 2, "epsilon": 1.5}, "epsilon must be in \\[0, 1\\], got 1.5", ValueError),
    ({"num_actors": 2, "alpha": -1.0}, "alpha must be a finite float >= 0, got -1.0",
     ValueError),
    ({"num_actors": 2, "alpha": "x"}, "alpha must be a finite float >= 0, got str 'x'",
     TypeError),
])
def test_apex_epsilons_rejects_bad_arguments(kwargs, match, error):
    with pytest.raises(error, match=match):
        apex_epsilons(**kwargs)


# --- ApeX argument checks: before Ray is started ----------------------------------------------

@pytest.mark.parametrize("name, value", [
    ("num_actors", 0), ("num_actors", -2), ("actor_steps", 0),
    ("publish_every", 0), ("target_update_every", 0), ("checkpoint_every", 0),
    ("updates_per_sample", 0), ("send_batch_size", 0), ("batch_size", 0), ("capacity", 0),
    ("envs_per_actor", 0), ("evaluate_every", 0), ("eval_episodes", 0), ("warmup", -1),
    ("max_restarts", -1), ("n_step", 0), ("max_updates_per_second", 0.0), ("tau", 0.0),
    ("tau", 1.5), ("gamma", -0.1), ("priority_alpha", -1.0), ("priority_beta", 1.5),
    ("priority_epsilon", 0.0),
])
def test_apex_rejects_bad_counts_and_intervals_before_starting_ray(name, value):
    import ray
    with pytest.raises(ValueError, match=name):
        ApeX(make_env, make_q, make_learner, **{name: value})
    assert not ray.is_initialized()


@pytest.mark.parametrize("name, value", [
    ("num_actors", 1.5), ("capacity", "10"), ("warmup", 1e3), ("tau", "1"), ("gamma", None),
    ("max_updates_per_second", "5"), ("priority_alpha", "0.6"), ("checkpoint_replay", 1),
])
def test_apex_rejects_arguments_of_the_wrong_type_before_starting_ray(name, value):
    import ray
    with pytest.raises(TypeError, match=rf"^{name} must be"):
        ApeX(make_env, make_q, make_learner, **{name: value})
    assert not ray.is_initialized()


def test_apex_rejects_a_factory_that_is_not_callable():
    with pytest.raises(TypeError, match="make_q must be callable, got int"):
        ApeX(make_env, 3, make_learner)


# --- imports ----------------------------------------------------------------------------------


@pytest.mark.slow  # heavy compile: CI's slow stage keeps the default run under 2 min
def test_import_coaxlike_does_not_import_ray():
    code = "import sys, coaxlike; print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": ROOT})
    assert out.stdout.strip() == "False"


def test_missing_ray_gives_an_import_error_naming_the_extra(monkeypatch):
    # a None entry in sys.modules makes `import ray` raise ImportError, as if not installed
    monkeypatch.setitem(sys.modules, "ray", None)
    for name in [m for m in sys.modules if m.startswith("coaxlike.distributed")]:
        monkeypatch.delitem(sys.modules, name)
    with pytest.raises(ImportError, match=r"pip install 'coaxlike\[distributed\]'"):
        import coaxlike.distributed  # noqa: F401


# --- the parts, in this process -----------------------------------------------------------------

class Recorder:
    """A stand-in replay server that keeps what it is sent."""

    def __init__(self):
        self.chunks = []

    def add(self, batch, td_error):
        self.chunks.append((batch, td_error))


@pytest.mark.slow  # compiles a learner: seconds
def test_rollout_actor_sends_fixed_chunks_with_exact_logp_and_its_td_errors():
    replay = Recorder()
    actor = RolloutActor(make_env, make_q, make_learner, replay, epsilon=0.3, index=1,
                         num_envs=2, send_batch_size=16, n_step=2)
    out = actor.run(None, num_steps=40)
    assert out["env_steps"] == 80 and out["index"] == 1 and out["node_id"] is None
    # 80 env steps, minus one ignored reset step per finished episode, minus at most n = 2
    # steps per env still waiting for their window: the rows traced so far
    rows = out["sent"] + actor._num_unsent
    episodes = len(out["episode_returns"])
    assert 80 - episodes - 2 * 2 <= rows <= 80 - episodes
    assert 0 <= actor._num_unsent < 16 and len(replay.chunks) * 16 == out["sent"] > 0
    for batch, td_error in replay.chunks:
        assert batch.batch_size == 16 and td_error.shape == (16,)
        # epsilon-greedy over 2 actions: log(1 - 0.3 + 0.15) or log(0.15), exactly
        allowed = np.log(np.array([0.85, 0.15], np.float32))
        assert np.isclose(batch.logP[:, None], allowed[None], rtol=0, atol=1e-6).any(1).all()
        # the initial priorities' TD errors are the learner's, under the actor's parameters
        np.testing.assert_allclose(td_error, actor.learner.td_error(batch), rtol=1e-6)
    second = actor.run(None, num_steps=10)  # the envs continue where they were
    assert second["env_steps"] == 20 and actor.env_steps == 100


@pytest.mark.slow  # compiles a learner: seconds
def test_rollout_actor_loads_published_parameters():
    from coaxlike.distributed._params import network_state
    server = ReplayServer(capacity=100, random_seed=0)
    actor = RolloutActor(make_env, make_q, make_learner, server, epsilon=0.1)
    envs = gym.vector.SyncVectorEnv([make_env])
    q = make_q(envs)
    q.params = {k: {n: v + 1.0 for n, v in layer.items()} for k, layer in q.params.items()}
    actor.run(network_state(q, q.copy()), num_steps=1)
    for k, layer in q.params.items():
        for n, v in layer.items():
            np.testing.assert_array_equal(actor.q.params[k][n], v)
            np.testing.assert_array_equal(actor.q_targ.params[k][n], v)


def test_replay_server_sample_waits_for_warmup_and_update_sets_priorities():
    from coaxlike.reward_tracing import TransitionBatch
    server = ReplayServer(capacity=10, alpha=1.0, beta=1.0, epsilon=1e-4, random_seed=0)
    tb = TransitionBatch.from_one_step(S=np.zeros((4, 4)), A=np.zeros(4, int), Rn=np.ones(4),
                                       In=np.ones(4), S_next=np.ones((4, 4)))
    server.add(tb, np.array([1.0, -2.0, 0.0, 3.0]))
    np.testing.assert_allclose(server.buffer.priorities(np.arange(4)),
                               [1.0001, 2.0001, 0.0001, 3.0001])
    assert server.sample(batch_size=2, min_size=5) is None
    assert server.sample(batch_size=5) is None  # fewer rows than one batch
    batches = server.sample(batch_size=3, num_batches=2)
    assert [b.batch_size for b in batches] == [3, 3] and server.sampled == 6
    server.update(np.array([2]), np.array([5.0]))
    np.testing.assert_allclose(server.buffer.priorities(np.array([2])), [5.0001])
    server.set_beta(0.5)
    assert server.buffer.beta == 0.5
    with pytest.raises(ValueError, match="beta"):
        server.set_beta(2.0)
    stats = server.stats()
    assert stats["size"] == 4 and stats["added"] == 4 and stats["peak_rss_mb"] > 0


def _chunk(values):
    from coaxlike.reward_tracing import TransitionBatch
    v = np.asarray(values, np.float32)
    return TransitionBatch.from_one_step(S=np.repeat(v[:, None], 4, 1), A=v.astype(int) % 2,
                                         Rn=v, In=np.full(len(v), 0.9), S_next=v[:, None] + 1
                                         + np.zeros((1, 4), np.float32))


def test_replay_server_saves_and_restores_its_contents_with_the_first_chunk(tmp_path, caplog):
    server = ReplayServer(capacity=6, alpha=0.5, beta=0.7, random_seed=0)
    assert server.save(str(tmp_path / "r")) is None  # nothing to save yet
    server.add(_chunk([1, 2, 3, 4]), np.array([1.0, 2.0, 3.0, 4.0]))
    server.add(_chunk([5, 6, 7]), np.array([5.0, 6.0, 7.0]))  # 7 overwrites 1
    server.update(server.sample(batch_size=3)[0].idx, np.array([9.0, 9.0, 9.0]))
    path = server.save(str(tmp_path / "r"))
    assert path == str(tmp_path / "r.cxl") and os.path.exists(path)
    rows, counters = server.buffer._storage.snapshot()
    prio = server.buffer._tree.get(np.arange(6))

    fresh = ReplayServer(capacity=6, alpha=0.5, beta=0.7, random_seed=1)
    assert fresh.restore_on_first_add(str(tmp_path / "r"))
    assert fresh.size() == 0  # restored with the first chunk, whose rows give the layout
    fresh.add(_chunk([8]), np.array([8.0]))
    assert fresh.stats()["restored"] == 6 and fresh.size() == 6  # 8 overwrote the oldest
    restored, _ = fresh.buffer._storage.snapshot()
    keep = np.arange(6) != counters[0]  # every slot but the one the new chunk took
    np.testing.assert_array_equal(restored.Rn[keep], rows.Rn[keep])
    np.testing.assert_array_equal(restored.S_next[keep], rows.S_next[keep])
    np.testing.assert_allclose(fresh.buffer._tree.get(np.arange(6))[keep], prio[keep])
    assert fresh.buffer.beta == 0.7

    # a file that does not match is reported and the buffer starts empty
    other = ReplayServer(capacity=5)
    assert other.restore_on_first_add(str(tmp_path / "r"))
    with caplog.at_level(logging.ERROR, logger="coaxlike.distributed"):
        other.add(_chunk([1]), np.array([1.0]))
    assert other.size() == 1 and other.stats()["restored"] == 0
    assert any("could not restore the replay buffer" in r.getMessage() and "capacity" in
               r.getMessage() for r in caplog.records)
    assert not ReplayServer(capacity=5).restore_on_first_add(str(tmp_path / "missing"))


def test_replay_server_does_not_save_a_buffer_too_large_to_write(tmp_path, caplog):
    server = ReplayServer(capacity=100)
    server.add(_chunk([1, 2]), np.ones(2))
    with caplog.at_level(logging.WARNING, logger="coaxlike.distributed"):
        assert server.save(str(tmp_path / "r"), max_bytes=1000) is None
    assert not os.path.exists(tmp_path / "r.cxl")
    assert any("not checkpointed" in r.getMessage() for r in caplog.records)


@pytest.mark.slow  # compiles a learner: seconds
def test_evaluator_plays_greedy_episodes():
    evaluator = Evaluator(make_env, make_q, num_episodes=3)
    envs = gym.vector.SyncVectorEnv([make_env])
    q = make_q(envs)
    state = {"params": q.params, "function_state": q.function_state}
    first, second = evaluator.evaluate(state), evaluator.evaluate(state)
    assert len(first["returns"]) == 3 and all(r >= 1 for r in first["returns"])
    assert first["returns"] == second["returns"]  # same seeds, same parameters, greedy
    with pytest.raises(ValueError, match="num_episodes must be an int >= 1, got 0"):
        Evaluator(make_env, make_q, num_episodes=0)


@pytest.mark.slow  # compiles a learner: seconds
def test_learner_checkpoint_round_trip_and_refuses_another_learner(tmp_path):
    envs = gym.vector.SyncVectorEnv([make_env])
    q = make_q(envs)
    learner = make_learner(q, q.copy())
    ck = LearnerCheckpoint(learner)
    ck.updates, ck.env_steps = 123, 4567
    path = ck.save(tmp_path / "ck")
    assert path.endswith(".cxl") and ck.file(tmp_path / "ck") == path
    q2 = make_q(envs)
    q2.params = {k: {n: v * 0 for n, v in layer.items()} for k, layer in q2.params.items()}
    fresh = LearnerCheckpoint(make_learner(q2, q2.copy()))
    fresh.load(tmp_path / "ck")
    assert (fresh.updates, fresh.env_steps) == (123, 4567)
    np.testing.assert_array_equal(q2.params["mlp/~/linear_0"]["w"], q.params["mlp/~/linear_0"]["w"])
    other = coaxlike.td_learning.QLearning(q2, q_targ=q2.copy(), optimizer=optax.adam(1e-3))
    with pytest.raises(ValueError):
        LearnerCheckpoint(other).load(tmp_path / "ck")


def test_init_ray_drops_local_sizes_when_joining_a_cluster(monkeypatch, caplog):
    from coaxlike.distributed import _ray
    calls = []

    def fake_init(**kwargs):  # ray.init's behaviour when RAY_ADDRESS names a running cluster
        calls.append(kwargs)
        if "num_cpus" in kwargs or "object_store_memory" in kwargs:
            raise ValueError("When connecting to an existing cluster, num_cpus and num_gpus "
                             "must not be provided.")

    monkeypatch.setattr(_ray.ray, "init", fake_init)
    with caplog.at_level("INFO", logger="coaxlike.distributed"):
        _ray.init_ray(num_cpus=2, object_store_memory=2**27, include_dashboard=False)
    assert calls == [{"num_cpus": 2, "object_store_memory": 2**27, "include_dashboard": False},
                     {"include_dashboard": False}]
    assert "ignoring num_cpus, object_store_memory" in caplog.text


def test_init_ray_reraises_other_errors(monkeypatch):
    from coaxlike.distributed import _ray

    def fake_init(**kwargs):
        raise ValueError("Invalid address format: nowhere")

    monkeypatch.setattr(_ray.ray, "init", fake_init)
    with pytest.raises(ValueError, match="Invalid address format"):
        _ray.init_ray(address="nowhere", num_cpus=2)


def test_a_throttled_learner_keeps_refilling_the_actors_while_it_waits(monkeypatch):
    """While a throttled learner waits for its next update, each finished actor call is
    collected as soon as it returns and the actor gets a new one: actors are not paced by the
    learner (they were, at two calls per learner iteration, before)."""
    import time
    from types import SimpleNamespace

    clock = [100.0]  # a fake clock that only the polls move: the count of polls is exact
    monkeypatch.setattr(time, "perf_counter", lambda: clock[0])  # whatever the load

    class Fleet:
        def __init__(self):
            self.calls = []

        def fill(self, network_state_ref, num_steps):
            self.calls.append(("fill", network_state_ref, num_steps))

        def poll(self, timeout, first=False):
            self.calls.append(("poll", first))
            clock[0] += min(timeout, 0.01)
            return [{"env_steps": 1}]

    collected = []
    learner = SimpleNamespace(max_updates_per_second=10.0, updates=1, _published="params",
                              actor_steps=25, _fleet=Fleet(), _collect=collected.extend)
    ApeX._throttle(learner, time.perf_counter(), 0)     # one update done: wait ~0.1 s
    polls = [c for c in learner._fleet.calls if c[0] == "poll"]
    fills = [c for c in learner._fleet.calls if c[0] == "fill"]
    assert len(polls) == 10 and all(first for _, first in polls)
    assert len(fills) == len(polls) and set(fills) == {("fill", "params", 25)}
    assert learner._fleet.calls[0][0] == "fill"          # refilled before each wait
    assert len(collected) == len(polls)
