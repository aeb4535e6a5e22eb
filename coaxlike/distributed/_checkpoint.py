"""The learner's checkpoint: its serialized state and the training counters, in one file."""
from ..serialization import load_object, save_object

__all__ = ["LearnerCheckpoint"]

_SUFFIX = ".cxl"


class LearnerCheckpoint:
    """A TD learner plus ``updates`` and ``env_steps``, saved with
    :func:`~coaxlike.serialization.save_object` (fingerprinted with the learner's class and
    static configuration, written atomically).

    Composes the learner's own serialization protocol (``_serial_static``, ``_serial_tree``,
    ``_serial_restore``), so a checkpoint holds exactly what ``learner.serialize`` writes
    (online and target networks, optimizer state, hyperparameters, PRNG key) and the counters.
    """

    def __init__(self, learner):
        self.learner = learner
        self.updates = 0
        self.env_steps = 0

    @staticmethod
    def file(path):
        """The file name ``save`` writes for ``path``."""
        path = str(path)
        return path if path.endswith(_SUFFIX) else path + _SUFFIX

    @staticmethod
    def replay_file(path):
        """The file the replay server writes beside the checkpoint ``path``."""
        return LearnerCheckpoint.file(path)[:-len(_SUFFIX)] + ".replay" + _SUFFIX

    def save(self, path):
        return save_object(path, self, suffix=_SUFFIX)

    def load(self, path):
        load_object(path, self, suffix=_SUFFIX)

    def _serial_static(self):
        return {"learner": self.learner._serial_static()}

    def _serial_tree(self):
        return {"learner": self.learner._serial_tree(), "updates": self.updates,
                "env_steps": self.env_steps}

    def _serial_restore(self, tree):
        self.learner._serial_restore(tree["learner"])
        self.updates, self.env_steps = int(tree["updates"]), int(tree["env_steps"])
