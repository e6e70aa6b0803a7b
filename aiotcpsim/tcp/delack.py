"""Delayed ACKs as Linux does them (``icsk_ack``; RFC 9293 3.8.6.3, RFC 1122 4.2.3.2).

This module owns when an ACK for received data goes out:

* quick-ACK mode: the first data, data after a silence longer than the RTO,
  and out-of-order or duplicate data grant a budget of immediate ACKs
  (``tcp_incr_quickack``: about half a window's worth of segments, at least
  2, at most ``quickack_segments``); every ACK sent uses one up;
* otherwise an ACK is due at once when more than one receive MSS is
  unacknowledged, and else after the ATO (``delack_min``, 40 ms, growing when
  the delayed ACK keeps firing, bounded by the RTT: ``tcp_send_delayed_ack``);
* interactive ("ping-pong") mode: when we answer data promptly with data
  the ACK is delayed to ride on our reply, and quick ACKs are not taken.

The delayed-ACK deadline itself is one of the connection's timers
(:class:`~aiotcpsim.tcp.timers.Timers`); this engine says when it should be.
"""

from __future__ import annotations

from ..config import TcpConfig

__all__ = ["DelayedAck"]


class DelayedAck:
    """Linux's delayed-ACK state of one connection."""

    __slots__ = ("ack_now", "ato", "config", "lrcvtime", "pingpong", "quick", "rcv_mss", "unacked")

    def __init__(self, config: TcpConfig) -> None:
        self.config = config
        self.quick = 0
        """Quick ACKs left."""
        self.ato = 0.0
        """The ACK timeout; 0 until the first data arrives."""
        self.lrcvtime = 0.0
        """When data last arrived."""
        self.rcv_mss = 0
        """The estimate of the peer's segment size (``icsk_ack.rcv_mss``)."""
        self.pingpong = False
        """Interactive mode."""
        self.unacked = 0
        """Bytes received since the last ACK sent."""
        self.ack_now = False
        """An ACK is due at the end of the current event."""

    def snapshot(self) -> dict[str, float | int | bool]:
        """The engine's variables by name (the TCB's ``snapshot()``)."""
        return {
            "quick": self.quick,
            "ato": self.ato,
            "lrcvtime": self.lrcvtime,
            "rcv_mss": self.rcv_mss,
            "pingpong": self.pingpong,
            "unacked": self.unacked,
            "ack_now": self.ack_now,
        }

    def on_established(self, rcv_mss: int, now: float) -> None:
        """``tcp_initialize_rcv_mss``: a guess until segments are measured."""
        self.rcv_mss = rcv_mss
        self.lrcvtime = now

    def incr_quickack(self, window: int) -> None:
        """Linux ``tcp_incr_quickack``: a budget of quick ACKs, about half a
        receive window's worth of segments, at least 2, at most ``quickack_segments``."""
        quickacks = window // (2 * self.rcv_mss) or 2
        quickacks = min(quickacks, self.config.quickack_segments)
        if quickacks > self.quick:
            self.quick = quickacks

    def enter_quickack(self, window: int) -> None:
        """Linux ``tcp_enter_quickack_mode`` (duplicate or out-of-order data)."""
        if self.rcv_mss:
            self.incr_quickack(window)
        self.pingpong = False
        self.ato = self.config.delack_min

    def on_data(self, plen: int, mss: int, window: int, rto: float, now: float) -> None:
        """``tcp_event_data_recv``: ``plen`` in-order bytes arrived while
        ``window`` bytes of window were open."""
        if plen >= self.rcv_mss:
            self.rcv_mss = min(plen, mss)
        if not self.ato:
            self.incr_quickack(window)  # the first data: quick-ACK mode begins
            self.ato = self.config.delack_min
        elif now - self.lrcvtime > rto:
            self.incr_quickack(window)  # a long silence: ACK quickly again
        self.lrcvtime = now

    def ack_due(self, filled_hole: bool) -> bool:
        """``__tcp_ack_snd_check``: ACK at once after new data?  More than one
        full segment unacknowledged, quick-ACK mode (not interactive), or a
        hole just filled."""
        return filled_hole or self.unacked > self.rcv_mss or (self.quick > 0 and not self.pingpong)

    def timeout(self, srtt: float | None) -> float:
        """Linux ``tcp_send_delayed_ack``: the ATO, bounded by the RTT once it grew."""
        ato = self.ato
        config = self.config
        if ato > config.delack_min:
            max_ato = config.delack_max if self.pingpong else 0.5
            if srtt is not None:
                max_ato = min(max_ato, max(srtt, config.delack_min))
            ato = min(ato, max_ato)
        return ato

    def on_timer(self, rto: float) -> None:
        """``tcp_delack_timer_handler``: the delayed ACK fired.  Leave
        interactive mode, or else the ACK came too late: inflate the ATO."""
        if self.pingpong:
            self.pingpong = False
            self.ato = self.config.delack_min
        else:
            self.ato = min(2 * self.ato, rto)

    def on_ack_sent(self) -> None:
        """``tcp_event_ack_sent`` and ``tcp_dec_quickack_mode``: every ACK
        sent uses up a quick ACK and acknowledges all data received."""
        self.ack_now = False
        if self.quick:
            self.quick -= 1
            if not self.quick:
                self.ato = self.config.delack_min
        self.unacked = 0

    def on_data_sent(self, now: float) -> None:
        """``tcp_event_data_sent``: data answered within the ATO of the last
        data received means an interactive exchange."""
        if now - self.lrcvtime < self.ato:
            self.pingpong = True
