"""IPv6 in the sans-I/O core (issue 11): addresses, hosts, segments, listeners, pcap.

Kernel behaviour these tests follow (checked with real sockets on Linux, see
tests/compare/test_compare_ipv6.py for the parts loopback can show): a ``::``
listener is dual-stack unless IPV6_V6ONLY, it conflicts with ``0.0.0.0`` on
the same port unless V6ONLY, the MSS over IPv6 is 20 bytes smaller.
"""

from __future__ import annotations

import errno
import pathlib
import shutil
import subprocess

import pytest

from aiotcpsim import Network
from aiotcpsim.addresses import mapped, parse_ip, precedence, sort_destinations, unmapped
from aiotcpsim.net.network import NEIGHBOUR_TIMEOUT, default_ipv6
from aiotcpsim.segment import SYN, Segment
from aiotcpsim.tcp.state import CLOSED, ESTABLISHED, SYN_SENT


def dual() -> tuple[Network, object, object]:
    net = Network(seed=3)
    client = net.add_host("client", ipv6=True)
    server = net.add_host("server", ipv6="fd00:0:0:0:0:0:0:99")
    return net, client, server


# -- addresses --------------------------------------------------------------------------


def test_parse_ip_gives_one_canonical_form() -> None:
    assert parse_ip("0:0:0:0:0:0:0:1") == "::1"
    assert parse_ip("FD00:0::2") == "fd00::2"
    assert parse_ip("127.000.0.1") == "127.0.0.1"
    assert parse_ip("::ffff:10.0.0.1") == "::ffff:10.0.0.1"
    assert parse_ip("server") is None
    assert parse_ip("1.2.3") is None
    assert parse_ip("fe80::1%eth0") is None
    assert unmapped("::ffff:10.0.0.1") == "10.0.0.1"
    assert mapped("10.0.0.1") == "::ffff:10.0.0.1"
    assert mapped("fd00::1") == "fd00::1"


def test_rfc6724_order_puts_ula_below_ipv4_and_loopback_above() -> None:
    assert precedence("::1") == 50
    assert precedence("10.0.0.1") == 35
    assert precedence("fd00::1") == 3
    assert precedence("2001:db8::1") == 40
    assert sort_destinations(["127.0.0.1", "::1"]) == ["::1", "127.0.0.1"]
    assert sort_destinations(["10.0.0.2", "fd00::2"]) == ["10.0.0.2", "fd00::2"]
    assert sort_destinations(["10.0.0.2", "2001:db8::2"]) == ["2001:db8::2", "10.0.0.2"]


# -- hosts and names ----------------------------------------------------------------------


def test_add_host_ipv6_default_explicit_and_none() -> None:
    net = Network(seed=1)
    plain = net.add_host("plain")
    auto = net.add_host("auto", ipv6=True)
    given = net.add_host("given", "192.168.1.5", ipv6="2001:DB8::5")
    assert plain.ipv6 is None
    assert auto.ipv6 == default_ipv6(auto.ip) == "fd00::2"
    assert default_ipv6("192.168.1.5") == "fd00::1:c0a8:105"
    assert given.ipv6 == "2001:db8::5"
    assert net.find_host("2001:db8::5") is given
    assert net.resolve_all("plain") == [plain.ip]
    assert net.resolve_all("auto") == ["10.0.0.2", "fd00::2"]  # ULA below IPv4
    assert net.resolve_all("given") == ["2001:db8::5", "192.168.1.5"]  # global above
    assert net.resolve_all("localhost") == ["::1", "127.0.0.1"]
    assert net.localhost.ipv6 == "::1"


