"""The SACK blocks a receiver sends (RFC 2018 section 4, RFC 2883 D-SACK), as
Linux writes them: the engine alone, then ladders."""

from __future__ import annotations

from aiotcpsim.segment import ACK, FIN, Segment, TcpOptions
from aiotcpsim.tcp.sackblocks import SackBlocks
from tests.core.ladder import Pair

MSS = 1448  # 1460 less the timestamps option


def _blocks(p: Pair, direction: str) -> list[tuple[tuple[int, int], ...]]:
    """The SACK blocks of the segments sent in ``direction``, relative to the ISN."""
    assert p.tuple is not None
    src = p.tuple[0] if direction == "c>s" else p.tuple[2]
    isn = p.isn["c" if direction == "s>c" else "s"]
    out = []
    for r in p.net.trace.records:
        seg = r.segment
        if r.kind == "send" and seg is not None and seg.src_ip == src:
            out.append(tuple(((a - isn) % 2**32, (b - isn) % 2**32) for a, b in seg.options.sack))
    return out


# -- the engine ------------------------------------------------------------------------------


def test_engine_newest_block_first_and_at_most_four() -> None:
    s = SackBlocks()
    for start in (10, 30, 50, 70, 90):
        s.received(start, start + 5)
    assert s.blocks == [(90, 95), (70, 75), (50, 55), (30, 35)]  # (10, 15) forgotten


def test_engine_extended_block_moves_to_front_and_coalesces() -> None:
    s = SackBlocks()
    s.received(10, 20)
    s.received(30, 40)
    s.received(20, 30)  # fills the gap between them: one block, at the front
    assert s.blocks == [(10, 40)]
    s.received(50, 60)
    s.received(40, 45)
    assert s.blocks == [(10, 45), (50, 60)]


def test_engine_forgets_blocks_rcv_nxt_reached() -> None:
    s = SackBlocks()
    s.received(10, 20)
    s.received(30, 40)
    s.advanced(20, queue_empty=False)
    assert s.blocks == [(30, 40)]
    s.advanced(40, queue_empty=True)
    assert s.blocks == [] and not s.pending


def test_engine_dsack_first_and_sent_once() -> None:
    s = SackBlocks()
    s.received(30, 40)
    s.duplicate(1, 5)
    opts = s.options(TcpOptions(timestamps=(7, 8)), 1000, 3)
    assert opts.sack == ((1001, 1005), (1030, 1040)) and opts.timestamps == (7, 8)
    assert s.options(TcpOptions(), 1000, 3).sack == ((1030, 1040),)


def test_engine_room_limits_blocks() -> None:
    s = SackBlocks()
    for start in (10, 30, 50, 70):
        s.received(start, start + 5)
    assert len(s.options(TcpOptions(timestamps=(1, 2)), 0, 3).sack) == 3
    assert s.count(4) == 4


# -- ladders ---------------------------------------------------------------------------------


def test_established_lost_segment_sacked_newest_first() -> None:
    p = Pair()
    a, b = p.establish()
    p.drop("c>s", ".", length=MSS)
    a.send(b"x" * (4 * MSS), p.net.now)
    p.at(0.011)
    got = _blocks(p, "s>c")
    # Segments 2, 3, 4 arrive after the hole at 1: each ACK reports the block so far.
    assert got == [
        ((1 + MSS, 1 + 2 * MSS),),
        ((1 + MSS, 1 + 3 * MSS),),
        ((1 + MSS, 1 + 4 * MSS),),
    ]
    p.at(1.0)
    assert recv_all_bytes(b, p) == b"x" * (4 * MSS)
    assert _blocks(p, "s>c")[-1] == ()  # the hole filled: no more blocks


def test_established_two_holes_two_blocks_newest_first() -> None:
    p = Pair()
    a, _b = p.establish()
    p.drop("c>s", ".", length=MSS, count=1)
    held = p.hold("c>s", ".", length=MSS)  # the second one: a second hole for now
    a.send(b"y" * (5 * MSS), p.net.now)
    p.at(0.0)
    assert held
    p.at(0.011)
    got = _blocks(p, "s>c")
    # Arrivals: [1] hole, [2] held, then 3, 4, 5 (offsets 1 + k * MSS).
    assert got[-1] == ((1 + 2 * MSS, 1 + 5 * MSS),)
    p.release(held)
    p.at(0.021)
    # The held segment makes a new block in front, merged with the next one.
    assert _blocks(p, "s>c")[-1] == ((1 + MSS, 1 + 5 * MSS),)


