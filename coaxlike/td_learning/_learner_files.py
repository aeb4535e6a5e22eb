"""A learner's side of the serialization protocol (see :mod:`coaxlike.serialization`): what
fixes the shapes of its file (static), what it stores (tree) and how it takes it back."""
from .._tree_check import check_same_tree
from ._arguments import _name

__all__ = []  # private module


def serial_static(learner):
    """The learner's static description: class, Q-function, target network and policy,
    correction, loss and optimizer names."""
    return {"class": type(learner).__name__, "q": learner.q._serial_static(),
            "q_targ": learner.q_targ is not None,
            "pi_targ": None if learner.pi_targ is None else learner.pi_targ._hp_name,
            "pi_targ_source": learner._pi_source,
            "off_policy_correction": learner.off_policy_correction,
            "loss_function": _name(learner.loss_function),
            "optimizer": learner._optimizer_name}


def serial_tree(learner):
    """The learner state's trees and the learner's key."""
    ls = learner.learner_state
    return {"params": ls.params, "function_state": ls.function_state,
            "target_params": ls.target_params,
            "target_function_state": ls.target_function_state,
            "opt_state": ls.opt_state, "hyperparams": ls.hyperparams, "key": learner._key}


def serial_restore(learner, tree):
    """Set the learner's state from a tree shaped like :func:`serial_tree`'s (checked first,
    then written through the validating ``learner_state`` setter)."""
    check_same_tree(tree, serial_tree(learner), "tree")
    learner.learner_state = learner.learner_state._replace(
        params=tree["params"], function_state=tree["function_state"],
        target_params=tree["target_params"],
        target_function_state=tree["target_function_state"],
        opt_state=tree["opt_state"], hyperparams=tree["hyperparams"])
    learner._key = tree["key"]
