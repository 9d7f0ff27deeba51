"""The one error of ``dora train``: a problem the operator can fix (a missing folder, a bad dataset
line, a checkpoint to resume that is not there). Its message names the path and the fix; the CLI
prints it as one line, not a traceback."""

from __future__ import annotations

__all__ = ["TrainError"]


class TrainError(ValueError):
    """Something in the command's input is wrong; the message says what and how to fix it."""
