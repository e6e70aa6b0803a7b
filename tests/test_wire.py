"""The wire format: Segment.encode / Segment.decode against RFC 791 and RFC 9293 section 3.1."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiotcpsim.segment import (
    ACK,
    FIN,
    PSH,
    SYN,
    Flags,
    Segment,
    SegmentDecodeError,
    TcpOptions,
)

# Deterministic: the same examples on every run, nothing replayed from a database.
wire_settings = settings(
    derandomize=True,
    database=None,
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


# -- an independent RFC 1071 checksum, word by word with end-around carry ---------------


def rfc1071(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = 0
    for i in range(0, len(data), 2):
        total += (data[i] << 8) | data[i + 1]
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def pseudo_header_sum(packet: bytes) -> int:
    """The folded (not complemented) one's complement sum of the TCP pseudo-header."""
    ihl = (packet[0] & 0x0F) * 4
    pseudo = packet[12:20] + bytes((0, 6)) + struct.pack("!H", len(packet) - ihl)
    return ~rfc1071(pseudo) & 0xFFFF


def tcp_checksum(packet: bytes) -> int:
    """The TCP checksum ``packet`` should carry, computed with the field zeroed."""
    ihl = (packet[0] & 0x0F) * 4
    tcp = bytearray(packet[ihl:])
    tcp[16:18] = b"\0\0"
    pseudo = packet[12:20] + bytes((0, 6)) + struct.pack("!H", len(tcp))
    return rfc1071(pseudo + bytes(tcp))


def ip_checksum(packet: bytes) -> int:
    ihl = (packet[0] & 0x0F) * 4
    header = bytearray(packet[:ihl])
    header[10:12] = b"\0\0"
    return rfc1071(bytes(header))


def fix_checksums(packet: bytes | bytearray) -> bytes:
    """Recompute both checksums of a hand-built packet (independently of aiotcpsim)."""
    out = bytearray(packet)
    ihl = (out[0] & 0x0F) * 4
    out[10:12] = struct.pack("!H", ip_checksum(bytes(out)))
    if len(out) >= ihl + 18:
        out[ihl + 16 : ihl + 18] = struct.pack("!H", tcp_checksum(bytes(out)))
    return bytes(out)


def build(
    tcp_options: bytes = b"",
    payload: bytes = b"",
    *,
    ip_options: bytes = b"",
    data_offset: int | None = None,
    flags: int = ACK,
    frag: int = 0x4000,
    proto: int = 6,
) -> bytes:
    """A TCP/IPv4 packet built by hand, with correct checksums."""
    ihl = 5 + len(ip_options) // 4
    tcp_len = 20 + len(tcp_options) + len(payload)
    doff = 5 + len(tcp_options) // 4 if data_offset is None else data_offset
    ip = struct.pack(
        "!BBHHHBBH4s4s",
        0x40 | ihl,
        0,
        ihl * 4 + tcp_len,
        0,
        frag,
        64,
        proto,
        0,
        bytes((10, 0, 0, 1)),
        bytes((10, 0, 0, 2)),
    )
    tcp = struct.pack("!HHIIBBHHH", 40000, 80, 1, 2, doff << 4, flags, 1000, 0, 0)
    return fix_checksums(ip + ip_options + tcp + tcp_options + payload)


SEG = Segment(
    "10.0.0.1",
    40000,
    "10.0.0.2",
    8080,
    1000,
    0,
    SYN,
    64240,
    b"",
    TcpOptions(mss=1460, wscale=7, sack_permitted=True, timestamps=(123, 0)),
)

# -- known answers ---------------------------------------------------------------------

# SEG as encoded; tshark 4.0 reports both checksums of this packet good.
SEG_HEX = (
    "4500003c00004000400626ba0a0000010a000002"
    "9c401f90000003e800000000a002faf078d90000"
    "020405b40402080a0000007b0000000001030307"
)

