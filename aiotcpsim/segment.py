"""The wire: TCP segments as small immutable values, and sequence arithmetic.

A :class:`Segment` is what one TCP/IPv4 or TCP/IPv6 packet carries: addresses, ports,
sequence and acknowledgment numbers, control flags, window, options and
payload.  Its repr reads like tcpdump::

    <10.0.0.1:40000 > 10.0.0.2:8080 SYN|ACK seq=1000 ack=2001 win=65535 len=0>

Sequence numbers live in a 32-bit space (RFC 9293 section 3.4); compare and
add them only through :func:`seq_lt`, :func:`seq_le`, :func:`seq_add` and
:func:`seq_diff`, which survive wraparound.

:meth:`Segment.encode` turns a segment into the bytes of a real TCP-in-IPv4
packet (RFC 791, RFC 9293 section 3.1), or TCP-in-IPv6 when its addresses are
IPv6 (RFC 8200, pseudo-header of section 8.1), with correct checksums, and
:meth:`Segment.decode` parses such bytes back, raising
:class:`SegmentDecodeError` for anything malformed.  Captures
(``aiotcpsim/pcap.py``) and fuzzing build on these two.
"""

from __future__ import annotations

import enum
import socket
import struct
from typing import Final, NamedTuple

from .addresses import endpoint

__all__ = [
    "Flags",
    "Segment",
    "SegmentDecodeError",
    "TcpOptions",
    "seq_add",
    "seq_diff",
    "seq_le",
    "seq_lt",
]

_MASK: Final = 0xFFFFFFFF


class Flags(enum.IntFlag):
    """TCP control bits (RFC 9293 section 3.1, RFC 3168 for ECE and CWR)."""

    FIN = 0x01
    SYN = 0x02
    RST = 0x04
    PSH = 0x08
    ACK = 0x10
    URG = 0x20
    ECE = 0x40
    CWR = 0x80


# Plain ints for the hot paths: IntFlag arithmetic allocates enum members.
FIN: Final = 0x01
SYN: Final = 0x02
RST: Final = 0x04
PSH: Final = 0x08
ACK: Final = 0x10
URG: Final = 0x20

_FLAG_ORDER: Final = (
    (Flags.SYN, "SYN"),
    (Flags.FIN, "FIN"),
    (Flags.RST, "RST"),
    (Flags.PSH, "PSH"),
    (Flags.ACK, "ACK"),
    (Flags.URG, "URG"),
    (Flags.ECE, "ECE"),
    (Flags.CWR, "CWR"),
)
_flag_names: dict[int, str] = {}


def flag_names(flags: int) -> str:
    """``"SYN|ACK"`` for ``SYN | ACK``; ``"-"`` when no flag is set (cached)."""
    name = _flag_names.get(flags)
    if name is None:
        name = "|".join(text for bit, text in _FLAG_ORDER if flags & bit) or "-"
        _flag_names[flags] = name
    return name


def seq_add(a: int, n: int) -> int:
    """``a + n`` modulo 2**32."""
    return (a + n) & _MASK


def seq_diff(a: int, b: int) -> int:
    """The signed distance ``a - b`` in sequence space, within [-2**31, 2**31)."""
    d = (a - b) & _MASK
    return d - 0x100000000 if d & 0x80000000 else d


def seq_lt(a: int, b: int) -> bool:
    """``a < b`` in sequence space (RFC 1982 serial number arithmetic)."""
    return a != b and ((b - a) & _MASK) < 0x80000000


def seq_le(a: int, b: int) -> bool:
    """``a <= b`` in sequence space."""
    return ((b - a) & _MASK) < 0x80000000


class TcpOptions(NamedTuple):
    """The TCP options aiotcpsim understands (RFC 9293 section 3.2, RFC 7323, RFC 2018).

    ``sack`` holds the SACK blocks (RFC 2018 section 3): up to four
    ``(left, right)`` pairs of wire sequence numbers, the first block the one
    holding the most recently received segment, as Linux writes them.
    """

    mss: int | None = None
    wscale: int | None = None
    sack_permitted: bool = False
    timestamps: tuple[int, int] | None = None
    sack: tuple[tuple[int, int], ...] = ()

    def __repr__(self) -> str:
        parts = []
        if self.mss is not None:
            parts.append(f"mss {self.mss}")
        if self.sack_permitted:
            parts.append("sackOK")
        if self.timestamps is not None:
            parts.append(f"TS val {self.timestamps[0]} ecr {self.timestamps[1]}")
        if self.wscale is not None:
            parts.append(f"wscale {self.wscale}")
        if self.sack:
            blocks = "".join(f"{{{left}:{right}}}" for left, right in self.sack)
            parts.append(f"sack {len(self.sack)} {blocks}")
        return "[" + ",".join(parts) + "]"


