"""A state without the segments that lead to it, and the TCB's variables read back.

This module owns the one public way to put a TCB into a state directly,
:meth:`TcbSynchronize.synchronize`, and the one public way to read all its
variables, :meth:`TcbSynchronize.snapshot` -- the pair smoltcp's tests get
from ``socket_established()`` and ``sanity!``.  :mod:`aiotcpsim.testing`
builds its per-state constructors on them, so that a ladder about TIME-WAIT
does not depend on the handshake and the FIN exchange that lead there.

``synchronize`` is told what a real exchange would have told the TCB (the
peer's ISN, window and MSS; when our SYN left and when the handshake ended;
when our FIN left and was acknowledged; when the peer's FIN arrived) and
sets every variable as the receive steps would have left it, through the
engines' own methods (an RTT sample, congestion control's ACK...).  The
segments due at ``now`` (our FIN, the ACK of the peer's FIN, our SYN-ACK)
go out through the ordinary send path; segments sent earlier are taken as
delivered (or lost).  Its contract is proved by tests that reach each state
by real segments and compare :meth:`~TcbSynchronize.snapshot` and the trace
that follows (``tests/core/test_constructors.py``).

No data has flowed: the send and receive buffers are empty, and no segment
was retransmitted.  The peer's receive window keeps its right edge
(RFC 9293 3.8.6.2.1): ``peer_window`` is what it offered in the handshake,
and one less once it took our FIN.
"""

from __future__ import annotations

from typing import Any

from ..segment import NO_OPTIONS, TcpOptions
from .state import (
    CLOSE_WAIT,
    CLOSED,
    CLOSING,
    ESTABLISHED,
    FIN_WAIT_1,
    FIN_WAIT_2,
    LAST_ACK,
    LISTEN,
    SYN_RECEIVED,
    TIME_WAIT,
    State,
)
from .tcb import MASK
from .timeouts import TcbTimeouts

__all__ = ["TcbSynchronize"]


def _fin_states(sent: float | None, acked: float | None, received: float | None) -> set[State]:
    """The states that the FIN facts allow."""
    if sent is None:
        return {CLOSE_WAIT} if received is not None else {ESTABLISHED}
    if received is None:
        return {FIN_WAIT_2} if acked is not None else {FIN_WAIT_1}
    if acked is not None:
        return {TIME_WAIT} if sent <= received else set()
    allowed: set[State] = set()
    if sent <= received:
        allowed.add(CLOSING)  # our FIN left first: the FINs crossed
    if received <= sent:
        allowed.add(LAST_ACK)  # the peer's FIN came first: CLOSE-WAIT, then close()
    return allowed


def _check_times(
    now: float,
    syn_sent: float | None,
    established: float | None,
    fin_sent: float | None,
    fin_acked: float | None,
    fin_received: float | None,
) -> None:
    """The facts' times in their order: SYN, handshake's end, our FIN and its
    ACK (the peer's FIN after the handshake), none later than ``now``."""
    if fin_acked is not None and fin_sent is None:
        raise ValueError("fin_acked_at needs fin_sent_at")
    chains = ((syn_sent, established, fin_sent, fin_acked), (established, fin_received))
    for chain in chains:
        times = [t for t in (*chain, now) if t is not None]
        if times != sorted(times):
            raise ValueError(
                "the times must be in order (syn_sent_at, established_at, fin_sent_at, "
                f"fin_acked_at; established_at, fin_received_at), none after now={now!r}"
            )


