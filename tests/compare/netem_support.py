"""A bulk transfer through an impaired path: the kernel's TCP and the simulation's.

The reference figures of issue 11: the same transfer (``size`` bytes from a
client to a server that reads to EOF and closes) over a path with a one-way
delay and a per-packet loss probability on *each* direction, data and ACKs
alike, on Linux and on :class:`aiotcpsim.Network`.  Each run returns a
:class:`Figures`: transfer time (from the client's ``connect()`` returning to
the client reading the server's EOF), retransmitted segments, recovery
episodes (fast recovery entered), retransmission timeouts, loss probes.

The kernel side runs in network namespaces this module makes (unique names,
always deleted, even on error) with one of two impairment methods:

* ``netem``: one namespace, Linux's ``sch_netem`` on its ``lo``
  (``tc qdisc add dev lo root netem delay D loss L``).  Every packet crosses
  ``lo``'s qdisc once, so data and ACKs are each delayed by D (RTT 2 D) and
  lost with probability L.  ``lo`` gets an MTU of 1500 and
  ``gso_max_segs 1``, so the qdisc sees one packet per segment (with GSO,
  netem would drop 64 KB super-packets at once).
* ``tun``: where ``sch_netem`` is missing (a kernel built without
  ``CONFIG_NET_SCH_NETEM``): two namespaces joined by two TUN devices
  (MTU 1500, no offloads) and a relay process that does netem's job in user
  space: each IP packet, either way, is lost with probability L or written to
  the other device D seconds later (a timer heap; no rate limit).

Both ends are kernel sockets in processes started with ``ip netns exec``
(this file is also the program they run: ``python netem_support.py relay|
server|client ...``); the client reads ``TCP_INFO`` (Linux's ``struct
tcp_info``) and ``/proc/net/netstat`` + ``/proc/net/snmp`` of its namespace,
and the namespace's TCP sysctls.  It sets ``TCP_CONGESTION`` to CUBIC (Linux's
default; a new namespace inherits the host's choice, BBR on some machines)
unless told otherwise.

The simulation side runs the same transfer with ``asyncio`` streams on a
:class:`aiotcpsim.Network` with ``delay=D, loss=L`` (every link, both
directions, per segment: ACKs are lost too), zero setup otherwise, on virtual
time; the counters come from a send tap (``net.set_send_tap``) that reads the
client connection's ``snapshot()`` when it sends.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import fcntl
import heapq
import json
import os
import random
import select
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import IO, Any, TypeVar

from aiotcpsim.tcp.cc import CA_RECOVERY

PORT = 5201
TUN_NET = "10.201.0"
SYSCTLS = (
    "tcp_congestion_control",
    "tcp_sack",
    "tcp_timestamps",
    "tcp_window_scaling",
    "tcp_recovery",
    "tcp_early_retrans",
    "tcp_rmem",
    "tcp_wmem",
)
NETSTAT = (
    "TCPSackRecovery",
    "TCPRenoRecovery",
    "TCPFastRetrans",
    "TCPSlowStartRetrans",
    "TCPTimeouts",
    "TCPLossProbes",
    "TCPLossProbeRecovery",
    "TCPLostRetransmit",
    "TCPDSACKRecv",
    "TCPSackRecoveryFail",
    "TCPRenoFailures",
)
# struct tcp_info (include/uapi/linux/tcp.h), in field order; native layout.
TCP_INFO_FIELDS = (
    ("8B", "state ca_state retransmits probes backoff options wscale app_limited"),
    (
        "24I",
        "rto ato snd_mss rcv_mss unacked sacked lost retrans fackets last_data_sent"
        " last_ack_sent last_data_recv last_ack_recv pmtu rcv_ssthresh rtt rttvar"
        " snd_ssthresh snd_cwnd advmss reordering rcv_rtt rcv_space total_retrans",
    ),
    ("4Q", "pacing_rate max_pacing_rate bytes_acked bytes_received"),
    ("6I", "segs_out segs_in notsent_bytes min_rtt data_segs_in data_segs_out"),
    ("4Q", "delivery_rate busy_time rwnd_limited sndbuf_limited"),
    ("2I", "delivered delivered_ce"),
    ("2Q", "bytes_sent bytes_retrans"),
    ("6I", "dsack_dups reord_seen rcv_ooopack snd_wnd rcv_wnd rehash"),
    ("2HI", "total_rto total_rto_recoveries total_rto_time"),
)


@dataclass
class Figures:
    """One transfer's figures, kernel or simulation."""

    backend: str
    size: int
    seconds: float
    """From the client's connect() returning to its read of the server's EOF."""
    retransmitted: int
    """Segments the client retransmitted (``tcpi_total_retrans``)."""
    recoveries: int
    """Fast-recovery episodes entered (``TCPSackRecovery`` + ``TCPRenoRecovery``)."""
    timeouts: int
    """Retransmission timeouts (``TCPTimeouts``)."""
    rtt: float = 0.0
    """The client's smoothed RTT at the end, seconds (``tcpi_rtt``)."""
    acks: int = 0
    """Segments the server sent (its ACKs, its SYN-ACK and FIN; the client's
    ``tcpi_segs_in``)."""
    loss_probes: int = 0
    """Tail loss probes sent (``TCPLossProbes``; the simulation has none yet)."""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def throughput(self) -> float:
        """Bytes per second over the transfer time."""
        return self.size / self.seconds