NO_OPTIONS: Final = TcpOptions()


class SegmentDecodeError(ValueError):
    """Bytes that are not a well-formed TCP segment in an IPv4 packet.

    Raised by :meth:`Segment.decode` for every malformed input: a short or
    non-IPv4 header, a bad IHL or data offset, a total length that does not
    match, another protocol, a fragment, a bad IP or TCP checksum, truncated
    or invalid options.
    """


# -- wire format (RFC 791 section 3.1, RFC 9293 section 3.1) -----------------------

_IP_HEADER: Final = struct.Struct("!BBHHHBBH4s4s")
"""Version/IHL, TOS, total length, identification, flags/fragment offset,
TTL, protocol, header checksum, source, destination."""
_TCP_HEADER: Final = struct.Struct("!HHIIBBHHH")
"""Ports, sequence, acknowledgment, data offset, flags, window, checksum, urgent pointer."""
_PSEUDO_HEADER: Final = struct.Struct("!4s4sBBH")
"""RFC 9293 section 3.1: source, destination, zero, protocol, TCP length."""
_IP6_HEADER: Final = struct.Struct("!IHBB16s16s")
"""RFC 8200 section 3: version/traffic class/flow label, payload length, next
header, hop limit, source, destination."""
_PSEUDO_HEADER6: Final = struct.Struct("!16s16sIxxxB")
"""RFC 8200 section 8.1: source, destination, upper-layer length, zero, next header."""
_IP6_HEADER_LEN: Final = 40
_U16: Final = struct.Struct("!H")
_U32x2 = struct.Struct("!II")

_IP_VERSION_IHL: Final = 0x45
_IP_DF: Final = 0x4000
_IP_MF: Final = 0x2000
_IP_FRAGMENT_OFFSET: Final = 0x1FFF
_TTL: Final = 64
_PROTO_TCP: Final = 6
_IP_HEADER_LEN: Final = 20
_TCP_HEADER_LEN: Final = 20
_MAX_WINDOW_SHIFT: Final = 14
"""RFC 7323 section 2.3: a shift count above 14 is used as 14."""

_OPT_EOL: Final = 0
_OPT_NOP: Final = 1
_OPT_MSS: Final = 2
_OPT_WSCALE: Final = 3
_OPT_SACK_PERMITTED: Final = 4
_OPT_SACK: Final = 5
_MAX_OPTIONS_LEN: Final = 40
_OPT_TIMESTAMPS: Final = 8

_aton_cache: dict[str, bytes] = {}
_ntoa_cache: dict[bytes, str] = {}


def _aton(ip: str) -> bytes:
    packed = _aton_cache.get(ip)
    if packed is None:
        try:
            packed = socket.inet_aton(ip)
        except (OSError, TypeError) as exc:
            raise ValueError(f"not an IPv4 address: {ip!r}") from exc
        if len(_aton_cache) < 4096:
            _aton_cache[ip] = packed
    return packed


def _aton6(ip: str) -> bytes:
    packed = _aton_cache.get(ip)
    if packed is None:
        try:
            packed = socket.inet_pton(socket.AF_INET6, ip)
        except (OSError, TypeError, ValueError) as exc:
            raise ValueError(f"not an IPv6 address: {ip!r}") from exc
        if len(_aton_cache) < 4096:
            _aton_cache[ip] = packed
    return packed


def _ntoa(packed: bytes) -> str:
    ip = _ntoa_cache.get(packed)
    if ip is None:
        if len(packed) == 16:
            ip = socket.inet_ntop(socket.AF_INET6, packed)
        else:
            ip = socket.inet_ntoa(packed)
        if len(_ntoa_cache) < 4096:
            _ntoa_cache[packed] = ip
    return ip


