"""The retransmission ladder to a peer that stops answering: the kernel's TCP and the simulation's.

A client and an echo server exchange a few small messages (the client's SRTT
is then the path's RTT, about 0.1 ms), the server's end goes dark (a
"blackhole": nothing it is sent arrives, nothing comes back), and the client
sends one 100-byte segment.  What follows is the ladder of retransmissions
this module compares, over ``WINDOW`` seconds after the send:

* ``tcp_early_retrans = 3`` (Linux's default, RFC 8985 section 7): the first
  retransmission is a tail loss probe (``tcp_send_loss_probe``) at
  min(2 SRTT + rto_min, RTO), about 0.2 s; the RTO then restarts from the
  probe without backing off, and doubles at each expiry: 0.2, 0.4, 0.8, 1.6,
  3.2 s (the second gap equals the first, then each is twice the previous one).
* ``tcp_early_retrans = 0``: no probe, the bare RFC 6298 ladder 0.2, 0.6,
  1.4, 3.0 s (gaps doubling from the first).

Checked, against the kernel measured now and against ``RECORDED`` (the same
measurement on the development machine, so the simulation's side still runs
where namespaces cannot be made): the number of retransmissions in the
window, the first one's time within ``FIRST_SLACK``, the ratios of successive
gaps within ``RATIO_REL`` (the kernel's timers run on jiffies and add a few
ms to every gap: 206, 208, 424, 832, 1660 ms where the simulation says 200,
200, 400, 800, 1600), the loss probes sent (``TCPLossProbes``; the
simulation's ``snapshot()["congestion"]["loss_probes"]``) and the RTO
expiries (``TCPTimeouts`` and ``tcpi_backoff``; the simulation's
``snapshot()["backoff"]``).

The kernel side: two network namespaces (unique names, always deleted) joined
by a veth pair, the echo server in one and the client in the other, each a
child process running this file (``python test_compare_blackhole.py server|
client ...``, through :func:`netem_support.child`).  The client warms the RTT
up, removes the server's address (``ip -n NS addr flush dev vb``: the server's
namespace then drops what arrives and answers nothing), sends, and polls
``TCP_INFO`` every half millisecond, noting when ``tcpi_total_retrans`` moves;
the counters are its namespace's ``/proc/net/netstat``.  ``tcp_early_retrans``
is a per-namespace sysctl, set in the client's namespace.  It needs root (``ip
netns add``); where that fails the kernel cases skip, naming the command and
its error.  Real time: about 4.5 s (the two cases run in parallel, each
``WINDOW`` = 3.6 s plus the setup).

The simulation side: the same exchange on :class:`aiotcpsim.Network` with
``delay=DELAY`` each way (an RTT of 0.1 ms, as the veth's), then
``net.link(client, server).update(loss=1.0)``, the send, and the times of the
client's retransmissions from a send tap; deterministic, virtual time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import socket
import subprocess
import time
from dataclasses import dataclass
from typing import Any

import netem_support
import pytest

import aiotcpsim

PORT = 5202
NET = "10.202.0"
SEGMENT = 100
WARMUP = 10
"""Echo exchanges before the blackhole: SRTT and RTTVAR then reflect the path."""
PAUSE = 0.002
"""Seconds between two warm-up exchanges."""
WINDOW = 3.6
"""Seconds observed after the send: five retransmissions with the probe
(the sixth is due at 6.4 s), four without (the fifth at 6.2 s)."""
POLL = 0.0005
DELAY = 0.00005
"""The simulation's one-way delay: an RTT of 0.1 ms, the veth pair's."""
SEED = 1

FIRST_SLACK = 0.02
"""The first retransmission, kernel against simulation, within 20 ms."""
RATIO_REL = 0.1
TIMER_SLACK = 0.008
"""Ratios of successive gaps, kernel against simulation, within 10 % plus
``TIMER_SLACK`` over the earlier gap (the kernel's timers fire up to a few
jiffies late: 8 ms on a 200 ms gap is 4 % of the ratio)."""

CASES = {"loss-probe": 3, "no-loss-probe": 0}
"""The cases by name: the client's ``tcp_early_retrans``."""


@dataclass
class Ladder:
    """What one side saw after the send."""

    backend: str
    times: list[float]
    """Seconds after the send at which a retransmission went."""
    loss_probes: int
    """Tail loss probes sent (``TCPLossProbes``)."""
    timeouts: int
    """RTO expiries (``TCPTimeouts``; the simulation's backoff at the end, as it
    backs off once per expiry and nothing here resets it)."""
    backoff: int
    """The RTO's backoff exponent at the end (``tcpi_backoff``)."""
    srtt: float = 0.0
    """The client's smoothed RTT just before the send, seconds."""
    rto: float = 0.0
    """The client's RTO just before the send, seconds."""

    @property
    def gaps(self) -> list[float]:
        """The send to the first retransmission, then between successive ones."""
        return [b - a for a, b in itertools.pairwise([0.0, *self.times])]

    @property
    def ratios(self) -> list[float]:
        """Each gap over the one before it."""
        return [b / a for a, b in itertools.pairwise(self.gaps)]


