"""Small helpers at ``coax.utils``'s import paths: logging set-up, a piecewise-linear
schedule, episode GIFs and frame differences for stacked frames."""
from ._frames import diff_transform, diff_transform_matrix
from ._gif import generate_gif
from ._logging import enable_logging
from ._schedules import StepwiseLinearFunction

__all__ = ["StepwiseLinearFunction", "diff_transform", "diff_transform_matrix",
           "enable_logging", "generate_gif"]