class Unavailable(Exception):
    """The kernel side cannot run here; the message names the command and its error."""


# -- namespaces and commands ---------------------------------------------------------


def run_command(*argv: str) -> str:
    """Run a command, return its stdout; :class:`Unavailable` names it if it fails."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise Unavailable(f"`{' '.join(argv)}` failed: {exc}") from exc
    if done.returncode != 0:
        error = (done.stderr or done.stdout).strip()
        raise Unavailable(f"`{' '.join(argv)}` failed ({done.returncode}): {error}")
    return done.stdout


@contextlib.contextmanager
def namespace() -> Iterator[str]:
    """A fresh network namespace with ``lo`` up, deleted on the way out."""
    if shutil.which("ip") is None:
        raise Unavailable("no `ip` command (iproute2) on PATH")
    name = f"tcpsim-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    run_command("ip", "netns", "add", name)
    try:
        run_command("ip", "-n", name, "link", "set", "lo", "up")
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


def probe() -> str:
    """The impairment method this machine allows: ``"netem"`` or ``"tun"``.

    Raises :class:`Unavailable` naming the failing command when neither works.
    """
    with namespace() as ns:
        try:
            run_command(
                "ip",
                "netns",
                "exec",
                ns,
                "tc",
                "qdisc",
                "add",
                "dev",
                "lo",
                "root",
                "netem",
                "delay",
                "25ms",
            )
            return "netem"
        except Unavailable as netem_error:
            reason = str(netem_error)
    if not os.path.exists("/dev/net/tun"):
        raise Unavailable(f"{reason}; and no /dev/net/tun for the user-space relay")
    return "tun"


def child(
    ns: str, role: str, *args: str, stdin: int | None = None, program: str = __file__
) -> subprocess.Popen[str]:
    """``python program role args...`` inside the namespace ``ns``, text pipes on
    stdout and stderr; ``program``'s directory goes first on ``PYTHONPATH`` (it
    may import its neighbours, as this module)."""
    argv = ["ip", "netns", "exec", ns, sys.executable, "-P", program, role, *args]
    path = [os.path.dirname(os.path.abspath(program)), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in path if p)}
    return subprocess.Popen(
        argv, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def wait_ready(proc: subprocess.Popen[str], what: str) -> str:
    """The child's first line, which must start with ``ready``; else it is
    killed and :class:`Unavailable` says what it printed."""
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("ready"):
        proc.kill()
        _, err = proc.communicate()
        raise Unavailable(f"the {what} did not start: {err.strip() or line.strip()}")
    return line


def finish(proc: subprocess.Popen[str], what: str, timeout: float) -> dict[str, Any]:
    """The JSON object on the child's last line, once it has exited (killed
    after ``timeout`` seconds: RuntimeError)."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise RuntimeError(f"the {what} did not finish within {timeout} s") from None
    if proc.returncode != 0:
        raise RuntimeError(f"the {what} failed ({proc.returncode}): {err.strip()}")
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def kernel_run(
    method: str,
    *,
    size: int,
    delay: float,
    loss: float,
    seed: int,
    congestion: str = "cubic",
    timeout: float = 60.0,
) -> Figures:
    """One kernel transfer with ``method`` (``"netem"`` or ``"tun"``)."""
    client_args = ["--size", str(size), "--congestion", congestion]
    if method == "netem":
        with namespace() as ns:
            run_command(
                "ip",
                "-n",
                ns,
                "link",
                "set",
                "lo",
                "mtu",
                "1500",
                "gso_max_segs",
                "1",
                "gso_max_size",
                "1500",
            )
            run_command(
                "ip",
                "netns",
                "exec",
                ns,
                "tc",
                "qdisc",
                "add",
                "dev",
                "lo",
                "root",
                "netem",
                "delay",
                f"{delay * 1e3:g}ms",
                "loss",
                "random",
                f"{loss * 100:g}%",
            )
            relay: dict[str, Any] = {"method": "netem"}
            return _transfer(ns, ns, "127.0.0.1", client_args, relay, timeout)
    with namespace() as a, namespace() as b:
        tun_a, tun_b = f"tsa{a[-8:]}", f"tsb{a[-8:]}"
        proc = child(
            a,
            "relay",
            tun_a,
            tun_b,
            "--delay",
            str(delay),
            "--loss",
            str(loss),
            "--seed",
            str(seed),
            stdin=subprocess.PIPE,
        )
        try:
            wait_ready(proc, "relay")
            run_command("ip", "-n", a, "link", "set", tun_b, "netns", b)
            for ns, dev, host in ((a, tun_a, 1), (b, tun_b, 2)):
                run_command("ip", "-n", ns, "addr", "add", f"{TUN_NET}.{host}/24", "dev", dev)
                run_command("ip", "-n", ns, "link", "set", dev, "up")
            figures = _transfer(a, b, f"{TUN_NET}.2", client_args, {}, timeout)
        finally:
            assert proc.stdin is not None
            proc.stdin.close()  # the relay stops at EOF on stdin
            proc.stdin = None
        figures.details["relay"] = finish(proc, "relay", 10)
        return figures


