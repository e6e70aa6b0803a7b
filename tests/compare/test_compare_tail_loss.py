"""A lost tail repaired by a tail loss probe and RACK: the kernel's TCP and the simulation's.

A client and a server exchange ``WARMUP`` small request/response messages
over a path of ``DELAY`` each way (an RTT of 20 ms; the client's SRTT is then
about 20 ms and the probe timeout 2 SRTT + 2 ms, about 42 ms), then the client
writes ``SEGMENTS`` full segments at once (``TCP_NODELAY``) and the path loses
the last one or two of them (the cases).  The server answers ``REPLY`` bytes
once it holds the whole write.  What both TCPs do (RFC 8985; Linux's
``tcp_schedule_loss_probe``, ``tcp_send_loss_probe``, ``tcp_rack_mark_lost``):
no ACK comes for the tail, so a probe timeout later the client resends its
last segment (there is no new data); the probe's ACK (a SACK when a hole is
left) lets RACK mark the other lost segment and fast recovery resends it; no
retransmission timeout fires.

Checked, against the kernel measured now and against ``RECORDED`` (one such
measurement on the development machine, so the simulation's half still runs
where namespaces cannot be made): loss probes sent (``TCPLossProbes``; the
simulation's ``snapshot()["congestion"]["loss_probes"]``), retransmission
timeouts (``TCPTimeouts``; the simulation's ``backoff``), fast-recovery
episodes (``TCPSackRecovery``; the simulation's entries into CA_Recovery),
retransmitted segments (``tcpi_total_retrans``; ``connection.retransmissions``),
and the time from the write to the reply within ``TIME_SLACK``.

The kernel side: two network namespaces (unique names, always deleted) joined
by two TUN devices (MTU 1500, no offloads) and :mod:`netem_support`'s relay,
which delays every packet by ``DELAY`` and drops the client's data packets by
their index (``--drop``: the warm-up requests are packets 0 to ``WARMUP`` - 1,
the write's segments the next ``SEGMENTS``); the relay's report of the data
packets' lengths checks that the write left as ``SEGMENTS`` full packets.
Client and server are child processes running this file (``python
test_compare_tail_loss.py server|client ...``).  It needs root (``ip netns
add``); where that fails the kernel cases skip, naming the command and its
error.  Real time: about 1.5 s (the two cases in parallel).

The simulation side: the same exchange on :class:`aiotcpsim.Network` with
``delay=DELAY``; a send tap drops the same data segments by index and counts
recovery episodes; virtual time, deterministic.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import select
import socket
import subprocess
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import netem_support
import pytest

import aiotcpsim
from aiotcpsim.tcp.cc import CA_RECOVERY

PORT = 5203
DELAY = 0.01
"""One-way delay, seconds, each direction (an RTT of 20 ms)."""
MSS = 1448
"""The segment size over an MTU of 1500 with timestamps."""
SEGMENTS = 5
WRITE = SEGMENTS * MSS
WARMUP = 5
"""Request/response exchanges (``REQUEST`` bytes each way) before the write."""
REQUEST = 100
REPLY = 100
POLL = 0.0005
"""Seconds between two ``TCP_INFO`` reads while the client waits for the reply."""
SEED = 1

TIME_SLACK = 0.02
"""The retransmissions' times and the write-to-reply time, kernel against
simulation, within 20 ms (measured: the kernel 7-11 ms later; its delayed-ACK
and probe timers fire a few 4 ms jiffies late, the relay's Python scheduling
adds a fraction of a millisecond per packet)."""

ATTEMPTS = 12
"""Kernel runs per case at most.  Linux ignores the SACK of a retransmission
whose RTT is below ``min_rtt`` (``tcp_rack_advance``: it may be the
original's; the simulation's scoreboard does the same).  The probe's ACK is
a bare kernel ACK and ``min_rtt`` the fastest warm-up sample, so the relay's
jitter (a fraction of a millisecond) sometimes puts the probe below it: RACK
then marks nothing and the hole waits for the RTO (measured on the
development machine: about one ``last-two-lost`` run in two, e.g. a probe
RTT of 20.30 ms under a ``min_rtt`` of 20.505 ms, then an RTO at 0.353 s and
no recovery; ``last-one-lost`` has no hole for RACK and never did).  On exact virtual time
that does not happen, so such a kernel run is set aside (kept in
``Repair.ignored``, printed) and the case run again: twelve times at most,
so that at one run in two all of them miss about once in 4,000 test runs."""

CASES = {"last-two-lost": (SEGMENTS - 2, SEGMENTS - 1), "last-one-lost": (SEGMENTS - 1,)}
"""The cases by name: which of the write's segments (0-based) the path loses."""


