"""Batched acting on CartPole-v1 (MLP 4-64-64-2), batch sizes 1, 64, 1024 and 16384.

Three ways to act, each beside the batched floor (one jitted forward pass + logits +
distrax sampling + log-prob over the batch, key split inside, ``np.asarray`` of the result):

* **pure**: ``pi.sample_func`` inside the user's own ``jax.jit`` (key split inside it);
* **pi(S)**: the stateful shell on a ``Q`` built for a vector env (a stand-in object with
  ``single_observation_space``/``single_action_space``, so that no 16384 envs are stepped);
* **SyncVectorEnv(8)**: a real ``gym.vector.SyncVectorEnv`` of 8 CartPoles, acting alone
  and acting + ``envs.step`` (the floor steps its own copy of the envs).

    python -m benchmarks.batched [--sync] [--quick] [--json PATH]
"""
from . import _timing

BATCH_SIZES = (1, 64, 1024, 16384)
TARGET = 1.1  # issue 5: batched acting at batch >= 1024


class FakeVectorEnv:
    """Only what ``coaxlike.Q`` reads from a vector env."""

    def __init__(self, env):
        self.single_observation_space = env.observation_space
        self.single_action_space = env.action_space


def _schedule(batch, quick):
    """(blocks, calls per block) giving each row roughly the same wall time."""
    if quick:
        return 3, 4
    # many short blocks: the median of 60 block-pair ratios repeated within +-2% in A/A runs
    # (the floor against itself), 20 long blocks did not
    per_call_us = 40 + 0.3 * batch
    return 60, max(2, int(3000 / per_call_us))


def _row(name, batch, r, **extra):
    return {"name": name, "batch": batch, "unit": "actions/s", **r, **extra,
            "actions_per_s": batch / (r["us"] * 1e-6),
            "floor_actions_per_s": batch / (r["floor_us"] * 1e-6)}


def rows(quick=False, only=""):
    import gymnasium as gym
    import jax
    import numpy as np

    import coaxlike
    from . import _floors

    env = gym.make("CartPole-v1")
    hp = {"EpsilonGreedy": 0.1, "BoltzmannPolicy": 1.0}
    classes = {"EpsilonGreedy": coaxlike.EpsilonGreedy,
               "BoltzmannPolicy": coaxlike.BoltzmannPolicy}
    q = coaxlike.Q(_floors.cartpole_func, FakeVectorEnv(env), random_seed=0)
    rng = np.random.default_rng(0)
    out = []
    for kind, cls in classes.items():
        pi = cls(q, hp[kind], random_seed=0)
        floor = _floors.Floor(q.params, hp[kind])
        floor_fn = _floors.make_sample(kind, batched=True)

        @jax.jit
        def act(params, state, key, S, sample_func=pi.sample_func):
            key, sub = jax.random.split(key)
            A, logP = sample_func(params, state, sub, S)
            return A, logP, key

        user = {"key": jax.random.key(1)}

        def pure(S):
            A, _, user["key"] = act(pi.params, q.function_state, user["key"], S)
            return np.asarray(A)

        for batch in BATCH_SIZES:
            S = (0.1 * rng.standard_normal((batch, 4))).astype(np.float32)
            blocks, calls = _schedule(batch, quick)
            pairs = {
                "pure jit(sample_func)": (lambda: pure(S),
                                          lambda: floor.act_batch(floor_fn, S)[0]),
                "pi(S)": (lambda: pi(S), lambda: floor.act_batch(floor_fn, S)[0]),
                "pi(S, return_logp=True)": (lambda: pi(S, return_logp=True),
                                            lambda: floor.act_batch(floor_fn, S)),
            }
            for call, (ours, fl) in pairs.items():
                name = f"{kind:15s} {call} B={batch}"
                if only in name:
                    r = _timing.compare(ours, fl, blocks=blocks, calls=calls)
                    out.append(_row(name, batch, r, policy=kind, call=call,
                                    target=TARGET if batch >= 1024 else None))
    out += _vector_env_rows(quick, only, hp["EpsilonGreedy"])
    env.close()
    return out


def _vector_env_rows(quick, only, epsilon):
    import gymnasium as gym

    import coaxlike
    from . import _floors

    def make():
        return gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1")] * 8)
    envs, floor_envs = make(), make()
    q = coaxlike.Q(_floors.cartpole_func, envs, random_seed=0)
    pi = coaxlike.EpsilonGreedy(q, epsilon, random_seed=0)
    floor = _floors.Floor(q.params, epsilon)
    floor_fn = _floors.make_sample("EpsilonGreedy", batched=True)
    S0, _ = envs.reset(seed=0)
    state = {"ours": floor_envs.reset(seed=0)[0], "floor": S0}

    def ours_step():
        state["ours"] = envs.step(pi(state["ours"]))[0]

    def floor_step():
        state["floor"] = floor_envs.step(floor.act_batch(floor_fn, state["floor"])[0])[0]

    blocks, calls = (3, 4) if quick else (20, 100)
    pairs = {"EpsilonGreedy   SyncVectorEnv(8) pi(S)": (
                 lambda: pi(S0), lambda: floor.act_batch(floor_fn, S0)[0]),
             "EpsilonGreedy   SyncVectorEnv(8) env.step(pi(S))": (ours_step, floor_step)}
    out = []
    for name, (ours, fl) in pairs.items():
        if only in name:
            r = _timing.compare(ours, fl, blocks=blocks, calls=calls)
            out.append(_row(name, 8, r, policy="EpsilonGreedy", call=name.split(None, 1)[1],
                            target=None))
    envs.close()
    floor_envs.close()
    return out


TITLE = "batched acting, CartPole observations"


def main(argv=None):
    return _timing.main("batched", TITLE, rows, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    main()
