"""What a fault rule matches, and whether it can match at all: validation up front.

Rule owned here: a targeted fault rule is checked once, when it is made --
flag names (``parse_flags``), TCP state names, hosts and ports -- and refused
with a message saying why when no segment sent by a correct TCP can meet its
criteria (a SYN with payload, a FIN from TIME-WAIT...).  The resulting
:class:`Match` is evaluated per segment, cheapest test first.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final

from ...segment import ACK, FIN, RST, SYN, Flags, Segment
from ...stack.host import Host
from ...tcp import State

if TYPE_CHECKING:
    from ..network import BaseNetwork

__all__ = ["Match", "parse_flags", "sender_state"]


_FLAG_NAMES: Final = {f.name: int(f) for f in Flags if f.name is not None}
_FLAG_LETTERS: Final = {"S": SYN, "F": FIN, "R": RST, "P": int(Flags.PSH), ".": ACK}
_CONTROL: Final = SYN | FIN | RST | ACK


def parse_flags(value: str | int | Flags, what: str = "flags") -> int:
    """``"SYN|ACK"``, ``"syn,ack"``, tcpdump's ``"S."`` or a :class:`Flags` value, as an int.

    Raises:
        ValueError: an unknown flag name.
    """
    if isinstance(value, int):
        if not 0 <= value <= 0xFF:
            raise ValueError(f"{what} must be TCP flag bits within 0..0xFF, got {value!r}")
        return int(value)
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str like 'SYN|ACK' or Flags, got {value!r}")
    text = value.strip()
    if text and all(c in _FLAG_LETTERS for c in text):
        bits = 0
        for c in text:
            bits |= _FLAG_LETTERS[c]
        return bits
    bits = 0
    for part in text.replace(",", "|").replace("+", "|").replace(" ", "|").split("|"):
        if not part:
            continue
        name = part.upper()
        if name not in _FLAG_NAMES:
            raise ValueError(
                f"unknown TCP flag {part!r} in {what}={value!r}; "
                f"expected names from {', '.join(_FLAG_NAMES)} joined by '|'"
            )
        bits |= _FLAG_NAMES[name]
    if not bits:
        raise ValueError(f"{what}={value!r} names no flag")
    return bits


def _never_sent(bits: int) -> str | None:
    """Why a segment carrying all of ``bits`` is never sent by this TCP, or None."""
    if bits & SYN and bits & FIN:
        return "SYN with FIN is never sent by a TCP (no T/TCP)"
    if bits & SYN and bits & RST:
        return "SYN with RST is never sent by a TCP"
    if bits & FIN and bits & RST:
        return "FIN with RST is never sent by a TCP"
    return None


def _parse_states(value: Any) -> frozenset[State]:
    if isinstance(value, (str, State)):
        items: Iterable[Any] = [value]
    elif isinstance(value, (list, tuple, set, frozenset)):
        items = value
    else:
        raise TypeError(f"state must be a State, its name or a collection of them, got {value!r}")
    out = set()
    for item in items:
        if isinstance(item, State):
            out.add(item)
            continue
        if not isinstance(item, str):
            raise TypeError(f"state must be a State or its name, got {item!r}")
        key = item.strip().upper().replace("-", "_")
        try:
            out.add(State[key])
        except KeyError:
            names = ", ".join(str(s) for s in State)
            raise ValueError(f"unknown TCP state {item!r}; expected one of {names}") from None
    if not out:
        raise ValueError("state must name at least one TCP state")
    return frozenset(out)


def _impossible_for_state(state: State, must: int, payload: bool | None) -> str | None:
    """Why no segment sent by a TCB in ``state`` can carry the flags ``must``
    (and payload), or None.  The state is the sender's after the transition
    the segment announces (the final ACK of a close is sent in TIME-WAIT)."""
    if state is State.LISTEN:
        return "a socket in LISTEN sends no segment (the stack's resets count as CLOSED)"
    if must & SYN and state not in (State.SYN_SENT, State.SYN_RECEIVED):
        return f"a TCP in {state} never sends a SYN"
    if must & FIN and state in (
        State.SYN_SENT,
        State.SYN_RECEIVED,
        State.FIN_WAIT_2,
        State.TIME_WAIT,
        State.CLOSED,
    ):
        return f"a TCP in {state} never sends a FIN"
    if payload and state in (
        State.SYN_SENT,
        State.SYN_RECEIVED,
        State.FIN_WAIT_2,
        State.TIME_WAIT,
        State.CLOSED,
    ):
        return f"a TCP in {state} never sends data"
    if state is State.CLOSED and must and not must & RST:
        return "only resets are sent in CLOSED (by the stack, for segments matching no socket)"
    return None


def _exact_flags(flags: str | int) -> int:
    """The bits of ``flags=``, refused when no TCP sends exactly these."""
    bits = parse_flags(flags, "flags")
    why = _never_sent(bits)
    control = bits & ~(int(Flags.ECE) | int(Flags.CWR))
    if why is None and not bits & ACK and control != SYN and bits != RST:
        why = (
            "after the SYN every segment carries ACK (RFC 9293 3.10.7.4), "
            "so only a SYN or a bare RST goes without it"
        )
    if why:
        raise ValueError(f"rule can never match flags={flags!r}: {why}")
    return bits


class Match:
    """What a rule matches; built and validated once, evaluated per segment."""

    __slots__ = (
        "dst_ips",
        "dst_port",
        "either_ips",
        "either_port",
        "exact",
        "exact_mask",
        "payload",
        "src_ips",
        "src_port",
        "states",
        "with_bits",
        "without_bits",
    )

    def __init__(
        self,
        net: BaseNetwork,
        *,
        src: Any = None,
        dst: Any = None,
        host: Any = None,
        src_port: int | None = None,
        dst_port: int | None = None,
        port: int | None = None,
        flags: str | int | None = None,
        with_flags: str | int | None = None,
        without_flags: str | int | None = None,
        payload: bool | None = None,
        state: Any = None,
    ) -> None:
        self.src_ips = _addresses(net, "src", src)
        self.dst_ips = _addresses(net, "dst", dst)
        self.either_ips = _addresses(net, "host", host)
        self.src_port = _port("src_port", src_port)
        self.dst_port = _port("dst_port", dst_port)
        self.either_port = _port("port", port)
        if payload is not None and not isinstance(payload, bool):
            raise TypeError(f"payload must be True, False or None, got {payload!r}")
        self.payload = payload
        self.exact: int | None = None
        self.exact_mask = 0
        if flags is not None:
            self.exact = _exact_flags(flags)
            self.exact_mask = _CONTROL | self.exact
        self.with_bits = parse_flags(with_flags, "with_flags") if with_flags is not None else 0
        self.without_bits = (
            parse_flags(without_flags, "without_flags") if without_flags is not None else 0
        )
        self._check_flag_sets(flags, with_flags, without_flags)
        must = (self.exact or 0) | self.with_bits
        if payload and must & (SYN | RST):
            what = "SYN" if must & SYN else "RST"
            raise ValueError(
                f"rule can never match a {what} with payload: this TCP sends no data "
                f"on a {what} (no TCP Fast Open, no RST diagnostics)"
            )
        self.states: frozenset[State] | None = None
        if state is not None:
            states = _parse_states(state)
            reasons = [_impossible_for_state(s, must, payload) for s in sorted(states, key=str)]
            if all(reasons):
                raise ValueError(f"rule can never match state={state!r}: {reasons[0]}")
            self.states = states

    def _check_flag_sets(self, flags: Any, with_flags: Any, without_flags: Any) -> None:
        """Refuse ``flags``, ``with_flags`` and ``without_flags`` that contradict."""
        why = _never_sent(self.with_bits)
        if why:
            raise ValueError(f"rule can never match with_flags={with_flags!r}: {why}")
        if self.with_bits & self.without_bits:
            raise ValueError(
                f"rule can never match: with_flags={with_flags!r} and "
                f"without_flags={without_flags!r} share a flag"
            )
        if self.exact is not None:
            if self.with_bits & self.exact_mask & ~self.exact:
                raise ValueError(
                    f"rule can never match: with_flags={with_flags!r} asks for a flag "
                    f"that flags={flags!r} excludes"
                )
            if self.without_bits & self.exact:
                raise ValueError(
                    f"rule can never match: without_flags={without_flags!r} excludes "
                    f"a flag of flags={flags!r}"
                )

    def names_hosts(self) -> bool:
        """True when the match is limited to some hosts (``src``, ``dst`` or ``host``)."""
        return not (self.src_ips is None and self.dst_ips is None and self.either_ips is None)

    def may_match_between(self, a: frozenset[str], b: frozenset[str]) -> bool:
        """Whether, by their addresses alone, segments between an address of
        ``a`` and one of ``b`` (either way) can match."""
        for src, dst in ((a, b), (b, a)):
            if self.src_ips is not None and not src & self.src_ips:
                continue
            if self.dst_ips is not None and not dst & self.dst_ips:
                continue
            if self.either_ips is not None and not (src | dst) & self.either_ips:
                continue
            return True
        return False

    def __call__(self, src: Host, seg: Segment) -> bool:
        flags = seg.flags
        if self.exact is not None and flags & self.exact_mask != self.exact:
            return False
        if flags & self.with_bits != self.with_bits or flags & self.without_bits:
            return False
        if self.payload is not None and bool(seg.payload) is not self.payload:
            return False
        if self.src_ips is not None and seg.src_ip not in self.src_ips:
            return False
        if self.dst_ips is not None and seg.dst_ip not in self.dst_ips:
            return False
        if self.either_ips is not None and not (
            seg.src_ip in self.either_ips or seg.dst_ip in self.either_ips
        ):
            return False
        if self.src_port is not None and seg.src_port != self.src_port:
            return False
        if self.dst_port is not None and seg.dst_port != self.dst_port:
            return False
        if self.either_port is not None and self.either_port not in (seg.src_port, seg.dst_port):
            return False
        return self.states is None or sender_state(src, seg) in self.states


def sender_state(host: Host, seg: Segment) -> State:
    """The TCP state of the connection that sent ``seg`` from ``host``.

    A segment that belongs to no registered connection is a SYN-ACK of a
    passive connection being created (SYN-RECEIVED), or a reset the stack
    sends for a segment that matched no socket (CLOSED)."""
    conn = host.lookup((seg.src_ip, seg.src_port, seg.dst_ip, seg.dst_port))
    if conn is not None:
        return conn.state
    if seg.flags & (SYN | ACK) == SYN | ACK:
        return State.SYN_RECEIVED
    if seg.flags & (SYN | ACK) == SYN:
        return State.SYN_SENT
    return State.CLOSED


def _addresses(net: BaseNetwork, what: str, value: Any) -> frozenset[str] | None:
    if value is None:
        return None
    items = [value] if isinstance(value, str) or not isinstance(value, Iterable) else value
    out = set()
    for item in items:
        if isinstance(item, str):
            host = net.find_host(item)
            if host is None:
                raise ValueError(f"{what}={item!r}: no such host on this network")
            out.update(_host_addresses(host))
        elif hasattr(item, "ip") and getattr(item, "network", None) is net:
            out.update(_host_addresses(item))
        else:
            raise TypeError(f"{what} must be a host, its name or its address, got {item!r}")
    return frozenset(out)


def _host_addresses(host: Any) -> list[str]:
    """A host's addresses: a rule naming a host matches either family."""
    ipv6 = getattr(host, "ipv6", None)
    return [host.ip] if ipv6 is None else [host.ip, ipv6]


def _port(what: str, value: int | None) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 65535:
        raise ValueError(f"{what} must be a port within 1..65535, got {value!r}")
    return value