@dataclass
class Repair:
    """What one side saw from the write to the reply."""

    backend: str
    seconds: float
    """From the write to the client's read of the whole reply."""
    loss_probes: int
    timeouts: int
    recoveries: int
    retransmitted: int
    times: list[float] = field(default_factory=list)
    """Seconds after the write at which a retransmission went (the kernel's
    from ``TCP_INFO`` polled every ``POLL`` s)."""
    srtt: float = 0.0
    """The client's smoothed RTT just before the write, seconds."""
    min_rtt: float = 0.0
    """The client's minimum RTT just before the write, seconds."""
    ignored: list[dict[str, Any]] = field(default_factory=list)
    """Kernel runs set aside before this one (see ``ATTEMPTS``): their figures."""


RECORDED = {
    "last-two-lost": Repair(
        "recorded", 0.1616, loss_probes=1, timeouts=0, recoveries=1, retransmitted=2,
        times=[0.1209, 0.1414], srtt=0.020477,
    ),
    "last-one-lost": Repair(
        "recorded", 0.2658, loss_probes=1, timeouts=0, recoveries=0, retransmitted=1,
        times=[0.2455], srtt=0.020468,
    ),
}  # fmt: skip
"""Linux 6.18 on the development machine, one run of this module's kernel
side.  Over eight runs the probe went at 118.5-122.3 ms (last two lost, the
seven runs not set aside) and 245.5-248.0 ms (last one lost) after the write,
the write-to-reply time 0.1592-0.1628 s and 0.2658-0.2684 s; the simulation
says 112 and 240 ms, 0.152 and 0.260 s."""


# -- the kernel side ---------------------------------------------------------------------


def kernel_repair(lost: tuple[int, ...]) -> Repair:
    """One run on Linux, in two namespaces of its own joined by the relay.

    Raises :class:`netem_support.Unavailable` naming the command that failed."""
    drop = [str(WARMUP + k) for k in lost]
    with netem_support.namespace() as a, netem_support.namespace() as b:
        run = netem_support.run_command
        tun_a, tun_b = f"tla{a[-8:]}", f"tlb{a[-8:]}"
        relay = netem_support.child(
            a, "relay", tun_a, tun_b, "--delay", str(DELAY), "--drop", *drop,
            stdin=subprocess.PIPE,
        )  # fmt: skip
        try:
            netem_support.wait_ready(relay, "relay")
            run("ip", "-n", a, "link", "set", tun_b, "netns", b)
            for ns, dev, host in ((a, tun_a, 1), (b, tun_b, 2)):
                run("ip", "-n", ns, "addr", "add", f"{netem_support.TUN_NET}.{host}/24", "dev", dev)
                run("ip", "-n", ns, "link", "set", dev, "up")
            server = netem_support.child(b, "server", program=__file__)
            try:
                netem_support.wait_ready(server, "server")
                client = netem_support.child(
                    a, "client", f"{netem_support.TUN_NET}.2", program=__file__
                )
                result = netem_support.finish(client, "client", 20)
                netem_support.finish(server, "server", 5)
            finally:
                if server.poll() is None:
                    server.kill()
                    server.communicate()
        finally:
            assert relay.stdin is not None
            relay.stdin.close()  # the relay stops at EOF on stdin
            relay.stdin = None
            try:
                relay_text, _ = relay.communicate(timeout=5)
            except subprocess.TimeoutExpired:
                relay.kill()
                relay.communicate()
                raise
    relay_out = json.loads(relay_text.strip().splitlines()[-1])
    write_packets = relay_out["data_lengths_ab"][WARMUP : WARMUP + SEGMENTS]
    if write_packets != [MSS + 52] * SEGMENTS or len(relay_out["dropped_lengths"]) != len(lost):
        raise AssertionError(f"the write did not leave as {SEGMENTS} full segments: {relay_out}")
    counters = result["netstat"]
    return Repair(
        "kernel",
        result["seconds"],
        loss_probes=counters["TCPLossProbes"],
        timeouts=counters["TCPTimeouts"],
        recoveries=counters["TCPSackRecovery"],
        retransmitted=result["after"]["total_retrans"] - result["before"]["total_retrans"],
        times=result["times"],
        srtt=result["before"]["rtt"] / 1e6,
        min_rtt=result["before"].get("min_rtt", 0) / 1e6,
    )


