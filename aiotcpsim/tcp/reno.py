"""Reno's window growth: slow start and AIMD (RFC 5681; Linux ``tcp_reno_cong_avoid``).

This module owns the one rule of the ``reno`` and ``newreno`` algorithms: the
window doubles per round trip in slow start and grows by one packet per
window of packets acknowledged above ssthresh; a loss halves it
(``tcp_reno_ssthresh``: ``max(cwnd / 2, 2)``).  The two names differ only in
how recovery without SACK treats a partial ACK (:mod:`.recovery`).
"""

from __future__ import annotations

from .cc import CongestionOps

__all__ = ["NewReno", "Reno"]


class Reno(CongestionOps):
    """Linux's ``reno`` congestion-control module."""

    __slots__ = ()

    @property
    def name(self) -> str:
        return "reno"

    def ssthresh_on_loss(self) -> int:
        return max(self.cwnd >> 1, 2)

    def cong_avoid(self, acked: int, now: float) -> None:
        if self.cwnd < self.ssthresh:
            acked = self.slow_start(acked)
            if not acked:
                return
        self.cong_avoid_ai(self.cwnd, acked)


class NewReno(Reno):
    """The same growth under the name ``newreno`` (RFC 6582's partial ACKs)."""

    __slots__ = ()

    @property
    def name(self) -> str:
        return "newreno"