# A SYN-ACK captured from Linux 6.x on the loopback interface (IP ID 0, DF).  The
# kernel leaves the TCP checksum to offload, so the field holds only the
# pseudo-header sum (0xfe30); everything else is what the wire carries.
LINUX_SYN_ACK_HEX = (
    "4500003c0000400040063cba7f0000017f000001"
    "b26eac9073a68ed6c910f4d0a012ffcbfe300000"
    "0204ffd70402080ac57fa919bb44c66e0103030a"
)
LINUX_SYN_ACK = Segment(
    "127.0.0.1",
    45678,
    "127.0.0.1",
    44176,
    0x73A68ED6,
    0xC910F4D0,
    SYN | ACK,
    65483,
    b"",
    TcpOptions(mss=65495, wscale=10, sack_permitted=True, timestamps=(0xC57FA919, 0xBB44C66E)),
)


def test_encode_known_answer() -> None:
    data = SEG.encode()
    assert data.hex() == SEG_HEX
    assert struct.unpack_from("!H", data, 10)[0] == ip_checksum(data)
    assert struct.unpack_from("!H", data, 36)[0] == tcp_checksum(data)
    assert rfc1071(data[:20]) == 0  # a header with a correct checksum sums to 0xFFFF
    assert Segment.decode(bytes.fromhex(SEG_HEX)) == SEG


def test_encode_matches_linux_syn_ack() -> None:
    kernel = bytes.fromhex(LINUX_SYN_ACK_HEX)
    ours = LINUX_SYN_ACK.encode()
    # Identical headers and option layout, IP checksum included ...
    assert ours[:36] == kernel[:36]
    assert ours[38:] == kernel[38:]
    # ... and the kernel's partial TCP checksum is the pseudo-header sum, which
    # the full checksum (computed independently) completes.
    assert struct.unpack_from("!H", kernel, 36)[0] == pseudo_header_sum(kernel)
    assert struct.unpack_from("!H", ours, 36)[0] == tcp_checksum(kernel)
    assert Segment.decode(kernel, verify_checksums=False) == LINUX_SYN_ACK
    with pytest.raises(SegmentDecodeError, match="bad TCP checksum"):
        Segment.decode(kernel)


def test_odd_payload_checksum_pads_with_zero() -> None:
    seg = SEG._replace(flags=PSH | ACK, ack=5, payload=b"hello", options=TcpOptions())
    data = seg.encode()
    assert len(data) == 45
    assert struct.unpack_from("!H", data, 36)[0] == tcp_checksum(data)
    assert Segment.decode(data) == seg


def test_checksum_zero_and_ffff_edge() -> None:
    # Find payloads whose checksum field is 0x0000 (a sum of 0xFFFF): still valid.
    base = SEG._replace(flags=ACK, options=TcpOptions(), payload=b"\0\0")
    value = struct.unpack_from("!H", base.encode(), 36)[0]
    seg = base._replace(payload=struct.pack("!H", value))
    data = seg.encode()
    assert struct.unpack_from("!H", data, 36)[0] == 0 == tcp_checksum(data)
    assert Segment.decode(data) == seg


def test_every_flag_bit_on_the_wire() -> None:
    for flag in Flags:
        seg = SEG._replace(flags=int(flag), options=TcpOptions())
        data = seg.encode()
        assert data[33] == int(flag)
        assert Segment.decode(data).flags == flag
    everything = SEG._replace(flags=0xFF)
    assert Segment.decode(everything.encode()).flags == 0xFF


def test_option_layouts_follow_linux() -> None:
    def opts(**kw: object) -> bytes:
        data = SEG._replace(options=TcpOptions(**kw)).encode()  # type: ignore[arg-type]
        return data[40:]

    assert opts() == b""
    assert opts(mss=1460) == bytes.fromhex("020405b4")
    assert opts(sack_permitted=True) == bytes.fromhex("01010402")
    assert opts(wscale=7) == bytes.fromhex("01030307")
    assert opts(timestamps=(1, 2)) == bytes.fromhex("0101080a0000000100000002")
    assert opts(sack_permitted=True, timestamps=(1, 2)) == bytes.fromhex("0402080a0000000100000002")


def test_window_clamped_without_scaling() -> None:
    seg = SEG._replace(flags=ACK, window=131072, options=TcpOptions())
    assert Segment.decode(seg.encode()).window == 65535


