"""Bad input at the public entry points: each raises at once, with the exception
a kernel socket would raise or a TypeError/ValueError naming the argument, and
the network stays usable (a connection still runs afterwards)."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiotcpsim import TcpConfig
from aiotcpsim.net import Network
from aiotcpsim.segment import ACK, Segment
from aiotcpsim.stack.host import Host
from aiotcpsim.tcp import Connection, State

SEG = Segment("10.0.0.1", 1, "10.0.0.2", 2, 0, 0, ACK, 0)
NAN = math.nan
INF = math.inf
DOCUMENTED = (TypeError, ValueError, OverflowError, OSError)  # gaierror is an OSError


def make_net() -> tuple[Network, Host, Host]:
    net = Network(seed=1)
    return net, net.add_host("client"), net.add_host("server")


def still_runs(net: Network, client: Host, server: Host) -> None:
    """connect, send, recv, close on a fresh port: the network is still usable."""
    listener = server.listen(0)
    conn = client.connect(server.ip, listener.port)
    net.advance(net.now + 1.0)
    child = listener.accept()
    assert child is not None and conn.state is State.ESTABLISHED
    conn.send(b"ping", net.now)
    net.advance(net.now + 1.0)
    assert child.recv(100, net.now) == b"ping"
    conn.close(net.now)
    child.close(net.now)
    net.advance(net.now + 1.0)
    listener.close()


def established(net: Network, client: Host, server: Host) -> Connection:
    listener = server.listen(0)
    conn = client.connect(server.ip, listener.port)
    net.advance(net.now + 1.0)
    return conn


# -- each case, message pinned --------------------------------------------------------
# A wrong type is refused by the compiled build's typed entry points before the
# function's own check runs: those messages read "<type> object expected; got ...".

CASES: list[tuple[str, type[Exception], str, Callable[[Network, Host, Host], Any]]] = [
    (
        "connect None",
        TypeError,
        "ip must be a str|str object expected",
        lambda n, c, s: c.connect(None, 80),
    ),  # type: ignore[arg-type]
    (
        "connect int",
        TypeError,
        "ip must be a str|str object expected",
        lambda n, c, s: c.connect(123, 80),
    ),  # type: ignore[arg-type]
    (
        "connect syn_retries",
        ValueError,
        "syn_retries must be an int >= 0",
        lambda n, c, s: c.connect(s.ip, 80, syn_retries=-3),
    ),
    (
        "listen garbage ip",
        ValueError,
        "ip must be an IP address",
        lambda n, c, s: s.listen(0, ip="garbage"),
    ),
    (
        "bind int ip",
        TypeError,
        "ip must be an IP address|str or None object expected",
        lambda n, c, s: s.bind(0, ip=5),
    ),  # type: ignore[arg-type]
    (
        "link int",
        TypeError,
        "a must be a Host|object expected",
        lambda n, c, s: n.link(5, "server"),
    ),  # type: ignore[arg-type]
    (
        "link foreign host",
        ValueError,
        "b: host 'server' belongs to another network",
        lambda n, c, s: n.link(c, Network(seed=2).add_host("server")),
    ),
    (
        "call_at nan",
        ValueError,
        "when must be finite",
        lambda n, c, s: n.call_at(NAN, lambda: None),
    ),
    (
        "call_at None callback",
        TypeError,
        "callback must be callable",
        lambda n, c, s: n.call_at(1, None),
    ),  # type: ignore[arg-type]
    (
        "call_at str",
        TypeError,
        "when must be a real number|float object expected",
        lambda n, c, s: n.call_at("1", lambda: None),
    ),  # type: ignore[arg-type]
    (
        "call_later inf",
        ValueError,
        "delay must be finite",
        lambda n, c, s: n.call_later(INF, lambda: None),
    ),
    ("advance nan", ValueError, "now must be finite", lambda n, c, s: n.advance(NAN)),
    ("advance inf", ValueError, "now must be finite", lambda n, c, s: n.advance(INF)),
    (
        "run_until_idle nan",
        ValueError,
        "limit must be finite",
        lambda n, c, s: n.run_until_idle(NAN),
    ),
    ("drop state=5", TypeError, "state must be a State", lambda n, c, s: n.faults.drop(state=5)),
    (
        "inject_reset str",
        TypeError,
        "conn must be a Connection|Connection object expected",
        lambda n, c, s: n.faults.inject_reset("x"),
    ),  # type: ignore[arg-type]
    (
        "replay str",
        TypeError,
        "segment must be a Segment|object expected",
        lambda n, c, s: n.faults.replay("x"),
    ),  # type: ignore[arg-type]
    (
        "icmp_unreachable None",
        TypeError,
        "conn must be a Connection|Connection object expected",
        lambda n, c, s: n.faults.icmp_unreachable(None),  # type: ignore[arg-type]
    ),
    (
        "replay at nan",
        ValueError,
        "at must be finite",
        lambda n, c, s: n.faults.replay(SEG, at=NAN),
    ),
    (
        "inject_reset after nan",
        ValueError,
        "after must be a finite number",
        lambda n, c, s: n.faults.inject_reset(established(n, c, s), after=NAN),
    ),
    (
        "set_keepalive nan",
        ValueError,
        "keep-alive idle must be finite",
        lambda n, c, s: established(n, c, s).set_keepalive(True, idle=NAN),
    ),
    (
        "set_keepalive str",
        TypeError,
        "keep-alive count must be a number|int or None object expected",
        lambda n, c, s: established(n, c, s).set_keepalive(True, count=2.5),
    ),
]


@pytest.mark.parametrize(
    ("exc", "match", "call"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_argument_raises_at_once_and_network_stays_usable(
    exc: type[Exception], match: str, call: Callable[[Network, Host, Host], Any]
) -> None:
    net, client, server = make_net()
    with pytest.raises(exc, match=match):
        call(net, client, server)
    assert net.now < INF
    net.run_until_idle(net.now + 100.0)
    still_runs(net, client, server)


def test_segment_without_options_cannot_encode() -> None:
    try:
        seg = Segment("10.0.0.1", 1, "10.0.0.2", 2, 0, 0, ACK, 0, options=None)  # type: ignore[arg-type]
    except TypeError:  # the compiled build checks the field's type at construction
        return
    with pytest.raises(TypeError, match=r"Segment\.options must be TcpOptions|object expected"):
        seg.encode()


# The compiled build checks a field's type in the generated __init__, before
# __post_init__ names it: those messages name the type instead.
@pytest.mark.parametrize(
    ("field", "value", "exc", "match"),
    [
        ("mss", 1460.0, TypeError, r"TcpConfig\.mss must be int|int object expected"),
        ("syn_retries", 3.5, TypeError, r"TcpConfig\.syn_retries must be int|int object expected"),
        ("rto_min", "x", TypeError, r"TcpConfig\.rto_min must be float|float object expected"),
        ("rfc1337", "yes", TypeError, r"TcpConfig\.rfc1337 must be bool|bool object expected"),
        ("ephemeral_ports", [1, 2], TypeError, r"TcpConfig\.ephemeral_ports must be tuple|tuple"),
        ("rto_min", NAN, ValueError, r"TcpConfig\.rto_min must be finite"),
        ("time_wait", INF, ValueError, r"TcpConfig\.time_wait must be finite"),
    ],
)
def test_tcp_config_names_the_field(
    field: str, value: object, exc: type[Exception], match: str
) -> None:
    with pytest.raises(exc, match=match):
        TcpConfig(**{field: value})


# -- any value at the public API ------------------------------------------------------------

ANY = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-2, max_value=70000),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["10.0.0.2", "server", "127.0.0.1", "ESTABLISHED", "exact", "SYN"]),
    st.binary(max_size=12),
    st.builds(object),
    st.lists(st.integers(), max_size=3),
)


def _calls(net: Network, client: Host, server: Host) -> dict[str, Callable[[Any, Any], Any]]:
    conn = established(net, client, server)
    return {
        "Network": lambda a, b: Network(seed=a),
        "add_host": lambda a, b: net.add_host(a, b),
        "link.update": lambda a, b: net.link("client", "server").update(delay=a, loss=b),
        "connect": lambda a, b: client.connect(a, b),
        "connect syn_retries": lambda a, b: client.connect(server.ip, 80, syn_retries=a),
        "listen": lambda a, b: server.listen(a, backlog=b),
        "listen ip": lambda a, b: server.listen(0, ip=a),
        "bind": lambda a, b: server.bind(a, ip=b),
        "send": lambda a, b: conn.send(a, net.now),
        "recv": lambda a, b: conn.recv(a, net.now),
        "set_keepalive": lambda a, b: conn.set_keepalive(True, idle=a, count=b),
        "drop": lambda a, b: net.faults.drop(state=a, src=b).remove(),
        "delay": lambda a, b: net.faults.delay(a, src=b).remove(),
        "partition": lambda a, b: net.faults.partition([a], [b]).heal(),
        "inject_reset": lambda a, b: net.faults.inject_reset(conn, seq=a, after=b),
        "call_at": lambda a, b: net.call_at(a, lambda: None),
        "call_later": lambda a, b: net.call_later(a, b),
        "advance": lambda a, b: net.advance(a),
        "TcpConfig": lambda a, b: TcpConfig(mss=a, rto_min=b),
        "TcpConfig flags": lambda a, b: TcpConfig(rfc1337=a, time_wait=b),
    }


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(which=st.sampled_from(sorted(_calls(*make_net()))), a=ANY, b=ANY)
def test_any_value_raises_only_documented_errors(which: str, a: Any, b: Any) -> None:
    net, client, server = make_net()
    with contextlib.suppress(*DOCUMENTED):
        _calls(net, client, server)[which](a, b)
    assert not math.isnan(net.now) and net.now < INF
    net.faults.clear()
    net.link("client", "server").update(delay=0.0, loss=0.0)
    net.run_until_idle(net.now + 200.0)
    still_runs(net, client, server)
