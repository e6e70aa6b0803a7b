"""When a simulated socket is readable or writable, and the descriptor that shows it.

Rule owned here: what ``poll()`` would report for a simulated connection is
decided in this module and nowhere else -- :func:`poll_readable` (POLLIN,
POLLHUP, POLLERR), :func:`recv_answers` (a read returns at once, which is
when a transport reads again), :func:`writable` (POLLOUT) -- and
:class:`ReadinessFd` is the real descriptor both adapters hand out as the
simulated socket's ``fileno()``: libraries that poll a connection's
descriptor to see whether the peer closed it (httpcore does, before reusing a
pooled connection) then see what a kernel socket would show.  No asyncio and
no trio here.
"""

from __future__ import annotations

import os
import socket
from typing import TYPE_CHECKING

from . import State

if TYPE_CHECKING:
    from . import Connection

__all__ = ["ReadinessFd", "poll_readable", "recv_answers", "writable"]

# States in which recv() answers at once (b"" or an error), data or not.
_NOT_WAITING = frozenset({State.CLOSED, State.TIME_WAIT, State.LISTEN})
# States in which send() may block on a full send buffer.
_SENDING = frozenset({State.ESTABLISHED, State.CLOSE_WAIT})


def poll_readable(conn: Connection) -> bool:
    """What ``poll()`` says of a kernel socket: POLLIN (or POLLHUP/POLLERR) --
    data to read, end of stream, an error, or the connection is gone."""
    return bool(
        conn.readable_bytes > 0
        or conn.eof_received
        or conn.error is not None
        or conn.state is State.CLOSED
    )


def recv_answers(conn: Connection) -> bool:
    """Whether ``conn.recv`` may return something now (data, EOF, an error).

    Errs on the side of True: a read that finds nothing costs one callback,
    a missed one would lose the wake-up.
    """
    return poll_readable(conn) or conn.pending_error is not None or conn.state in _NOT_WAITING


def writable(conn: Connection) -> bool:
    """POLLOUT: the send buffer has room, or a send would fail at once."""
    return bool(conn.send_buffer_free > 0 or conn.error is not None or conn.state not in _SENDING)


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
