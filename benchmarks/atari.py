"""The Atari loop of examples/dqn_atari.py: env steps/s of the whole loop, bytes per transition.

    python -m benchmarks.atari                  # 6000 steps, training from step 2000
    python -m benchmarks.atari --steps 20000 --warmup 5000 --json /tmp/atari.json
    python -m benchmarks.run --only atari --quick   # 1200 steps, training from step 400

Three loops on ``PongNoFrameskip-v4`` with the example's wrappers (AtariPreprocessing,
FrameStacking, TrainMonitor), in one process:

- ``env only``: random actions, nothing else (the floor: what the emulator and the
  preprocessing cost);
- ``acting + replay``: the example's loop with the warm-up never ending: the Q-network acts,
  the tracer and the buffer record every step, no update;
- ``whole loop``: the example's loop, one update (batch 32, the Nature-DQN network) every 4
  steps after the warm-up; reported separately before and after the warm-up.

Bytes per transition are the replay buffer's preallocated bytes over its capacity (see
``benchmarks.replay`` for the measured resident memory at capacity 1M).
"""
import argparse
import os
import sys
import time

import gymnasium

from . import _timing

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "examples"))

import dqn_atari  # noqa: E402  (the example script itself)


def env_only(steps, seed=0):
    env = dqn_atari.make_env()
    env.reset(seed=seed)
    env.action_space.seed(seed)
    t0 = time.perf_counter()
    for _ in range(steps):
        *_, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            env.reset()
    seconds = time.perf_counter() - t0
    env.close()
    return steps / seconds


def format_table(result):
    """The figures as printed lines."""
    floor = result["env_only_steps_per_second"]
    return "\n".join([
        f"Atari {result['env_id']}, {result['steps']} steps (benchmarks/atari.py)",
        f"env only (random actions)     {floor:8.1f} steps/s",
        f"acting + replay, no training  {result['acting_replay_steps_per_second']:8.1f} "
        f"steps/s ({result['acting_replay_steps_per_second'] / floor:.2f} of env only)",
        f"whole loop, training every 4  {result['training_steps_per_second']:8.1f} steps/s "
        f"({result['ms_per_update_incl_4_steps']:.0f} ms per update + 4 steps)",
        f"replay: {result['bytes_per_transition']:.0f} bytes per transition (capacity "
        f"{result['capacity']}; floor one 84x84 frame: 7056, ratio "
        f"{result['bytes_per_transition'] / 7056:.3f})"])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=None, help="default 6000 (--quick: 1200)")
    p.add_argument("--warmup", type=int, default=None, help="default 2000 (--quick: 400)")
    p.add_argument("--capacity", type=int, default=100_000)
    p.add_argument("--quick", action="store_true", help="few steps: a smoke test")
    p.add_argument("--json", default=None, help="write results here ('-': stdout only)")
    args = p.parse_args(argv)
    steps = args.steps or (1200 if args.quick else 6000)
    warmup = args.warmup or (400 if args.quick else 2000)
    gymnasium.logger.min_level = 40
    floor = env_only(steps)
    acting = dqn_atari.train(steps=steps, warmup=10 ** 12, capacity=args.capacity,
                             progress=False)
    whole = dqn_atari.train(steps=steps, warmup=warmup, capacity=args.capacity,
                            progress=False)
    first_step, before = whole["first_update"]
    after_steps = steps - first_step
    after_seconds = whole["seconds"] - before
    result = {
        "benchmark": "atari", "quick": args.quick, "env_id": "PongNoFrameskip-v4",
        "steps": steps, "warmup": warmup, "capacity": args.capacity,
        "env_only_steps_per_second": floor,
        "acting_replay_steps_per_second": acting["steps_per_second"],
        "warmup_steps_per_second": first_step / before,
        "training_steps_per_second": after_steps / after_seconds,
        "updates": whole["updates"],
        "ms_per_update_incl_4_steps": after_seconds / max(whole["updates"], 1) * 1e3,
        "bytes_per_transition": whole["bytes_per_transition"],
    }
    _timing.emit(result, args, None, format_table)
    return result


if __name__ == "__main__":
    main()
