"""The send path: every segment the TCB sends is built here.

This module owns what goes out and when the windows let it:

* :meth:`TcbOutput._output` sends what the peer's window, the congestion
  window, sender SWS avoidance and Nagle's algorithm allow (RFC 9293 3.8.6,
  RFC 1122 4.2.3.4, Linux's Minshall variant), and starts the persist timer
  at a zero window;
* every segment carrying ACK advertises the receive window chosen by
  :meth:`TcbOutput._select_window` (receiver SWS avoidance, never shrinking:
  RFC 9293 3.8.6.2.2) and counts as the ACK the delayed-ACK engine waits for;
* the first transmission of a segment is timed for the RTT estimator, one at
  a time, and a retransmission cancels the timing (Karn's rule);
* everything goes through ``owner.transmit``; RSTs too, built by the two
  helpers at the end (RFC 9293 3.10.7.1 and 3.10.4).
"""

from __future__ import annotations

from ..segment import ACK, FIN, NO_OPTIONS, PSH, RST, SYN, Segment, TcpOptions
from .negotiate import (
    TS_OPTION_LEN,
    initial_wscale,
    sack_option_len,
    syn_options,
    syn_window,
)
from .state import (
    CLOSE_WAIT,
    ESTABLISHED,
    FIN_WAIT_1,
    LAST_ACK,
    SENDING,
    SYN_RECEIVED,
    SYN_SENT,
)
from .tcb import MASK, Tcb

__all__ = ["TcbOutput"]