class TcbSynchronize(TcbTimeouts):
    """The TCB's direct entry into a state, and its variables read back."""

    __slots__ = ()

    def synchronize(
        self,
        state: State,
        now: float,
        *,
        irs: int,
        peer_window: int,
        peer_mss: int | None = None,
        peer_options: TcpOptions | None = None,
        syn_sent_at: float | None = None,
        established_at: float | None = None,
        fin_sent_at: float | None = None,
        fin_acked_at: float | None = None,
        fin_received_at: float | None = None,
    ) -> None:
        """Put this fresh connection into ``state`` at ``now`` without the
        segments that lead there, its variables, timers and engines as a real
        exchange would have left them (see the module's docstring).

        * ``irs``, ``peer_window``, ``peer_mss``: the peer's ISN, the window
          it offered in the handshake (its receive buffer) and the MSS option
          of its SYN (None: none, ``default_mss``);
        * ``peer_options``: the other options of the peer's SYN, negotiated
          (:mod:`.negotiate`); its TSval is the peer's last (None: none);
        * ``syn_sent_at``: when our SYN (active) or SYN-ACK (passive) left,
          the RTT sample of the handshake (None: no sample, as after a
          retransmitted SYN);
        * ``established_at``: when the handshake ended here (default ``now``);
        * ``fin_sent_at``, ``fin_acked_at``, ``fin_received_at``: when our
          FIN left, when it was acknowledged, when the peer's FIN arrived.

        ``state`` must agree with the FIN facts: none for ESTABLISHED; sent
        for FIN-WAIT-1, sent and acknowledged for FIN-WAIT-2, received for
        CLOSE-WAIT, sent no later than received for CLOSING (with the
        acknowledgment too: TIME-WAIT), received no later than sent for
        LAST-ACK.  SYN-RECEIVED takes none of them: a passive open that
        answered the peer's SYN with its SYN-ACK at ``syn_sent_at`` (default
        ``now``) and waits for the ACK.

        A segment due at ``now`` is sent now: our FIN when ``fin_sent_at``
        is ``now``, the ACK of a FIN received at ``now``, a SYN-ACK sent at
        ``now``.  The owner hears of the one state change (CLOSED or LISTEN
        to ``state``), so the host's tables stay consistent.

        Raises:
            ValueError: the connection is not fresh (it was opened or
                synchronized), ``state`` is CLOSED, LISTEN or SYN-SENT (use
                ``connect``), or it disagrees with the FIN facts, or the
                times are out of order or later than ``now``.
        """
        self._now = now
        if (self.state is not CLOSED and self.state is not LISTEN) or self._snd_max:
            raise ValueError(f"synchronize() needs a fresh connection, not {self!r}")
        _check_times(now, syn_sent_at, established_at, fin_sent_at, fin_acked_at, fin_received_at)
        if state is SYN_RECEIVED:
            if fin_sent_at is not None or fin_received_at is not None or established_at is not None:
                raise ValueError("SYN-RECEIVED takes no FIN and no established_at")
            self._take_peer_syn(irs, peer_window, peer_mss, peer_options)
            self._synchronize_syn_received(now, now if syn_sent_at is None else syn_sent_at)
            return
        allowed = _fin_states(fin_sent_at, fin_acked_at, fin_received_at)
        if state not in allowed:
            raise ValueError(
                f"state {state} disagrees with the FIN facts (sent={fin_sent_at}, "
                f"acked={fin_acked_at}, received={fin_received_at}): "
                f"{' or '.join(sorted(str(s) for s in allowed)) or 'no state'}"
            )
        self._take_peer_syn(irs, peer_window, peer_mss, peer_options)
        est = now if established_at is None else established_at
        self._synchronize_handshake(syn_sent_at, est)
        self._synchronize_fins(
            state, now, peer_window, est, fin_sent_at, fin_acked_at, fin_received_at
        )
        self._ts.stamp = self._last_rcv_time  # the peer's last segment set TS.Recent
        self.set_state(state, now)
        if self._delack.ack_now:
            self._send_ack()  # the ACK of a FIN received now
        if fin_sent_at == now and fin_acked_at is None:
            self._output(now)  # our FIN, sent now
        self._arm()

    def _take_peer_syn(
        self, irs: int, peer_window: int, peer_mss: int | None, options: TcpOptions | None
    ) -> None:
        """What the peer's SYN told us (RFC 9293 3.10.7.2-3)."""
        self.irs = irs & MASK
        self._rcv_so = 1
        self._rcv_adv = 1
        self._take_syn_options(NO_OPTIONS if options is None else options)
        self.peer_mss = peer_mss or self.config.default_mss
        self._snd_wnd = peer_window
        self.max_snd_wnd = max(self.max_snd_wnd, peer_window)
        self._snd_wl1 = 0
        self._snd_wl2 = 0

    def _synchronize_syn_received(self, now: float, sent_at: float) -> None:
        """A passive open's child that answered the SYN at ``sent_at``."""
        self._ts.stamp = sent_at
        self._syn_start = sent_at
        self.set_state(SYN_RECEIVED, now)
        if sent_at == now:
            self._send_syn(now, retransmission=False)
        else:
            self._snd_nxt = self._snd_max = 1
            self._hs_rtt_t = sent_at
            self._select_window(commit=True)  # what our SYN-ACK left us
            self._delack.on_ack_sent()
        self._timers.rtx_at = sent_at + self._rtt.rto
        self._arm()

    def _synchronize_handshake(self, syn_sent_at: float | None, est: float) -> None:
        """The handshake ended at ``est``: ESTABLISHED's variables and engines
        (what :meth:`_established` and the ACK step set)."""
        self._snd_una = self._snd_nxt = self._snd_max = 1
        self._syn_start = est if syn_sent_at is None else syn_sent_at
        if syn_sent_at is not None:
            self._rtt.sample(est - syn_sent_at)
        self._rtt.on_established()
        smss = self._smss()
        self._rec.on_established(est, 1)
        self._delack.on_established(max(88, min(smss, self.rcvbuf // 2, 536)), est)
        self._select_window(commit=True)  # our SYN-ACK or third ACK offered the buffer
        self._delack.on_ack_sent()
        self._last_rcv_time = est
        # The last window update came with the SYN-ACK (active: SEG.SEQ = IRS)
        # or the third ACK (passive: IRS + 1).
        self._snd_wl1 = 1 if self.passive else 0
        self._snd_wl2 = 1

    def _synchronize_fins(
        self,
        state: State,
        now: float,
        peer_window: int,
        est: float,
        sent: float | None,
        acked: float | None,
        received: float | None,
    ) -> None:
        """Our FIN and the peer's, as the send path and the receive steps
        would have left them."""
        timers = self._timers
        last = est
        if sent is not None:
            self._fin_queued = True
            if sent < now or acked is not None:  # it left earlier: already delivered
                self._snd_nxt = self._snd_max = 2
                self._rtt_so = 2  # timed (RFC 6298 section 3)
                self._rtt_t = sent
                self._rtx_armed_at = sent
                timers.rtx_at = sent + self._rtt.rto
                if self.sack_ok and acked is None:  # in flight: on the scoreboard, probed
                    self._rec.track(1, 2, sent, True)
                    self._schedule_loss_probe(sent)
                self._select_window(commit=True)
                self._delack.on_ack_sent()
        if acked is not None and sent is not None:
            self._snd_una = 2
            self._rtt.sample(acked - sent)
            self._rtt_so = None
            self._rec.on_ack(2, 1, 2, self._smss(), acked, acked - sent)
            timers.rtx_at = None
            last = max(last, acked)
            # The ACK of our FIN: SEG.SEQ is the peer's FIN (1) or beyond it (2).
            self._snd_wl1 = 2 if received is not None and received < acked else 1
            self._snd_wl2 = 2
        if received is not None:
            self._rcv_so = 2
            self._rcv_fin = True
            self.eof_received = True
            last = max(last, received)
            if state is CLOSE_WAIT or state is LAST_ACK:
                self._delack.pingpong = True  # tcp_fin() in ESTABLISHED
            if acked is None or acked <= received:
                # The FIN was the last segment heard: SEG.SEQ = the peer's FIN.
                self._snd_wl1 = 1
                self._snd_wl2 = self._snd_una
            if received == now:
                self._delack.ack_now = True  # the ACK goes out now
            else:
                self._select_window(commit=True)
                self._delack.on_ack_sent()
        # The peer's right edge does not move (no data flowed).
        wnd = 1 + peer_window - self._snd_wl2
        shift = self.snd_wscale
        if shift and (acked is not None or received is not None):
            wnd = -(-wnd >> shift) << shift  # the peer's later segments rounded it up
        self._snd_wnd = wnd
        self._last_rcv_time = last
        if state is TIME_WAIT:
            timers.cancel_all()
            timers.linger_at = last + self.config.time_wait  # entered at the last of the two
        elif self.keepalive:
            timers.keepalive_at = last + self.keepalive_idle

    def snapshot(self) -> dict[str, Any]:
        """Every variable of the TCB by name, for tests and debugging: two
        connections in the same state at the same moment give equal snapshots.

        Sequence numbers are offsets from the ISNs (0 is the SYN, 1 the first
        data byte or the FIN); times are virtual seconds; ``timers`` maps each
        running timer to its deadline.  Left out: the wake-up last asked of
        the owner (a stale one may be pending after a real handshake).
        """
        timers = self._timers
        rtt = self._rtt
        delack = self._delack
        return {
            "state": self.state,
            "passive": self.passive,
            "iss": self.iss,
            "irs": self.irs,
            "snd_una": self._snd_una,
            "snd_nxt": self._snd_nxt,
            "snd_max": self._snd_max,
            "snd_sml": self._snd_sml,
            "snd_wnd": self._snd_wnd,
            "snd_wl1": self._snd_wl1,
            "snd_wl2": self._snd_wl2,
            "max_snd_wnd": self.max_snd_wnd,
            "fin_queued": self._fin_queued,
            "rcv_nxt": self._rcv_so,
            "rcv_adv": self._rcv_adv,
            "rcv_fin": self._rcv_fin,
            "ooo_fin": self._ooo_fin,
            "eof_received": self.eof_received,
            "mss": self.mss,
            "peer_mss": self.peer_mss,
            "sack_ok": self.sack_ok,
            "ts_ok": self.ts_ok,
            "snd_wscale": self.snd_wscale,
            "rcv_wscale": self.rcv_wscale,
            "ts_recent": self._ts.recent,
            "ts_recent_at": self._ts.stamp,
            "last_ack_sent": self._ts.last_ack_sent,
            "rcvbuf": self.rcvbuf,
            "sndbuf": self.sndbuf,
            "written": self._sendbuf.written,
            "send_queued": self.send_queued,
            "readable": self._rcvd.readable,
            "out_of_order": self._rcvd.ooo_bytes,
            "timers": timers.snapshot(),
            "srtt": rtt.srtt,
            "rttvar": rtt.rttvar,
            "rto": rtt.rto,
            "backoff": rtt.backoff,
            "rtt_timed": self._rtt_so,
            "rtt_timed_at": None if self._rtt_so is None else self._rtt_t,
            "handshake_timed_at": self._hs_rtt_t,
            "syn_start": self._syn_start,
            "rtx_armed_at": self._rtx_armed_at,
            "rtx_stamp": self._rtx_stamp,
            "cwnd": self.cwnd,
            "congestion": self._rec.snapshot(),
            "delayed_ack": delack.snapshot(),
            "last_received": self._last_rcv_time,
            "keepalive_probes": self._ka_probes,
            "last_challenge": self._last_challenge,
            "last_oow_ack": self._last_oow_ack,
            "retransmissions": self.retransmissions,
            "error": self.error,
            "pending_error": self.pending_error,
            "soft_error": self._soft_error,
            "orphaned": self._closed_by_app,
        }
