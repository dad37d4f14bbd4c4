"""The one base class of the errors that a user's data or configuration causes (workflow stage:
all). A job ends on one of them with its message and no traceback (``mcdetect.logs.run``)."""

from __future__ import annotations

__all__ = ["MCDetectError"]


class MCDetectError(Exception):
    """A problem with the input data or the configuration; its message names the file or key."""