def test_window_shift_scales_and_restores() -> None:
    seg = SEG._replace(flags=ACK, window=131072 + 100, options=TcpOptions())
    data = seg.encode(window_shift=7)
    assert struct.unpack_from("!H", data, 34)[0] == (131072 + 100) >> 7
    assert Segment.decode(data, window_shift=7).window == 131072
    # RFC 7323 section 2.2: the window of a SYN is never scaled.
    syn = SEG._replace(window=64240)
    assert Segment.decode(syn.encode(window_shift=7), window_shift=7).window == 64240


def test_decode_accepts_bytes_bytearray_memoryview() -> None:
    data = SEG.encode()
    assert Segment.decode(bytearray(data)) == SEG
    assert Segment.decode(memoryview(data)) == SEG
    assert Segment.decode(memoryview(b"xx" + data)[2:]) == SEG
    assert type(Segment.decode(memoryview(data)).payload) is bytes


def test_encode_memoryview_payload() -> None:
    buffer = bytearray(b"0123456789")
    seg = SEG._replace(flags=ACK, options=TcpOptions(), payload=memoryview(buffer)[2:7])
    assert Segment.decode(seg.encode()).payload == b"23456"


def test_ip_options_and_unknown_tcp_options_are_skipped() -> None:
    # IP option: NOP NOP NOP EOL; TCP: an unknown option (kind 30), then MSS, then EOL padding.
    unknown = bytes((30, 10)) + struct.pack("!II", 7, 9)
    data = build(
        unknown + bytes.fromhex("020405b4") + b"\0\0",
        b"data",
        ip_options=b"\x01\x01\x01\x00",
    )
    seg = Segment.decode(data)
    assert seg.options == TcpOptions(mss=1460)
    assert seg.payload == b"data"
    assert (seg.src_ip, seg.src_port, seg.dst_ip, seg.dst_port) == (
        "10.0.0.1",
        40000,
        "10.0.0.2",
        80,
    )


def test_options_stop_at_end_of_option_list() -> None:
    # Whatever follows EOL is padding, even if it looks like an option.
    assert Segment.decode(build(bytes.fromhex("00020405"))).options == TcpOptions()


@pytest.mark.parametrize(
    ("segment", "match"),
    [
        (SEG._replace(src_ip="10.0.0.300"), "not an IPv4 address"),
        (SEG._replace(dst_ip="::1"), "not an IPv4 address"),
        (SEG._replace(src_port=65536), "cannot encode"),
        (SEG._replace(seq=1 << 32), "cannot encode"),
        (SEG._replace(ack=-1), "cannot encode"),
        (SEG._replace(window=-1), "cannot encode"),
        (SEG._replace(options=TcpOptions(mss=70000)), "cannot encode"),
        (SEG._replace(options=TcpOptions(timestamps=(1 << 32, 0))), "cannot encode"),
        (SEG._replace(payload=bytes(65535)), "does not fit one IPv4 packet"),
    ],
)
def test_encode_rejects_what_does_not_fit(segment: Segment, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        segment.encode()


# -- malformed input: one test per class ------------------------------------------------


def _with(data: bytes, offset: int, value: bytes, *, fix: bool = True) -> bytes:
    out = bytearray(data)
    out[offset : offset + len(value)] = value
    return fix_checksums(out) if fix else bytes(out)


GOOD = SEG._replace(flags=PSH | ACK, payload=b"hello!").encode()


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"", "0 bytes is shorter than an IPv4 header"),
        (GOOD[:19], "19 bytes is shorter than an IPv4 header"),
        (_with(GOOD, 0, b"\x55"), "not an IPv4 or IPv6 packet: version 5"),
        (_with(GOOD, 0, b"\x65"), "IPv6 payload length"),
        (_with(GOOD, 0, b"\x44"), "bad IHL 4"),
        (_with(build(), 0, b"\x4f"), "IHL 60 bytes exceeds the 40 bytes"),
        (_with(GOOD, 2, b"\x00\x50"), "IP total length 80 does not match"),
        (GOOD + b"\0", "IP total length 66 does not match 67 bytes"),
        (_with(GOOD, 10, b"\x12\x34", fix=False), "bad IPv4 header checksum"),
        (_with(GOOD, 6, b"\x20\x00"), "IPv4 fragment"),
        (_with(GOOD, 6, b"\x00\x10"), "IPv4 fragment"),
        (_with(GOOD, 9, b"\x11"), "not TCP: IP protocol 17"),
        (_with(build()[:20], 2, b"\x00\x14"), "0 bytes is shorter than a TCP header"),
        (_with(build()[:39], 2, b"\x00\x27"), "19 bytes is shorter than a TCP header"),
        (build(data_offset=4), "bad TCP data offset 4"),
        (build(data_offset=15), "TCP data offset 60 bytes exceeds the 20 bytes"),
        (_with(GOOD, 36, b"\x00\x00", fix=False), "bad TCP checksum"),
        (_with(GOOD, 60, b"!", fix=False), "bad TCP checksum"),
        (build(b"\x01\x01\x01\x02"), "TCP option kind 2 truncated: no length byte"),
        (build(b"\x02\x00\x00\x00"), "TCP option kind 2 has invalid length 0"),
        (build(b"\x1e\x01\x00\x00"), "TCP option kind 30 has invalid length 1"),
        (build(b"\x02\x08\x05\xb4"), "runs past the header"),
        (build(b"\x02\x03\x05\x00"), "MSS option has length 3, not 4"),
        (build(b"\x03\x04\x07\x00"), "window scale option has length 4, not 3"),
        (build(b"\x04\x03\x00\x00"), "SACK-permitted option has length 3, not 2"),
        (build(b"\x08\x08" + bytes(6)), "timestamps option has length 8, not 10"),
        (build(b"\x01\x01\x05\x06" + bytes(4)), r"SACK option has length 6, not 2 \+ 8n"),
        (build(b"\x05\x0b" + bytes(10)), "SACK option has length 11"),
    ],
)
def test_decode_rejects_malformed(data: bytes, match: str) -> None:
    with pytest.raises(SegmentDecodeError, match=match):
        Segment.decode(data)