def test_network_ipv6_true_makes_every_host_dual_stack() -> None:
    net = Network(seed=1, ipv6=True)
    assert net.add_host("a").ipv6 == "fd00::1"
    assert net.add_host("b", ipv6=False).ipv6 is None


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"ipv6": "::1"}, ValueError, "ipv6 ::1 is the wildcard, loopback"),
        ({"ipv6": "::"}, ValueError, "ipv6 :: is the wildcard"),
        ({"ipv6": "::ffff:10.0.0.9"}, ValueError, "IPv4-mapped"),
        ({"ipv6": "nope"}, ValueError, "ipv6 'nope' is not an IPv6 address"),
        ({"ipv6": 6}, TypeError, "ipv6 must be a str"),
        ({"ip": "fd00::3"}, ValueError, r"not an IPv4 address \(give an IPv6 address as ipv6=\)"),
        ({"ipv6": "fd00::1"}, ValueError, "address fd00::1 already belongs to host 'taken'"),
    ],
)
def test_add_host_rejects_bad_ipv6(kwargs: dict[str, object], exc: type, match: str) -> None:
    net = Network(seed=1)
    net.add_host("taken", ipv6=True)
    with pytest.raises(exc, match=match):
        net.add_host("x", **kwargs)  # type: ignore[arg-type]


# -- connections ------------------------------------------------------------------------------


def test_connect_over_ipv6_keys_the_connection_by_canonical_addresses() -> None:
    net, client, server = dual()
    listener = server.listen(80, ip="::")
    conn = client.connect("fd00:0:0::99", 80)
    net.run_until_idle()
    assert conn.state is ESTABLISHED
    assert conn.key == ("fd00::1", conn.key[1], "fd00::99", 80)
    child = listener.accept()
    assert child.key == ("fd00::99", 80, "fd00::1", conn.key[1])
    assert conn.mss == 1440  # 1500 - 40 (IPv6) - 20 (TCP)


def test_ipv6_loopback_has_its_own_mss_and_stays_on_the_host() -> None:
    net, client, server = dual()
    server.listen(80, ip="::1")
    refused = client.connect("::1", 80)  # the client's own ::1: nobody listens
    ok = server.connect("::1", 80)
    net.run_until_idle()
    assert refused.state is CLOSED and refused.error == errno.ECONNREFUSED
    assert ok.state is ESTABLISHED
    assert ok.mss == 65476  # announced: 65536 - 40 - 20 (with timestamps, data carries 12 less)
    assert ok.key[0] == "::1"


def test_dual_stack_listener_takes_ipv4_with_ipv4_tuples() -> None:
    net, client, server = dual()
    listener = server.listen(80, ip="::")
    conn = client.connect(server.ip, 80)
    net.run_until_idle()
    assert conn.state is ESTABLISHED
    child = listener.accept()
    assert child.key == (server.ip, 80, client.ip, conn.key[1])  # IPv4 on the wire


def test_v6only_listener_refuses_ipv4_and_shares_the_port_with_0000() -> None:
    net, client, server = dual()
    six = server.listen(80, ip="::", v6only=True)
    refused = client.connect(server.ip, 80)
    net.run_until_idle()
    assert refused.error == errno.ECONNREFUSED
    four = server.listen(80)  # 0.0.0.0 beside a V6ONLY ::
    a = client.connect(server.ip, 80)
    b = client.connect(server.ipv6, 80)
    net.run_until_idle()
    assert a.state is ESTABLISHED and b.state is ESTABLISHED
    assert four.accept().key[0] == server.ip
    assert six.accept().key[0] == server.ipv6


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({"ip": "::"}, {"ip": None}),
        ({"ip": None}, {"ip": "::"}),
        ({"ip": "::"}, {"ip": "10.0.0.2"}),
        ({"ip": "::"}, {"ip": "::"}),
        ({"ip": "::", "v6only": True}, {"ip": "fd00::99"}),
    ],
)
def test_bind_conflicts_across_families_as_linux(
    first: dict[str, object], second: dict[str, object]
) -> None:
    _, _, server = dual()
    server.listen(80, **first)  # type: ignore[arg-type]
    with pytest.raises(OSError, match="Address already in use") as info:
        server.listen(80, **second)  # type: ignore[arg-type]
    assert info.value.errno == errno.EADDRINUSE


