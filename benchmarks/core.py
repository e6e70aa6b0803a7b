"""Core benchmark: the sans-I/O TCP and network, no event loop.

Prints one ``name: value unit`` line per figure: the median of the rounds,
the anchor measured in the same run, and the ratio (simulation / anchor, so
above 1 means faster for rates, and below 1 means cheaper for costs).  Rounds
alternate the simulation and its anchor, each after a full garbage
collection, so a noisy neighbour hits both sides alike.

1. Connection lifecycles per second on a default ``Network()`` with two hosts:
   handshake, 100 bytes each way, close (client first), TIME-WAIT expiry.
   Anchor: the same lifecycle over kernel TCP on 127.0.0.1, blocking sockets.
2. Per-segment cost in microseconds at MSS 1460 on a clean link: a bulk
   transfer between two LAN hosts of a default ``Network()`` (wall time /
   segments sent, data and ACKs), and the same with the trace off.  Anchor: a
   TCP-shaped skeleton in pure Python (tuple segments, a FIFO, a demux dict,
   cumulative ACK every second segment): what the interpreter costs anyway.
3. Bulk MB/s at MSS 1460 and 65483 with 1 % loss (4 MiB buffers, 0.5 ms delay,
   trace off).  Anchor: kernel TCP on 127.0.0.1, blocking sockets.

    python benchmarks/core.py [--rounds 7] [--quick]
"""

from __future__ import annotations

import argparse
import gc
import socket
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable

from aiotcpsim import Network, TcpConfig

PAYLOAD = b"p" * 100


# -- (1) lifecycles --------------------------------------------------------------------


def sim_lifecycles(n: int) -> float:
    """Lifecycles per second: handshake, 100 bytes each way, close (client
    first), TIME-WAIT expiry; a default network."""
    net = Network(seed=1)
    client = net.add_host("client")
    server = net.add_host("server")
    listener = server.listen(80, backlog=4096)
    start = time.perf_counter()
    for _ in range(n):
        conn = client.connect(server.ip, 80)
        net.advance(net.now)
        child = listener.accept()
        assert child is not None
        conn.send(PAYLOAD, net.now)
        net.advance(net.now)
        assert child.recv(1000, net.now) == PAYLOAD
        child.send(PAYLOAD, net.now)
        net.advance(net.now)
        assert conn.recv(1000, net.now) == PAYLOAD
        conn.close(net.now)
        net.advance(net.now)
        child.close(net.now)
        net.advance(net.now + 0.001)
    net.run_until_idle()  # every TIME-WAIT expires
    elapsed = time.perf_counter() - start
    assert client.connection_count() == 0 and server.connection_count() == 0
    return n / elapsed


def kernel_lifecycles(n: int) -> float:
    """The anchor: the same lifecycle over kernel TCP on 127.0.0.1."""
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(128)
    addr = lsock.getsockname()

    def serve() -> None:
        for _ in range(n):
            s, _ = lsock.accept()
            s.recv(1000)
            s.sendall(PAYLOAD)
            s.recv(1000)
            s.close()

    t = threading.Thread(target=serve)
    t.start()
    start = time.perf_counter()
    for _ in range(n):
        c = socket.create_connection(addr)
        c.sendall(PAYLOAD)
        c.recv(1000)
        c.close()
    t.join()
    elapsed = time.perf_counter() - start
    lsock.close()
    return n / elapsed


# -- (2) per-segment cost --------------------------------------------------------------


def sim_per_segment(total: int, trace: bool) -> float:
    """Microseconds per segment sent (data and ACKs) moving ``total`` bytes
    between two LAN hosts (MSS 1460) of a default network, clean link."""
    net = Network(seed=4) if trace else Network(seed=4, trace=False)
    client = net.add_host("client")
    server = net.add_host("server")
    listener = server.listen(80)
    conn = client.connect(server.ip, 80)
    net.run_until_idle(limit=1.0)
    child = listener.accept()
    assert child is not None
    before = net.statistics()["segments_sent"]
    chunk = memoryview(b"s" * (1 << 20))
    sent = received = 0
    start = time.perf_counter()
    while received < total:
        while sent < total:
            n = conn.send(chunk[: min(len(chunk), total - sent)], net.now)
            if not n:
                break
            sent += n
        while data := child.recv(1 << 22, net.now):
            received += len(data)
        deadline = net.next_deadline()
        if deadline is None:
            break
        net.advance(deadline)
    elapsed = time.perf_counter() - start
    assert received == total, (received, total)
    segments = net.statistics()["segments_sent"] - before
    return elapsed / segments * 1e6


