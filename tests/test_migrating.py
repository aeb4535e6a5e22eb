"""doc/migrating.rst stays honest: every coax name of the value-based scope has a row, every
"same" / "differs" row imports from coaxlike at coax's path, every "not provided" row does not.
"""
import importlib
import pathlib
import re

import pytest

PAGE = pathlib.Path(__file__).resolve().parents[1] / "doc" / "migrating.rst"
STATUSES = ("same", "differs", "not provided")

# coax 0.1.13's public names in the value-based scope (facts read from coax's __all__ lists)
SCOPE = {
    "coax": ["Q", "Q.copy", "Q.soft_update", "EpsilonGreedy", "BoltzmannPolicy",
             "RandomPolicy", "StochasticQ", "safe_sample", "unvectorize", "render_episode"],
    "coax.reward_tracing": ["NStep", "TransitionBatch", "MonteCarlo"],
    "coax.experience_replay": ["SimpleReplayBuffer", "PrioritizedReplayBuffer"],
    "coax.td_learning": ["QLearning", "DoubleQLearning", "ExpectedSarsa", "SoftQLearning",
                         "Sarsa", "SimpleTD", "ClippedDoubleQLearning",
                         "SoftClippedDoubleQLearning"],
    "coax.value_losses": ["mse", "huber", "logloss", "logloss_sign", "quantile_huber"],
    "coax.value_transforms": ["ValueTransform", "LogTransform"],
    "coax.proba_dists": ["CategoricalDist", "EmpiricalQuantileDist"],
    "coax.wrappers": ["TrainMonitor", "FrameStacking", "BoxActionsToReals",
                      "BoxActionsToDiscrete", "MetaPolicyEnv"],
    "coax.utils": [
        "OrnsteinUhlenbeckNoise", "StepwiseLinearFunction", "SegmentTree", "SumTree",
        "MinTree", "MaxTree", "argmax", "argmin", "batch_to_single", "check_array",
        "check_preprocessors", "chunks_pow2", "clipped_logit", "default_preprocessor",
        "diff_transform", "diff_transform_matrix", "docstring", "double_relu", "dump",
        "dumps", "enable_logging", "generate_gif", "get_env_attr", "get_grads_diagnostics",
        "get_magnitude_quantiles", "get_transition_batch", "has_env_attr", "idx", "is_policy",
        "is_qfunction", "is_reward_function", "is_stochastic", "is_transition_model",
        "is_vfunction", "isscalar", "jit", "load", "loads", "make_dmc", "merge_dicts",
        "pretty_print", "pretty_repr", "quantiles", "quantiles_uniform",
        "quantile_cos_embedding", "reload_recursive", "render_episode", "safe_sample",
        "single_to_batch", "stack_trees", "sync_shared_params", "tree_ravel", "unvectorize"],
}

# a list-table row: first cell (one or more lines, not crossing into the next row) naming
# ``coax.X`` objects, second cell a bare status word
_ROW = re.compile(r"^   \* - (?P<names>``coax\.(?:(?!\n   \* - ).)+?)\n     - (?P<status>[a-z ]+)\n",
                  re.M | re.S)


def rows():
    """[(coax name, status)] from every list-table row whose first cell names coax objects."""
    out = []
    for m in _ROW.finditer(PAGE.read_text()):
        names = re.findall(r"``(coax\.[\w.]+)``", m.group("names"))
        out += [(name, m.group("status").strip()) for name in names]
    return out


def resolve(coax_name):
    """The coaxlike object at coax's path (``coax.a.b`` -> ``coaxlike.a.b``), or raise."""
    parts = ["coaxlike"] + coax_name.split(".")[1:]
    obj = importlib.import_module("coaxlike")
    for i, attr in enumerate(parts[1:], 2):
        if hasattr(obj, attr):
            obj = getattr(obj, attr)
        else:
            obj = importlib.import_module(".".join(parts[:i]))
    return obj


def test_every_row_has_a_known_status_and_every_scope_name_one_row():
    table = rows()
    assert len(table) > 50
    unknown = [(n, s) for n, s in table if s not in STATUSES]
    assert not unknown, f"rows with a status other than {STATUSES}: {unknown}"
    names = [n for n, _ in table]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    assert not duplicates, f"coax names with more than one row: {duplicates}"
    scope = {f"{module}.{name}" for module, members in SCOPE.items() for name in members}
    assert not sorted(scope - set(names)), \
        f"coax names without a row in doc/migrating.rst: {sorted(scope - set(names))}"


@pytest.mark.parametrize("coax_name, status", rows())
def test_rows_match_what_coaxlike_provides(coax_name, status):
    coaxlike_name = "coaxlike" + coax_name[len("coax"):]
    if status == "not provided":
        with pytest.raises((AttributeError, ImportError)):
            resolve(coax_name)
            pytest.fail(f"doc/migrating.rst says {coax_name} is 'not provided' but "
                        f"{coaxlike_name} exists: change its row to 'same' or 'differs'")
    else:
        assert resolve(coax_name) is not None, coaxlike_name