def test_decode_error_is_a_value_error() -> None:
    assert issubclass(SegmentDecodeError, ValueError)
    with pytest.raises(ValueError, match="shorter than an IPv4 header"):
        Segment.decode(b"\x45")


# -- properties ---------------------------------------------------------------------------

u32 = st.integers(0, 2**32 - 1)
options = st.builds(
    TcpOptions,
    mss=st.none() | st.integers(0, 65535),
    wscale=st.none() | st.integers(0, 255),
    sack_permitted=st.booleans(),
    timestamps=st.none() | st.tuples(u32, u32),
    # two blocks fill the 40 bytes beside every other option
    sack=st.lists(st.tuples(u32, u32), max_size=2).map(tuple),
)
segments = st.builds(
    Segment,
    src_ip=st.ip_addresses(v=4).map(str),
    src_port=st.integers(0, 65535),
    dst_ip=st.ip_addresses(v=4).map(str),
    dst_port=st.integers(0, 65535),
    seq=u32,
    ack=u32,
    flags=st.integers(0, 255),
    window=st.integers(0, 65535),
    payload=st.binary(max_size=1600),
    options=options,
)


@wire_settings
@given(segments)
def test_round_trip(seg: Segment) -> None:
    data = seg.encode()
    assert len(data) == 20 + (data[32] >> 4) * 4 + len(seg.payload)
    assert struct.unpack_from("!H", data, 10)[0] == ip_checksum(data)
    assert struct.unpack_from("!H", data, 36)[0] == tcp_checksum(data)
    assert Segment.decode(data) == seg


@wire_settings
@given(segments, st.integers(1, 14), st.integers(0, 2**30))
def test_round_trip_scaled_window(seg: Segment, shift: int, window: int) -> None:
    seg = seg._replace(window=window)
    back = Segment.decode(seg.encode(window_shift=shift), window_shift=shift)
    if seg.flags & SYN:
        assert back.window == min(window, 65535)
    else:
        assert back.window == min(window >> shift, 65535) << shift
    assert back._replace(window=window) == seg