def kernel_repair_attempts(lost: tuple[int, ...]) -> Repair:
    """:func:`kernel_repair` until a run's probe was not filtered out by the
    kernel's jitter (at most ``ATTEMPTS`` runs; the last one otherwise)."""
    ignored: list[dict[str, Any]] = []
    for _ in range(ATTEMPTS):
        repair = kernel_repair(lost)
        if repair.timeouts == 0:
            break
        ignored.append(asdict(repair))
    repair.ignored = ignored
    return repair


def _read(sock: socket.socket, size: int) -> None:
    received = 0
    while received < size:
        chunk = sock.recv(size - received)
        if not chunk:
            raise ConnectionError("the peer closed early")
        received += len(chunk)


def server_main() -> None:
    """Answer the warm-up requests, then ``REPLY`` bytes once the write is in."""
    with socket.create_server(("", PORT)) as listener:
        print("ready", flush=True)
        conn, _ = listener.accept()
        with conn:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for _ in range(WARMUP):
                _read(conn, REQUEST)
                conn.sendall(bytes(REQUEST))
            _read(conn, WRITE)
            conn.sendall(bytes(REPLY))
            while conn.recv(65536):
                pass
    print(json.dumps({}), flush=True)


def client_main(server_ip: str) -> dict[str, Any]:
    """Warm up, write the segments, poll ``TCP_INFO`` until the reply is in."""
    sock = socket.create_connection((server_ip, PORT), timeout=5)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    with contextlib.suppress(OSError):  # a new namespace may default to BBR
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, b"cubic")
    for _ in range(WARMUP):
        sock.sendall(bytes(REQUEST))
        _read(sock, REQUEST)
    before_info = netem_support.tcp_info(sock)
    before = netem_support.proc_counters()
    sock.setblocking(False)
    start = time.monotonic()
    sock.send(bytes(WRITE))
    total, received, times = before_info["total_retrans"], 0, []
    deadline = start + 10
    while received < REPLY and time.monotonic() < deadline:
        readable, _, _ = select.select([sock], [], [], POLL)
        if readable:
            received += len(sock.recv(REPLY))
        now = time.monotonic()
        info = netem_support.tcp_info(sock)
        if info["total_retrans"] != total:
            times += [round(now - start, 4)] * (info["total_retrans"] - total)
            total = info["total_retrans"]
    seconds = time.monotonic() - start
    after_info = netem_support.tcp_info(sock)
    after = netem_support.proc_counters()
    sock.close()
    names = ("TCPLossProbes", "TCPTimeouts", "TCPSackRecovery", "RetransSegs")
    return {
        "seconds": round(seconds, 4),
        "received": received,
        "times": times,
        "before": before_info,
        "after": after_info,
        "netstat": {k: after.get(k, 0) - before.get(k, 0) for k in names},
    }


# -- the simulation ----------------------------------------------------------------------


