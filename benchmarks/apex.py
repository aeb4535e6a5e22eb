"""Ape-X on Ray: env steps/s and updates/s with 1 and 2 rollout actors, memory per process.

    python -m benchmarks.apex [--quick] [--json PATH|-]

Protocol: one local Ray instance (2 CPUs, 100 MiB object store). For each repetition, an
``ApeX`` on CartPole-v1 (MLP 64-64, DoubleQLearning, batch 64) with 1 actor, then one with 2
actors; each first trains until every actor has delivered and the learner has updated (JAX
import and compilation excluded), then for ``seconds`` more, which are measured.

**The learner is throttled** with ``max_updates_per_second=20``: between updates it waits in
``ray.wait`` (collecting actor results) instead of computing, so it leaves the cores to the
actors and env throughput measures the actors, not the learner's share of the 2 cores.

The floor is the same rollout loop without Ray: a :class:`RolloutActor` stepped in this
process, sending chunks to an in-process stand-in replay (TD errors computed, nothing sent
through Ray). ``ray/floor`` is the env-step rate of one Ray actor over that floor;
``2 actors / 1 actor`` the scaling (issue 14 asks for >= 1.5). Memory is each process's
peak RSS.
"""
import statistics
import sys
import time
import warnings

from . import _timing

TITLE = "Ape-X on Ray, CartPole-v1 (benchmarks/apex.py), learner throttled to 20 updates/s"
THROTTLE = 20.0


def _factories():
    import gymnasium as gym
    import haiku as hk
    import optax
    import coaxlike
    from coaxlike.td_learning import DoubleQLearning

    def make_env():
        return gym.make("CartPole-v1")

    def make_q(envs):
        return coaxlike.Q(lambda S, is_training: hk.nets.MLP([64, 64, 2])(S), envs,
                          random_seed=0)

    def make_learner(q, q_targ):
        return DoubleQLearning(q, q_targ=q_targ, optimizer=optax.adam(1e-3))

    return make_env, make_q, make_learner


class _Sink:
    """In-process stand-in for the replay server (the floor sends nothing through Ray)."""

    def add(self, batch, td_error):
        pass


def floor_env_steps_per_second(seconds):
    """The rollout loop of one actor in this process, without Ray."""
    from coaxlike.distributed import RolloutActor
    actor = RolloutActor(*_factories(), _Sink(), epsilon=0.4, send_batch_size=64)
    actor.run(None, num_steps=200)  # compile
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        steps += actor.run(None, num_steps=100)["env_steps"]
    return steps / (time.perf_counter() - t0)


def measure(num_actors, seconds):
    """Throughput of an ApeX with ``num_actors`` actors over ``seconds`` after warm-up."""
    from coaxlike.distributed import ApeX
    with ApeX(*_factories(), num_actors=num_actors, warmup=500, batch_size=64,
              max_updates_per_second=THROTTLE) as apex:
        t0 = time.perf_counter()
        while len(apex.actor_stats) < num_actors or apex.updates == 0:
            apex.train(max_seconds=1.0)
            if time.perf_counter() - t0 > 300:
                raise RuntimeError("the actors did not deliver within 300 s")
        out = apex.train(max_seconds=seconds)
        return {"num_actors": num_actors,
                "env_steps_per_s": round(out["env_steps_per_second"], 1),
                "updates_per_s": round(out["updates_per_second"], 1),
                "peak_rss_mb": {k: round(v) for k, v in out["peak_rss_mb"].items()}}


def run(quick=False, repetitions=2):
    import ray
    seconds = 5.0 if quick else 20.0
    repetitions = 1 if quick else repetitions
    floor = floor_env_steps_per_second(seconds)
    with warnings.catch_warnings():  # JAX warns of any fork; Ray's forks exec at once
        warnings.filterwarnings("ignore", "os.fork", RuntimeWarning)
        ray.init(num_cpus=2, object_store_memory=100 * 2**20, include_dashboard=False)
    try:
        runs = []
        for rep in range(repetitions):
            for n in (1, 2):
                runs.append(measure(n, seconds))
                print(f"rep {rep} actors {n}: {runs[-1]}", file=sys.stderr, flush=True)
    finally:
        ray.shutdown()

    def median(n, key):
        return statistics.median(r[key] for r in runs if r["num_actors"] == n)

    one, two = median(1, "env_steps_per_s"), median(2, "env_steps_per_s")
    return {"benchmark": "apex", "quick": quick, "seconds_per_run": seconds,
            "throttle_updates_per_s": THROTTLE, "runs": runs,
            "floor_env_steps_per_s": round(floor, 1),
            "env_steps_per_s": {"1": one, "2": two},
            "updates_per_s": {"1": median(1, "updates_per_s"), "2": median(2, "updates_per_s")},
            "ratio_2_over_1": round(two / one, 2), "ratio_ray1_over_floor": round(one / floor, 2),
            "environment": _timing.environment()}


def format_table(result):
    lines = [TITLE, f"{'actors':>6} {'env steps/s':>12} {'updates/s':>10}  peak RSS MiB per process"]
    for r in result["runs"]:
        lines.append(f"{r['num_actors']:>6} {r['env_steps_per_s']:>12.0f} "
                     f"{r['updates_per_s']:>10.1f}  {r['peak_rss_mb']}")
    lines.append(f"floor (one actor's loop in-process, no Ray): "
                 f"{result['floor_env_steps_per_s']:.0f} env steps/s")
    lines.append(f"median 2 actors / 1 actor: {result['ratio_2_over_1']:.2f} (target >= 1.5); "
                 f"1 Ray actor / floor: {result['ratio_ray1_over_floor']:.2f}")
    return "\n".join(lines)


if __name__ == "__main__":
    _timing.main_with(run, TITLE, format_table, __doc__.splitlines()[0])