def _transfer(
    client_ns: str,
    server_ns: str,
    server_ip: str,
    client_args: list[str],
    relay: dict[str, Any],
    timeout: float,
) -> Figures:
    server = child(server_ns, "server")
    try:
        wait_ready(server, "server")
        client = child(client_ns, "client", server_ip, *client_args)
        result = finish(client, "client", timeout)
        finish(server, "server", 10)
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()
    counters = result["netstat"]
    return Figures(
        backend="kernel",
        size=result["size"],
        seconds=result["seconds"],
        retransmitted=result["tcp_info"]["total_retrans"],
        recoveries=counters.get("TCPSackRecovery", 0) + counters.get("TCPRenoRecovery", 0),
        timeouts=counters.get("TCPTimeouts", 0),
        loss_probes=counters.get("TCPLossProbes", 0),
        acks=result["tcp_info"]["segs_in"],
        rtt=result["tcp_info"]["rtt"] / 1e6,
        details={**result, "relay": relay},
    )


# -- the programs run inside the namespaces --------------------------------------------


def tcp_info(sock: socket.socket) -> dict[str, int]:
    """``getsockopt(TCP_INFO)`` by field name (as far as this kernel's struct goes)."""
    raw = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 512)
    info: dict[str, int] = {}
    layout = "@"
    names: list[str] = []
    for fmt, field_names in TCP_INFO_FIELDS:
        if struct.calcsize(layout + fmt) > len(raw):
            break  # an older kernel: a shorter struct
        layout += fmt
        names += field_names.split()
    info.update(zip(names, struct.unpack_from(layout, raw), strict=True))
    return info


def proc_counters() -> dict[str, int]:
    """TcpExt (``/proc/net/netstat``) and Tcp (``/proc/net/snmp``) counters."""
    counters: dict[str, int] = {}
    for path in ("/proc/net/netstat", "/proc/net/snmp"):
        with open(path) as f:
            lines = f.read().splitlines()
        for head, values in zip(lines[::2], lines[1::2], strict=True):
            prefix, _, keys = head.partition(":")
            if prefix in ("TcpExt", "Tcp"):
                nums = values.partition(":")[2].split()
                counters.update((k, int(v)) for k, v in zip(keys.split(), nums, strict=True))
    return counters


def _sysctls() -> dict[str, str]:
    out = {}
    for name in SYSCTLS:
        with contextlib.suppress(OSError), open(f"/proc/sys/net/ipv4/{name}") as f:
            out[name] = " ".join(f.read().split())
    return out


