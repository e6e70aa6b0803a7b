"""Captures: write_pcap / read_pcap / Trace.to_pcap, checked by tshark when it is installed."""

from __future__ import annotations

import io
import pathlib
import shutil
import struct
import subprocess

import pytest

from aiotcpsim.pcap import read_pcap, write_pcap
from aiotcpsim.segment import ACK, FIN, PSH, SYN, Segment, SegmentDecodeError, TcpOptions
from aiotcpsim.trace import Trace, TraceRecord

C, S = "10.0.0.1", "10.0.0.2"
CP, SP = 40000, 8080
ECE, CWR = 0x40, 0x80


def client(
    t: float, seq: int, ack: int, flags: int, window: int, payload: bytes = b"", **o: object
) -> tuple[float, Segment]:
    return t, Segment(C, CP, S, SP, seq, ack, flags, window, payload, _options(o))


def server(
    t: float, seq: int, ack: int, flags: int, window: int, payload: bytes = b"", **o: object
) -> tuple[float, Segment]:
    return t, Segment(S, SP, C, CP, seq, ack, flags, window, payload, _options(o))


def _options(o: dict[str, object]) -> TcpOptions:
    return TcpOptions(**o)  # type: ignore[arg-type]


CI, SI = 0xFFFFFF00, 1000  # the client's ISN wraps around during the exchange
DATA = bytes(range(256)) * 8  # 2048 bytes

# A complete, consistent exchange: handshake with every option, data both ways
# (one segment crossing the sequence wrap), ECN bits, a three-segment close.
CONVERSATION: list[tuple[float, Segment]] = [
    client(0.0, CI, 0, SYN, 64240, mss=1460, sack_permitted=True, timestamps=(1, 0), wscale=7),
    server(
        0.01,
        SI,
        CI + 1,
        SYN | ACK,
        65160,
        mss=1460,
        sack_permitted=True,
        timestamps=(2, 1),
        wscale=7,
    ),
    client(0.02, CI + 1, SI + 1, ACK, 131072, timestamps=(3, 2)),
    client(0.02, CI + 1, SI + 1, PSH | ACK, 131072, DATA[:1448], timestamps=(3, 2)),
    client(
        0.020001,
        (CI + 1 + 1448) & 0xFFFFFFFF,
        SI + 1,
        PSH | ACK | CWR,
        131072,
        DATA[1448:],
        timestamps=(3, 2),
    ),
    server(0.03, SI + 1, (CI + 1 + 2048) & 0xFFFFFFFF, ACK | ECE, 129024, timestamps=(4, 3)),
    server(
        0.031, SI + 1, (CI + 1 + 2048) & 0xFFFFFFFF, PSH | ACK, 129024, b"pong", timestamps=(4, 3)
    ),
    client(1.5, (CI + 1 + 2048) & 0xFFFFFFFF, SI + 5, FIN | ACK, 131072, timestamps=(5, 4)),
    server(1.51, SI + 5, (CI + 2 + 2048) & 0xFFFFFFFF, FIN | ACK, 129024, timestamps=(6, 5)),
    client(1.52, (CI + 2 + 2048) & 0xFFFFFFFF, SI + 6, ACK, 131072, timestamps=(7, 6)),
]