def _ones_sum(data: bytes | bytearray | memoryview) -> int:
    """The 16-bit one's complement sum of ``data`` (RFC 1071), modulo 0xFFFF.

    Because 2**16 = 1 (mod 0xFFFF), the sum of the big-endian 16-bit words
    equals the whole buffer read as one big-endian integer, modulo 0xFFFF;
    an odd trailing byte is padded with a zero byte on the right.  The
    result is in [0, 0xFFFE]: 0 stands for both 0x0000 and 0xFFFF, which
    :func:`_fold_checksum` tells apart.
    """
    n = int.from_bytes(data, "big")
    if len(data) & 1:
        n <<= 8
    return n % 0xFFFF


def _fold_checksum(total: int) -> int:
    """The checksum field for a (never all-zero) buffer whose :func:`_ones_sum` is ``total``.

    End-around-carry addition of data that is not all zero never yields
    0x0000, so a sum of 0 modulo 0xFFFF is 0xFFFF and the checksum is 0.
    """
    return 0xFFFF - (total % 0xFFFF or 0xFFFF)


def _encode_options(options: TcpOptions) -> bytes:
    """Options in the order and layout Linux writes them (``tcp_options_write``):
    every option 4-byte aligned with NOPs, so no trailing padding is needed."""
    if options == NO_OPTIONS:
        return b""
    out = bytearray()
    if options.mss is not None:
        out += struct.pack("!BBH", _OPT_MSS, 4, options.mss)
    if options.timestamps is not None:
        if options.sack_permitted:
            out += bytes((_OPT_SACK_PERMITTED, 2, _OPT_TIMESTAMPS, 10))
        else:
            out += bytes((_OPT_NOP, _OPT_NOP, _OPT_TIMESTAMPS, 10))
        out += _U32x2.pack(*options.timestamps)
    elif options.sack_permitted:
        out += bytes((_OPT_NOP, _OPT_NOP, _OPT_SACK_PERMITTED, 2))
    if options.wscale is not None:
        out += bytes((_OPT_NOP, _OPT_WSCALE, 3, options.wscale))
    if options.sack:
        out += bytes((_OPT_NOP, _OPT_NOP, _OPT_SACK, 2 + 8 * len(options.sack)))
        for block in options.sack:
            out += _U32x2.pack(*block)
    if len(out) > _MAX_OPTIONS_LEN:
        raise ValueError(f"the options take {len(out)} bytes, more than the header's 40")
    return bytes(out)


def _decode_options(raw: memoryview) -> TcpOptions:
    """Parse the option bytes of a TCP header (RFC 9293 section 3.2).

    Unknown options with a well-formed length are skipped, as RFC 9293
    section 3.1 requires; a known option with the wrong length, a length
    below 2 or one running past the header is an error.
    """
    mss: int | None = None
    wscale: int | None = None
    sack_permitted = False
    timestamps: tuple[int, int] | None = None
    sack: tuple[tuple[int, int], ...] = ()
    i = 0
    end = len(raw)
    while i < end:
        kind = raw[i]
        if kind == _OPT_EOL:
            break
        if kind == _OPT_NOP:
            i += 1
            continue
        if i + 1 >= end:
            raise SegmentDecodeError(f"TCP option kind {kind} truncated: no length byte")
        length = raw[i + 1]
        if length < 2:
            raise SegmentDecodeError(f"TCP option kind {kind} has invalid length {length}")
        if i + length > end:
            raise SegmentDecodeError(
                f"TCP option kind {kind} of length {length} runs past the header"
            )
        if kind == _OPT_MSS:
            if length != 4:
                raise SegmentDecodeError(f"MSS option has length {length}, not 4")
            mss = (raw[i + 2] << 8) | raw[i + 3]
        elif kind == _OPT_WSCALE:
            if length != 3:
                raise SegmentDecodeError(f"window scale option has length {length}, not 3")
            wscale = raw[i + 2]
        elif kind == _OPT_SACK_PERMITTED:
            if length != 2:
                raise SegmentDecodeError(f"SACK-permitted option has length {length}, not 2")
            sack_permitted = True
        elif kind == _OPT_TIMESTAMPS:
            if length != 10:
                raise SegmentDecodeError(f"timestamps option has length {length}, not 10")
            tsval, tsecr = _U32x2.unpack_from(raw, i + 2)
            timestamps = (tsval, tsecr)
        elif kind == _OPT_SACK:
            if length < 10 or (length - 2) % 8:
                raise SegmentDecodeError(f"SACK option has length {length}, not 2 + 8n (n >= 1)")
            sack = tuple(_U32x2.unpack_from(raw, at) for at in range(i + 2, i + length, 8))
        i += length
    if mss is None and wscale is None and not sack_permitted and timestamps is None and not sack:
        return NO_OPTIONS
    return TcpOptions(mss, wscale, sack_permitted, timestamps, sack)


