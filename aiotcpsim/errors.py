"""Errors the core raises to the application: one place turns an errno into an OSError.

Also the one warning class of the package, :class:`LocalhostWarning`.

``OSError(errno, text)`` builds the PEP 3151 subclass (``ConnectionRefusedError``,
``ConnectionResetError``...), exactly as a failing socket call does.
"""

from __future__ import annotations

import os

__all__ = ["LocalhostWarning", "os_error"]


class LocalhostWarning(UserWarning):
    """A connection from the ``localhost`` host reached a named host while
    faults are set between named hosts: the faults do not apply to it.

    The usual cause is code that forgot to say which host it runs on
    (``with client.current():``, ``aiotcpsim.run(..., host=client)``,
    ``open_network(net, host=client)``, the pytest marker's ``host=``).
    Issued once per network.
    """


def os_error(code: int, text: str | None = None) -> OSError:
    """The OSError (subclass) a kernel socket call would raise for ``code``;
    ``text`` defaults to ``os.strerror(code)``."""
    return OSError(code, text or os.strerror(code))
