"""The reset a TCP sends in reply to a segment that matches no connection.

RFC 9293 section 3.10.7.1 (and 3.10.7.2 for a socket in LISTEN) fixes its
numbers; this module is the one place they are written:

* the segment carried an ACK: ``<SEQ=SEG.ACK><CTL=RST>``;
* it did not: ``<SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>``;
* it was a RST: no reply ("never reply to a RST with a RST").
"""

from __future__ import annotations

from .segment import ACK, RST, Segment, seq_add

__all__ = ["reset_reply"]


def reset_reply(seg: Segment) -> Segment | None:
    """The RST a TCP with no matching connection sends back for ``seg``, or None for a RST."""
    if seg.flags & RST:
        return None
    if seg.flags & ACK:
        return Segment(seg.dst_ip, seg.dst_port, seg.src_ip, seg.src_port, seg.ack, 0, RST, 0)
    ack = seq_add(seg.seq, seg.seg_len)
    return Segment(seg.dst_ip, seg.dst_port, seg.src_ip, seg.src_port, 0, ack, RST | ACK, 0)