class Segment(NamedTuple):
    """One TCP segment, immutable.

    ``payload`` is a bytes-like object that is never copied on its way
    through the network (retransmissions slice the sender's buffer again).
    """

    src_ip: str
    """Source address, canonical (:mod:`aiotcpsim.addresses`): IPv4 or IPv6."""
    src_port: int
    """Source port."""
    dst_ip: str
    """Destination address, canonical, of the same family as ``src_ip``."""
    dst_port: int
    """Destination port."""
    seq: int
    """SEG.SEQ, modulo 2**32."""
    ack: int
    """SEG.ACK, modulo 2**32 (meaningful with the ACK flag)."""
    flags: int
    """The control bits, an int of :class:`Flags` values (``seg.flags & Flags.SYN``)."""
    window: int
    """SEG.WND, the receive window advertised (unscaled)."""
    payload: bytes | memoryview = b""
    """The data carried."""
    options: TcpOptions = NO_OPTIONS
    """The TCP options (:class:`TcpOptions`)."""

    @property
    def seg_len(self) -> int:
        """SEG.LEN: payload length plus one for SYN and one for FIN (RFC 9293 section 3.4)."""
        return len(self.payload) + (self.flags & SYN) // SYN + (self.flags & FIN)

    @property
    def src(self) -> tuple[str, int]:
        """``(src_ip, src_port)``."""
        return (self.src_ip, self.src_port)

    @property
    def dst(self) -> tuple[str, int]:
        """``(dst_ip, dst_port)``."""
        return (self.dst_ip, self.dst_port)

    def flag_text(self) -> str:
        """The flags as tcpdump-like text (``"SYN|ACK"``)."""
        return flag_names(self.flags)

    def encode(self, *, window_shift: int = 0) -> bytes:
        """The bytes of this segment as a TCP-in-IPv4 packet, checksums included
        (TCP-in-IPv6 for IPv6 addresses: a 40-byte header, version 6, traffic
        class and flow label 0, next header 6, hop limit 64, no extension header).

        The IPv4 header is 20 bytes: version 4, IHL 5, TOS 0, identification
        0, DF set (RFC 6864 allows a constant ID on atomic datagrams), TTL 64,
        protocol 6.  The TCP header carries every control bit of ``flags``
        (ECE and CWR too), urgent pointer 0, and the options in Linux's
        layout: MSS (kind 2), SACK-permitted (kind 4), timestamps (kind 8)
        and window scale (kind 3), NOP-aligned to 4 bytes.

        The simulation keeps windows unscaled, but the header field has 16
        bits.  With ``window_shift=0`` (the default) the field is
        ``min(window, 65535)``.  Once window scaling is in effect for the
        sender (RFC 7323: both SYNs carried the option), pass its shift count:
        the field is then ``min(window >> window_shift, 65535)``.  A SYN's
        window is never scaled (RFC 7323 section 2.2), so the shift is ignored
        for it.

        Raises ``TypeError`` when ``options`` is not a :class:`TcpOptions`, and
        ``ValueError`` when a field does not fit the wire format (an
        address that is not IPv4 dotted quad, a port, sequence number or
        option value out of range, a payload too long for one packet).
        """
        flags = self.flags
        window = self.window
        if window_shift and not flags & SYN:
            window >>= min(window_shift, _MAX_WINDOW_SHIFT)
        if window > 0xFFFF:
            window = 0xFFFF
        options = self.options
        if not isinstance(options, TcpOptions):
            raise TypeError(f"Segment.options must be TcpOptions, got {options!r}")
        payload = self.payload
        v6 = ":" in self.src_ip
        src = _aton6(self.src_ip) if v6 else _aton(self.src_ip)
        dst = _aton6(self.dst_ip) if v6 else _aton(self.dst_ip)
        try:
            opt = b"" if options == NO_OPTIONS else _encode_options(options)
            tcp_len = _TCP_HEADER_LEN + len(opt) + len(payload)
            size = tcp_len if v6 else _IP_HEADER_LEN + tcp_len  # what the length field holds
            if size > 0xFFFF:
                what = "IPv6" if v6 else "IPv4"
                raise ValueError(f"segment of {size} bytes does not fit one {what} packet")
            header = _TCP_HEADER.pack(
                self.src_port,
                self.dst_port,
                self.seq,
                self.ack,
                (_TCP_HEADER_LEN + len(opt)) << 2,
                flags,
                window,
                0,
                0,
            )
        except struct.error as exc:
            raise ValueError(f"cannot encode {self!r}: {exc}") from exc
        # The TCP header plus options is a multiple of 4 bytes, so the payload
        # starts on a 16-bit boundary and its sum simply adds up.
        total = _ones_sum(_pseudo_header(src, dst, tcp_len) + header + opt)
        if payload:
            total += _ones_sum(payload)
        checksum = _fold_checksum(total)
        return b"".join(
            (
                _ip_header(src, dst, tcp_len),
                header[:16],
                _U16.pack(checksum),
                header[18:],
                opt,
                payload,
            )
        )

    @classmethod
    def decode(
        cls,
        data: bytes | bytearray | memoryview,
        *,
        window_shift: int = 0,
        verify_checksums: bool = True,
    ) -> Segment:
        """Parse one TCP-in-IPv4 or TCP-in-IPv6 packet (as :meth:`encode` writes it, or as a
        kernel sends it) into a :class:`Segment`.

        IP options are skipped, unknown TCP options too.  Both checksums are
        verified unless ``verify_checksums`` is false (for captures of the
        kernel's own outgoing packets, whose TCP checksum is left to the
        network card and holds only the pseudo-header sum).
        ``window_shift`` is the sender's window scale once in effect: the
        window is ``field << window_shift`` (except on a SYN).  The payload
        is a copy (``bytes``).

        Raises :class:`SegmentDecodeError` for any malformed input, and only
        that: a short IP header, a version other than 4 or 6, an IPv6
        extension header, a bad IHL, a total
        length that differs from ``len(data)``, a fragment, a protocol other
        than TCP, a short TCP header, a bad data offset, a bad IP or TCP
        checksum, or truncated or invalid options.
        """
        view = memoryview(data).cast("B")
        if len(view) and view[0] >> 4 == 6:
            src, dst, ihl = _decode_ip6_header(view)
        else:
            src, dst, ihl = _decode_ip_header(view, verify_checksums)
        tcp = view[ihl:]
        tcp_len = len(tcp)
        if tcp_len < _TCP_HEADER_LEN:
            raise SegmentDecodeError(
                f"{tcp_len} bytes is shorter than a TCP header ({_TCP_HEADER_LEN} bytes)"
            )
        sport, dport, seq, ack, offset, flags, window, _checksum, _urgent = _TCP_HEADER.unpack_from(
            tcp
        )
        data_offset = (offset >> 4) * 4
        if data_offset < _TCP_HEADER_LEN:
            raise SegmentDecodeError(f"bad TCP data offset {offset >> 4}: below 5 words")
        if data_offset > tcp_len:
            raise SegmentDecodeError(
                f"TCP data offset {data_offset} bytes exceeds the {tcp_len} bytes of the segment"
            )
        pseudo = _pseudo_header(src, dst, tcp_len)
        if verify_checksums and (_ones_sum(pseudo) + _ones_sum(tcp)) % 0xFFFF != 0:
            raise SegmentDecodeError("bad TCP checksum")
        options = _decode_options(tcp[_TCP_HEADER_LEN:data_offset])
        if window_shift and not flags & SYN:
            window <<= min(window_shift, _MAX_WINDOW_SHIFT)
        return cls(
            _ntoa(bytes(src)),
            sport,
            _ntoa(bytes(dst)),
            dport,
            seq,
            ack,
            flags,
            window,
            bytes(tcp[data_offset:]),
            options,
        )

    def __repr__(self) -> str:
        return self.describe()

    def describe(self, length: int | None = None) -> str:
        """The repr, saying ``len=length`` when given: the length on the wire
        of a segment whose payload a trace kept only the head of."""
        if length is None:
            length = len(self.payload)
        text = (
            f"<{endpoint(self.src_ip, self.src_port)} > {endpoint(self.dst_ip, self.dst_port)} "
            f"{flag_names(self.flags)} seq={self.seq}"
        )
        if self.flags & ACK:
            text += f" ack={self.ack}"
        text += f" win={self.window} len={length}"
        if self.options != NO_OPTIONS:
            text += f" {self.options!r}"
        return text + ">"


