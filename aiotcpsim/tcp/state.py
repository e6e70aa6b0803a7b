"""The TCP states and which steps and verbs apply in each (RFC 9293 section 3.3.2).

This module owns the names of the eleven states and the sets of states a rule
applies to; the transitions themselves live in the receive steps and the user
verbs, and every one of them goes through ``set_state``.

================  ====================================================
set               states, and what is true in them
================  ====================================================
SYNCHRONIZED      a SYN was sent and received: ESTABLISHED, FIN-WAIT-1,
                  FIN-WAIT-2, CLOSE-WAIT, CLOSING, LAST-ACK, TIME-WAIT
RECEIVING         the peer's data is still accepted (RFC 9293 3.10.7.4,
                  seventh step): ESTABLISHED, FIN-WAIT-1, FIN-WAIT-2
SENDING           our data (and FIN) may still go out: ESTABLISHED,
                  CLOSE-WAIT, FIN-WAIT-1, CLOSING, LAST-ACK
WRITABLE          ``send()`` takes data (it waits for the handshake in the
                  first two): SYN-SENT, SYN-RECEIVED, ESTABLISHED, CLOSE-WAIT
SEGMENT_STEPS     a segment goes through the synchronized receive steps
                  (RFC 9293 3.10.7.4): SYN-RECEIVED and the synchronized
                  states but TIME-WAIT (which has its own, as Linux)
ABORT_RESETS      an abort sends a RST (Linux ``tcp_need_reset``):
                  ESTABLISHED, CLOSE-WAIT, FIN-WAIT-1, FIN-WAIT-2,
                  SYN-RECEIVED
================  ====================================================

SYN-SENT and TIME-WAIT have receive steps of their own (RFC 9293 3.10.7.3;
Linux ``tcp_timewait_state_process``); CLOSED and LISTEN ignore segments (the
host answers for them).

The user verbs in each state (RFC 9293 3.10; the Connection's methods):

=============  ======================  ==========================  ===================
state          ``send``                ``shutdown`` / ``close``    ``abort``
=============  ======================  ==========================  ===================
CLOSED         EPIPE (or the error)    ENOTCONN / nothing          nothing
LISTEN         EPIPE                   ENOTCONN / nothing          CLOSED, no RST
SYN-SENT       queued until ESTAB.     ENOTCONN / CLOSED           CLOSED, no RST
SYN-RECEIVED   queued until ESTAB.     FIN after the handshake     RST
ESTABLISHED    sent                    FIN: FIN-WAIT-1             RST
CLOSE-WAIT     sent                    FIN: LAST-ACK               RST
FIN-WAIT-1/2   EPIPE                   nothing more                RST
CLOSING,       EPIPE                   nothing more                CLOSED, no RST
LAST-ACK,
TIME-WAIT
=============  ======================  ==========================  ===================

``close`` with unread data resets instead (RFC 9293 3.10.4, RFC 2525 2.17),
and in FIN-WAIT-2 it starts the orphan timer (``fin_timeout``);
``recv`` returns queued data in every state, then ``b""`` once the FIN or
the end came.
"""

from __future__ import annotations

import enum
from typing import Final

__all__ = [
    "ABORT_RESETS",
    "CLOSED",
    "CLOSE_WAIT",
    "CLOSING",
    "ESTABLISHED",
    "FIN_WAIT_1",
    "FIN_WAIT_2",
    "LAST_ACK",
    "LISTEN",
    "RECEIVING",
    "SEGMENT_STEPS",
    "SENDING",
    "SYNCHRONIZED",
    "SYN_RECEIVED",
    "SYN_SENT",
    "TIME_WAIT",
    "WRITABLE",
    "State",
]


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

    # Identity hashing in C: the hot paths test states against frozensets, and
    # Enum's own __hash__ (hash of the name) is a Python-level call.  Members
    # are singletons compared by identity, so this is equivalent.
    __hash__ = object.__hash__

    def __str__(self) -> str:
        return self.value


CLOSED: Final[State] = State.CLOSED
LISTEN: Final[State] = State.LISTEN
SYN_SENT: Final[State] = State.SYN_SENT
SYN_RECEIVED: Final[State] = State.SYN_RECEIVED
ESTABLISHED: Final[State] = State.ESTABLISHED
FIN_WAIT_1: Final[State] = State.FIN_WAIT_1
FIN_WAIT_2: Final[State] = State.FIN_WAIT_2
CLOSE_WAIT: Final[State] = State.CLOSE_WAIT
CLOSING: Final[State] = State.CLOSING
LAST_ACK: Final[State] = State.LAST_ACK
TIME_WAIT: Final[State] = State.TIME_WAIT

SYNCHRONIZED: Final = frozenset(
    {ESTABLISHED, FIN_WAIT_1, FIN_WAIT_2, CLOSE_WAIT, CLOSING, LAST_ACK, TIME_WAIT}
)
RECEIVING: Final = frozenset({ESTABLISHED, FIN_WAIT_1, FIN_WAIT_2})
SENDING: Final = frozenset({ESTABLISHED, CLOSE_WAIT, FIN_WAIT_1, CLOSING, LAST_ACK})
WRITABLE: Final = frozenset({SYN_SENT, SYN_RECEIVED, ESTABLISHED, CLOSE_WAIT})
SEGMENT_STEPS: Final = frozenset(
    {SYN_RECEIVED, ESTABLISHED, FIN_WAIT_1, FIN_WAIT_2, CLOSE_WAIT, CLOSING, LAST_ACK}
)
ABORT_RESETS: Final = frozenset({ESTABLISHED, CLOSE_WAIT, FIN_WAIT_1, FIN_WAIT_2, SYN_RECEIVED})
