"""The connection's timers and its one next deadline (smoltcp's ``poll_at``).

This module owns the rule that a connection has seven deadlines, each an
absolute virtual time or None when off, and that the earliest of them is
computed in one place, :meth:`Timers.next_deadline`:

==============  ===============================================================
retransmission  RFC 6298: the oldest unacknowledged segment (or SYN) is resent
delayed ACK     RFC 9293 3.8.6.3: an ACK held back for data it could ride on
persist         RFC 9293 3.8.6.1: a zero-window probe is due
keep-alive      RFC 9293 3.8.4: the connection was idle; a probe is due
linger          TIME-WAIT ends (``time_wait``), or an orphaned FIN-WAIT-2
                gives up (``tcp_fin_timeout``)
RACK reorder    RFC 8985 6.2: the reordering window of a SACKed hole runs out
loss probe      RFC 8985 7: no ACK for two RTTs after the tail; a probe is due
==============  ===============================================================

It also keeps :attr:`Timers.scheduled`, the wake-up last asked of the owner,
so that the TCB asks again only when its deadline moves earlier.
"""

from __future__ import annotations

__all__ = ["Timers"]


class Timers:
    """The seven deadlines of one connection."""

    __slots__ = (
        "ack_at",
        "keepalive_at",
        "linger_at",
        "persist_at",
        "probe_at",
        "rack_at",
        "rtx_at",
        "scheduled",
    )

    def __init__(self) -> None:
        self.rtx_at: float | None = None
        self.ack_at: float | None = None
        self.persist_at: float | None = None
        self.keepalive_at: float | None = None
        self.linger_at: float | None = None
        self.rack_at: float | None = None
        self.probe_at: float | None = None
        self.scheduled: float | None = None
        """The wake-up last requested from the owner, if still pending."""

    def next_deadline(self) -> float | None:
        """The earliest deadline, or None when every timer is off."""
        best = self.rtx_at
        t = self.ack_at
        if t is not None and (best is None or t < best):
            best = t
        t = self.persist_at
        if t is not None and (best is None or t < best):
            best = t
        t = self.keepalive_at
        if t is not None and (best is None or t < best):
            best = t
        t = self.linger_at
        if t is not None and (best is None or t < best):
            best = t
        t = self.rack_at
        if t is not None and (best is None or t < best):
            best = t
        t = self.probe_at
        if t is not None and (best is None or t < best):
            best = t
        return best

    def snapshot(self) -> dict[str, float]:
        """The running timers and their deadlines (the TCB's ``snapshot()``);
        :attr:`scheduled` is left out."""
        named = (
            ("retransmission", self.rtx_at),
            ("delayed_ack", self.ack_at),
            ("persist", self.persist_at),
            ("keepalive", self.keepalive_at),
            ("linger", self.linger_at),
            ("rack", self.rack_at),
            ("loss_probe", self.probe_at),
        )
        return {name: when for name, when in named if when is not None}

    def cancel_all(self) -> None:
        """Stop every timer (the connection reached CLOSED, or TIME-WAIT,
        which then sets its linger timer)."""
        self.rtx_at = self.ack_at = self.persist_at = self.keepalive_at = self.linger_at = None
        self.rack_at = self.probe_at = None

    def reschedule(self) -> float | None:
        """The time to ask the owner to wake us, if the next deadline moved
        earlier than the wake-up already requested; else None."""
        when = self.next_deadline()
        if when is None:
            return None
        scheduled = self.scheduled
        if scheduled is None or when < scheduled:
            self.scheduled = when
            return when
        return None

    def wake_time(self, when: float) -> float | None:
        """Is the wake-up requested for ``when`` still wanted?  ``when`` if so,
        a later time to move it to, or None to drop it."""
        if self.scheduled != when:
            return None  # superseded by an earlier request
        deadline = self.next_deadline()
        if deadline is None:
            self.scheduled = None
            return None
        if deadline > when:
            self.scheduled = deadline
            return deadline
        return when
