"""Core benchmark: the sans-I/O TCP and network, no event loop.

Prints one ``name: value unit`` line per figure.  The anchor is the kernel's
TCP on 127.0.0.1 with blocking sockets, measured in the same run; ratios are
simulation / kernel.  Each figure is the median of several rounds (the
machines are shared and noisy).

    python benchmarks/core.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import gc
import socket
import statistics
import threading
import time
from collections.abc import Callable

from aiotcpsim import TcpConfig
from aiotcpsim.net import Network

PAYLOAD = b"p" * 100


def sim_lifecycles(n: int) -> float:
    """Connection lifecycles per second: handshake, 100 bytes each way,
    close (client first), TIME-WAIT expiry."""
    net = Network(seed=1, trace=False)
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
        while (data := child.recv(1 << 22, net.now)) is not None and data:
            received += len(data)
        deadline = net.next_deadline()
        if deadline is None:
            break
        net.advance(deadline)
    elapsed = time.perf_counter() - start
    assert received == total, (received, total)
    return total / elapsed / 1e6


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


def median(rounds: int, fn: Callable[[], float]) -> float:
    """The median of ``rounds`` runs, each after a full garbage collection (so
    none pays for the garbage of the run before it, as pyperf does)."""

    def run() -> float:
        gc.collect()
        return fn()

    return statistics.median(run() for _ in range(rounds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    r = args.rounds
    k_life = median(r, lambda: kernel_lifecycles(2000))
    s_life = median(r, lambda: sim_lifecycles(5000))
    print(f"kernel_loopback_lifecycles: {k_life:.0f} lifecycles/s")
    print(f"sim_lifecycles: {s_life:.0f} lifecycles/s")
    print(f"sim_lifecycles_vs_kernel: {s_life / k_life:.2f} ratio")
    k_bulk = median(r, lambda: kernel_bulk(256 << 20))
    print(f"kernel_loopback_bulk: {k_bulk:.0f} MB/s")
    for mss in (1460, 65483):
        total = (32 << 20) if mss == 1460 else (256 << 20)
        value = median(r, lambda mss=mss, total=total: sim_bulk(total, mss, 0.01))
        print(f"sim_bulk_mss{mss}_loss1pct: {value:.1f} MB/s")
        print(f"sim_bulk_mss{mss}_loss1pct_vs_kernel: {value / k_bulk:.3f} ratio")


if __name__ == "__main__":
    main()