def client_main(server_ip: str, size: int, congestion: str) -> dict[str, Any]:
    before = proc_counters()
    sock = socket.socket()
    if congestion:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, congestion.encode())
        except OSError:  # not built into this kernel: the namespace's default, said below
            congestion = ""
    deadline = time.monotonic() + 10
    while True:  # the server is listening; a lost SYN costs the kernel's 1 s RTO
        try:
            sock.connect((server_ip, PORT))
            break
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)
    start = time.monotonic()
    sock.sendall(bytes(size))
    sock.shutdown(socket.SHUT_WR)
    while sock.recv(65536):
        pass
    seconds = time.monotonic() - start
    info = tcp_info(sock)
    sock.close()
    after = proc_counters()
    netstat = {k: after.get(k, 0) - before.get(k, 0) for k in (*NETSTAT, "RetransSegs")}
    congestion_used = congestion or _sysctls().get("tcp_congestion_control", "")
    return {
        "size": size,
        "seconds": seconds,
        "tcp_info": info,
        "netstat": netstat,
        "sysctls": _sysctls(),
        "congestion": congestion_used,
    }


def server_main() -> dict[str, Any]:
    with socket.create_server(("", PORT)) as listener:
        print("ready", flush=True)
        conn, _ = listener.accept()
        received = 0
        while data := conn.recv(1 << 20):
            received += len(data)
        conn.close()
    return {"received": received}


def _open_tun(name: str) -> int:
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    tunsetiff, iff_tun, iff_no_pi = 0x400454CA, 0x0001, 0x1000
    fcntl.ioctl(fd, tunsetiff, struct.pack("16sH", name.encode(), iff_tun | iff_no_pi))
    return fd


def _is_data(packet: bytes) -> bool:
    """An IPv4 TCP packet carrying payload (the rest: ACKs, SYNs, FINs, other)."""
    if len(packet) < 20 or packet[0] >> 4 != 4 or packet[9] != socket.IPPROTO_TCP:
        return False
    ihl = (packet[0] & 15) * 4
    total = int.from_bytes(packet[2:4], "big")
    return total - ihl - (packet[ihl + 12] >> 4) * 4 > 0


def relay_main(
    names: list[str],
    delay: float,
    loss: float,
    seed: int,
    stop: IO[str],
    drop: frozenset[int] = frozenset(),
) -> dict[str, Any]:
    """netem's delay and loss between two TUN devices, until ``stop`` reads EOF.

    ``drop``: the data packets from the first device to the second (``ab``,
    payload-carrying, counted from 0 in the order read) lost on purpose, on
    top of the random ``loss``; their lengths are reported as
    ``dropped_lengths``, and the lengths of all ``ab`` data packets as
    ``data_lengths_ab``."""
    fds = [_open_tun(name) for name in names]
    rng = random.Random(seed)
    pending: list[tuple[float, int, int, bytes]] = []  # (due, order, out fd, packet)
    stats = {
        f"{kind}_{what}_{way}": 0
        for kind in ("data", "other")
        for what in ("sent", "lost")
        for way in ("ab", "ba")
    }
    order = 0
    data_ab: list[int] = []
    dropped: list[int] = []
    print("ready", flush=True)
    while True:
        timeout = max(0.0, pending[0][0] - time.monotonic()) if pending else None
        readable, _, _ = select.select([*fds, stop], [], [], timeout)
        if stop in readable and not stop.readline():
            break
        for i, fd in enumerate(fds):
            if fd not in readable:
                continue
            while True:
                try:
                    packet = os.read(fd, 65536)
                except BlockingIOError:
                    break
                key = f"{'data' if _is_data(packet) else 'other'}_%s_{'ab' if i == 0 else 'ba'}"
                stats[key % "sent"] += 1
                if i == 0 and _is_data(packet):
                    data_ab.append(len(packet))
                    if len(data_ab) - 1 in drop:
                        dropped.append(len(packet))
                        stats[key % "lost"] += 1
                        continue
                if rng.random() < loss:
                    stats[key % "lost"] += 1
                    continue
                order += 1
                heapq.heappush(pending, (time.monotonic() + delay, order, fds[1 - i], packet))
        now = time.monotonic()
        while pending and pending[0][0] <= now:
            _, _, out, packet = heapq.heappop(pending)
            with contextlib.suppress(OSError):  # a device not up yet drops it, as a wire
                os.write(out, packet)
    if drop:
        return {**stats, "data_lengths_ab": data_ab, "dropped_lengths": dropped}
    return stats


# -- the simulation --------------------------------------------------------------------


