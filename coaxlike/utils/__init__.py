"""Small helpers at ``coax.utils``'s import paths: logging set-up, schedules, GIFs, frame
differences and env attribute look-up."""
from ._logging import enable_logging

__all__ = ["enable_logging"]
