"""Ape-X on Ray: env steps/s and updates/s with 1 and 2 rollout actors, memory per process.

    python -m benchmarks.apex [--quick] [--json PATH|-]
    python -m benchmarks.run --only apex [--quick]

Protocol: one local Ray instance (2 CPUs, 100 MiB object store) holds **two** ``ApeX`` on
CartPole-v1 (MLP 64-64, DoubleQLearning, batch 64) side by side: ``A`` with 1 rollout actor
and ``B`` with 2. Both warm up first (JAX import and compilation in every process, until
every actor has delivered and each learner has updated). Then they take turns in windows of
``seconds`` (ABBA blocks): a window is ``train(max_seconds=seconds)`` followed by
``wait_idle()`` (the actors finish their queued calls), so only one ``ApeX``'s actors run at
a time and the other's processes idle; env steps/s of a window = its env steps (drained
calls included) over its wall time. A change in the machine's load between windows hits both
configurations alike within a block; the ratio is the median over blocks of
``(B1 + B2) / (A1 + A2)``.

**The learner is throttled** with ``max_updates_per_second=20``: between updates it waits in
``ray.wait`` (collecting actor results) instead of computing, so it leaves the cores to the
actors and env throughput measures the actors, not the learner's share of the 2 cores.

The floor is the same rollout loop without Ray: a :class:`RolloutActor` stepped in this
process, sending chunks to an in-process stand-in replay (TD errors computed, nothing sent
through Ray). ``ray/floor`` is the env-step rate of one Ray actor over that floor;
``2 actors / 1 actor`` the scaling (issue 14 asks for >= 1.5). The machine's 1-minute load
average is printed before and after: on a shared 2-core machine the scaling is bounded by the
cores the other processes leave. Memory is each process's peak RSS.
"""
import os
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


def _build(num_actors):
    from coaxlike.distributed import ApeX
    return ApeX(*_factories(), num_actors=num_actors, warmup=500, batch_size=64,
                max_updates_per_second=THROTTLE)


def _warm_up(apex):
    t0 = time.perf_counter()
    while len(apex.actor_stats) < apex.num_actors or apex.updates == 0:
        apex.train(max_seconds=1.0)
        if time.perf_counter() - t0 > 300:
            raise RuntimeError("the actors did not deliver within 300 s")
    apex.wait_idle()


def _window(apex, seconds):
    """Env steps/s and updates/s of one window (train, then drain the queued calls)."""
    t0, steps0, updates0 = time.perf_counter(), apex.env_steps, apex.updates
    apex.train(max_seconds=seconds)
    apex.wait_idle()
    wall = time.perf_counter() - t0
    return {"num_actors": apex.num_actors,
            "env_steps_per_s": round((apex.env_steps - steps0) / wall, 1),
            "updates_per_s": round((apex.updates - updates0) / wall, 1)}


def run(quick=False, blocks=4):
    import ray
    seconds = 3.0 if quick else 8.0
    blocks = 1 if quick else blocks
    load_before = os.getloadavg()[0]
    floor = floor_env_steps_per_second(seconds)
    with warnings.catch_warnings():  # JAX warns of any fork; Ray's forks exec at once
        warnings.filterwarnings("ignore", "os.fork", RuntimeWarning)
        ray.init(num_cpus=2, object_store_memory=100 * 2**20, include_dashboard=False)
    try:
        one, two = _build(1), _build(2)
        with one, two:
            _warm_up(one)
            _warm_up(two)
            runs, ratios = [], []
            for block in range(blocks):
                a1, b1, b2, a2 = (_window(x, seconds) for x in (one, two, two, one))
                runs += [a1, b1, b2, a2]
                ratios.append((b1["env_steps_per_s"] + b2["env_steps_per_s"])
                              / (a1["env_steps_per_s"] + a2["env_steps_per_s"]))
                print(f"block {block}: 1 actor {a1['env_steps_per_s']:.0f}, "
                      f"{a2['env_steps_per_s']:.0f}; 2 actors {b1['env_steps_per_s']:.0f}, "
                      f"{b2['env_steps_per_s']:.0f} env steps/s; ratio {ratios[-1]:.2f}",
                      file=sys.stderr, flush=True)
            rss = {"1": {k: round(v) for k, v in one.peak_rss_mb().items()},
                   "2": {k: round(v) for k, v in two.peak_rss_mb().items()}}
    finally:
        ray.shutdown()

    def median(n, key):
        return statistics.median(r[key] for r in runs if r["num_actors"] == n)

    one_rate = median(1, "env_steps_per_s")
    return {"benchmark": "apex", "quick": quick, "seconds_per_window": seconds,
            "blocks": blocks, "throttle_updates_per_s": THROTTLE, "runs": runs,
            "block_ratios": [round(r, 3) for r in ratios],
            "floor_env_steps_per_s": round(floor, 1),
            "env_steps_per_s": {"1": one_rate, "2": median(2, "env_steps_per_s")},
            "updates_per_s": {"1": median(1, "updates_per_s"), "2": median(2, "updates_per_s")},
            "ratio_2_over_1": round(statistics.median(ratios), 2),
            "ratio_ray1_over_floor": round(one_rate / floor, 2), "peak_rss_mb": rss,
            "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            "environment": _timing.environment()}


def format_table(result):
    lines = [TITLE, f"{'actors':>6} {'env steps/s':>12} {'updates/s':>10}  (one row per window, "
             f"{result['seconds_per_window']:.0f} s each, ABBA blocks)"]
    for r in result["runs"]:
        lines.append(f"{r['num_actors']:>6} {r['env_steps_per_s']:>12.0f} "
                     f"{r['updates_per_s']:>10.1f}")
    lines.append(f"peak RSS MiB per process: {result['peak_rss_mb']}")
    lines.append(f"floor (one actor's loop in-process, no Ray): "
                 f"{result['floor_env_steps_per_s']:.0f} env steps/s; 1 Ray actor / floor: "
                 f"{result['ratio_ray1_over_floor']:.2f}")
    lines.append(f"load average (1 min) before / after: {result['load_average_1min'][0]:.2f} / "
                 f"{result['load_average_1min'][1]:.2f} on {os.cpu_count()} cores")
    ok = "yes" if result["ratio_2_over_1"] >= 1.5 else "NO"
    lines.append(f"RATIO 2 actors / 1 actor (env steps/s, median of blocks "
                 f"{result['block_ratios']}): {result['ratio_2_over_1']:.2f} "
                 f"(target >= 1.5: {ok})")
    return "\n".join(lines)


if __name__ == "__main__":
    _timing.main_with(run, TITLE, format_table, __doc__.splitlines()[0])
