"""Smoke tests of the benchmark suite: it runs and reports what it promises (no timings are
asserted: figures on a shared machine are not a test)."""
import math

import pytest

from benchmarks.run import run_one

# each runs the benchmark scripts in subprocesses (~15 s of CPU): CI runs them with -m slow
pytestmark = pytest.mark.slow

ROW_KEYS = {"name", "us", "floor_us", "ratio", "ratio_iqr", "cpu_ratio", "calls", "target"}


def _check_rows(result, expected_names):
    assert [r["name"] for r in result["rows"]] == expected_names
    for row in result["rows"]:
        assert ROW_KEYS <= set(row), sorted(ROW_KEYS - set(row))
        for key in ("us", "floor_us", "ratio", "cpu_ratio"):
            assert math.isfinite(row[key]) and row[key] > 0, (row["name"], key, row[key])
        assert row["calls"] > 0


def test_acting_quick_in_both_dispatch_modes():
    calls = ["pi(s)", "pi(s, return_logp=True)", "pi.mode(s)", "pi.dist_params(s)"]
    names = [f"{'EpsilonGreedy':15s} {c}{m}" for m in ("", " +mask") for c in calls]
    result = run_one("acting", [], quick=True, extra=["--filter", "EpsilonGreedy"])
    assert result["benchmark"] == "acting" and result["environment"]["async_dispatch"]
    _check_rows(result, names)
    sync = run_one("acting", ["--sync"], quick=True, extra=["--filter", "Boltzmann"])
    assert sync["environment"]["async_dispatch"] is False
    _check_rows(sync, [n.replace("EpsilonGreedy  ", "BoltzmannPolicy") for n in names])


def test_batched_quick_reports_actions_per_second():
    result = run_one("batched", [], quick=True, extra=["--filter", "EpsilonGreedy   pi(S) B="])
    rows = result["rows"]
    _check_rows(result, [f"{'EpsilonGreedy':15s} pi(S) B={b}" for b in (1, 64, 1024, 16384)])
    for row in rows:
        assert row["actions_per_s"] > 0 and row["floor_actions_per_s"] > 0
        assert (row["target"] is not None) == (row["batch"] >= 1024)


def test_stochastic_acting_quick_in_both_dispatch_modes():
    calls = ["pi(s)", "pi(s, return_logp=True)", "pi.mode(s)"]
    result = run_one("stochastic_acting", [], quick=True, extra=["--filter", "EpsilonGreedy"])
    _check_rows(result, [f"{k:11s} {'EpsilonGreedy':15s} {c}"
                         for k in ("categorical", "quantile") for c in calls])
    sync = run_one("stochastic_acting", ["--sync"], quick=True,
                   extra=["--filter", "quantile    BoltzmannPolicy"])
    assert sync["environment"]["async_dispatch"] is False
    _check_rows(sync, [f"{'quantile':11s} {'BoltzmannPolicy':15s} {c}" for c in calls])


def test_tracing_quick_reports_every_row():
    result = run_one("tracing", [], quick=True)
    assert result["benchmark"] == "tracing"
    _check_rows(result, ["NStep single env n=3: add + pop", "NStep vector env k=8 n=3: add + pop",
                         "TransitionBatch jit call f(tb) -> float (floor: NamedTuple)",
                         "TransitionBatch tree_map(identity) (floor: NamedTuple)",
                         "TransitionBatch tree_flatten + unflatten (floor: NamedTuple)",
                         "TransitionBatch _replace(W=...) (floor: NamedTuple)"])


def test_replay_quick_reports_memory_beside_the_floor_and_speed_against_dense():
    result = run_one("replay", [], quick=True)
    m = result["memory"]
    assert m["floor_bytes_per_transition"] == 84 * 84
    # one frame per step plus indices and the ring's margin; dense storage holds ~16 frames
    assert m["floor_bytes_per_transition"] < m["bytes_per_transition"] < 1.2 * 84 * 84
    assert m["dense_bytes_per_transition"] > 10 * m["floor_bytes_per_transition"]
    assert [r["name"] for r in result["speed"]] == ["CartPole sample(64), 50k stored",
                                                   "CartPole add(B=4 n-step rows)"]
    for row in result["speed"]:
        assert math.isfinite(row["ratio"]) and row["ratio"] > 0


def test_agents_variants_vary_one_setting_of_a_task():
    from benchmarks import agents
    assert agents.resolve("CartPole-v1 C51") == ("CartPole-v1", {"distributional":
                                                                 "categorical"})
    assert agents.resolve("CartPole-v1 QR-DQN")[1] == {"distributional": "quantile"}
    assert agents.resolve("Acrobot-v1") == ("Acrobot-v1", {})
    with pytest.raises(ValueError, match="unknown task 'CartPole'"):
        agents.resolve("CartPole")
    quick = agents.run_seed("CartPole-v1 QR-DQN", 0, overrides={
        "hidden": (8,), "learning_starts": 64, "gradient_steps": 4, "num_quantiles": 4},
        budget=512)
    assert quick["task"] == "CartPole-v1 QR-DQN" and quick["seed"] == 0


def test_agents_peers_step_rows_report_wall_and_cpu_per_env_step():
    from benchmarks import agents_peers
    runs = [{"kind": kind, "seed": seed, "steps": 1000, "seconds": seconds,
             "cpu_seconds": cpu}
            for seed in (0, 1)
            for kind, seconds, cpu in (("sbx-steps", 0.5, 0.6), ("zoo-steps", 0.4, 0.9))]
    result = {"seeds": [0, 1], "summary": {}, "ratios": {}, "rows": []}
    agents_peers._step_figures(result, runs, [0, 1])
    assert result["summary"]["zoo-steps"] == {"median_ms_per_env_step": 0.4,
                                              "median_cpu_ms_per_env_step": 0.9}
    assert result["ratios"]["zoo-steps"] == [0.8, 0.8]
    assert result["ratios"]["zoo-steps CPU"] == [1.5, 1.5]
    assert result["rows"][0]["value"] == 0.8 and result["rows"][0]["ok"]
    text = agents_peers.format_table(result)
    assert "0.40 ms wall, 0.90 ms process CPU per env step" in text
    assert "per-seed zoo-steps CPU/SBX: 1.50, 1.50" in text


def test_agents_frozen_lake_counts_the_returned_agent_s_path_length():
    from benchmarks import agents

    class Policy:
        def __init__(self, act):
            self.act = act

        def predict(self, s):
            return self.act(int(s)), None

    # right along the top row, then down the right edge: the 14-step shortest path
    shortest = Policy(lambda s: 2 if s % 8 < 7 else 1)
    assert agents.greedy_episode_length(shortest, "FrozenLake-v1", 0) == 14
    into_hole = Policy(lambda s: 2 if s < 3 else 1)  # right 3, down 2: the hole at (2, 3)
    assert agents.greedy_episode_length(into_hole, "FrozenLake-v1", 0) == 5
    stuck = Policy(lambda s: 0)  # left into the wall until the time limit
    assert agents.greedy_episode_length(stuck, "FrozenLake-v1", 0) == 100
    assert agents.TASKS["FrozenLake-v1"][3]["shortest"] == 14
