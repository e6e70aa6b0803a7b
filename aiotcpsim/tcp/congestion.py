"""Congestion control: how much may be in flight (RFC 5681, RFC 6582).

This module owns the congestion window.  The TCB tells its algorithm four
things -- the handshake completed, an ACK of new data arrived, a duplicate
ACK arrived, the retransmission timer expired -- and reads ``cwnd``.  When an
event calls for a retransmission of the oldest unacknowledged segment (fast
retransmit, a partial ACK in fast recovery) the method returns True and the
TCB sends it: the algorithm never sends.

:class:`CongestionControl` is that interface; :class:`NewReno` (slow start,
congestion avoidance, fast retransmit and NewReno fast recovery, initial
window 10 segments as Linux) is the one algorithm so far.  Sequence numbers
are the TCB's offsets from its ISS.
"""

from __future__ import annotations

__all__ = ["CongestionControl", "NewReno"]


class CongestionControl:
    """The interface between the TCB and a congestion-control algorithm."""

    __slots__ = ("cwnd",)

    def __init__(self) -> None:
        self.cwnd = 0
        """The congestion window in bytes (0 before the handshake completes)."""

    @property
    def in_recovery(self) -> bool:
        """Fast recovery is in progress."""
        raise NotImplementedError

    def on_established(self, smss: int) -> None:
        """The handshake completed: set the initial window."""
        raise NotImplementedError

    def on_ack(self, ack: int, acked: int, snd_max: int, smss: int) -> bool:
        """``acked`` new bytes were acknowledged, up to ``ack``; True: retransmit the head."""
        raise NotImplementedError

    def on_duplicate_ack(self, flight: int, snd_max: int, smss: int) -> bool:
        """A duplicate ACK with ``flight`` bytes outstanding; True: retransmit the head."""
        raise NotImplementedError

    def on_timeout(self, flight: int, smss: int) -> None:
        """The retransmission timer expired with ``flight`` bytes outstanding."""
        raise NotImplementedError

    def snapshot(self) -> dict[str, int | None]:
        """The algorithm's variables by name (the TCB's ``snapshot()``)."""
        return {"cwnd": self.cwnd}


class NewReno(CongestionControl):
    """RFC 5681 with RFC 6582's NewReno modification of fast recovery."""

    __slots__ = ("cwnd_cnt", "dupacks", "recover", "ssthresh")

    def __init__(self) -> None:
        super().__init__()
        self.ssthresh = 1 << 30
        self.dupacks = 0
        self.cwnd_cnt = 0
        """Linux ``snd_cwnd_cnt``: packets acknowledged towards the next
        congestion-avoidance increase."""
        self.recover: int | None = None
        """RFC 6582's ``recover``: SND.MAX when fast recovery began, None outside it."""

    @property
    def in_recovery(self) -> bool:
        return self.recover is not None

    def on_established(self, smss: int) -> None:
        self.cwnd = 10 * smss  # Linux TCP_INIT_CWND (RFC 6928)

    def on_ack(self, ack: int, acked: int, snd_max: int, smss: int) -> bool:
        retransmit = False
        recover = self.recover
        if recover is not None:
            if ack >= recover:
                # Full ACK: leave fast recovery (RFC 6582 section 3.2, step 3).
                self.cwnd = min(self.ssthresh, max(snd_max - ack, smss) + smss)
                self.recover = None
            else:
                # Partial ACK: retransmit the next hole, deflate (RFC 6582 3.2, step 4).
                retransmit = True
                self.cwnd = max(self.cwnd - acked + smss, smss)
        else:
            self._grow(-(-acked // smss), smss)
        self.dupacks = 0
        return retransmit

    def _grow(self, packets: int, smss: int) -> None:
        """Linux counts packets, not bytes (``tcp_slow_start``,
        ``tcp_cong_avoid_ai``): slow start adds one segment per packet
        acknowledged, up to ssthresh; the rest, and every packet in congestion
        avoidance, count towards one segment more per window of packets.  A
        partial segment is one packet; an ACK of ``n`` bytes covers
        ceil(n / SMSS) packets (the send queue keeps no segment boundaries).
        The window grows whether or not it limited the sender (Linux checks
        ``tcp_is_cwnd_limited`` first: not modelled)."""
        cwnd = self.cwnd // smss
        ssthresh = self.ssthresh // smss
        if cwnd < ssthresh:  # slow start
            grown = min(cwnd + packets, ssthresh)
            packets -= grown - cwnd
            cwnd = grown
        if packets > 0:  # congestion avoidance (tcp_cong_avoid_ai with w = cwnd)
            self.cwnd_cnt += packets
            if self.cwnd_cnt >= cwnd:
                delta = self.cwnd_cnt // cwnd
                self.cwnd_cnt -= delta * cwnd
                cwnd += delta
        self.cwnd = cwnd * smss

    def on_duplicate_ack(self, flight: int, snd_max: int, smss: int) -> bool:
        self.dupacks += 1
        if self.dupacks == 3 and self.recover is None:
            # Fast retransmit (RFC 5681 section 3.2 steps 2-3, RFC 6582 3.2 step 2).
            self.ssthresh = max(flight // 2, 2 * smss)
            self.recover = snd_max
            self.cwnd = self.ssthresh + 3 * smss
            self.cwnd_cnt = 0
            return True
        if self.dupacks > 3 and self.recover is not None:
            self.cwnd += smss  # inflate for each further duplicate (step 4)
        return False

    def snapshot(self) -> dict[str, int | None]:
        return {
            "cwnd": self.cwnd,
            "ssthresh": self.ssthresh,
            "dupacks": self.dupacks,
            "cwnd_cnt": self.cwnd_cnt,
            "recover": self.recover,
        }

    def on_timeout(self, flight: int, smss: int) -> None:
        # RFC 5681 section 3.1, (4) and the loss window.
        self.ssthresh = max(flight // 2, 2 * smss)
        self.cwnd = smss
        self.cwnd_cnt = 0
        self.recover = None
        self.dupacks = 0
