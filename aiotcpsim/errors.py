"""Errors the core raises to the application: one place turns an errno into an OSError.

``OSError(errno, text)`` builds the PEP 3151 subclass (``ConnectionRefusedError``,
``ConnectionResetError``...), exactly as a failing socket call does.
"""

from __future__ import annotations

import os

__all__ = ["os_error"]


def os_error(code: int, text: str | None = None) -> OSError:
    """The OSError (subclass) a kernel socket call would raise for ``code``;
    ``text`` defaults to ``os.strerror(code)``."""
    return OSError(code, text or os.strerror(code))