def _pseudo_header(src: bytes, dst: bytes, tcp_len: int) -> bytes:
    """The pseudo-header the TCP checksum covers: IPv4's (RFC 9293 section
    3.1) or, for 16-byte addresses, IPv6's (RFC 8200 section 8.1)."""
    if len(src) == 16:
        return _PSEUDO_HEADER6.pack(src, dst, tcp_len, _PROTO_TCP)
    return _PSEUDO_HEADER.pack(src, dst, 0, _PROTO_TCP, tcp_len)


def _ip_header(src: bytes, dst: bytes, tcp_len: int) -> bytes:
    """The IP header of a packet carrying ``tcp_len`` bytes of TCP: IPv6 for
    16-byte addresses, else IPv4 with its header checksum."""
    if len(src) == 16:
        return _IP6_HEADER.pack(6 << 28, tcp_len, _PROTO_TCP, _TTL, src, dst)
    ip = _IP_HEADER.pack(
        _IP_VERSION_IHL, 0, _IP_HEADER_LEN + tcp_len, 0, _IP_DF, _TTL, _PROTO_TCP, 0, src, dst
    )
    return ip[:10] + _U16.pack(_fold_checksum(_ones_sum(ip))) + ip[12:]


def _decode_ip_header(view: memoryview, verify_checksums: bool) -> tuple[bytes, bytes, int]:
    """Check the IPv4 header of a packet that carries TCP: its source and
    destination addresses (4 bytes each) and its length.

    Raises :class:`SegmentDecodeError` as :meth:`Segment.decode` says.
    """
    size = len(view)
    if size < _IP_HEADER_LEN:
        raise SegmentDecodeError(
            f"{size} bytes is shorter than an IPv4 header ({_IP_HEADER_LEN} bytes)"
        )
    (
        version_ihl,
        _tos,
        total_len,
        _ident,
        fragment,
        _ttl,
        proto,
        _ip_checksum,
        src,
        dst,
    ) = _IP_HEADER.unpack_from(view)
    if version_ihl >> 4 != 4:
        raise SegmentDecodeError(f"not an IPv4 or IPv6 packet: version {version_ihl >> 4}")
    ihl = (version_ihl & 0x0F) * 4
    if ihl < _IP_HEADER_LEN:
        raise SegmentDecodeError(f"bad IHL {version_ihl & 0x0F}: below 5 words")
    if ihl > size:
        raise SegmentDecodeError(f"IHL {ihl} bytes exceeds the {size} bytes of the packet")
    if total_len != size:
        raise SegmentDecodeError(f"IP total length {total_len} does not match {size} bytes")
    if verify_checksums and _ones_sum(view[:ihl]) != 0:
        raise SegmentDecodeError("bad IPv4 header checksum")
    if fragment & (_IP_MF | _IP_FRAGMENT_OFFSET):
        raise SegmentDecodeError("IPv4 fragment: reassembly is not supported")
    if proto != _PROTO_TCP:
        raise SegmentDecodeError(f"not TCP: IP protocol {proto}")
    return src, dst, ihl


def _decode_ip6_header(view: memoryview) -> tuple[bytes, bytes, int]:
    """Check the IPv6 header of a packet that carries TCP (no extension
    headers): its source and destination addresses (16 bytes each) and its
    length, 40.  IPv6 has no header checksum (RFC 8200).

    Raises :class:`SegmentDecodeError` as :meth:`Segment.decode` says.
    """
    size = len(view)
    if size < _IP6_HEADER_LEN:
        raise SegmentDecodeError(
            f"{size} bytes is shorter than an IPv6 header ({_IP6_HEADER_LEN} bytes)"
        )
    _first, payload_len, next_header, _hops, src, dst = _IP6_HEADER.unpack_from(view)
    if payload_len != size - _IP6_HEADER_LEN:
        raise SegmentDecodeError(
            f"IPv6 payload length {payload_len} does not match {size - _IP6_HEADER_LEN} bytes"
        )
    if next_header != _PROTO_TCP:
        raise SegmentDecodeError(f"not TCP: IPv6 next header {next_header}")
    return src, dst, _IP6_HEADER_LEN