def test_established_duplicate_data_is_dsacked_once() -> None:
    p = Pair()
    a, _b = p.establish()
    a.send(b"z" * 100, p.net.now)
    p.at(0.02)
    # The same data again (a spurious retransmission): below RCV.NXT.
    p.send("c>s", ACK, 1, 1, b"z" * 100, window=131072)
    p.at(0.04)
    acks = _blocks(p, "s>c")
    assert acks[-1] == ((1, 101),)  # D-SACK: the duplicate, below the ACK (RFC 2883)
    a.send(b"w" * 10, p.net.now)
    p.at(0.2)
    assert all(blocks == () for blocks in _blocks(p, "s>c")[len(acks) :])


def test_out_of_order_fin_is_sacked_and_its_copy_dsacked() -> None:
    """A FIN takes sequence space: beyond a hole Linux queues it out of order
    and SACKs it (``tcp_data_queue_ofo``); a second copy is a D-SACK; the hole
    filled, the ACK goes at once and covers the FIN."""
    p = Pair()
    a, _b = p.establish()
    p.drop("c>s", "P.")
    a.send(b"d" * 100, p.net.now)
    a.shutdown(p.net.now)
    p.at(0.011)
    assert _blocks(p, "s>c") == [((101, 102),)]  # the FIN at 101, beyond the hole
    p.send("c>s", FIN | ACK, 101, 1)  # the FIN again
    p.at(0.025)
    assert _blocks(p, "s>c")[-1] == ((101, 102), (101, 102))  # D-SACK first (RFC 2883)
    p.at(0.1)
    # RACK resent the data a quarter of min RTT after the FIN's SACK came back
    rows = [row[:2] for row in p.rows() if row[0].startswith("c>s") and row[5]]
    assert rows == [("c>s✗", 0.0), ("c>s", 0.025)]
    assert [row[1:] for row in p.rows() if row[0] == "s>c"][-1] == (0.035, ".", 1, 102, 0)
    assert _blocks(p, "s>c")[-1] == ()


def test_fin_received_twice_is_dsacked() -> None:
    p = Pair()
    a, _b = p.establish()
    a.shutdown(p.net.now)
    p.at(0.011)
    p.send("c>s", FIN | ACK, 1, 1)  # our ACK was lost, say: the FIN again
    p.at(0.025)
    assert _blocks(p, "s>c")[-1] == ((1, 2),)


def test_sack_off_no_blocks() -> None:
    p = Pair(sack=False)
    a, _b = p.establish()
    p.drop("c>s", ".", length=MSS)
    a.send(b"x" * (3 * MSS), p.net.now)
    p.at(1.0)
    assert all(blocks == () for blocks in _blocks(p, "s>c"))


def test_blocks_take_room_from_data_segments() -> None:
    # tcp_current_mss: while b reports blocks, its own data segments shrink by them.
    p = Pair()
    a, b = p.establish()
    p.drop("c>s", ".", length=MSS)
    a.send(b"x" * (2 * MSS), p.net.now)
    p.at(0.011)
    b.send(b"r" * (2 * MSS), p.net.now)
    p.at(0.012)
    sent: list[Segment] = [
        r.segment
        for r in p.net.trace.records
        if r.kind == "send" and r.segment is not None and r.segment.payload
    ]
    reply = [s for s in sent if s.src_ip == b.local[0]]
    assert len(reply[0].payload) == MSS - 12  # one block: 4 + 8 bytes of options
    assert reply[0].options.sack


def recv_all_bytes(conn: object, p: Pair) -> bytes:
    out = b""
    while True:
        chunk = conn.recv(1 << 20, p.net.now)  # type: ignore[attr-defined]
        if not chunk:
            return out
        out += chunk