def skeleton_per_segment(total: int, mss: int = 1460) -> float:
    """The anchor: microseconds per segment of a TCP-shaped skeleton in pure
    Python -- tuple segments through a FIFO, a demux dict by 4-tuple, a receive
    buffer, a cumulative ACK every second segment, a send window."""
    fifo: deque[tuple[int, int, int, int, int, int, int, memoryview]] = deque()
    data = memoryview(b"s" * total)
    window = 64 * 1024
    state = {"snd_una": 0, "snd_nxt": 0, "rcv_nxt": 0, "unacked": 0, "segments": 0}
    received: list[memoryview] = []

    def client_input(seg: tuple[int, int, int, int, int, int, int, memoryview]) -> None:
        ack = seg[5]
        if ack > state["snd_una"]:
            state["snd_una"] = ack

    def server_input(seg: tuple[int, int, int, int, int, int, int, memoryview]) -> None:
        if seg[4] == state["rcv_nxt"]:
            state["rcv_nxt"] += len(seg[7])
            received.append(seg[7])
            state["unacked"] += 1
            if state["unacked"] >= 2 or state["rcv_nxt"] == total:
                state["unacked"] = 0
                fifo.append((1, 2, 80, 40000, 0, state["rcv_nxt"], window, data[:0]))
                state["segments"] += 1

    demux: dict[tuple[int, int], Callable[..., None]] = {(2, 80): server_input}
    demux[(1, 40000)] = client_input
    start = time.perf_counter()
    while state["snd_una"] < total:
        while state["snd_nxt"] < total and state["snd_nxt"] - state["snd_una"] < window:
            seq = state["snd_nxt"]
            size = min(mss, total - seq)
            fifo.append((2, 1, 40000, 80, seq, 0, window, data[seq : seq + size]))
            state["snd_nxt"] = seq + size
            state["segments"] += 1
        while fifo:
            seg = fifo.popleft()
            demux[(seg[0], seg[3])](seg)
    elapsed = time.perf_counter() - start
    assert sum(map(len, received)) == total
    return elapsed / state["segments"] * 1e6


# -- (3) bulk with loss ----------------------------------------------------------------


def sim_bulk(total: int, mss: int, loss: float) -> float:
    """MB/s of application payload moved client -> server."""
    tcp = TcpConfig(mss=mss, rcvbuf=4 * 1024 * 1024, sndbuf=4 * 1024 * 1024)
    net = Network(seed=2, tcp=tcp, loss=loss, delay=0.0005, trace=False)
    client = net.add_host("client")
    server = net.add_host("server")
    listener = server.listen(80)
    conn = client.connect(server.ip, 80)
    net.advance(0.01)
    child = listener.accept()
    assert child is not None
    chunk = memoryview(b"b" * (1 << 20))
    sent = received = 0
    start = time.perf_counter()
    while received < total:
        while sent < total:
            n = conn.send(chunk[: min(len(chunk), total - sent)], net.now)
            if not n:
                break
            sent += n
        while data := child.recv(1 << 22, net.now):
            received += len(data)
        deadline = net.next_deadline()
        if deadline is None:
            break
        net.advance(deadline)
    elapsed = time.perf_counter() - start
    assert received == total, (received, total)
    return total / elapsed / 1e6


def kernel_bulk(total: int) -> float:
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)
    got = [0]

    def sink() -> None:
        s, _ = lsock.accept()
        while data := s.recv(1 << 20):
            got[0] += len(data)
        s.close()

    t = threading.Thread(target=sink)
    t.start()
    c = socket.create_connection(lsock.getsockname())
    chunk = b"b" * (1 << 20)
    start = time.perf_counter()
    sent = 0
    while sent < total:
        c.sendall(chunk)
        sent += len(chunk)
    c.close()
    t.join()
    elapsed = time.perf_counter() - start
    lsock.close()
    return got[0] / elapsed / 1e6


# -- measuring -------------------------------------------------------------------------


def alternate(
    rounds: int, sim: Callable[[], float], anchor: Callable[[], float]
) -> tuple[float, float, float]:
    """Medians of the simulation and its anchor, and the median per-round ratio
    sim / anchor.  The two alternate (the anchor first in even rounds, the
    simulation first in odd ones), each after a full garbage collection, so
    neither pays for the other's garbage and a noisy neighbour hits both."""
    ss: list[float] = []
    aa: list[float] = []
    for i in range(rounds):
        order: list[tuple[Callable[[], float], list[float]]] = [(anchor, aa), (sim, ss)]
        for fn, out in order if i % 2 == 0 else reversed(order):
            gc.collect()
            out.append(fn())
    ratios = [s / a for s, a in zip(ss, aa, strict=True)]
    return statistics.median(ss), statistics.median(aa), statistics.median(ratios)


def report(name: str, unit: str, anchor_name: str, fmt: str, result: tuple[float, ...]) -> None:
    sim, anchor, ratio = result
    print(f"{name}: {sim:{fmt}} {unit}")
    print(f"{name}_anchor_{anchor_name}: {anchor:{fmt}} {unit}")
    print(f"{name}_vs_anchor: {ratio:.3g} ratio")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=7, help="rounds per figure (median)")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args = parser.parse_args()
    r = args.rounds
    q = args.quick
    n_life = 500 if q else 3000
    per_seg = (2 << 20) if q else (16 << 20)
    k_total = (64 << 20) if q else (256 << 20)

    report(
        "core_lifecycles",
        "lifecycles/s",
        "kernel_blocking",
        ".0f",
        alternate(r, lambda: sim_lifecycles(n_life), lambda: kernel_lifecycles(n_life)),
    )
    skeleton = lambda: skeleton_per_segment(per_seg)  # noqa: E731
    report(
        "core_per_segment_mss1460",
        "us",
        "python_skeleton",
        ".2f",
        alternate(r, lambda: sim_per_segment(per_seg, trace=True), skeleton),
    )
    report(
        "core_per_segment_mss1460_trace_off",
        "us",
        "python_skeleton",
        ".2f",
        alternate(r, lambda: sim_per_segment(per_seg, trace=False), skeleton),
    )
    for mss in (1460, 65483):
        total = {(1460, True): 4 << 20, (1460, False): 32 << 20}.get((mss, q), k_total)
        report(
            f"core_bulk_mss{mss}_loss1pct",
            "MB/s",
            "kernel_blocking",
            ".1f",
            alternate(
                r,
                lambda mss=mss, total=total: sim_bulk(total, mss, 0.01),
                lambda: kernel_bulk(k_total),
            ),
        )


if __name__ == "__main__":
    main()
