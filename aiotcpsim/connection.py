"""One TCP connection (a TCB): the RFC 9293 state machine, sans-I/O.

CONTRACT SKELETON -- to be implemented.  Everything that affects state
transitions lives in this module.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .config import TcpConfig
    from .segment import Segment

__all__ = ["Connection", "ConnectionOwner", "ConnectionUser", "State"]


class State(enum.Enum):
    """The eleven TCP states of RFC 9293 section 3.3.2; ``str()`` gives the RFC spelling."""

    CLOSED = "CLOSED"
    LISTEN = "LISTEN"
    SYN_SENT = "SYN-SENT"
    SYN_RECEIVED = "SYN-RECEIVED"
    ESTABLISHED = "ESTABLISHED"
    FIN_WAIT_1 = "FIN-WAIT-1"
    FIN_WAIT_2 = "FIN-WAIT-2"
    CLOSE_WAIT = "CLOSE-WAIT"
    CLOSING = "CLOSING"
    LAST_ACK = "LAST-ACK"
    TIME_WAIT = "TIME-WAIT"

    def __str__(self) -> str:
        return self.value


class ConnectionOwner(Protocol):
    """What a :class:`Connection` needs from the stack that holds it (the host).

    All calls are made synchronously from inside a Connection method.
    """

    def transmit(self, segment: Segment, *, retransmission: bool = False) -> None:
        """Put ``segment`` on the wire.  Never delivers synchronously."""

    def schedule(self, conn: Connection, when: float) -> None:
        """Call ``conn.on_timer(now)`` at virtual time ``when`` (or later).

        A wake-up may be early or redundant; ``on_timer`` re-checks its own
        deadlines.  The connection calls this only when its earliest deadline
        moves earlier than the last one it asked for.
        """

    def state_changed(self, conn: Connection, old: State, new: State, now: float) -> None:
        """Record a transition (trace, log); release a 4-tuple on CLOSED."""

    def admit(self, conn: Connection) -> bool:
        """A passive connection in SYN-RECEIVED got a valid ACK: is there room
        in the listener's accept queue?  False: the ACK is dropped, as Linux
        does on a full accept queue (``tcp_abort_on_overflow`` = 0)."""

    def note(self, conn: Connection, text: str, now: float) -> None:
        """Record a notable event in the trace (challenge ACK, timer restart...)."""


class ConnectionUser(Protocol):
    """The application side of a connection (an adapter's transport or socket).

    Like ``select()``: a pending error makes a connection both readable and
    writable.
    """

    def tcp_connected(self, conn: Connection) -> None:
        """The handshake completed."""

    def tcp_readable(self, conn: Connection) -> None:
        """``recv()`` has something new: data, end of stream, or an error."""

    def tcp_writable(self, conn: Connection) -> None:
        """``send()`` can take more bytes, or would now raise."""

    def tcp_closed(self, conn: Connection) -> None:
        """The connection reached CLOSED."""


class Connection:
    """Placeholder; see the module docstring."""

    config: TcpConfig
    state: State