class TcbOutput(Tcb):
    """The TCB's send path."""

    __slots__ = ()

    def _transmit(
        self,
        so: int,
        flags: int,
        payload: bytes | memoryview,
        options: TcpOptions,
        retransmission: bool,
    ) -> None:
        """Send a segment at send offset ``so``; with ACK it also carries RCV.NXT
        and a fresh window, and it is the ACK any delayed ACK waited for."""
        if retransmission:
            self.retransmissions += 1
        if flags & SYN:
            ack, window = self._syn_fields()
            if flags & ACK:
                self._timers.ack_at = None
                self._delack.on_ack_sent()
        else:
            ack = self.rcv_nxt
            window = self._select_window(commit=True)
            self._timers.ack_at = None
            self._delack.on_ack_sent()
            if self.ts_ok:
                # RFC 7323 section 3.2: once negotiated, on every segment but a RST.
                options = self._ts.options(self._now)
            sack = self._sack
            if sack is not None and sack.pending:  # RFC 2018 section 4
                options = sack.options(options, self.irs, self._sack_room())
        segment = Segment(
            self._lip,
            self._lport,
            self._rip,
            self._rport,
            (self.iss + so) & MASK,
            ack,
            flags,
            window,
            payload,
            options,
        )
        self.owner.transmit(segment, retransmission=retransmission)

    def _syn_fields(self) -> tuple[int, int]:
        """SEG.ACK and SEG.WND of our SYN or SYN-ACK: the window is never
        scaled (RFC 7323 section 2.2), see :func:`.negotiate.syn_window`."""
        free = self.rcvbuf - self._rcvd.buffered
        if self.state is SYN_SENT:
            self._rcv_adv = 0
            return 0, syn_window(free, self.mss)
        # The field has 16 bits and is never scaled; the right edge we keep is
        # the whole free buffer, which our next segment announces (as Linux,
        # whose window grows past the SYN-ACK's at once when autotuned).
        self._select_window(commit=True)
        return self.rcv_nxt, syn_window(free, self._rcv_mss())

    def _sack_room(self) -> int:
        """SACK blocks that fit beside the other options (Linux
        ``tcp_established_options``): 3 with timestamps, 4 without."""
        return 3 if self.ts_ok else 4

    def _rcv_mss(self) -> int:
        """The largest segment we expect: our MSS less the timestamps option."""
        return self.mss - TS_OPTION_LEN if self.ts_ok else self.mss

    def _select_window(self, *, commit: bool) -> int:
        """The window to advertise: the free receive buffer, but the right edge
        moves only by at least min(rcvbuf / 2, MSS) (receiver SWS avoidance,
        RFC 9293 3.8.6.2.2) and never back (RFC 9293 3.8.6.2.1).

        With window scaling the window is rounded up to a multiple of
        ``1 << rcv_wscale`` so that it is not scaled away (Linux
        ``__tcp_select_window``: ``ALIGN(free_space, 1 << rcv_wscale)``; the
        buffer may take up to ``(1 << rcv_wscale) - 1`` bytes more), at most
        ``65535 << rcv_wscale``."""
        rcv = self._rcv_so
        free = self.rcvbuf - self._rcvd.buffered
        new_edge = rcv + max(free, 0)
        edge = max(self._rcv_adv, rcv)
        if new_edge - edge >= min(self.rcvbuf // 2, self.mss):
            edge = new_edge
        window = edge - rcv
        shift = self.rcv_wscale
        if shift:
            if window > 0xFFFF << shift:
                window = 0xFFFF << shift
            window = -(-window >> shift) << shift
        elif window > 0xFFFF:
            window = 0xFFFF
        if commit:
            if rcv + window > self._rcv_adv:
                self._rcv_adv = rcv + window
            self._ts.last_ack_sent = rcv
        return window

    def _send_ack(self) -> None:
        """A bare ACK."""
        # SND.MAX, not SND.NXT: after a timeout rewinds SND.NXT the peer may have
        # RCV.NXT beyond it, and an ACK with an old sequence number is unacceptable.
        self._transmit(self._snd_max, ACK, b"", NO_OPTIONS, False)

    def _send_probe(self) -> None:
        """A keep-alive or zero-window probe: an ACK one below SND.UNA, which
        the peer must answer (RFC 9293 3.8.4, 3.8.6.1)."""
        self._transmit(self._snd_una - 1, ACK, b"", NO_OPTIONS, False)

    def _send_syn(self, now: float, *, retransmission: bool, timed: bool = True) -> None:
        """Our SYN (SYN-SENT) or SYN-ACK (SYN-RECEIVED) with its options
        (:mod:`.negotiate`); ``timed``: an RTT sample if it is acknowledged
        without a retransmission."""
        self._now = now
        flags = SYN | ACK if self.state is SYN_RECEIVED else SYN
        self._snd_nxt = max(self._snd_nxt, 1)
        self._snd_max = max(self._snd_max, 1)
        self._hs_rtt_t = now if timed and not retransmission else None
        self._transmit(0, flags, b"", self._syn_options(flags, now), retransmission)

    def _syn_options(self, flags: int, now: float) -> TcpOptions:
        """What our SYN offers (Linux ``tcp_syn_options``), or what our SYN-ACK
        accepts of the peer's offer (``tcp_synack_options``)."""
        config = self.config
        if not flags & ACK:  # a SYN offers what the config enables
            ts = None
            if config.timestamps:
                ts = (self._ts.clock(now), 0)
            wscale = None
            if config.window_scaling:
                wscale = self.rcv_wscale = initial_wscale(self.rcvbuf, config.loopback_rcvbuf)
            return syn_options(self.mss, config.sack, ts, wscale)
        ts = (self._ts.clock(now), self._ts.recent) if self.ts_ok else None
        # rcv_wscale is at least 2 (RMEM_MAX) when scaling is in effect, else 0.
        wscale = self.rcv_wscale if self.rcv_wscale else None
        return syn_options(self.mss, self.sack_ok, ts, wscale)

    def _queue_fin(self, now: float) -> None:
        """A FIN follows the queued data (RFC 9293 3.10.4, CLOSE call)."""
        self._fin_queued = True
        state = self.state
        if state is ESTABLISHED:
            self.set_state(FIN_WAIT_1, now)
        elif state is CLOSE_WAIT:
            self.set_state(LAST_ACK, now)
        else:
            return  # SYN-RECEIVED: the FIN waits for the handshake (RFC 9293 3.10.4)
        self._output(now)
        self._arm()

    def _output(self, now: float) -> None:
        """Send what the windows and Nagle allow (RFC 9293 3.8.6, RFC 1122
        4.2.3.4); after new data, a tail loss probe is due in two SRTTs."""
        if self._snd_nxt >= self._sendbuf.written + 1 + self._fin_queued:
            return  # nothing to send: all data, and the FIN if queued, went out
        if self._write(now) and self._rec.board is not None:
            self._schedule_loss_probe(now)

    def _current_mss(self) -> int:
        """``tcp_current_mss``: the SMSS less the room SACK blocks take now."""
        smss = self._smss()
        sack = self._sack
        if sack is not None and sack.pending:
            smss -= sack_option_len(sack.count(self._sack_room()))
        return smss

    def _write(self, now: float) -> bool:
        """``tcp_write_xmit``: True when a segment went."""
        fin_so = self._sendbuf.written + 1  # where a FIN goes
        smss = self._current_mss()
        sent = False
        while True:
            nxt = self._snd_nxt
            unsent = fin_so - nxt
            fin_now = self._fin_queued and unsent <= smss and nxt <= fin_so
            if unsent <= 0:
                if fin_now and nxt == fin_so:
                    self._send_new(nxt, 0, fin_so, now)
                    sent = True
                    continue
                return sent
            n = self._sendable(nxt, unsent, smss, fin_now, now)
            if not n:
                return sent
            self._send_new(nxt, n, fin_so, now)
            sent = True

    def _send_new(self, nxt: int, n: int, fin_so: int, now: float) -> None:
        """Send ``n`` new bytes from ``nxt``, with PSH and the queued FIN on
        the last of them, or the FIN alone when ``n`` is 0."""
        if not n:
            flags = FIN
        elif nxt + n == fin_so:
            flags = PSH | (FIN if self._fin_queued else 0)
        else:
            flags = 0
        self._send_data(nxt, n, flags, now)

    def _schedule_loss_probe(self, now: float) -> None:
        """``tcp_schedule_loss_probe``: arm the probe, no later than the RTO."""
        timers = self._timers
        timeout = self._rec.probe_timeout(
            self.config.early_retrans, self._rtt.srtt, self.config.rto_min
        )
        if timeout <= 0:
            timers.probe_at = None
            return
        probe_at = now + timeout
        if timers.rtx_at is not None and timers.rtx_at < probe_at:
            probe_at = timers.rtx_at
        timers.probe_at = probe_at

    def _send_loss_probe(self, now: float) -> None:
        """``tcp_send_loss_probe``: one new segment if the peer's window has
        room for it (the congestion window aside), else the last segment
        again; the RTO then restarts from now.  At most one probe is out."""
        rec = self._rec
        board = rec.board
        if rec.tlp_high_seq or board is None or not board.packets_out:
            return
        fin_so = self._sendbuf.written + 1
        nxt = self._snd_nxt
        n = min(fin_so - nxt, self._current_mss())
        fits = self.state in SENDING and n >= 0 and nxt + n <= self._snd_una + self._snd_wnd
        if fits and (n > 0 or (self._fin_queued and nxt == fin_so)):
            self._send_new(nxt, n, fin_so, now)
        retransmitted = self._snd_nxt == nxt
        if retransmitted:  # nothing new could go: the last segment again
            i = board.last()
            self._retransmit_range(board.starts[i], board.ends[i])
            board.retransmitted(i, now)
        rec.on_probe_sent(self._snd_nxt, retransmitted)
        self._timers.rtx_at = now + self._rtt.rto  # not backed off: the probe is no timeout

    def _sendable(self, nxt: int, unsent: int, smss: int, fin_now: bool, now: float) -> int:
        """How many of the ``unsent`` bytes from ``nxt`` may go in one segment
        now; 0 when the windows, SWS avoidance or Nagle hold them back."""
        in_flight = nxt - self._snd_una
        wnd_edge = self._snd_una + self._snd_wnd
        # the pipe (Linux tcp_packets_in_flight): less what duplicate ACKs
        # report delivered and a lost head not yet resent
        rec = self._rec
        left_out = rec.sacked_out + rec.lost_out - rec.retrans_out
        usable = min(wnd_edge - nxt, (rec.cc.cwnd + left_out) * smss - in_flight)
        if usable <= 0:
            if wnd_edge <= nxt and in_flight == 0 and self._timers.persist_at is None:
                self._timers.persist_at = now + self._rtt.rto  # zero window: start probing
            return 0
        self._timers.persist_at = None
        n = min(unsent, smss, usable)
        if n < smss and n < unsent:
            # Window-limited: sender SWS avoidance (RFC 9293 3.8.6.2.1).
            if in_flight and n < self.max_snd_wnd // 2:
                return 0
        elif (
            n == unsent
            and n < smss
            and self._snd_sml > self._snd_una
            and not self.nodelay
            and not fin_now
        ):
            # Nagle as Linux does it (Minshall's variant, tcp_minshall_check): a
            # small segment waits only while an earlier small one is unacknowledged.
            return 0
        return n

    def _send_data(self, so: int, n: int, flags: int, now: float) -> None:
        """Send ``n`` bytes from send offset ``so`` (and a FIN if ``flags`` say so)."""
        payload = self._sendbuf.payload(so - 1, n) if n else b""
        retransmission = so < self._snd_max
        rec = self._rec
        nothing_out = self._snd_una == self._snd_max
        rec.on_data_sent(now, nothing_out, self._rtt.rto, self.config.slow_start_after_idle)
        end = so + n + (flags & FIN)
        if self.sack_ok and not retransmission:
            rec.track(so, end, now, nothing_out)
        self._transmit(so, ACK | flags, payload, NO_OPTIONS, retransmission)
        self._snd_nxt = end
        if 0 < n < self._smss() and so + n > self._snd_sml:
            self._snd_sml = so + n
        if end > self._snd_max:
            self._snd_max = end
            if self._rtt_so is None and not retransmission:
                self._rtt_so = end  # time this segment (RFC 6298 section 3)
                self._rtt_t = now
        if retransmission and self._rtt_so is not None:
            self._rtt_so = None  # Karn's rule
        if self._timers.rtx_at is None:
            self._timers.rtx_at = now + self._rtt.rto  # RFC 6298 (5.1)
            self._rtx_armed_at = now
        if n:
            self._delack.on_data_sent(now)

    def _retransmit_lost(self, now: float) -> None:
        """Resend what loss recovery marked lost while the window has room
        (Linux ``tcp_xmit_retransmit_queue``): with SACK, the scoreboard's
        lost segments in order; without, the head."""
        rec = self._rec
        board = rec.board
        if rec.rexmit_new:  # F-RTO step 2.b: new data instead, if any can go
            self._output(now)
            if not rec.new_data_sent(self._snd_nxt):
                return
        if board is not None:
            while (rec.cc.cwnd - (board.packets_out - rec.left_out())) > 0:
                i = board.next_lost()
                if i < 0:
                    return
                self._retransmit_range(board.starts[i], board.ends[i])
                board.retransmitted(i, now)
                rec.on_head_retransmitted_sack(self._ts.clock(now))
            return
        if rec.lost_out > rec.retrans_out:
            smss = self._smss()
            pipe = self._snd_nxt - self._snd_una - rec.left_out() * smss
            if pipe < rec.cc.cwnd * smss:
                self._retransmit_head()
                rec.on_head_retransmitted(self._ts.clock(now))

    def _retransmit_range(self, start: int, end: int) -> None:
        """Resend the segment ``[start, end)`` (its FIN too if it had one)."""
        fin_so = self._sendbuf.written + 1
        n = min(end, fin_so) - start
        fin = FIN if end > fin_so else 0
        psh = PSH if n > 0 and start + n == fin_so else 0
        payload = self._sendbuf.payload(start - 1, n) if n > 0 else b""
        self._transmit(start, ACK | psh | fin, payload, NO_OPTIONS, True)
        self._rtt_so = None  # Karn's rule

    def _retransmit_head(self) -> None:
        """Resend the oldest unacknowledged segment (with the FIN if it was
        sent and fits, or the FIN alone)."""
        una = self._snd_una
        fin_so = self._sendbuf.written + 1
        end = min(una + self._smss(), fin_so)
        if self._fin_queued and end == fin_so and (self._snd_max > fin_so or una == fin_so):
            end += 1
        self._retransmit_range(una, end)

    # ------------------------------------------------------------------ resets

    def _send_reset(self) -> None:
        """``<SEQ=SND.MAX><ACK=RCV.NXT><CTL=RST,ACK>``: we reset the connection
        (with the timestamps option once negotiated, as Linux's
        ``tcp_send_active_reset``)."""
        self.owner.transmit(
            Segment(
                self._lip,
                self._lport,
                self._rip,
                self._rport,
                (self.iss + self._snd_max) & MASK,
                self.rcv_nxt,
                RST | ACK,
                0,
                b"",
                self._ts.options(self._now) if self.ts_ok else NO_OPTIONS,
            )
        )

    def _reset_segment(self, ack: int) -> None:
        """``<SEQ=SEG.ACK><CTL=RST>``: the answer to an unacceptable ACK
        (RFC 9293 3.10.7.3 and 3.10.7.4; Linux ``tcp_v4_send_reset``)."""
        self.owner.transmit(Segment(self._lip, self._lport, self._rip, self._rport, ack, 0, RST, 0))

    def _abort_with_reset(self, now: float) -> None:
        """Send a RST, discard unsent data, go CLOSED (RFC 9293 3.10.5)."""
        self._send_reset()
        self._sendbuf.clear()
        self._finish(now, None)
