"""The peer's data and FIN (RFC 9293 3.10.7.4, seventh and eighth steps), and when to ACK them.

This module owns the receive side of the byte stream:

* data is trimmed to the window and to what is new; in-order data is queued
  for the application, data beyond a hole waits in the out-of-order queue
  (:mod:`.reassembly`) and draws an immediate ACK, as duplicates do;
* the ACK for data is sent at once or delayed as the delayed-ACK engine
  (:mod:`.delack`) says;
* a FIN is taken only at RCV.NXT (one beyond a hole is remembered until the
  hole fills) and moves ESTABLISHED to CLOSE-WAIT, FIN-WAIT-1 to CLOSING (or
  TIME-WAIT when our FIN is already acknowledged), FIN-WAIT-2 to TIME-WAIT;
* reading data announces the window again when it grew enough (Linux
  ``tcp_cleanup_rbuf``).
"""

from __future__ import annotations

from .ack import TcbAck
from .sackblocks import SackBlocks
from .state import CLOSE_WAIT, CLOSING, ESTABLISHED, FIN_WAIT_1, FIN_WAIT_2, SYN_RECEIVED, TIME_WAIT
from .tcb import NOTIFY_CLOSED, NOTIFY_READABLE

__all__ = ["TcbData"]


class TcbData(TcbAck):
    """The TCB's receive path for data and FIN."""

    __slots__ = ()

    def _receive_data(self, seg_so: int, payload: bytes | memoryview, now: float) -> None:
        """Data at receive offset ``seg_so`` (RFC 9293 3.10.7.4, seventh step)."""
        rcv = self._rcv_so
        plen = len(payload)
        if seg_so < rcv and self.sack_ok:  # data received twice: D-SACK (RFC 2883)
            self._sack_blocks().duplicate(seg_so, min(seg_so + plen, rcv))
        edge = max(self._rcv_adv, rcv)
        if seg_so + plen > edge:  # trim to the window
            payload = payload[: max(0, edge - seg_so)]
            plen = len(payload)
        if seg_so < rcv:  # trim what we already have
            payload = payload[rcv - seg_so :]
            plen = len(payload)
            seg_so = rcv
        if plen <= 0:
            self._delack.enter_quickack(self._rcv_adv - rcv)
            self._schedule_ack(now, immediate=True)  # duplicate: ACK at once
            return
        if seg_so > rcv:
            added = self._rcvd.queue_out_of_order(seg_so, payload)
            if self.sack_ok:
                blocks = self._sack_blocks()
                if added:
                    blocks.received(seg_so, seg_so + plen)
                else:  # all of it was held already (Linux tcp_data_queue_ofo)
                    blocks.duplicate(seg_so, seg_so + plen)
            self._delack.enter_quickack(self._rcv_adv - rcv)
            self._schedule_ack(now, immediate=True)
            return
        self._delack.on_data(plen, self._rcv_mss(), self._rcv_adv - rcv, self._rtt.rto, now)
        self._rcvd.append(payload)
        rcv += plen
        filled_hole = bool(self._rcvd.ooo)
        if filled_hole:
            rcv = self._rcvd.drain(rcv)
        self._rcv_so = rcv
        if self._sack is not None:
            self._sack.advanced(rcv, not self._rcvd.ooo)
        self._delack.unacked += plen
        self._notify |= NOTIFY_READABLE
        if self._ooo_fin is not None and self._ooo_fin == self._rcv_so:
            self._receive_fin(now)
            self._schedule_ack(now, immediate=True)  # the gap before it filled (RFC 5681 4.2)
            return
        self._schedule_ack(now, immediate=self._delack.ack_due(filled_hole))

    def _schedule_ack(self, now: float, *, immediate: bool) -> None:
        """ACK at the end of this event, or start the delayed-ACK timer."""
        delack = self._delack
        if immediate or not delack.ato:
            # No ATO yet (no data received): Linux's delayed ACK would fire at once.
            delack.ack_now = True  # sent at the end of the event unless data carries it
        elif self._timers.ack_at is None:
            self._timers.ack_at = now + delack.timeout(self._rtt.srtt)

    def _receive_fin(self, now: float) -> None:
        """The peer's FIN at RCV.NXT (RFC 9293 3.10.7.4, eighth step)."""
        self._rcv_so += 1
        self._rcv_fin = True
        self._ooo_fin = None
        self.eof_received = True
        self._notify |= NOTIFY_READABLE
        state = self.state
        if state is ESTABLISHED or state is SYN_RECEIVED:
            self.set_state(CLOSE_WAIT, now)
            # Linux tcp_fin(): interactive mode, so the ACK is delayed and usually
            # rides on our own FIN when the application closes in time
            # (the three-segment close).
            self._delack.pingpong = True
            self._schedule_ack(now, immediate=False)
            return
        if state is FIN_WAIT_1:
            if self._fin_acked():
                self._enter_time_wait(now)
                self._delack.ack_now = True
                return
            self.set_state(CLOSING, now)
        elif state is FIN_WAIT_2:
            self._enter_time_wait(now)
            self._delack.ack_now = True
            return
        self._schedule_ack(now, immediate=True)

    def _enter_fin_wait_2(self, now: float) -> None:
        """Our FIN is acknowledged; an orphan waits at most ``fin_timeout``."""
        self.set_state(FIN_WAIT_2, now)
        if self._closed_by_app:
            self._timers.linger_at = now + self.config.fin_timeout

    def _enter_time_wait(self, now: float) -> None:
        """TIME-WAIT for ``time_wait`` seconds, every other timer off."""
        timers = self._timers
        timers.cancel_all()
        timers.linger_at = now + self.config.time_wait
        self.set_state(TIME_WAIT, now)
        if self.user is not None:
            self._notify |= NOTIFY_CLOSED

    def _sack_blocks(self) -> SackBlocks:
        """The SACK blocks we report (:mod:`.sackblocks`), made on first use."""
        blocks = self._sack
        if blocks is None:
            blocks = self._sack = SackBlocks()
        return blocks

    def _window_update_after_read(self, now: float) -> None:
        """Linux ``tcp_cleanup_rbuf``: tell the peer when reading at least
        doubled a window that had shrunk to half the buffer or less."""
        current = self._rcv_adv - self._rcv_so
        if 2 * current <= self.rcvbuf:
            new = self._select_window(commit=False)
            if new > 0 and new >= 2 * current:
                self._send_ack()
                self._arm()
