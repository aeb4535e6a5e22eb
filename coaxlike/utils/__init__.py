"""Small helpers at ``coax.utils``'s import paths: logging set-up, a piecewise-linear
schedule, episode GIFs, frame differences for stacked frames, and random samples and
transition batches for tests."""
from ._check_array import check_array
from ._frames import diff_transform, diff_transform_matrix
from ._gif import generate_gif
from ._logging import enable_logging
from ._random_batches import get_transition_batch, safe_sample
from ._schedules import StepwiseLinearFunction

__all__ = ["StepwiseLinearFunction", "check_array", "diff_transform", "diff_transform_matrix",
           "enable_logging", "generate_gif", "get_transition_batch", "safe_sample"]
