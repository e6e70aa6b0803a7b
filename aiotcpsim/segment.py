"""The wire: TCP segments as small immutable values, and sequence arithmetic.

A :class:`Segment` is what one TCP/IPv4 packet carries: addresses, ports,
sequence and acknowledgment numbers, control flags, window, options and
payload.  Its repr reads like tcpdump::

    <10.0.0.1:40000 > 10.0.0.2:8080 SYN|ACK seq=1000 ack=2001 win=65535 len=0>

Sequence numbers live in a 32-bit space (RFC 9293 section 3.4); compare and
add them only through :func:`seq_lt`, :func:`seq_le`, :func:`seq_add` and
:func:`seq_diff`, which survive wraparound.
"""

from __future__ import annotations

import enum
from typing import NamedTuple

__all__ = [
    "Flags",
    "Segment",
    "TcpOptions",
    "seq_add",
    "seq_diff",
    "seq_le",
    "seq_lt",
]

_MASK = 0xFFFFFFFF


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
FIN = 0x01
SYN = 0x02
RST = 0x04
PSH = 0x08
ACK = 0x10
URG = 0x20

_FLAG_ORDER = (
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

    Only MSS is acted upon; window scale, SACK-permitted and timestamps are
    carried and encoded so captures look real.
    """

    mss: int | None = None
    wscale: int | None = None
    sack_permitted: bool = False
    timestamps: tuple[int, int] | None = None

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
        return "[" + ",".join(parts) + "]"


NO_OPTIONS = TcpOptions()


class Segment(NamedTuple):
    """One TCP segment, immutable.

    ``payload`` is a bytes-like object that is never copied on its way
    through the network (retransmissions slice the sender's buffer again).
    """

    src_ip: str
    src_port: int
    dst_ip: str
    dst_port: int
    seq: int
    ack: int
    flags: int
    window: int
    payload: bytes | memoryview = b""
    options: TcpOptions = NO_OPTIONS

    @property
    def seg_len(self) -> int:
        """SEG.LEN: payload length plus one for SYN and one for FIN (RFC 9293 section 3.4)."""
        return len(self.payload) + (self.flags & SYN) // SYN + (self.flags & FIN)

    @property
    def src(self) -> tuple[str, int]:
        return (self.src_ip, self.src_port)

    @property
    def dst(self) -> tuple[str, int]:
        return (self.dst_ip, self.dst_port)

    def flag_text(self) -> str:
        return flag_names(self.flags)

    def __repr__(self) -> str:
        text = (
            f"<{self.src_ip}:{self.src_port} > {self.dst_ip}:{self.dst_port} "
            f"{flag_names(self.flags)} seq={self.seq}"
        )
        if self.flags & ACK:
            text += f" ack={self.ack}"
        text += f" win={self.window} len={len(self.payload)}"
        if self.options != NO_OPTIONS:
            text += f" {self.options!r}"
        return text + ">"
