"""The congestion-control interface: one small class per algorithm (Linux ``tcp_congestion_ops``).

This module owns the congestion window and slow-start threshold, counted in
packets as Linux counts ``snd_cwnd`` and ``snd_ssthresh``, and the calls an
algorithm answers (Linux ``include/net/tcp.h``, ``net/ipv4/tcp_cong.c``):

=====================  =========================================================
``init``               the algorithm takes over the connection (``init``)
``ssthresh_on_loss``   the new ssthresh on entering Recovery or Loss (``ssthresh``)
``cong_avoid``         an ACK delivered packets outside a window reduction
``set_state``          the loss-recovery state changed (``set_state``)
``tx_start``           sending resumes with nothing in flight (``CA_EVENT_TX_START``)
``pkts_acked``         an ACK with an RTT sample (``pkts_acked``)
``undo_cwnd``          a reduction turned out spurious (``undo_cwnd``)
=====================  =========================================================

The shared helpers are Linux's ``tcp_slow_start`` (one packet per packet
acknowledged, up to ssthresh: packet-counted, not RFC 3465's byte counting)
and ``tcp_cong_avoid_ai`` (one packet per ``w`` packets acknowledged).  The
loss-recovery state machine (:mod:`.recovery`) owns when these are called;
an algorithm never sends.  Times are virtual seconds; algorithms that need
Linux's clocks derive jiffies (HZ = 1000) and microseconds from them.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "CA_DISORDER",
    "CA_LOSS",
    "CA_OPEN",
    "CA_RECOVERY",
    "INFINITE_SSTHRESH",
    "INIT_CWND",
    "CongestionOps",
]

INFINITE_SSTHRESH: Final = 0x7FFFFFFF
"""Linux ``TCP_INFINITE_SSTHRESH``: slow start until the first loss."""
INIT_CWND: Final = 10
"""Linux ``TCP_INIT_CWND`` (RFC 6928): the initial window in packets."""

# Linux enum tcp_ca_state (CWR, for ECN, is not modelled).
CA_OPEN: Final = 0
CA_DISORDER: Final = 1
CA_RECOVERY: Final = 3
CA_LOSS: Final = 4


class CongestionOps:
    """The window and the calls of one congestion-control algorithm."""

    __slots__ = ("cwnd", "cwnd_cnt", "ssthresh")

    def __init__(self) -> None:
        self.cwnd = 0
        """Linux ``snd_cwnd`` in packets (0 before the handshake completes)."""
        self.ssthresh = INFINITE_SSTHRESH
        """Linux ``snd_ssthresh`` in packets."""
        self.cwnd_cnt = 0
        """Linux ``snd_cwnd_cnt``: packets acknowledged towards the next
        congestion-avoidance increase."""

    # -- the interface ------------------------------------------------------------

    @property
    def name(self) -> str:
        """The name ``TCP_CONGESTION`` reports."""
        raise NotImplementedError

    def init(self, now: float, snd_nxt: int) -> None:
        """The algorithm takes over (handshake done, or a ``TCP_CONGESTION``
        switch); ``cwnd`` and ``ssthresh`` are kept, as Linux keeps them."""

    def ssthresh_on_loss(self) -> int:
        """The slow-start threshold after a loss, from the current ``cwnd``."""
        raise NotImplementedError

    def cong_avoid(self, acked: int, now: float) -> None:
        """``acked`` packets were delivered outside a window reduction: grow."""
        raise NotImplementedError

    def set_state(self, state: int, now: float, snd_nxt: int) -> None:
        """The loss-recovery state became ``state`` (a ``CA_*`` value)."""

    def tx_start(self, now: float, idle: float) -> None:
        """Data is sent again after ``idle`` seconds with nothing in flight."""

    def pkts_acked(self, acked: int, rtt: float, now: float, snd_una: int, snd_nxt: int) -> None:
        """An ACK of ``acked`` packets gave the RTT sample ``rtt`` (seconds)."""

    def undo_cwnd(self, prior_cwnd: int) -> int:
        """The window after undoing a spurious reduction (``tcp_reno_undo_cwnd``)."""
        return max(self.cwnd, prior_cwnd)

    # -- Linux's helpers (tcp_cong.c) -------------------------------------------------

    def slow_start(self, acked: int) -> int:
        """``tcp_slow_start``: one packet per packet acknowledged, up to
        ssthresh; returns the packets left over for congestion avoidance."""
        cwnd = min(self.cwnd + acked, self.ssthresh)
        acked -= cwnd - self.cwnd
        self.cwnd = cwnd
        return acked

    def cong_avoid_ai(self, w: int, acked: int) -> None:
        """``tcp_cong_avoid_ai``: one packet more per ``w`` packets acknowledged."""
        if self.cwnd_cnt >= w:
            self.cwnd_cnt = 0
            self.cwnd += 1
        self.cwnd_cnt += acked
        if self.cwnd_cnt >= w:
            delta = self.cwnd_cnt // w
            self.cwnd_cnt -= delta * w
            self.cwnd += delta

    def snapshot(self) -> dict[str, int | None]:
        """The algorithm's variables by name (the TCB's ``snapshot()``)."""
        return {"cwnd": self.cwnd, "ssthresh": self.ssthresh, "cwnd_cnt": self.cwnd_cnt}
