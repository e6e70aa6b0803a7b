"""The RTT estimator and the retransmission timeout (RFC 6298 with Linux's floor).

This module owns how the RTO is computed from RTT samples and how it backs off:

* a sample updates SRTT and RTTVAR as RFC 6298 section 2 says (alpha 1/8,
  beta 1/4); the first sample sets SRTT = R, RTTVAR = R/2;
* RTO = SRTT + max(4 * RTTVAR, rto_min) (Linux's floor, where RFC 6298 adds
  K * RTTVAR and floors the sum at 1 s), at least ``rto_min``, at most
  ``rto_max`` (RFC 6298 (2.4), (2.5));
* each timeout doubles the RTO up to ``rto_max`` (RFC 6298 (5.5)); an ACK of
  new data ends the backoff and recomputes it from the estimate (5.7);
* which segment is timed, and Karn's rule, stay with the sender: it calls
  :meth:`RttEstimator.sample` only for segments never retransmitted.

:func:`model_timeout` is Linux's ``tcp_model_timeout``: how long a number of
backoffs takes, the budget of ``tcp_retries2`` and ``tcp_orphan_retries``.
"""

from __future__ import annotations

from ..config import TcpConfig

__all__ = ["RttEstimator", "model_timeout"]


class RttEstimator:
    """SRTT, RTTVAR and the current RTO of one connection, and its backoff count."""

    __slots__ = ("backoff", "config", "rto", "rttvar", "srtt")

    def __init__(self, config: TcpConfig) -> None:
        self.config = config
        self.rto = config.rto_initial
        """The current retransmission timeout, backoff included (RFC 6298 (2.1))."""
        self.srtt: float | None = None
        """SRTT, None until the first sample."""
        self.rttvar = 0.0
        self.backoff = 0
        """Timeouts (or zero-window probes) since the last ACK of new data."""

    def sample(self, r: float) -> None:
        """Take the RTT measurement ``r`` (RFC 6298 (2.2), (2.3))."""
        srtt = self.srtt
        if srtt is None:
            srtt = r
            rttvar = r / 2
        else:
            rttvar = 0.75 * self.rttvar + 0.25 * abs(srtt - r)
            srtt = 0.875 * srtt + 0.125 * r
        self.srtt = srtt
        self.rttvar = rttvar
        self.rto = self._bounded(srtt + max(4 * rttvar, self.config.rto_min))

    def _bounded(self, rto: float) -> float:
        # RFC 6298 (2.4) with Linux's rto_min, and (2.5).
        return min(max(rto, self.config.rto_min), self.config.rto_max)

    def reset_backoff(self) -> None:
        """End the backoff (an ACK of new data, or the peer's window opened):
        the RTO comes from the estimate again, or the 3 s fallback when the
        handshake gave no sample (RFC 6298 (5.7))."""
        self.backoff = 0
        srtt = self.srtt
        if srtt is None:
            self.rto = self._bounded(self.config.rto_fallback)
        else:
            self.rto = self._bounded(srtt + max(4 * self.rttvar, self.config.rto_min))

    def on_established(self) -> None:
        """The handshake completed: no backoff; without an RTT sample data
        starts at ``rto_fallback`` (RFC 6298 section 5.7)."""
        self.backoff = 0
        if self.srtt is None:
            self.rto = self.config.rto_fallback

    def back_off(self) -> None:
        """A retransmission timeout: count it and double the RTO (RFC 6298 (5.5))."""
        self.backoff += 1
        self.double()

    def double(self) -> None:
        """Double the RTO, at most ``rto_max``."""
        self.rto = min(self.rto * 2, self.config.rto_max)

    def probe_interval(self) -> float:
        """The wait after a zero-window probe: the RTO shifted by the backoff,
        at most ``rto_max`` (Linux ``tcp_probe0_when``)."""
        return min(self.rto * (1 << min(self.backoff, 30)), self.config.rto_max)


def model_timeout(boundary: int, config: TcpConfig) -> float:
    """Linux ``tcp_model_timeout``: how long ``boundary`` backoffs from
    ``rto_min`` take, doubling up to ``rto_max`` (924.6 s for 15)."""
    base = config.rto_min
    thresh = int(config.rto_max / base).bit_length() - 1  # ilog2(rto_max / rto_min)
    if boundary <= thresh:
        return ((2 << boundary) - 1) * base
    return ((2 << thresh) - 1) * base + (boundary - thresh) * config.rto_max