RECORDED = {
    "loss-probe": Ladder(
        "recorded", [0.2046, 0.4128, 0.8449, 1.6767, 3.3446], loss_probes=1, timeouts=4, backoff=4
    ),
    "no-loss-probe": Ladder(
        "recorded", [0.2069, 0.6309, 1.4671, 3.1312], loss_probes=0, timeouts=4, backoff=4
    ),
}
"""Linux 6.18 on the development machine, one run of this module's kernel side
(SRTT 23-30 us, ``tcpi_rto`` 204 ms: 200 ms + SRTT rounded up to 4 ms jiffies).
Over three runs the gaps were 205-212, 208, 424-432, 832, 1664-1668 ms with
the probe and 204-211, 424-440, 828-836, 1663-1664 ms without: the RTO
rounded up to the timer wheel's granularity (4 ms below 256 ms, 32 ms up to
2 s)."""


# -- the kernel side ---------------------------------------------------------------------


def kernel_ladder(early_retrans: int) -> Ladder:
    """One blackhole run on Linux, in two namespaces of its own.

    Raises :class:`netem_support.Unavailable` naming the command that failed
    where the namespaces, the veth pair or the sysctl cannot be had."""
    with netem_support.namespace() as a, netem_support.namespace() as b:
        run = netem_support.run_command
        veth = ("ip", "link", "add", "name", "va", "netns", a, "type", "veth")
        run(*veth, "peer", "name", "vb", "netns", b)
        for ns, dev, host in ((a, "va", 1), (b, "vb", 2)):
            run("ip", "-n", ns, "addr", "add", f"{NET}.{host}/24", "dev", dev)
            run("ip", "-n", ns, "link", "set", dev, "up")
        run(
            "ip", "netns", "exec", a, "sysctl", "-qw", f"net.ipv4.tcp_early_retrans={early_retrans}"
        )
        server = netem_support.child(b, "server", program=__file__)
        try:
            netem_support.wait_ready(server, "echo server")
            client = netem_support.child(a, "client", f"{NET}.2", b, "vb", program=__file__)
            result = netem_support.finish(client, "client", WINDOW + 10)
        finally:
            server.kill()
            server.communicate()
    if result["early_retrans"] != str(early_retrans):
        raise netem_support.Unavailable(
            f"tcp_early_retrans is {result['early_retrans']} in the client's namespace"
        )
    before, after, counters = result["before"], result["after"], result["netstat"]
    return Ladder(
        "kernel",
        result["times"],
        loss_probes=counters["TCPLossProbes"],
        timeouts=counters["TCPTimeouts"],
        backoff=after["backoff"],
        srtt=before["rtt"] / 1e6,
        rto=before["rto"] / 1e6,
    )


def server_main() -> None:
    """Echo what one client sends, until it goes (or this process is killed)."""
    with socket.create_server(("", PORT)) as listener:
        print("ready", flush=True)
        conn, _ = listener.accept()
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data)


def client_main(server_ip: str, server_ns: str, server_dev: str) -> dict[str, Any]:
    """Warm up, blackhole the server, send one segment, watch the retransmissions."""
    sock = socket.create_connection((server_ip, PORT), timeout=5)
    with contextlib.suppress(OSError):  # a new namespace may default to BBR
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, b"cubic")
    for _ in range(WARMUP):
        sock.sendall(bytes(SEGMENT))
        received = 0
        while received < SEGMENT:
            received += len(sock.recv(SEGMENT - received))
        time.sleep(PAUSE)
    subprocess.run(["ip", "-n", server_ns, "addr", "flush", "dev", server_dev], check=True)
    before_info = netem_support.tcp_info(sock)
    before = netem_support.proc_counters()
    start = time.monotonic()
    sock.send(bytes(SEGMENT))
    total = before_info["total_retrans"]
    times: list[float] = []
    while (now := time.monotonic()) - start < WINDOW:
        info = netem_support.tcp_info(sock)
        if info["total_retrans"] != total:
            times += [round(now - start, 4)] * (info["total_retrans"] - total)
            total = info["total_retrans"]
        time.sleep(POLL)
    after = netem_support.proc_counters()
    with open("/proc/sys/net/ipv4/tcp_early_retrans") as f:
        early_retrans = f.read().strip()
    sock.close()
    names = ("TCPLossProbes", "TCPTimeouts", "RetransSegs")
    return {
        "times": times,
        "before": before_info,
        "after": info,
        "netstat": {k: after.get(k, 0) - before.get(k, 0) for k in names},
        "early_retrans": early_retrans,
    }


