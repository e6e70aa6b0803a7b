"""The SACK scoreboard: every segment sent and not yet acknowledged, and what is known of it.

This module owns the record of transmitted segments of a connection that
negotiated SACK (Linux keeps it on the skbs of its retransmission queue,
``TCP_SKB_CB(skb)->sacked``): per segment its start and end offsets, its
last transmit time and order and its flags -- SACKED (a SACK block covered it), LOST
(marked lost, to be resent), RETRANS (a retransmission is in flight),
EVER_RETRANS.  Five parallel lists and a head index keep the cost at five
list appends per segment sent; acknowledged entries are deleted in batches,
as the send buffer does.  Segments are kept in transmission order of their
first sending, which is sequence order.

"Sent after" is decided by the transmission order, a counter stamped on
every (re)transmission: Linux compares nanosecond transmit times
(``tcp_rack_sent_after``) and falls back to sequence numbers only for equal
stamps, but on a virtual clock a whole flight leaves at one instant, and a
retransmission sent after new data in the same instant would compare as
sent before it by sequence -- and be marked lost again when that data's
SACK arrives.

It also owns RACK's loss detection (RFC 8985 section 6.2; Linux
``tcp_recovery.c``: ``tcp_rack_advance``, ``tcp_rack_detect_loss``,
``tcp_rack_reo_wnd``): the most recently sent segment known delivered gives
``rack_time``/``rack_end``, the latest delivery (of any segment) ``rack_rtt``;
a segment sent before RACK's is lost once ``rack_rtt + reo_wnd`` has passed
since its last transmission.  The
reordering window is ``reo_wnd_steps`` times min_rtt / 4, capped at SRTT; 0
while no reordering was seen and at least ``tcp_reordering`` segments are
SACKed or recovery is under way (unless ``tcp_recovery`` 0x4).  Reordering is
seen when a segment never retransmitted is delivered after a later one, or
a D-SACK reports a retransmission needless.  The window adapts (RFC 8985
section 6.2 step 4; Linux ``tcp_rack_update_reo_wnd``): a D-SACK, at most
once per round trip (until SND.UNA passes what was sent when the window last
grew), adds a step and keeps the window for ``TCP_RACK_RECOVERY_THRESH``
(16) recoveries; recoveries that end without an undo count down, and the
window goes back to one step when they are used up.  ``tcp_recovery`` 0x2
keeps it static (one step).

The counts (``sacked``, ``lost``, ``retrans``) are Linux's ``sacked_out``,
``lost_out``, ``retrans_out`` in packets (one per segment).
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Final

__all__ = ["EVER_RETRANS", "LOST", "RETRANS", "SACKED", "Scoreboard"]

SACKED: Final = 1
LOST: Final = 2
RETRANS: Final = 4
EVER_RETRANS: Final = 8

_BATCH: Final = 64

RECOVERY_THRESH: Final = 16
"""``TCP_RACK_RECOVERY_THRESH``: recoveries a grown reordering window lasts."""


class Scoreboard:
    """The segments in flight of one SACK connection, and RACK's state."""

    __slots__ = (
        "dsack_round",
        "dsack_seen",
        "ends",
        "fack",
        "flags",
        "head",
        "lost",
        "min_rtt",
        "order",
        "orig_end",
        "rack_end",
        "rack_order",
        "rack_rtt",
        "rack_time",
        "reo_wnd_persist",
        "reo_wnd_steps",
        "reord",
        "retrans",
        "sacked",
        "sent_at",
        "sent_order",
        "starts",
    )

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.sent_at: list[float] = []
        self.sent_order: list[int] = []
        self.flags: list[int] = []
        self.head = 0
        self.sacked = 0
        self.lost = 0
        self.retrans = 0
        self.order = 0
        """Transmissions so far: the next one's stamp."""
        self.orig_end = -1
        """The lowest end of the segments never resent that :meth:`clean` or
        :meth:`tag` delivered since the owner set -1 (Linux's
        ``FLAG_ORIG_SACK_ACKED`` when at or below ``high_seq``)."""
        self.rack_time = -1.0
        """When the most recently sent delivered segment was (last) sent."""
        self.rack_order = -1
        """That segment's transmission stamp."""
        self.rack_end = 0
        self.rack_rtt = 0.0
        self.min_rtt = -1.0
        """The smallest RTT RACK measured (Linux keeps a 5-minute windowed minimum)."""
        self.reord = False
        """Reordering was seen (a segment delivered after one sent later, or a
        D-SACK of a retransmission: Linux ``reord_seen``)."""
        self.fack = 0
        """The highest end offset SACKed or acknowledged (``tcp_highest_sack_seq``)."""
        self.reo_wnd_steps = 1
        """The reordering window in quarters of min_rtt (``rack.reo_wnd_steps``)."""
        self.reo_wnd_persist = 0
        """Recoveries left before the window shrinks (``rack.reo_wnd_persist``)."""
        self.dsack_seen = False
        """A D-SACK arrived that the window has not answered yet."""
        self.dsack_round = -1
        """SND.MAX when the window last grew, until SND.UNA passes it (RFC 8985
        ``RACK.dsack_round``; Linux compares delivery counts: ``last_delivered``)."""

    @property
    def packets_out(self) -> int:
        """Segments sent and not cumulatively acknowledged."""
        return len(self.starts) - self.head

    def add(self, start: int, end: int, now: float) -> None:
        """A new segment ``[start, end)`` leaves for the first time."""
        self.starts.append(start)
        self.ends.append(end)
        self.sent_at.append(now)
        self.sent_order.append(self.order)
        self.order += 1
        self.flags.append(0)

    def _advance(self, i: int, now: float) -> None:
        """``tcp_rack_advance``: segment ``i`` was delivered."""
        sent = self.sent_at[i]
        rtt = now - sent
        if self.flags[i] & (RETRANS | EVER_RETRANS) and rtt < self.min_rtt:
            return  # ambiguous: the original may have been delivered (TCPCB_RETRANS)
        if self.min_rtt < 0 or rtt < self.min_rtt:
            self.min_rtt = rtt
        self.rack_rtt = rtt  # the latest delivery's RTT, whichever segment is RACK's
        order = self.sent_order[i]
        if order > self.rack_order:
            self.rack_order = order
            self.rack_time = sent
            self.rack_end = self.ends[i]

    def _forget(self, flags: int) -> None:
        if flags & SACKED:
            self.sacked -= 1
        if flags & LOST:
            self.lost -= 1
        if flags & RETRANS:
            self.retrans -= 1

    def clean(self, una: int, now: float) -> int:
        """The cumulative ACK reached ``una``: drop the acknowledged
        segments; returns how many were not SACKed before (delivered now)."""
        head = self.head
        ends = self.ends
        n = len(ends)
        delivered = 0
        while head < n and ends[head] <= una:
            flags = self.flags[head]
            if not flags & SACKED:
                delivered += 1
                self._advance(head, now)
                if not flags & EVER_RETRANS and self.orig_end < 0:
                    self.orig_end = ends[head]
                if head + 1 < n and self.flags[head + 1] & SACKED and not flags & EVER_RETRANS:
                    self.reord = True  # delivered after a later segment: reordering
            self._forget(flags)
            head += 1
        self.fack = max(self.fack, una)
        if head >= _BATCH and head * 2 >= n:
            del self.starts[:head], self.ends[:head], self.flags[:head]
            del self.sent_at[:head], self.sent_order[:head]
            head = 0
        self.head = head
        return delivered

    def tag(self, blocks: list[tuple[int, int]], now: float) -> int:
        """``tcp_sacktag_write_queue``: mark the segments the SACK blocks
        (offsets) cover; returns how many were newly SACKed."""
        newly = 0
        starts = self.starts
        ends = self.ends
        flags = self.flags
        n = len(starts)
        prior_fack = fack = self.fack
        for left, right in blocks:
            i = bisect_left(starts, left, self.head)
            while i < n and ends[i] <= right:
                f = flags[i]
                if not f & SACKED:
                    newly += 1
                    if not f & EVER_RETRANS:
                        if starts[i] < prior_fack:
                            self.reord = True  # a hole filled below the highest SACK
                        if self.orig_end < 0 or ends[i] < self.orig_end:
                            self.orig_end = ends[i]
                    self._advance(i, now)
                    self._forget(f & (LOST | RETRANS))
                    flags[i] = (f & ~(LOST | RETRANS)) | SACKED
                    self.sacked += 1
                i += 1
            fack = max(fack, right)
        self.fack = fack
        return newly

    def dsacked(self, left: int, right: int) -> int:
        """A D-SACK of ``[left, right)`` inside the window
        (``tcp_sacktag_one`` with ``dup_sack``): how many retransmitted
        segments it covers; a retransmission it reports is no longer in flight."""
        starts = self.starts
        ends = self.ends
        flags = self.flags
        n = 0
        i = bisect_left(starts, left, self.head)
        while i < len(starts) and ends[i] <= right:
            f = flags[i]
            if f & EVER_RETRANS:
                n += 1
                if f & SACKED and f & RETRANS:
                    flags[i] = f & ~RETRANS
                    self.retrans -= 1
            i += 1
        return n

    def on_dsack(self) -> None:
        """A D-SACK showed a retransmission needless: reordering was seen and
        the window may grow (Linux ``tcp_dsack_seen``: ``rack.dsack_seen``)."""
        self.reord = True
        self.dsack_seen = True

    def update_reo_wnd(self, una: int, snd_max: int, mask: int) -> None:
        """``tcp_rack_update_reo_wnd`` (RFC 8985 section 6.2 step 4), after
        each ACK: a D-SACK adds a step, once per round trip."""
        if mask & 0x2:
            self.dsack_seen = False
            return
        if self.dsack_round >= 0 and una >= self.dsack_round:
            self.dsack_round = -1
        if self.dsack_seen and self.dsack_round < 0:
            self.reo_wnd_steps = min(self.reo_wnd_steps + 1, 0xFF)
            self.dsack_round = snd_max
            self.reo_wnd_persist = RECOVERY_THRESH
        elif not self.reo_wnd_persist:
            self.reo_wnd_steps = 1
        self.dsack_seen = False

    def reo_wnd(self, recovering: bool, reordering: int, mask: int, srtt: float) -> float:
        """``tcp_rack_reo_wnd``."""
        if not self.reord:
            if recovering:
                return 0.0
            if self.sacked >= reordering and not mask & 0x4:
                return 0.0
        return min(max(self.min_rtt, 0.0) / 4 * self.reo_wnd_steps, srtt)

    def detect_loss(self, now: float, reo_wnd: float) -> tuple[int, float]:
        """``tcp_rack_detect_loss``: mark lost every segment sent before the
        RACK segment whose time is up; returns (newly lost, the time until
        the next one would be, or 0)."""
        rack_order = self.rack_order
        if rack_order < 0:
            return 0, 0.0
        newly = 0
        timeout = 0.0
        flags = self.flags
        sent_order = self.sent_order
        limit = self.rack_rtt + reo_wnd
        for i in range(self.head, len(flags)):
            f = flags[i]
            if sent_order[i] >= rack_order:  # sent after the RACK segment, or it
                if f & EVER_RETRANS:
                    continue  # resent late; segments after it may be older
                break  # first sent in order: every later one was sent after it
            if f & SACKED or (f & LOST and not f & RETRANS):
                continue
            remaining = limit - (now - self.sent_at[i])
            if remaining <= 1e-9:
                newly += self.mark_lost(i)
            elif remaining > timeout:
                timeout = remaining
        return newly, timeout

    def mark_lost(self, i: int) -> int:
        """``tcp_mark_skb_lost``: 1 when segment ``i`` is newly marked lost."""
        f = self.flags[i]
        if f & SACKED:
            return 0
        if f & RETRANS:
            self.retrans -= 1
            f &= ~RETRANS
        if f & LOST:
            self.flags[i] = f
            return 0
        self.flags[i] = f | LOST
        self.lost += 1
        return 1

    def mark_all_lost(self) -> None:
        """The retransmission timer expired (``tcp_timeout_mark_lost``):
        every segment not SACKed is lost."""
        for i in range(self.head, len(self.flags)):
            self.mark_lost(i)

    def unmark_lost(self) -> None:
        """A reduction was undone (``tcp_undo_cwnd_reduction`` with
        ``unmark_loss``): no segment is lost any more."""
        flags = self.flags
        for i in range(self.head, len(flags)):
            flags[i] &= ~LOST
        self.lost = 0

    def any_retrans_done(self) -> bool:
        """``tcp_any_retrans_done``: a retransmission is in flight, or the
        head was ever resent."""
        return bool(self.retrans) or (
            self.head < len(self.flags) and bool(self.flags[self.head] & EVER_RETRANS)
        )

    def next_lost(self) -> int:
        """The first segment marked lost and not resent, or -1 (at once when
        none is marked: the common case, asked on every ACK)."""
        if not self.lost:
            return -1
        flags = self.flags
        for i in range(self.head, len(flags)):
            if flags[i] & (LOST | RETRANS) == LOST:
                return i
        return -1

    def retransmitted(self, i: int, now: float) -> None:
        """Segment ``i`` was sent again."""
        self.flags[i] |= RETRANS | EVER_RETRANS
        self.sent_at[i] = now
        self.sent_order[i] = self.order
        self.order += 1
        self.retrans += 1

    def last(self) -> int:
        """The index of the last segment sent, or -1."""
        return len(self.starts) - 1 if len(self.starts) > self.head else -1
