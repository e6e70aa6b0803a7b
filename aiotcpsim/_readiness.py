"""A real file descriptor whose readability mirrors a simulated socket's.

Both adapters hand it out as the simulated socket's ``fileno()``: libraries
that poll a connection's descriptor to see whether the peer closed it
(httpcore does, before reusing a pooled connection) then see what a kernel
socket would show.  No asyncio and no trio here.
"""

from __future__ import annotations

import os
import socket

__all__ = ["ReadinessFd"]


class ReadinessFd:
    """An eventfd (a socket pair where there is none) that is readable exactly
    while :meth:`update` last said so."""

    def __init__(self) -> None:
        self._set = False
        self._pair: tuple[socket.socket, socket.socket] | None = None
        if hasattr(os, "eventfd"):
            self.fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        else:  # pragma: no cover - platforms without eventfd
            self._pair = socket.socketpair()
            for s in self._pair:
                s.setblocking(False)
            self.fd = self._pair[0].fileno()

    def update(self, readable: bool) -> None:
        if readable == self._set:
            return
        self._set = readable
        if self._pair is None:
            if readable:
                os.eventfd_write(self.fd, 1)
            else:
                os.eventfd_read(self.fd)
        elif readable:  # pragma: no cover
            self._pair[1].send(b"\0")
        else:  # pragma: no cover
            self._pair[0].recv(16)

    def close(self) -> None:
        if self._pair is None:
            if self.fd >= 0:
                os.close(self.fd)
        else:  # pragma: no cover
            for s in self._pair:
                s.close()
        self.fd = -1