# -- the simulation ----------------------------------------------------------------------


def sim_ladder(early_retrans: int) -> Ladder:
    """The same run on the simulated network, the link dropping everything."""
    net = aiotcpsim.Network(seed=SEED, delay=DELAY)
    server_host = net.add_host("server")
    client_host = net.add_host("client", tcp=aiotcpsim.TcpConfig(early_retrans=early_retrans))
    sent: list[float] = []

    def tap(src: Any, segment: Any, retransmission: bool) -> bool:
        if src is client_host and retransmission and segment.payload:
            sent.append(net.now)
        return True

    net.set_send_tap(tap)

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
        writer.close()

    async def main() -> tuple[float, dict[str, Any], dict[str, Any]]:
        with server_host.current():
            server = await asyncio.start_server(echo, port=PORT)
        with client_host.current():
            reader, writer = await asyncio.open_connection("server", PORT)
        for _ in range(WARMUP):
            writer.write(bytes(SEGMENT))
            await reader.readexactly(SEGMENT)
            await asyncio.sleep(PAUSE)
        (conn,) = client_host.connections()
        before = conn.snapshot()
        net.link(client_host, server_host).update(loss=1.0)
        start = net.now
        writer.write(bytes(SEGMENT))
        await asyncio.sleep(WINDOW)
        after = conn.snapshot()
        writer.transport.abort()
        server.close()
        return start, before, after

    start, before, after = aiotcpsim.run(main(), network=net)
    return Ladder(
        "sim",
        [round(t - start, 6) for t in sent],
        loss_probes=after["congestion"]["loss_probes"],
        timeouts=after["backoff"],
        backoff=after["backoff"],
        srtt=before["srtt"],
        rto=before["rto"],
    )


# -- the comparison ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def linux() -> dict[str, Ladder | str]:
    """Both cases on the kernel, in parallel: the figures, or why there are none."""
    return netem_support.kernel_cases(CASES, kernel_ladder)


@pytest.fixture(scope="module")
def sims() -> dict[str, Ladder]:
    return {name: sim_ladder(value) for name, value in CASES.items()}


@pytest.fixture(params=list(CASES))
def case(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture(params=["linux", "recorded"])
def reference(request: pytest.FixtureRequest, case: str) -> Ladder:
    if request.param == "recorded":
        return RECORDED[case]
    figures: Ladder = netem_support.or_skip(request.getfixturevalue("linux")[case])
    return figures


@pytest.fixture
def sim(sims: dict[str, Ladder], case: str) -> Ladder:
    return sims[case]


def test_as_many_retransmissions_in_the_window(reference: Ladder, sim: Ladder) -> None:
    assert len(sim.times) == len(reference.times), (reference.times, sim.times)


def test_first_retransmission_at_about_the_rto(reference: Ladder, sim: Ladder) -> None:
    assert sim.times[0] == pytest.approx(reference.times[0], abs=FIRST_SLACK)


def test_gap_ratios(reference: Ladder, sim: Ladder) -> None:
    """No backoff after a probe (a ratio of 1), doubling after each RTO (2)."""
    gaps = sim.gaps
    for i, (want, got) in enumerate(zip(reference.ratios, sim.ratios, strict=True)):
        slack = RATIO_REL * want + TIMER_SLACK / gaps[i]
        assert got == pytest.approx(want, abs=slack), (i, reference.gaps, gaps)


def test_loss_probes_and_timeouts(reference: Ladder, sim: Ladder) -> None:
    """One probe with ``tcp_early_retrans = 3``, none with 0; every other
    retransmission an RTO expiry that backed the RTO off once more."""
    observed = [reference.loss_probes, reference.timeouts, reference.backoff]
    assert [sim.loss_probes, sim.timeouts, sim.backoff] == observed
    for ladder in (reference, sim):
        assert ladder.loss_probes + ladder.timeouts == len(ladder.times)


def test_simulated_ladders(sims: dict[str, Ladder]) -> None:
    """The simulation's own figures, exactly (virtual time): the RTO is
    SRTT + rto_min at an RTT of 0.1 ms."""
    probe, bare = sims["loss-probe"], sims["no-loss-probe"]
    assert probe.times == pytest.approx([0.2001, 0.4002, 0.8004, 1.6008, 3.2016], abs=1e-4)
    assert bare.times == pytest.approx([0.2001, 0.6003, 1.4007, 3.0015], abs=1e-4)


def _main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["server", "client"])
    parser.add_argument("args", nargs="*")
    args = parser.parse_args()
    if args.role == "server":
        server_main()
    else:
        print(json.dumps(client_main(*args.args)), flush=True)


if __name__ == "__main__":
    _main()
