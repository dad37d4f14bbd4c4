"""Pseudonyms, for the dataset stage: keyed, stable ids for images and patients, so that no file
name or patient identifier has to leave the project."""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["pseudonym", "image_id"]


def pseudonym(key: str, value: str, prefix: str) -> str:
    """A stable, keyed pseudonym (HMAC-SHA256, 10 hex digits) for an identifier."""
    digest = hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()
    return f"{prefix}-{digest[:10]}"


def image_id(key: str, source: str) -> str:
    """Pseudonymous image id of a source file (keyed hash of its path relative to the dataset)."""
    return pseudonym(key, source, "img")