class _Counter:
    """A send tap counting the client's retransmissions, recovery episodes and RTOs
    from its connection's ``snapshot()`` at each segment it sends."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.retransmitted = 0
        self.recoveries = 0
        self.timeouts = 0
        self.loss_probes = 0
        self.srtt = 0.0
        self._recover: Any = None
        self._backoff = 0

    def __call__(self, src: Any, segment: Any, retransmission: bool) -> bool:
        if src is not self.client:
            return True
        for conn in src.connections():
            snap = conn.snapshot()
            backoff = snap.get("backoff", 0)
            if backoff > self._backoff:
                self.timeouts += backoff - self._backoff
            self._backoff = backoff
            congestion = snap.get("congestion", {})
            # An episode: entering CA_Recovery, or a new one's high_seq (Linux counts
            # TCPSackRecovery/TCPRenoRecovery in tcp_enter_recovery).
            recover = (
                congestion.get("high_seq") if congestion.get("ca_state") == CA_RECOVERY else None
            )
            if recover is not None and recover != self._recover:
                self.recoveries += 1
            self._recover = recover
            self.srtt = snap.get("srtt") or self.srtt
            self.loss_probes = congestion.get("loss_probes", 0)
        if retransmission and segment.payload:
            self.retransmitted += 1
        return True


def sim_run(*, size: int, delay: float, loss: float, seed: int) -> Figures:
    """One simulated transfer: two hosts, ``delay`` and ``loss`` on every link."""
    import aiotcpsim

    # The whole trace, without payload bytes: it counts the losses each way.
    net = aiotcpsim.Network(seed=seed, delay=delay, loss=loss, trace_limit=None, trace_snaplen=0)
    server_host = net.add_host("server")
    client_host = net.add_host("client")
    counter = _Counter(client_host)
    net.set_send_tap(counter)

    async def main() -> float:
        async def sink(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while await reader.read(1 << 20):
                pass
            writer.close()

        loop = asyncio.get_running_loop()
        with server_host.current():
            server = await asyncio.start_server(sink, port=PORT)
        with client_host.current():
            reader, writer = await asyncio.open_connection("server", PORT)
            start = loop.time()
            writer.write(bytes(size))
            writer.write_eof()
            await reader.read()
            seconds = loop.time() - start
            writer.close()
        server.close()
        return seconds

    seconds = aiotcpsim.run(main(), network=net)
    links = _link_counts(net.trace)
    return Figures(
        backend="sim",
        size=size,
        seconds=seconds,
        retransmitted=counter.retransmitted,
        recoveries=counter.recoveries,
        timeouts=counter.timeouts,
        loss_probes=counter.loss_probes,
        acks=links["other_sent_ba"] + links["data_sent_ba"],
        rtt=counter.srtt,
        details={"statistics": net.statistics(), "links": links},
    )


def _link_counts(trace: Any) -> dict[str, int]:
    """Segments sent and lost each way, data and the rest, named as the relay's
    counters (``ab``: client to server)."""
    counts = {
        f"{kind}_{what}_{way}": 0
        for kind in ("data", "other")
        for what in ("sent", "lost")
        for way in ("ab", "ba")
    }
    for record in trace.records:
        segment = record.segment
        if segment is None or record.kind not in ("send", "drop"):
            continue
        way = "ab" if segment.dst_port == PORT else "ba"
        kind = "data" if record.payload_len else "other"
        counts[f"{kind}_{'lost' if record.kind == 'drop' else 'sent'}_{way}"] += 1
    return counts


METRICS = (
    ("seconds", "transfer time", "s"),
    ("throughput", "throughput", "kB/s"),
    ("retransmitted", "retransmitted segments", ""),
    ("recoveries", "recovery episodes", ""),
    ("timeouts", "retransmission timeouts", ""),
    ("loss_probes", "tail loss probes", ""),
    ("acks", "segments from the receiver (ACKs)", ""),
    ("rtt", "smoothed RTT at the end", "ms"),
)


def metric(figures: Figures, name: str) -> float:
    """One figure by name (``throughput`` in kB/s, ``rtt`` in ms)."""
    if name == "throughput":
        return figures.throughput / 1e3
    if name == "rtt":
        return figures.rtt * 1e3
    return float(getattr(figures, name))


_Case = TypeVar("_Case")
_Result = TypeVar("_Result")


def kernel_cases(
    cases: Mapping[str, _Case], run: Callable[[_Case], _Result]
) -> dict[str, _Result | str]:
    """``run`` each case on the kernel at once (each in namespaces of its
    own): its result, or why there is none (a skip reason)."""
    if sys.platform != "linux":
        return dict.fromkeys(cases, f"network namespaces are Linux's (platform {sys.platform})")
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(cases)) as pool:
        jobs = {name: pool.submit(run, value) for name, value in cases.items()}
        out: dict[str, _Result | str] = {}
        for name, job in jobs.items():
            try:
                out[name] = job.result()
            except Unavailable as exc:
                out[name] = f"kernel side unavailable: {exc}"
            print(f"{name}: {out[name]}")
    return out


def or_skip(result: _Result | str) -> _Result:
    """A kernel result, or a pytest skip saying why there is none."""
    if isinstance(result, str):
        import pytest  # only the tests ask; the script's children run without it

        pytest.skip(result)
    return result


def median(runs: list[Figures], name: str) -> float:
    return statistics.median(metric(f, name) for f in runs)


def compare(
    *,
    runs: int,
    seeds: int,
    size: int,
    delay: float,
    loss: float,
    method: str | None = None,
    congestion: str = "cubic",
    parallel: int = 4,
) -> tuple[str, list[Figures], list[Figures]]:
    """``runs`` kernel transfers (``parallel`` at a time, each in namespaces of its
    own) and ``seeds`` simulated ones (seeds 0, 1, ...): (method, kernel, sim).

    Raises :class:`Unavailable` (naming the failing command) where the kernel
    side cannot run."""
    method = method or probe()
    with concurrent.futures.ThreadPoolExecutor(max_workers=parallel) as pool:
        jobs = [
            pool.submit(
                kernel_run,
                method,
                size=size,
                delay=delay,
                loss=loss,
                seed=seed,
                congestion=congestion,
            )
            for seed in range(runs)
        ]
        kernel = [job.result() for job in jobs]
    sim = [sim_run(size=size, delay=delay, loss=loss, seed=seed) for seed in range(seeds)]
    return method, kernel, sim


def table(kernel: list[Figures], sim: list[Figures]) -> str:
    """A text table: median [min-max] of each figure, kernel and simulation, ratio."""

    def cell(runs: list[Figures], name: str) -> str:
        values = [metric(f, name) for f in runs]
        return f"{median(runs, name):.4g} [{min(values):.4g}-{max(values):.4g}]"

    head = f"| figure | kernel ({len(kernel)} runs) | simulation ({len(sim)} seeds) | ratio |"
    lines = [head, "|---|---|---|---|"]
    for name, label, unit in METRICS:
        k, s = median(kernel, name), median(sim, name)
        ratio = f"{s / k:.2f}" if k else "-"
        label = f"{label} ({unit})" if unit else label
        lines.append(f"| {label} | {cell(kernel, name)} | {cell(sim, name)} | {ratio} |")
    k, s = (sum(f.timeouts > 0 for f in runs) / len(runs) for runs in (kernel, sim))
    lines.append(f"| transfers with a timeout | {k:.0%} | {s:.0%} | - |")
    for kind, way, label in (("data", "ab", "data segments lost"), ("other", "ba", "ACKs lost")):
        k, s = (_lost_share(runs, kind, way) for runs in (kernel, sim))
        lines.append(f"| {label} (all runs) | {k} | {s} | - |")
    return "\n".join(lines)


def _lost_share(runs: list[Figures], kind: str, way: str) -> str:
    """Lost / sent over all runs, from the relay's or the trace's counters."""
    counts = [f.details.get("relay", {}) or f.details.get("links", {}) for f in runs]
    sent = sum(c.get(f"{kind}_sent_{way}", 0) for c in counts)
    lost = sum(c.get(f"{kind}_lost_{way}", 0) for c in counts)
    return f"{lost / sent:.2%} of {sent}" if sent else "-"


def _main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["relay", "server", "client"])
    parser.add_argument("args", nargs="*")
    parser.add_argument("--size", type=int, default=0)
    parser.add_argument("--congestion", default="")
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--loss", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--drop", type=int, nargs="*", default=[])
    args = parser.parse_args()
    if args.role == "relay":
        drop = frozenset(args.drop)
        result = relay_main(args.args, args.delay, args.loss, args.seed, sys.stdin, drop)
    elif args.role == "server":
        result = server_main()
    else:
        result = client_main(args.args[0], args.size, args.congestion)
    print(json.dumps(asdict(result) if isinstance(result, Figures) else result), flush=True)


if __name__ == "__main__":
    _main()
