"""Captures: segments as classic libpcap files for Wireshark and tshark.

:func:`write_pcap` writes what :meth:`aiotcpsim.Trace.to_pcap` exports: one
packet per segment, stamped with virtual time in microseconds, as raw IP (IPv4 or IPv6)
(``LINKTYPE_RAW``, 101) built by :meth:`Segment.encode <aiotcpsim.segment.Segment.encode>`.
:func:`read_pcap` reads such a file (or a capture of the kernel's loopback,
raw IP, Linux cooked or Ethernet) back into segments.

The simulation keeps windows unscaled.  So that Wireshark shows the real
window, the writer follows the handshake of each 4-tuple as RFC 7323 does:
once both SYNs of a connection carried a window scale option, the windows
a side sends are written shifted by its own scale (rounded down), and the
reader shifts them back.  Without window scaling a window above 65535 is
written as 65535.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterable
from typing import BinaryIO

from .segment import SYN, Segment

__all__ = ["read_pcap", "write_pcap"]

_MAGIC_USEC = 0xA1B2C3D4
_MAGIC_NSEC = 0xA1B23C4D
_VERSION = (2, 4)
_SNAPLEN = 0x40000
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228

_FILE_HEADER = struct.Struct("<IHHiIII")
_RECORD_HEADER = struct.Struct("<IIII")

_Key = tuple[str, int, str, int]
PcapInput = Segment | tuple[float, Segment | None] | object
"""A :class:`Segment`, a ``(time, segment)`` pair, or a trace record (anything
with ``time`` and ``segment`` attributes; records without a segment are skipped)."""


class _WindowScaling:
    """Which side of which 4-tuple has window scaling in effect (RFC 7323 section 2.2)."""

    def __init__(self) -> None:
        self._offered: dict[_Key, int] = {}

    def shift(self, seg: Segment) -> int:
        key = (seg.src_ip, seg.src_port, seg.dst_ip, seg.dst_port)
        if seg.flags & SYN:
            if seg.options.wscale is None:
                self._offered.pop(key, None)
            else:
                self._offered[key] = seg.options.wscale
            return 0
        mine = self._offered.get(key)
        if (
            mine is None
            or (seg.dst_ip, seg.dst_port, seg.src_ip, seg.src_port) not in self._offered
        ):
            return 0
        return mine


def _items(records: Iterable[PcapInput]) -> Iterable[tuple[float, Segment, int | None]]:
    """``(time, segment, payload length on the wire when the payload is cut)``."""
    for item in records:
        if isinstance(item, Segment):
            yield 0.0, item, None
            continue
        time = getattr(item, "time", None)
        orig_len = None
        if time is not None and hasattr(item, "segment"):
            segment = getattr(item, "segment")  # noqa: B009 - duck-typed trace record
            orig_len = getattr(item, "orig_len", None)
        elif isinstance(item, tuple) and len(item) == 2:
            time, segment = item
        else:
            raise TypeError(
                f"write_pcap() takes segments, (time, segment) pairs or trace records, not {item!r}"
            )
        if segment is None:
            continue
        if not isinstance(segment, Segment):
            raise TypeError(f"write_pcap() expected a Segment, got {segment!r}")
        yield float(time), segment, orig_len


def write_pcap(
    records: Iterable[PcapInput],
    file: str | os.PathLike[str] | BinaryIO,
) -> int:
    """Write segments as a classic libpcap file (microsecond timestamps, raw IP:
    IPv4 or IPv6 packets as the segment's addresses say).

    ``records`` holds :class:`Segment` values (stamped at time 0),
    ``(time, segment)`` pairs, or :class:`~aiotcpsim.TraceRecord` values
    (records without a segment are skipped); times are virtual seconds.  A
    record whose payload the trace cut to its snap length is written as a
    capture cut by its snap length would be: the headers say the length on
    the wire (``orig_len`` too), the packet holds the bytes kept.
    ``file`` is a path or a binary file open for writing (left open).
    Returns the number of packets written.

    Raises ``ValueError`` for a segment that does not fit the wire format
    and ``TypeError`` for an item that is none of the above.
    """
    scaling = _WindowScaling()
    chunks = [_FILE_HEADER.pack(_MAGIC_USEC, *_VERSION, 0, 0, _SNAPLEN, LINKTYPE_RAW)]
    count = 0
    for time, segment, orig_len in _items(records):
        shift = scaling.shift(segment)
        if orig_len is None:
            packet = segment.encode(window_shift=shift)
            wire_len = len(packet)
        else:
            packet, wire_len = _cut_packet(segment, orig_len, shift)
        usec = round(time * 1_000_000)
        if usec < 0:
            raise ValueError(f"negative time {time} for {segment!r}")
        seconds, usec = divmod(usec, 1_000_000)
        chunks.append(_RECORD_HEADER.pack(seconds, usec, len(packet), wire_len))
        chunks.append(packet)
        count += 1
    data = b"".join(chunks)
    if isinstance(file, str | os.PathLike):
        with open(file, "wb") as f:
            f.write(data)
    else:
        file.write(data)
    return count


def _cut_packet(segment: Segment, orig_len: int, shift: int) -> tuple[bytes, int]:
    """The packet of ``segment`` as it went on the wire with ``orig_len``
    payload bytes, of which it keeps those of ``segment.payload``; and its
    length on the wire.  (The checksum covers zeros in place of the bytes not
    kept, as nobody can verify it on a cut packet.)"""
    kept = bytes(segment.payload)
    whole = segment._replace(payload=kept + bytes(orig_len - len(kept)))
    packet = whole.encode(window_shift=shift)
    return packet[: len(packet) - orig_len + len(kept)], len(packet)


def _file_header(
    view: memoryview,
) -> tuple[str, float, Callable[[memoryview], memoryview | None]]:
    """Byte order, timestamp divisor and link-layer stripper of a pcap file."""
    if len(view) < _FILE_HEADER.size:
        raise ValueError(f"not a pcap file: {len(view)} bytes is shorter than the header")
    magic_le = struct.unpack_from("<I", view)[0]
    magic_be = struct.unpack_from(">I", view)[0]
    if magic_le in (_MAGIC_USEC, _MAGIC_NSEC):
        order, magic = "<", magic_le
    elif magic_be in (_MAGIC_USEC, _MAGIC_NSEC):
        order, magic = ">", magic_be
    else:
        raise ValueError(f"not a classic pcap file: magic {view[:4].hex()}")
    divisor = 1e9 if magic == _MAGIC_NSEC else 1e6
    linktype = struct.unpack_from(order + "I", view, 20)[0] & 0xFFFF
    strip: Callable[[memoryview], memoryview | None]
    if linktype in (LINKTYPE_RAW, LINKTYPE_IPV4):
        strip = _strip_raw
    elif linktype == LINKTYPE_ETHERNET:
        strip = _strip_ethernet
    elif linktype == LINKTYPE_LINUX_SLL:
        strip = _strip_sll
    else:
        raise ValueError(f"unsupported pcap link type {linktype}")
    return order, divisor, strip


def read_pcap(
    file: str | os.PathLike[str] | BinaryIO, *, verify_checksums: bool = True
) -> list[tuple[float, Segment]]:
    """Read a classic libpcap file into ``(time, segment)`` pairs, in file order.

    Either byte order, microsecond or nanosecond timestamps; link types raw
    IPv4 (101, 228), Ethernet (1) and Linux cooked capture (113).  Windows
    are unscaled again as :func:`write_pcap` scaled them.  Packets that are
    not IP on Ethernet or cooked captures are skipped.  Pass
    ``verify_checksums=False`` for a capture of the kernel's own loopback
    traffic, whose TCP checksums are left to (absent) hardware offload.

    Raises ``ValueError`` for a file that is not a readable pcap, and
    :class:`~aiotcpsim.segment.SegmentDecodeError` (a ``ValueError``) for
    a packet that is not a well-formed TCP/IP segment.
    """
    if isinstance(file, str | os.PathLike):
        with open(file, "rb") as f:
            data = f.read()
    else:
        data = file.read()
    view = memoryview(data)
    order, divisor, strip = _file_header(view)
    record = struct.Struct(order + "IIII")
    scaling = _WindowScaling()
    out: list[tuple[float, Segment]] = []
    offset = _FILE_HEADER.size
    while offset < len(view):
        if offset + record.size > len(view):
            raise ValueError(f"pcap truncated in a record header at byte {offset}")
        seconds, frac, incl_len, orig_len = record.unpack_from(view, offset)
        offset += record.size
        if offset + incl_len > len(view):
            raise ValueError(f"pcap truncated in a packet at byte {offset}")
        if incl_len < orig_len:
            raise ValueError(f"packet at byte {offset} was cut by the snap length")
        packet = strip(view[offset : offset + incl_len])
        offset += incl_len
        if packet is None:
            continue
        segment = Segment.decode(packet, verify_checksums=verify_checksums)
        shift = scaling.shift(segment)
        if shift:
            segment = segment._replace(window=segment.window << shift)
        out.append((seconds + frac / divisor, segment))
    return out


def _strip_raw(frame: memoryview) -> memoryview | None:
    return frame


_IP_ETHERTYPES = (b"\x08\x00", b"\x86\xdd")  # IPv4, IPv6


def _strip_ethernet(frame: memoryview) -> memoryview | None:
    if len(frame) < 14 or bytes(frame[12:14]) not in _IP_ETHERTYPES:
        return None  # not IP
    return _trim_padding(frame[14:])


def _strip_sll(frame: memoryview) -> memoryview | None:
    if len(frame) < 16 or bytes(frame[14:16]) not in _IP_ETHERTYPES:
        return None
    return _trim_padding(frame[16:])


def _trim_padding(packet: memoryview) -> memoryview:
    """Drop the link layer's padding after the IP packet (Ethernet frames are at least 60 bytes)."""
    if len(packet) >= 6 and packet[0] >> 4 == 6:
        total = 40 + ((packet[4] << 8) | packet[5])
        if total < len(packet):
            return packet[:total]
    elif len(packet) >= 4:
        total = (packet[2] << 8) | packet[3]
        if 20 <= total < len(packet):
            return packet[:total]
    return packet