def test_write_then_read_back(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "exchange.pcap"
    assert write_pcap(CONVERSATION, path) == len(CONVERSATION)
    back = read_pcap(path)
    assert [t for t, _ in back] == [t for t, _ in CONVERSATION]
    # Windows come back as written: multiples of 2**7 once scaling is in effect.
    assert [seg for _, seg in back] == [seg for _, seg in CONVERSATION]


def test_file_header_and_record_layout() -> None:
    buffer = io.BytesIO()
    write_pcap(CONVERSATION[:2], buffer)
    data = buffer.getvalue()
    magic, major, minor, zone, sigfigs, snaplen, linktype = struct.unpack_from("<IHHiIII", data)
    assert (magic, major, minor, zone, sigfigs, linktype) == (0xA1B2C3D4, 2, 4, 0, 0, 101)
    assert snaplen >= 65535
    seconds, usec, incl, orig = struct.unpack_from("<IIII", data, 24)
    assert (seconds, usec) == (0, 0)
    assert incl == orig == len(CONVERSATION[0][1].encode())
    assert data[40 : 40 + incl] == CONVERSATION[0][1].encode()
    seconds, usec, _, _ = struct.unpack_from("<IIII", data, 40 + incl)
    assert (seconds, usec) == (0, 10000)


def test_timestamps_are_virtual_microseconds() -> None:
    seg = CONVERSATION[2][1]
    buffer = io.BytesIO()
    write_pcap([(0.0000014, seg), (2.5, seg), (131.9999996, seg)], buffer)
    buffer.seek(0)
    assert [t for t, _ in read_pcap(buffer)] == [0.000001, 2.5, 132.0]


def test_window_scaling_follows_the_handshake() -> None:
    buffer = io.BytesIO()
    write_pcap(CONVERSATION, buffer)
    data = buffer.getvalue()
    windows = []
    offset = 24
    while offset < len(data):
        incl = struct.unpack_from("<I", data, offset + 8)[0]
        windows.append(struct.unpack_from("!H", data, offset + 16 + 34)[0])
        offset += 16 + incl
    # SYNs unscaled, then 131072 >> 7 and 129024 >> 7.
    assert windows[:3] == [64240, 65160, 1024]
    assert windows[5] == 1008


def test_no_window_scaling_clamps_the_window() -> None:
    # Only the client offered window scaling: it is not in effect (RFC 7323 section 1.3).
    syn = client(0.0, 1, 0, SYN, 64240, wscale=7)
    syn_ack = server(0.01, 5, 2, SYN | ACK, 65160)
    ack = client(0.02, 2, 6, ACK, 131072)
    buffer = io.BytesIO()
    write_pcap([syn, syn_ack, ack], buffer)
    buffer.seek(0)
    assert read_pcap(buffer)[2][1].window == 65535


def test_accepts_segments_pairs_and_trace_records(tmp_path: pathlib.Path) -> None:
    seg = CONVERSATION[3][1]._replace(window=5000)  # no handshake: windows unscaled
    records = [
        seg,
        (1.25, seg),
        TraceRecord(2.5, "send", "client", seg),
        TraceRecord(3.0, "state", "client"),  # no segment: skipped
    ]
    path = tmp_path / "mixed.pcap"
    assert write_pcap(records, str(path)) == 3
    assert read_pcap(str(path)) == [(0.0, seg), (1.25, seg), (2.5, seg)]


def test_rejects_what_is_not_a_segment() -> None:
    with pytest.raises(TypeError, match="takes segments"):
        write_pcap([b"bytes"], io.BytesIO())
    with pytest.raises(TypeError, match="expected a Segment"):
        write_pcap([(1.0, "x")], io.BytesIO())
    with pytest.raises(ValueError, match="negative time"):
        write_pcap([(-1.0, CONVERSATION[0][1])], io.BytesIO())


def test_trace_to_pcap_writes_sent_segments(tmp_path: pathlib.Path) -> None:
    trace = Trace()
    for t, seg in CONVERSATION:
        trace.append(TraceRecord(t, "send", seg.src_ip, seg))
        trace.append(TraceRecord(t + 0.005, "deliver", seg.dst_ip, seg))
    trace.append(TraceRecord(9.0, "drop", C, CONVERSATION[0][1], text="lost"))
    path = tmp_path / "trace.pcap"
    trace.to_pcap(path)
    assert read_pcap(path) == CONVERSATION
    trace.to_pcap(path, kind="drop")
    assert read_pcap(path) == [(9.0, CONVERSATION[0][1])]


def test_a_snapped_record_is_written_cut_with_its_wire_length(tmp_path: pathlib.Path) -> None:
    seg = Segment(C, 40000, S, 8080, 1001, 2001, ACK | PSH, 65535, b"x" * 300)
    trace = Trace(snaplen=100)
    trace.record(1.0, "send", C, seg)
    (r,) = trace.records
    assert (len(r.segment.payload) if r.segment else 0, r.payload_len) == (100, 300)
    path = tmp_path / "snapped.pcap"
    trace.to_pcap(path)
    data = path.read_bytes()
    assert struct.unpack_from("<I", data, 16)[0] >= 300 + 40  # the file's snap length
    incl_len, orig_len = struct.unpack_from("<II", data, 24 + 8)
    assert (incl_len, orig_len) == (40 + 100, 40 + 300)
    packet = data[24 + 16 :]
    assert struct.unpack_from("!H", packet, 2)[0] == 340  # IPv4 total length: as on the wire
    assert packet[40:] == b"x" * 100
    with pytest.raises(ValueError, match="cut by the snap length"):
        read_pcap(path)


def _pcap(linktype: int, frames: list[bytes], order: str = "<", magic: int = 0xA1B2C3D4) -> bytes:
    out = [struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, 65535, linktype)]
    for i, frame in enumerate(frames):
        out.append(struct.pack(order + "IIII", i, 500, len(frame), len(frame)))
        out.append(frame)
    return b"".join(out)


