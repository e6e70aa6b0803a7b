"""The same seed gives the same trace in another process: nothing in the core
may depend on hash order (a set of connections, a dict keyed by objects with
identity hashes), which changes from one process to the next with
PYTHONHASHSEED and with memory addresses."""

from __future__ import annotations

import os
import subprocess
import sys

from aiotcpsim import Network

_CLIENTS = 40


def many_half_open_requests(seed: int = 11) -> str:
    """40 clients connect to one listener that closes while their handshakes
    are half done (SYN-ACKs sent, the ACKs still on the way), then a crash of
    a host with many established connections; the trace's digest."""
    net = Network(seed=seed, delay=0.01)
    server = net.add_host("server")
    clients = [net.add_host(f"c{i}") for i in range(_CLIENTS)]
    listener = server.listen(80, backlog=100)
    for client in clients:
        client.connect("server", 80)
    net.advance(0.015)  # SYN-ACKs sent at 0.01, the third ACKs arrive at 0.03
    listener.close()
    net.run_until_idle(limit=5.0)
    listener = server.listen(81, backlog=100)
    conns = [client.connect("server", 81) for client in clients]
    net.advance(net.now + 1.0)
    for conn in conns:
        conn.send(b"x" * 100, net.now)
    server.crash()
    net.run_until_idle(limit=net.now + 200.0)
    return net.trace.digest()


_CODE = "import test_determinism as t; print(t.many_half_open_requests())"


def _digest_in_subprocess(hashseed: str) -> str:
    env = dict(os.environ)
    env["PYTHONHASHSEED"] = hashseed
    here = os.path.dirname(os.path.abspath(__file__))
    env["PYTHONPATH"] = os.pathsep.join([here, *[p for p in sys.path if p]])
    out = subprocess.run(
        [sys.executable, "-P", "-c", _CODE],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return out.stdout.strip()


def test_trace_digest_is_the_same_across_processes_and_hash_seeds() -> None:
    digests = {_digest_in_subprocess(seed) for seed in ("0", "1", "12345")}
    assert digests == {many_half_open_requests()}