def sim_repair(lost: tuple[int, ...]) -> Repair:
    """The same run on the simulated network; a send tap drops the segments."""
    net = aiotcpsim.Network(seed=SEED, delay=DELAY)
    server_host = net.add_host("server")
    client_host = net.add_host("client")
    drop = {WARMUP + k for k in lost}
    data_sent = 0
    recoveries = 0
    in_recovery = False
    start = 0.0
    times: list[float] = []

    def tap(src: Any, segment: Any, retransmission: bool) -> bool:
        nonlocal data_sent, recoveries, in_recovery
        if src is not client_host or not segment.payload:
            return True
        for conn in src.connections():
            now_in = conn.snapshot()["congestion"]["ca_state"] == CA_RECOVERY
            recoveries += now_in and not in_recovery
            in_recovery = now_in
        if retransmission:
            times.append(round(net.now - start, 6))
        data_sent += 1
        return data_sent - 1 not in drop

    net.set_send_tap(tap)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(WARMUP):
            await reader.readexactly(REQUEST)
            writer.write(bytes(REQUEST))
        await reader.readexactly(WRITE)
        writer.write(bytes(REPLY))
        writer.close()

    async def main() -> tuple[float, dict[str, Any], dict[str, Any], int]:
        nonlocal start
        with server_host.current():
            server = await asyncio.start_server(serve, port=PORT)
        with client_host.current():
            reader, writer = await asyncio.open_connection("server", PORT)
        for _ in range(WARMUP):
            writer.write(bytes(REQUEST))
            await reader.readexactly(REQUEST)
        (conn,) = client_host.connections()
        before, retrans = conn.snapshot(), conn.retransmissions
        start = net.now
        writer.write(bytes(WRITE))
        await reader.readexactly(REPLY)
        seconds = net.now - start
        after, retrans = conn.snapshot(), conn.retransmissions - retrans
        writer.close()
        server.close()
        return seconds, before, after, retrans

    seconds, before, after, retrans = aiotcpsim.run(main(), network=net)
    return Repair(
        "sim",
        round(seconds, 6),
        loss_probes=after["congestion"]["loss_probes"] - before["congestion"]["loss_probes"],
        timeouts=after["backoff"],
        recoveries=recoveries,
        retransmitted=retrans,
        times=times,
        srtt=before["srtt"],
    )


# -- the comparison ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def linux() -> dict[str, Repair | str]:
    """Both cases on the kernel, in parallel: the figures, or why there are none."""
    return netem_support.kernel_cases(CASES, kernel_repair_attempts)


@pytest.fixture(scope="module")
def sims() -> dict[str, Repair]:
    return {name: sim_repair(lost) for name, lost in CASES.items()}


@pytest.fixture(params=list(CASES))
def case(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture(params=["linux", "recorded"])
def reference(request: pytest.FixtureRequest, case: str) -> Repair:
    if request.param == "recorded":
        return RECORDED[case]
    figures: Repair = netem_support.or_skip(request.getfixturevalue("linux")[case])
    return figures


@pytest.fixture
def sim(sims: dict[str, Repair], case: str) -> Repair:
    return sims[case]


def test_set_aside_kernel_runs_only_missed_the_probe_sack(linux: dict[str, Repair | str]) -> None:
    """The kernel runs set aside (``ATTEMPTS``) all show the one signature of
    a probe SACK ignored by the ``min_rtt`` filter: the probe, then the RTO."""
    for repair in linux.values():
        if isinstance(repair, str):
            pytest.skip(repair)
        for run in repair.ignored:
            figures = (run["loss_probes"], run["timeouts"], run["recoveries"])
            assert figures == (1, 1, 0), run
        assert repair.timeouts == 0, repair


def test_probe_then_recovery_without_a_timeout(reference: Repair, sim: Repair) -> None:
    observed = (reference.loss_probes, reference.timeouts, reference.recoveries)
    assert (sim.loss_probes, sim.timeouts, sim.recoveries) == observed


def test_as_many_retransmissions(reference: Repair, sim: Repair) -> None:
    assert sim.retransmitted == reference.retransmitted, (reference.times, sim.times)


def test_probe_and_repair_at_about_the_same_times(reference: Repair, sim: Repair) -> None:
    """The probe two SRTTs after the last ACK (the server's delayed ACK of
    the last segment that arrived), RACK's resend one RTT after the probe."""
    assert sim.times == pytest.approx(reference.times, abs=TIME_SLACK)


def test_repaired_in_about_the_same_time(reference: Repair, sim: Repair) -> None:
    assert sim.seconds == pytest.approx(reference.seconds, abs=TIME_SLACK)


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
