"""Logging for the workflow scripts of every stage: to the rule's log file and to the console.

What native libraries write straight to the process's standard error (TensorFlow's oneDNN and
absl start-up lines, OpenCV warnings) goes to the job's log file only, so the console shows the
workflow's own progress and errors; Python's own messages (this logger, warnings, tracebacks) still
reach the console.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback


def native_stderr_to(log_path) -> None:
    """Point file descriptor 2 at ``log_path`` (truncated) and keep ``sys.stderr`` on the
    console, so output of C/C++ libraries lands in the log and Python's in both."""
    console = os.dup(2)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
    os.dup2(fd, 2)
    os.close(fd)
    sys.stderr = os.fdopen(console, "w", buffering=1, encoding="utf-8", errors="replace")


def setup(log_path=None, name: str = "mcdetect", append: bool = False) -> logging.Logger:
    logger = logging.getLogger(name)
    logger.setLevel(logging.INFO)
    logger.handlers.clear()
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S")
    handlers = [logging.StreamHandler(sys.stderr)]
    if log_path:
        handlers.append(logging.FileHandler(log_path, mode="a" if append else "w"))
    for h in handlers:
        h.setFormatter(fmt)
        logger.addHandler(h)
    return logger


def run(main, log_path=None, name: str = "mcdetect") -> None:
    """Run ``main(logger)``; a known data problem ends the job with its message, no traceback;
    any other error is written to the log with its traceback and raised."""
    from mcdetect.errors import MCDetectError

    if log_path:
        native_stderr_to(log_path)
    logger = setup(log_path, name, append=bool(log_path))
    try:
        main(logger)
    except MCDetectError as exc:
        logger.error("%s", exc)
        raise SystemExit(1) from None
    except Exception:
        if log_path:
            with open(log_path, "a") as f:
                f.write(traceback.format_exc())
        raise
