"""The send buffer: bytes written by the application and not yet acknowledged.

This module owns the rule that written data is never copied on its way to the
wire: each ``send()`` call's bytes are kept as one chunk, and a segment's
payload is a slice (a ``memoryview``) of one chunk, or a join only when it
spans two.  Acknowledged chunks are released in batches, so that a long
transfer costs amortised O(1) per chunk.

Offsets are data offsets: byte ``k`` of the stream is at offset ``k`` (the
TCB's sequence offset ``k + 1``, after the SYN).
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Final

__all__ = ["SendBuffer"]

# Released chunks are deleted from the lists once at least this many are
# released and they are at least half of the lists.
_RELEASE_BATCH: Final = 64


class SendBuffer:
    """The chunks of data written so far (the unacknowledged ones kept)."""

    __slots__ = ("chunks", "head", "starts", "written")

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.starts: list[int] = []
        """The data offset of each chunk's first byte."""
        self.head = 0
        """Index of the first chunk not yet acknowledged entirely."""
        self.written = 0
        """Bytes written since the connection began."""

    def queued(self, acked: int) -> int:
        """Bytes written but not among the first ``acked`` acknowledged ones."""
        return self.written - acked

    def append(self, data: bytes | bytearray | memoryview) -> None:
        """Queue ``data`` (kept as is when it is ``bytes``, copied once otherwise)."""
        chunk = data if type(data) is bytes else bytes(data)
        self.chunks.append(chunk)
        self.starts.append(self.written)
        self.written += len(chunk)

    def payload(self, off: int, n: int) -> bytes | memoryview:
        """``n`` bytes from data offset ``off``, without a copy when they lie
        in one written chunk."""
        starts = self.starts
        chunks = self.chunks
        i = bisect_right(starts, off, self.head) - 1
        chunk = chunks[i]
        rel = off - starts[i]
        if rel + n <= len(chunk):
            if rel == 0 and n == len(chunk):
                return chunk
            return memoryview(chunk)[rel : rel + n]
        parts = []
        while n > 0:
            chunk = chunks[i]
            rel = off - starts[i]
            piece = memoryview(chunk)[rel : rel + n]
            parts.append(piece)
            n -= len(piece)
            off += len(piece)
            i += 1
        return b"".join(parts)

    def release(self, acked: int) -> None:
        """The first ``acked`` bytes of data are acknowledged: let their chunks go."""
        chunks = self.chunks
        starts = self.starts
        head = self.head
        n = len(chunks)
        if head >= n:
            return  # every written chunk is already released
        while head < n and starts[head] + len(chunks[head]) <= acked:
            head += 1
        if head >= _RELEASE_BATCH and head * 2 >= n:
            del chunks[:head]
            del starts[:head]
            head = 0
        self.head = head

    def clear(self) -> None:
        """Discard everything (an abort)."""
        self.chunks.clear()
        self.starts.clear()
        self.head = 0
