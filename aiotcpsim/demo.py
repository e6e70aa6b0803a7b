"""``python -m aiotcpsim demo``: one TCP connection, segment by segment.

A client and a server 10 ms apart.  The client connects, sends a request
whose first segment is lost (and retransmitted on RTO), half-closes with
``shutdown(SHUT_WR)``; the server reads the request and the end of stream,
keeps sending a reply on its open half, then closes.  The client, the active
closer, holds TIME-WAIT for 60 s of virtual time.  The run is driven by
hand through the sans-I/O network: no event loop, no real time.
"""

from __future__ import annotations

from .net import Network

__all__ = ["run_demo", "show"]

REQUEST = b"GET /ladder HTTP/1.0\r\n\r\n"
REPLY = b"x" * 3000


def run_demo(seed: int = 7) -> Network:
    """Run the demo scenario and return its network (trace included)."""
    net = Network(seed=seed, delay=0.010)
    client = net.add_host("client", "10.0.0.1")
    server = net.add_host("server", "10.0.0.2")
    listener = server.listen(8080)

    conn = client.connect("10.0.0.2", 8080)
    net.advance(0.1)  # three-way handshake: SYN, SYN|ACK, ACK
    child = listener.accept()
    assert child is not None, "the handshake should have completed"

    # Lose the request's only segment on the way: the client retransmits on RTO.
    to_server = net.link(client, server)
    to_server.update(loss=1.0)
    conn.send(REQUEST, net.now)
    to_server.update(loss=0.0)
    conn.shutdown(
        net.now
    )  # half-close: FIN after the request (lost too; rides on the retransmission)
    net.advance(1.0)

    request = b""
    while (chunk := child.recv(65536, net.now)) not in (None, b""):
        request += chunk
    assert request == REQUEST, request
    assert child.recv(65536, net.now) == b"", "end of stream after the request"

    # The server keeps sending on its open half, then closes.
    child.send(REPLY, net.now)
    net.advance(1.5)
    child.close(net.now)
    net.advance(2.0)
    reply = b""
    while (chunk := conn.recv(65536, net.now)) not in (None, b""):
        reply += chunk
    assert reply == REPLY
    conn.close(net.now)
    net.run_until_idle()  # TIME-WAIT runs out 60 s after the client entered it
    return net


def show(net: Network) -> None:
    """Print the demo's ladder, statistics and digest."""
    print("aiotcpsim demo: client 10.0.0.1 <-> server 10.0.0.2:8080, one-way delay 10 ms")
    print("the request's first transmission is lost; times are virtual seconds\n")
    print(net.trace.ladder(left="client", right="server"))
    print()
    stats = net.statistics()
    print(
        "statistics: "
        + ", ".join(f"{name}={value}" for name, value in stats.items() if value or "sent" in name)
    )
    print(f"trace digest: {net.trace.digest()[:16]} (the same seed prints the same)")