def test_reads_big_endian_nanosecond_ethernet_and_cooked() -> None:
    # A FIN of 52 bytes: an Ethernet frame pads it to 60.  No handshake: windows unscaled.
    seg = CONVERSATION[7][1]._replace(window=5000)
    packet = seg.encode()
    ether = bytes(12) + b"\x08\x00" + packet + bytes(8)
    arp = bytes(12) + b"\x08\x06" + bytes(28)
    cooked = bytes(14) + b"\x08\x00" + packet
    for data, t in [
        (_pcap(101, [packet], ">"), 0.0005),
        (_pcap(228, [packet], "<", 0xA1B23C4D), 0.0000005),
        (_pcap(1, [arp, ether]), 1.0005),
        (_pcap(113, [cooked]), 0.0005),
    ]:
        assert read_pcap(io.BytesIO(data)) == [(t, seg)]


@pytest.mark.parametrize(
    ("data", "error", "match"),
    [
        (b"\xd4\xc3\xb2", ValueError, "shorter than the header"),
        (b"\x0a\x0d\x0d\x0a" + bytes(20), ValueError, "not a classic pcap file"),
        (_pcap(105, []), ValueError, "unsupported pcap link type 105"),
        (_pcap(101, [b"x"])[:-3], ValueError, "truncated in a record header"),
        (_pcap(101, [bytes(40)])[:-1], ValueError, "truncated in a packet"),
        (_pcap(101, [b"\x45" + bytes(39)]), SegmentDecodeError, "does not match"),
    ],
)
def test_read_rejects_malformed_files(data: bytes, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        read_pcap(io.BytesIO(data))


def test_read_rejects_snapped_packets() -> None:
    data = bytearray(_pcap(101, [CONVERSATION[0][1].encode()]))
    struct.pack_into("<I", data, 24 + 12, 9000)  # orig_len > incl_len
    with pytest.raises(ValueError, match="cut by the snap length"):
        read_pcap(io.BytesIO(bytes(data)))


# -- tshark: an independent decoder -------------------------------------------------------

TSHARK = shutil.which("tshark")
FIELDS = [
    "frame.time_relative",
    "ip.src",
    "tcp.srcport",
    "tcp.flags",
    "tcp.seq_raw",
    "tcp.ack_raw",
    "tcp.window_size",
    "tcp.len",
    "tcp.options.mss_val",
    "tcp.options.wscale.shift",
    "tcp.options.timestamp.tsval",
    "ip.checksum.status",
    "tcp.checksum.status",
    "_ws.malformed",
    "_ws.expert.severity",
]


needs_tshark = pytest.mark.skipif(
    TSHARK is None,
    reason="tshark is not installed (apt-get install -y tshark) to check captures independently",
)


def tshark_fields(path: pathlib.Path, home: pathlib.Path) -> list[dict[str, str]]:
    """One dict of FIELDS per packet, as tshark decodes ``path`` with checksum checks on."""
    assert TSHARK is not None
    args = [TSHARK, "-n", "-r", str(path), "-o", "tcp.check_checksum:TRUE"]
    args += ["-o", "ip.check_checksum:TRUE", "-o", "tcp.relative_sequence_numbers:FALSE"]
    args += ["-T", "fields", "-E", "separator=/t", "-E", "occurrence=a"]
    for field in FIELDS:
        args += ["-e", field]
    result = subprocess.run(
        args, capture_output=True, text=True, timeout=120, check=False, env={"HOME": str(home)}
    )
    assert result.returncode == 0, result.stderr
    return [dict(zip(FIELDS, line.split("\t"), strict=True)) for line in result.stdout.splitlines()]


@needs_tshark
def test_tshark_decodes_capture_with_good_checksums(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "exchange.pcap"
    write_pcap(CONVERSATION, path)
    rows = tshark_fields(path, tmp_path)
    assert len(rows) == len(CONVERSATION)
    for got, (t, seg) in zip(rows, CONVERSATION, strict=True):
        row = got
        assert float(got["frame.time_relative"]) == pytest.approx(t, abs=1e-6)
        assert got["ip.src"] == seg.src_ip
        assert int(got["tcp.srcport"]) == seg.src_port
        assert int(got["tcp.flags"], 16) == seg.flags
        assert int(got["tcp.seq_raw"]) == seg.seq
        if seg.flags & ACK:
            assert int(got["tcp.ack_raw"]) == seg.ack
        assert int(got["tcp.window_size"]) == seg.window  # scaled back by tshark
        assert int(got["tcp.len"]) == len(seg.payload)
        if seg.options.mss is not None:
            assert int(got["tcp.options.mss_val"]) == seg.options.mss
        if seg.options.wscale is not None:
            assert int(got["tcp.options.wscale.shift"]) == seg.options.wscale
        if seg.options.timestamps is not None:
            assert int(got["tcp.options.timestamp.tsval"]) == seg.options.timestamps[0]
        # Wireshark: 1 = good checksum.
        assert got["ip.checksum.status"] == "1", row
        assert got["tcp.checksum.status"] == "1", row
        assert got["_ws.malformed"] == "", row
        # Nothing worse than "note" (a warning would be e.g. a bad option or a lost segment).
        severities = [int(s, 0) for s in got["_ws.expert.severity"].split(",") if s]
        assert all(s < 0x00600000 for s in severities), row


def simulated_exchange() -> Trace:
    """The trace of a whole connection on the simulated network: handshake, data
    both ways, close."""
    from aiotcpsim.net import Network

    net = Network(seed=5, delay=0.01)
    client_host = net.add_host("client", C)
    server_host = net.add_host("server", S)
    listener = server_host.listen(SP)
    conn = client_host.connect(S, SP)
    net.run_until_idle(limit=1.0)
    child = listener.accept()
    assert child is not None
    assert conn.send(DATA, net.now) == len(DATA)
    net.run_until_idle(limit=2.0)
    assert child.recv(1 << 16, net.now) == DATA
    child.send(b"pong", net.now)
    net.run_until_idle(limit=3.0)
    assert conn.recv(16, net.now) == b"pong"
    conn.close(net.now)
    child.close(net.now)
    net.run_until_idle(limit=200.0)
    return net.trace


def test_simulated_network_trace_reads_back(tmp_path: pathlib.Path) -> None:
    trace = simulated_exchange()
    path = tmp_path / "net.pcap"
    trace.to_pcap(path)
    sent = [(r.time, r.segment) for r in trace.records if r.kind == "send" and r.segment]
    back = read_pcap(path)
    assert len(back) == len(sent) >= 7
    # The simulation's windows are unscaled: without window scaling on both SYNs
    # the header carries at most 65535, with it the window rounded down.
    scaling = all(s.options.wscale is not None for _, s in sent if s.flags & SYN)
    for (t, seg), (t2, seg2) in zip(sent, back, strict=True):
        assert t2 == pytest.approx(t, abs=1e-6)
        assert seg2._replace(window=seg.window) == seg
        if scaling:
            assert 0 <= seg.window - seg2.window < 1 << 14
        else:
            assert seg2.window == min(seg.window, 65535)


@needs_tshark
def test_tshark_decodes_simulated_network_trace(tmp_path: pathlib.Path) -> None:
    trace = simulated_exchange()
    path = tmp_path / "net.pcap"
    trace.to_pcap(path)
    rows = tshark_fields(path, tmp_path)
    assert len(rows) == len(trace.segments())
    for got in rows:
        assert got["ip.checksum.status"] == "1", got
        assert got["tcp.checksum.status"] == "1", got
        assert got["_ws.malformed"] == "", got


def simulated_lossy_exchange() -> Trace:
    """A connection with the second data segment lost: the receiver's ACKs carry
    SACK blocks until the retransmission fills the hole."""
    from aiotcpsim.net import Network

    net = Network(seed=5, delay=0.01)
    client_host = net.add_host("client", C)
    server_host = net.add_host("server", S)
    listener = server_host.listen(SP)
    conn = client_host.connect(S, SP)
    net.run_until_idle(limit=1.0)
    child = listener.accept()
    assert child is not None
    net.faults.drop(src=C, payload=True, nth=2, count=1)
    data = DATA * 4
    assert conn.send(data, net.now) == len(data)
    net.run_until_idle(limit=3.0)
    assert child.recv(1 << 16, net.now) == data
    conn.close(net.now)
    child.close(net.now)
    net.run_until_idle(limit=200.0)
    return net.trace


def test_simulated_windows_read_back_exactly(tmp_path: pathlib.Path) -> None:
    # With window scaling every window the simulation sends is a multiple of
    # its scale (Linux __tcp_select_window), so the capture holds it exactly.
    trace = simulated_lossy_exchange()
    path = tmp_path / "lossy.pcap"
    trace.to_pcap(path)
    sent = [r.segment for r in trace.records if r.kind == "send" and r.segment]
    assert [seg for _, seg in read_pcap(path)] == sent
    assert any(seg.options.sack for seg in sent)


OPTION_FIELDS = [
    "tcp.flags",
    "tcp.window_size",
    "tcp.options.mss_val",
    "tcp.options.sack_perm",
    "tcp.options.wscale.shift",
    "tcp.options.timestamp.tsval",
    "tcp.options.timestamp.tsecr",
    "tcp.options.sack_le",
    "tcp.options.sack_re",
    "_ws.expert.message",
]


@needs_tshark
def test_tshark_decodes_negotiated_options(tmp_path: pathlib.Path) -> None:
    trace = simulated_lossy_exchange()
    path = tmp_path / "lossy.pcap"
    trace.to_pcap(path)
    assert TSHARK is not None
    args = [TSHARK, "-n", "-r", str(path), "-o", "tcp.relative_sequence_numbers:FALSE"]
    args += ["-T", "fields", "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=;"]
    for field in OPTION_FIELDS:
        args += ["-e", field]
    result = subprocess.run(
        args, capture_output=True, text=True, timeout=120, check=False, env={"HOME": str(tmp_path)}
    )
    assert result.returncode == 0, result.stderr
    rows = [
        dict(zip(OPTION_FIELDS, line.split("\t"), strict=True))
        for line in result.stdout.splitlines()
    ]
    sent = [r.segment for r in trace.records if r.kind == "send" and r.segment]
    assert len(rows) == len(sent)
    saw_blocks = False
    for got, seg in zip(rows, sent, strict=True):
        # "Calculated window size": the real window, scaled back by tshark.
        assert int(got["tcp.window_size"]) == seg.window, got
        opts = seg.options
        if seg.flags & SYN:
            assert int(got["tcp.options.mss_val"]) == opts.mss
            assert got["tcp.options.sack_perm"] != ""
            assert int(got["tcp.options.wscale.shift"]) == opts.wscale
        assert opts.timestamps is not None
        assert int(got["tcp.options.timestamp.tsval"]) == opts.timestamps[0]
        assert int(got["tcp.options.timestamp.tsecr"]) == opts.timestamps[1]
        if opts.sack:
            saw_blocks = True
            lefts = [int(v) for v in got["tcp.options.sack_le"].split(";")]
            rights = [int(v) for v in got["tcp.options.sack_re"].split(";")]
            assert list(zip(lefts, rights, strict=True)) == list(opts.sack)
        # No expert complaint about the options (a bad length, a missing option).
        assert "option" not in got["_ws.expert.message"].lower(), got
    assert saw_blocks
