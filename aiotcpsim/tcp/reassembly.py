"""The receive side's bytes: in-order data not yet read, and out-of-order data.

This module owns the rule that received payloads are copied once, when the
application reads them: in-order segments are queued as they came (``bytes``
or ``memoryview`` slices of the segment), and :meth:`Reassembly.take` joins
them.  Out-of-order data is kept sorted by sequence offset and without
overlaps (RFC 9293 3.10.7.4, seventh step: "segments with higher beginning
sequence numbers may be held for later processing"); a duplicate costs
nothing.  Offsets are the TCB's receive offsets from the IRS.
"""

from __future__ import annotations

__all__ = ["Reassembly"]


class Reassembly:
    """The receive queue and the out-of-order queue of one connection."""

    __slots__ = ("ooo", "ooo_bytes", "rcvq", "readable")

    def __init__(self) -> None:
        self.rcvq: list[bytes | memoryview] = []
        """In-order data not yet read, as it came.  A list, not a deque: an
        empty deque costs some 600 bytes, a third of an idle connection, and a
        read takes its pieces from the head in one slice."""
        self.readable = 0
        """Bytes in :attr:`rcvq`: what ``recv()`` can return now."""
        self.ooo: list[tuple[int, bytes | memoryview]] = []
        """Out-of-order data, ``(offset, bytes)`` sorted, not overlapping."""
        self.ooo_bytes = 0

    @property
    def buffered(self) -> int:
        """Bytes held in the receive buffer, in order or not."""
        return self.readable + self.ooo_bytes

    def append(self, payload: bytes | memoryview) -> None:
        """Queue in-order data."""
        self.rcvq.append(payload)
        self.readable += len(payload)

    def take(self, max_bytes: int) -> bytes:
        """Up to ``max_bytes`` from the receive queue, copied once."""
        q = self.rcvq
        if max_bytes >= self.readable:
            self.readable = 0
            if len(q) == 1:
                data = q.pop()
                return data if type(data) is bytes else bytes(data)
            data = b"".join(q)
            q.clear()
            return data
        self.readable -= max_bytes
        parts: list[bytes | memoryview] = []
        need = max_bytes
        i = 0
        while need:
            chunk = q[i]
            n = len(chunk)
            if n > need:
                view = memoryview(chunk)
                parts.append(view[:need])
                q[i] = view[need:]
                break
            parts.append(chunk)
            need -= n
            i += 1
        del q[:i]
        return b"".join(parts)

    def queue_out_of_order(self, seg_so: int, payload: bytes | memoryview) -> int:
        """Keep the bytes of ``payload`` (at offset ``seg_so``) not held yet;
        returns how many that was (0: a duplicate)."""
        ooo = self.ooo
        end = seg_so + len(payload)
        i = 0
        n = len(ooo)
        while i < n and ooo[i][0] + len(ooo[i][1]) <= seg_so:
            i += 1
        pieces: list[tuple[int, bytes | memoryview]] = []
        cur = seg_so
        j = i
        while j < n and ooo[j][0] < end:
            start, data = ooo[j]
            if start > cur:
                pieces.append((cur, payload[cur - seg_so : start - seg_so]))
            cur = max(cur, start + len(data))
            j += 1
        if cur < end:
            pieces.append((cur, payload[cur - seg_so :]))
        added = sum(len(piece) for _, piece in pieces)
        self.ooo_bytes += added
        merged = sorted(ooo[i:j] + pieces)
        ooo[i:j] = merged
        return added

    def drain(self, rcv: int) -> int:
        """Move the out-of-order data that now continues the stream at ``rcv``
        to the receive queue; returns the new RCV.NXT offset."""
        ooo = self.ooo
        i = 0
        while i < len(ooo) and ooo[i][0] <= rcv:
            start, data = ooo[i]
            self.ooo_bytes -= len(data)
            end = start + len(data)
            if end > rcv:
                piece = data[rcv - start :]
                self.append(piece)
                rcv = end
            i += 1
        del ooo[:i]
        return rcv