def _decodes_or_rejects(data: bytes, *, verify_checksums: bool = True) -> Segment | None:
    try:
        return Segment.decode(data, verify_checksums=verify_checksums)
    except SegmentDecodeError:
        return None


@wire_settings
@given(st.binary(max_size=200))
def test_fuzz_random_bytes(data: bytes) -> None:
    _decodes_or_rejects(data)
    _decodes_or_rejects(data, verify_checksums=False)
    # Random bytes that pass the IP header checks at least.
    _decodes_or_rejects(fix_checksums(b"\x45\x00" + struct.pack("!H", len(data) + 4) + data))


@wire_settings
@given(segments, st.data())
def test_fuzz_truncation(seg: Segment, data: st.DataObject) -> None:
    encoded = seg.encode()
    cut = data.draw(st.integers(0, len(encoded) - 1))
    with pytest.raises(SegmentDecodeError):
        Segment.decode(encoded[:cut])
    # With the total length patched to match, the TCP layer must reject or parse.
    if cut >= 4:
        patched = _with(encoded[:cut], 2, struct.pack("!H", cut))
        _decodes_or_rejects(patched)
        _decodes_or_rejects(patched, verify_checksums=False)


@wire_settings
@given(segments, st.data())
def test_fuzz_bit_flips(seg: Segment, data: st.DataObject) -> None:
    encoded = bytearray(seg.encode())
    bit = data.draw(st.integers(0, len(encoded) * 8 - 1))
    encoded[bit // 8] ^= 1 << (bit % 8)
    # One flipped bit changes one 16-bit word by 2**k: every checksum catches it.
    with pytest.raises(SegmentDecodeError):
        Segment.decode(encoded)
    # Without the checksums, the parser still rejects or decodes cleanly.
    _decodes_or_rejects(bytes(encoded), verify_checksums=False)
    # Several flips with checksums repaired exercise the header and option parsers.
    for _ in range(data.draw(st.integers(1, 8))):
        bit = data.draw(st.integers(0, len(encoded) * 8 - 1))
        encoded[bit // 8] ^= 1 << (bit % 8)
    if len(encoded) >= 20 and encoded[0] & 0x0F >= 5 and (encoded[0] & 0x0F) * 4 <= len(encoded):
        _decodes_or_rejects(fix_checksums(encoded))


@wire_settings
@given(st.binary(max_size=40).filter(lambda b: len(b) % 4 == 0), st.binary(max_size=16))
def test_fuzz_option_bytes(raw_options: bytes, payload: bytes) -> None:
    seg = _decodes_or_rejects(build(raw_options, payload))
    if seg is not None:
        assert seg.payload == payload
        if seg.options.mss is not None:
            assert 0 <= seg.options.mss <= 65535


def test_fin_and_syn_count_in_seg_len_after_decode() -> None:
    seg = Segment.decode(SEG._replace(flags=SYN | FIN, payload=b"ab").encode())
    assert seg.seg_len == 4


def test_sack_blocks_round_trip_in_linux_layout() -> None:
    """SACK blocks (RFC 2018 section 3) follow the other options behind two
    NOPs, as Linux's tcp_options_write puts them; tshark-style repr."""
    options = TcpOptions(timestamps=(7, 9), sack=((1000, 2000), (3000, 4000)))
    seg = SEG._replace(flags=ACK, options=options)
    data = seg.encode()
    assert data[40:52] == bytes.fromhex("0101080a0000000700000009")
    assert data[52:56] == bytes((1, 1, 5, 18))
    assert Segment.decode(data).options == options
    assert repr(options) == "[TS val 7 ecr 9,sack 2 {1000:2000}{3000:4000}]"


def test_options_longer_than_forty_bytes_cannot_be_encoded() -> None:
    too_many = tuple((i, i + 1) for i in range(0, 8, 2))  # four blocks need 36 + 12 bytes
    seg = SEG._replace(flags=ACK, options=TcpOptions(timestamps=(1, 1), sack=too_many))
    with pytest.raises(ValueError, match="more than the header's 40"):
        seg.encode()
    without_timestamps = seg._replace(options=TcpOptions(sack=too_many)).encode()
    assert Segment.decode(without_timestamps).options.sack == too_many
