"""Ape-X DQN on CartPole-v1 with Ray: rollout actors, a central prioritized replay, one learner.

What it shows, top to bottom:

1. the three factories Ape-X needs: ``make_env``, ``make_q`` (a type-2 Q-function) and
   ``make_learner`` (``DoubleQLearning`` over the online and target networks); they are
   module-level functions, so Ray can send them to other processes and machines;
2. ``coaxlike.distributed.ApeX`` with 2 actors exploring with Ape-X's per-actor epsilons
   (``apex_epsilons``), each sending n-step transitions with their log-propensities and
   initial priorities to the replay server;
3. greedy evaluation in its own Ray actor, stopping when the 10-episode mean return reaches
   475, and a checkpoint every 500 updates (the learner's fingerprinted file and, beside it,
   the replay server's contents): run the script again with the same ``--checkpoint`` and
   it resumes;
4. throughput and memory per process.

Run: ``python examples/apex_cartpole.py`` (Ray starts on this machine; about 2 minutes on a
2-core CPU). On a cluster start Ray first (``ray start --head`` on one machine,
``ray start --address=HEAD:6379`` on the others) and run the same command on the head: the
script joins the running cluster. ``--help`` for options.
"""
import argparse
import logging
import os
import tempfile

import gymnasium as gym
import haiku as hk
import optax

import coaxlike
from coaxlike.distributed import ApeX
from coaxlike.td_learning import DoubleQLearning


def make_env():
    """One CartPole-v1."""
    return gym.make("CartPole-v1")


def make_q(env):
    """Type-2 Q-function: (B, 4) observations -> (B, 2) values."""
    def func(S, is_training):
        return hk.nets.MLP([64, 64, 2])(S)
    return coaxlike.Q(func, env, random_seed=0)


def make_learner(q, q_targ):
    """Double Q-learning on the online ``q`` with target ``q_targ``."""
    return DoubleQLearning(q, q_targ=q_targ, optimizer=optax.adam(1e-3))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-actors", type=int, default=2)
    parser.add_argument("--max-seconds", type=float, default=600.0)
    parser.add_argument("--checkpoint", default=os.path.join(tempfile.gettempdir(),
                                                             "apex_cartpole"),
                        help="checkpoint path, learner and replay (resumed from when it "
                             "exists)")
    parser.add_argument("--address", default=None,
                        help="Ray address, e.g. 'auto' for a cluster started by `ray start`")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    ray_init = {"address": args.address, "include_dashboard": False}
    if args.address is None:  # a local Ray on a small machine: a small object store
        ray_init.update(num_cpus=2, object_store_memory=100 * 2**20)
    with ApeX(make_env, make_q, make_learner, num_actors=args.num_actors,
              evaluate_every=250, checkpoint_path=args.checkpoint, checkpoint_every=500,
              ray_init=ray_init) as apex:
        print(f"actor epsilons: {[round(float(e), 4) for e in apex.epsilons]}; "
              f"starting at update {apex.updates}")
        out = apex.train(target_return=475.0, max_seconds=args.max_seconds)
        print(f"solved={out['solved']} after {out['updates']} updates and "
              f"{out['env_steps']} env steps in {out['seconds']:.0f} s "
              f"({out['env_steps_per_second']:.0f} env steps/s, "
              f"{out['updates_per_second']:.0f} updates/s)")
        for updates, steps, score in out["evaluations"]:
            print(f"  eval @ {updates:5d} updates / {steps:6d} env steps: mean return {score:.1f}")
        print("peak memory per process (MiB):",
              {k: round(v) for k, v in out["peak_rss_mb"].items()})
        print(f"checkpoint: {apex.save_checkpoint()}")
    if not out["solved"]:
        raise SystemExit("not solved within --max-seconds")


if __name__ == "__main__":
    main()