def test_ipv6_without_an_address_is_unreachable_at_once() -> None:
    net = Network(seed=1)
    plain = net.add_host("plain")
    net.add_host("six", ipv6=True)
    with pytest.raises(OSError, match="Network is unreachable"):
        plain.connect("fd00::2", 80)
    with pytest.raises(OSError, match="Network is unreachable"):
        net.host("six").connect("2001:db8::1", 80)  # no route off fd00::/64


def test_ipv6_on_link_address_nobody_owns_fails_with_ehostunreach() -> None:
    net, client, _ = dual()
    conn = client.connect("fd00::77", 80)
    net.run_until_idle(limit=NEIGHBOUR_TIMEOUT - 0.1)
    assert conn.state is SYN_SENT
    net.run_until_idle(limit=NEIGHBOUR_TIMEOUT + 0.1)
    assert conn.error == errno.EHOSTUNREACH


def test_localhost_reaches_ipv6_hosts_from_an_outside_address() -> None:
    net, _, server = dual()
    server.listen(80, ip="::")
    conn = net.localhost.connect("server", 80)
    conn6 = net.localhost.connect(server.ipv6, 80)
    net.run_until_idle()
    assert conn.state is ESTABLISHED and conn6.state is ESTABLISHED
    assert conn6.key[0].startswith("fd00::")


def test_partition_cuts_both_families() -> None:
    net, client, server = dual()
    server.listen(80, ip="::")
    net.faults.partition(client, server)
    four = client.connect(server.ip, 80)
    six = client.connect(server.ipv6, 80)
    net.run_until_idle(limit=10.0)
    assert four.state is SYN_SENT and six.state is SYN_SENT


def test_rule_naming_a_host_matches_its_ipv6_segments() -> None:
    net, client, server = dual()
    server.listen(80, ip="::")
    net.faults.drop(src=client, flags="SYN", count=1)
    six = client.connect(server.ipv6, 80)
    net.run_until_idle(limit=0.5)
    assert six.state is SYN_SENT  # its first SYN was dropped
    net.run_until_idle(limit=2.0)
    assert six.state is ESTABLISHED


# -- the wire and captures --------------------------------------------------------------------


def test_ipv6_segment_round_trips_with_its_checksum() -> None:
    seg = Segment("fd00::1", 40000, "fd00::2", 80, 1000, 0, SYN, 65535, b"data")
    raw = seg.encode()
    assert raw[0] >> 4 == 6 and len(raw) == 40 + 20 + 4
    assert Segment.decode(raw) == seg
    assert repr(seg).startswith("<[fd00::1]:40000 > [fd00::2]:80 SYN")
    broken = raw[:-1] + bytes([raw[-1] ^ 1])
    with pytest.raises(ValueError, match="bad TCP checksum"):
        Segment.decode(broken)


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")
def test_tshark_decodes_ipv6_segments_with_good_checksums(tmp_path: pathlib.Path) -> None:
    net, client, server = dual()
    server.listen(80, ip="::")
    conn = client.connect(server.ipv6, 80)
    net.run_until_idle()
    conn.send(b"hello over ipv6", net.now)
    net.run_until_idle()
    path = tmp_path / "six.pcap"
    net.trace.to_pcap(path)
    fields = ["ipv6.src", "ipv6.dst", "tcp.checksum.status", "tcp.flags", "_ws.malformed"]
    args = ["tshark", "-n", "-r", str(path), "-o", "tcp.check_checksum:TRUE", "-T", "fields"]
    for field in fields:
        args += ["-e", field]
    result = subprocess.run(
        args, capture_output=True, text=True, timeout=120, check=False, env={"HOME": str(tmp_path)}
    )
    assert result.returncode == 0, result.stderr
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert len(rows) >= 3
    for src, dst, status, _flags, malformed in rows:
        assert {src, dst} == {"fd00::1", "fd00::99"}
        assert status == "1"  # good (tshark: 0 bad, 1 good, 2 unverified)
        assert malformed == ""
