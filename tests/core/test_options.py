"""Ladders of the options the handshake negotiates (RFC 7323, RFC 2018), as Linux
writes them: the SYN's offer, the SYN-ACK's answer, the window scale and the
timestamps every segment carries, the effective MSS."""

from __future__ import annotations

from aiotcpsim import Network
from aiotcpsim.segment import Segment, TcpOptions
from aiotcpsim.tcp.negotiate import initial_wscale, syn_window
from tests.core.ladder import Pair

D = 0.01


def _sent(p: Pair) -> list[Segment]:
    return [r.segment for r in p.net.trace.records if r.kind == "send" and r.segment is not None]


def _handshake(p: Pair) -> list[Segment]:
    p.listen()
    p.connect()
    p.at(0.1)
    return _sent(p)


def test_syn_offers_mss_sack_timestamps_wscale_as_linux() -> None:
    p = Pair()
    syn, synack, ack = _handshake(p)[:3]
    # Linux: "mss 1460,sackOK,TS val .. ecr 0,nop,wscale 7", win 64240 = 44 * 1460.
    assert syn.window == 64240
    assert syn.options.mss == 1460 and syn.options.sack_permitted
    assert syn.options.wscale == 7
    assert syn.options.timestamps is not None and syn.options.timestamps[1] == 0
    # The SYN-ACK answers each offer and echoes the SYN's TSval; 65160 = 45 * 1448.
    assert synack.window == 65160
    assert synack.options.wscale == 7 and synack.options.sack_permitted
    assert synack.options.timestamps is not None
    assert synack.options.timestamps[1] == syn.options.timestamps[0]
    # The third ACK: only timestamps, echoing the SYN-ACK's TSval; its window is scaled.
    assert ack.options.mss is None and ack.options.wscale is None
    assert ack.options.timestamps == (ack.options.timestamps[0], synack.options.timestamps[0])
    assert ack.window == 131072


def test_synack_carries_only_what_the_syn_offered() -> None:
    p = Pair()
    p.c.config = p.config.replace(window_scaling=False, sack=False, timestamps=0)
    syn, synack, ack = _handshake(p)[:3]
    assert syn.options == TcpOptions(mss=1460)
    assert synack.options == TcpOptions(mss=1460)
    assert ack.options == TcpOptions()
    a = next(iter(p.c.connections()))
    b = next(iter(p.s.connections()))
    for conn in (a, b):
        assert (conn.sack_ok, conn.ts_ok, conn.snd_wscale, conn.rcv_wscale) == (False, False, 0, 0)
    assert synack.window == 64240  # no timestamps: 44 * 1460


def test_negotiated_fields_on_both_ends() -> None:
    p = Pair()
    _handshake(p)
    a = next(iter(p.c.connections()))
    b = next(iter(p.s.connections()))
    for conn in (a, b):
        assert (conn.sack_ok, conn.ts_ok, conn.snd_wscale, conn.rcv_wscale) == (True, True, 7, 7)


def test_established_every_segment_carries_timestamps_and_1448_bytes() -> None:
    p = Pair()
    a, b = p.establish()
    a.send(b"x" * 3000, p.net.now)
    p.at(0.1)
    segments = _sent(p)
    assert all(s.options.timestamps is not None for s in segments)
    assert [len(s.payload) for s in segments if s.payload] == [1448, 1448, 104]
    # TSecr echoes the peer's last TSval; TSval is the 1 ms clock plus the offset.
    data = segments[0]
    assert data.options.timestamps is not None
    assert data.options.timestamps[0] == a.tsval(p.net.trace.records[0].time)
    acks = [s for s in segments if s.src_ip == b.local[0]]
    assert acks and all(
        s.options.timestamps is not None and s.options.timestamps[1] == data.options.timestamps[0]
        for s in acks
    )


def test_scaled_windows_are_multiples_of_the_scale() -> None:
    p = Pair()
    a, b = p.establish()
    a.send(b"y" * 20000, p.net.now)
    p.at(0.2)
    windows = [s.window for s in _sent(p) if s.src_ip == b.local[0]]
    assert windows and all(w % 128 == 0 for w in windows)


def test_timestamps_2_has_no_offset() -> None:
    p = Pair(timestamps=2)
    syn = _handshake(p)[0]
    assert syn.options.timestamps == (0, 0)  # the 1 ms clock at time 0


def test_loopback_announces_65495_and_sends_65483() -> None:
    net = Network(seed=1)
    listener = net.localhost.listen(9000)
    conn = net.localhost.connect("127.0.0.1", 9000)
    net.run_until_idle(limit=1.0)
    assert listener.accept() is not None
    sent = [r.segment for r in net.trace.records if r.kind == "send" and r.segment is not None]
    syn, synack = sent[:2]
    # The kernel's lo: "mss 65495", win 65495 in the SYN, 65483 in the SYN-ACK.
    assert (syn.options.mss, syn.window, synack.window) == (65495, 65495, 65483)
    conn.send(b"z" * 100_000, net.now)
    net.run_until_idle(limit=2.0)
    assert max(r.payload_len for r in net.trace.records if r.kind == "send") == 65483


def test_window_scale_from_the_largest_buffer() -> None:
    # Linux tcp_select_initial_window: ilog2(max(tcp_rmem[2], rmem_max)) - 15.
    assert initial_wscale(131072, 6291456) == 7
    assert initial_wscale(131072, 4194304) == 7
    assert initial_wscale(32 << 20, 6291456) == 10
    assert initial_wscale(1 << 30, 1 << 30) == 14
    assert initial_wscale(4096, 4096) == 2  # rmem_max's 212992


def test_syn_window_quantized_to_the_mss() -> None:
    assert syn_window(131072, 1460) == 64240
    assert syn_window(131072, 1448) == 65160
    assert syn_window(6291456, 65495) == 65495
    assert syn_window(6291456, 65483) == 65483
    assert syn_window(1000, 1460) == 1000
