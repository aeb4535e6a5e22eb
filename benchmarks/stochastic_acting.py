"""Single-observation acting with a StochasticQ on CartPole-v1 (MLP 4-64-64-(2 x 51)), each
call beside its floor.

Rows: ``pi(s)``, ``pi(s, return_logp=True)`` and ``pi.mode(s)`` for EpsilonGreedy and
BoltzmannPolicy over a categorical (C51, 51 atoms) and a quantile (QR-DQN, 51 quantiles)
StochasticQ. The floor is one ``jax.jit`` function over the same network and parameters:
forward pass, mean over the atoms or quantiles, the policy's logits, distrax sampling with
the key split inside. ``--sync`` sets ``jax_cpu_enable_async_dispatch=False`` first.

    python -m benchmarks.stochastic_acting [--sync] [--quick] [--json PATH]
"""
from . import _timing

TARGETS = {"pi(s)": 1.3, "pi(s, return_logp=True)": 1.3, "pi.mode(s)": 1.3}
BINS = 51
VALUE_RANGE = (0.0, 500.0)


def _func(kind):
    import haiku as hk
    import jax.numpy as jnp
    from . import _floors

    key = "logits" if kind == "categorical" else "values"

    def func(S, is_training):
        out = hk.nets.MLP([*_floors.HIDDEN, 2 * BINS])(S)
        return {key: jnp.reshape(out, (-1, 2, BINS))}
    return func


def _floor_fns(kind, policy, atoms):
    """``(sample, mode)`` floors: jit over the same haiku network as the StochasticQ."""
    import distrax
    import haiku as hk
    import jax
    import jax.numpy as jnp
    from . import _floors

    apply = hk.transform(_func(kind)).apply
    build = _floors.LOGITS[policy]

    def means(params, s):
        out = apply(params, None, s[None], False)
        if kind == "categorical":
            return (jax.nn.softmax(out["logits"], axis=-1) @ atoms)[0]
        return jnp.mean(out["values"], axis=-1)[0]

    def sample(params, hp, key, s, mask=None):
        key, sub = jax.random.split(key)
        logits = build(means(params, s), hp, mask)
        a, logp = distrax.Categorical(logits=logits).sample_and_log_prob(seed=sub)
        return a, logp, key

    def mode(params, s):
        return jnp.argmax(means(params, s))
    return jax.jit(sample), jax.jit(mode)


def rows(quick=False, only=""):
    """Measure every row in this process; returns a list of result dicts."""
    import gymnasium as gym
    import jax.numpy as jnp

    import coaxlike
    from . import _floors
    from .acting import cartpole_observation

    blocks, calls = (4, 25) if quick else (40, 100)
    env = gym.make("CartPole-v1")
    s = cartpole_observation()
    hp = {"EpsilonGreedy": 0.1, "BoltzmannPolicy": 1.0}
    out = []
    for kind in ("categorical", "quantile"):
        value_range = VALUE_RANGE if kind == "categorical" else None
        q = coaxlike.StochasticQ(_func(kind), env, value_range, BINS, random_seed=0)
        atoms = None if q.atoms is None else jnp.asarray(q.atoms)
        for policy, cls in (("EpsilonGreedy", coaxlike.EpsilonGreedy),
                            ("BoltzmannPolicy", coaxlike.BoltzmannPolicy)):
            pi = cls(q, hp[policy], random_seed=0)
            floor = _floors.Floor(q.params, hp[policy])
            sample_fn, mode_fn = _floor_fns(kind, policy, atoms)
            pairs = {
                "pi(s)": (lambda: pi(s), lambda: floor.act(sample_fn, s)),
                "pi(s, return_logp=True)": (lambda: pi(s, return_logp=True),
                                            lambda: floor.act_logp(sample_fn, s)),
                "pi.mode(s)": (lambda: pi.mode(s), lambda: int(mode_fn(floor.params, s))),
            }
            for call, (ours, fl) in pairs.items():
                name = f"{kind:11s} {policy:15s} {call}"
                if only not in name:
                    continue
                r = _timing.compare(ours, fl, blocks=blocks, calls=calls)
                out.append({"name": name, "kind": kind, "policy": policy, "call": call,
                            "target": TARGETS[call], **r,
                            "floor_note": ("jit(forward + mean + argmax), ties -> first "
                                           "index; ours breaks ties at random")
                            if call == "pi.mode(s)" else None})
    env.close()
    return out


TITLE = "acting with a StochasticQ (51 atoms / quantiles), one CartPole observation per call"


def main(argv=None):
    return _timing.main("stochastic_acting", TITLE, rows, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    main()
