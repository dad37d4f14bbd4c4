"""Logging for workflow scripts: to the rule's log file and to stderr."""

from __future__ import annotations

import logging
import sys


def setup(log_path=None, name: str = "mcdetect") -> logging.Logger:
    logger = logging.getLogger(name)
    logger.setLevel(logging.INFO)
    logger.handlers.clear()
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S")
    handlers = [logging.StreamHandler(sys.stderr)]
    if log_path:
        handlers.append(logging.FileHandler(log_path, mode="w"))
    for h in handlers:
        h.setFormatter(fmt)
        logger.addHandler(h)
    return logger


def run(main, log_path=None, name: str = "mcdetect") -> None:
    """Run ``main(logger)``; a known data problem ends the job with its message, no traceback."""
    from mcdetect.data.dicom import MammogramError
    from mcdetect.data.layout import LayoutError

    logger = setup(log_path, name)
    try:
        main(logger)
    except (LayoutError, MammogramError) as exc:
        logger.error("%s", exc)
        raise SystemExit(1) from None
