"""Single-observation acting on CartPole-v1 (MLP 4-64-64-2), each call beside its floor.

Rows: ``pi(s)``, ``pi(s, return_logp=True)``, ``pi.mode(s)`` and ``pi.dist_params(s)`` for
EpsilonGreedy and BoltzmannPolicy, with and without an action mask. ``--sync`` sets
``jax_cpu_enable_async_dispatch=False`` first; run each dispatch mode in its own process
(``python -m benchmarks.run`` does).

    python -m benchmarks.acting [--sync] [--quick] [--json PATH]
"""
from . import _timing

TARGETS = {"pi(s)": 1.3, "pi(s, return_logp=True)": 1.3, "pi.mode(s)": 1.2,
           "pi.dist_params(s)": None}
MASK = (False, True)  # CartPole has two actions; the mask allows only action 1


def cartpole_observation():
    import gymnasium as gym
    env = gym.make("CartPole-v1")
    s, _ = env.reset(seed=0)
    env.close()
    return s


def rows(quick=False, only=""):
    """Measure every row in this process; returns a list of result dicts."""
    import gymnasium as gym
    import numpy as np

    import coaxlike
    from . import _floors

    blocks, calls = (4, 25) if quick else (40, 100)
    env = gym.make("CartPole-v1")
    s = cartpole_observation()
    q = coaxlike.Q(_floors.cartpole_func, env, random_seed=0)
    hp = {"EpsilonGreedy": 0.1, "BoltzmannPolicy": 1.0}
    mode_fn = _floors.make_mode()
    out = []
    for kind, cls in (("EpsilonGreedy", coaxlike.EpsilonGreedy),
                      ("BoltzmannPolicy", coaxlike.BoltzmannPolicy)):
        pi = cls(q, hp[kind], random_seed=0)
        floor = _floors.Floor(q.params, hp[kind])
        sample_fn, logits_fn = _floors.make_sample(kind), _floors.make_logits(kind)
        for mask in (None, np.array(MASK)):
            pairs = {
                "pi(s)": (lambda: pi(s, action_mask=mask),
                          lambda: floor.act(sample_fn, s, mask)),
                "pi(s, return_logp=True)": (
                    lambda: pi(s, return_logp=True, action_mask=mask),
                    lambda: floor.act_logp(sample_fn, s, mask)),
                "pi.mode(s)": (lambda: pi.mode(s, action_mask=mask),
                               lambda: int(mode_fn(floor.params, s, mask))),
                "pi.dist_params(s)": (
                    lambda: pi.dist_params(s, action_mask=mask),
                    lambda: np.asarray(logits_fn(floor.params, floor.hp, s, mask))),
            }
            for call, (ours, fl) in pairs.items():
                name = f"{kind:15s} {call}{' +mask' if mask is not None else ''}"
                if only not in name:
                    continue
                r = _timing.compare(ours, fl, blocks=blocks, calls=calls)
                out.append({"name": name,
                            "policy": kind, "call": call, "mask": mask is not None,
                            "target": TARGETS[call], **r,
                            "floor_note": ("jit(forward + argmax), ties -> first index; "
                                           "ours breaks ties at random")
                            if call == "pi.mode(s)" else None})
    env.close()
    return out


TITLE = "acting, one CartPole observation per call"


def main(argv=None):
    return _timing.main("acting", TITLE, rows, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    main()
