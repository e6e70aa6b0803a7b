"""What goes on the wire, kernel vs simulation: capture, normalise, compare.

:class:`LoopbackCapture` records the kernel's loopback segments of one
server port with ``dumpcap`` (from Wireshark's tshark package); the
simulation's segments come from ``net.trace.segments()``.  Both become
:data:`Row` tuples by :func:`rows`: direction, flags as tcpdump and
packetdrill print them, sequence and acknowledgment numbers relative to each
side's ISN, and payload length.  Windows, options and timing are left out.

Readiness and completeness of a capture are checked with probes, not with
sleeps: dumpcap hands packets on in blocks (libpcap's 250 ms buffer
timeout), so a capture counts as started once a SYN to a closed probe port
has come back through dumpcap's output, and as complete once a second probe,
sent after the scenario, has come back too -- everything the scenario sent
on ``lo`` precedes it.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import IO

from aiotcpsim import read_pcap
from aiotcpsim.segment import ACK, FIN, PSH, RST, SYN, Segment

Row = tuple[str, str, int, int, int]
"""(direction ``"c>s"`` or ``"s>c"``, flags, relative seq, relative ack, payload length)."""

CLIENT_TO_SERVER = "c>s"
SERVER_TO_CLIENT = "s>c"

# Real-time bounds of the capture machinery (loopback itself answers in microseconds).
START_TIMEOUT = 5.0  # dumpcap up and its first probe seen
DRAIN_TIMEOUT = 3.0  # the closing probe seen
PROBE_INTERVAL = 0.05  # between probes while waiting (dumpcap delivers every <= 250 ms)

_PCAP_HEADER = 24
_RECORD = struct.Struct("<IIII")

# tcpdump's order: F S R P U E W, then "." for ACK (print-tcp.c, tcp_flag_values).
_FLAG_LETTERS = (
    (FIN, "F"),
    (SYN, "S"),
    (RST, "R"),
    (PSH, "P"),
    (0x20, "U"),
    (0x40, "E"),
    (0x80, "W"),
)


def flag_text(flags: int) -> str:
    """``"S."`` for SYN|ACK, ``"P."`` for PSH|ACK, ``"R"`` for a bare RST."""
    text = "".join(letter for bit, letter in _FLAG_LETTERS if flags & bit)
    if flags & ACK:
        text += "."
    return text or "none"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody holds right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def rows(segments: Iterable[Segment], server_port: int) -> list[Row]:
    """The segments of connections to ``server_port`` as :data:`Row` tuples.

    Sequence numbers count from the sender's SYN (its ISN is 0); a side that
    sent no SYN (a RST from a closed port) keeps absolute numbers, and so does
    an acknowledgment of a side whose SYN is not seen.
    """
    isn: dict[tuple[int, int], int] = {}
    out: list[Row] = []
    for seg in segments:
        if server_port not in (seg.src_port, seg.dst_port):
            continue
        direction = SERVER_TO_CLIENT if seg.src_port == server_port else CLIENT_TO_SERVER
        me = (seg.src_port, seg.dst_port)
        peer = (seg.dst_port, seg.src_port)
        if seg.flags & SYN:
            isn[me] = seg.seq
        seq = (seg.seq - isn.get(me, 0)) & 0xFFFFFFFF
        ack = (seg.ack - isn.get(peer, 0)) & 0xFFFFFFFF if seg.flags & ACK else 0
        out.append((direction, flag_text(seg.flags), seq, ack, len(seg.payload)))
    return out


def coalesce(table: Sequence[Row]) -> list[Row]:
    """``table`` modulo segmentation.

    * Each run of data segments one side sends back to back (contiguous, the
      same acknowledgment, nothing but the other side's pure ACKs in between)
      becomes one row, at the place of its first segment, with the total
      length and the flags of its last segment (PSH marks the end of a write).
    * A pure ACK that acknowledges part of such a run (its number falls
      strictly inside) is dropped: how many there are depends on the cut.
    * A pure ACK that repeats the previous row of its side (a window update:
      nothing new acknowledged) is dropped.
    """
    merged: list[Row] = []
    open_run: dict[str, int] = {}  # direction -> index in merged of its open data run
    for row in table:
        direction, flags, seq, ack, length = row
        if length and flags in (".", "P."):
            i = open_run.get(direction)
            if i is not None:
                _, _, rseq, rack, rlen = merged[i]
                between = merged[i + 1 :]
                if (
                    rseq + rlen == seq
                    and rack == ack
                    and all(r[0] != direction and r[1] == "." and not r[4] for r in between)
                ):
                    merged[i] = (direction, flags, rseq, rack, rlen + length)
                    continue
            merged.append(row)
            open_run[direction] = len(merged) - 1
            continue
        merged.append(row)
        if direction in open_run and not (flags == "." and not length):
            del open_run[direction]
        if not (flags == "." and not length):
            open_run.pop(_other(direction), None)
    out: list[Row] = []
    runs = [r for r in merged if r[4]]
    last_of: dict[str, Row] = {}
    for row in merged:
        direction, flags, seq, ack, length = row
        if flags == "." and not length:
            if any(r[0] != direction and r[2] < ack < r[2] + r[4] for r in runs):
                continue  # acknowledges part of a run
            prev = last_of.get(direction)
            if prev is not None and prev[2] + prev[4] == seq and prev[3] == ack:
                continue  # a window update
        out.append(row)
        last_of[direction] = row
    return out


def _other(direction: str) -> str:
    return SERVER_TO_CLIENT if direction == CLIENT_TO_SERVER else CLIENT_TO_SERVER


def _extent(row: Row) -> int:
    """Sequence space a row occupies: payload, plus one for SYN and for FIN."""
    return row[4] + ("S" in row[1]) + ("F" in row[1])


def _unordered(first: Row, second: Row) -> bool:
    """Whether nothing in the two rows orders them: opposite directions, and
    neither acknowledges the sequence space the other occupies."""
    if first[0] == second[0]:
        return False
    saw_first = _extent(first) and "." in second[1] and second[3] - first[2] >= _extent(first)
    saw_second = _extent(second) and "." in first[1] and first[3] - second[2] >= _extent(second)
    return not saw_first and not saw_second


def causal_order(table: Sequence[Row]) -> list[Row]:
    """``table`` with the client's row first wherever nothing orders two neighbours.

    On loopback the kernel runs the receiver inside the sender's system call
    (the softirq runs when the sender's transmit path re-enables bottom
    halves), so an answer goes out before the sender's next write; the
    simulation delivers a zero-delay segment after the callback that sent it,
    so two segments sent in one callback both go out before the answer.  The
    segments themselves do not order such neighbours; this puts them in one
    order for both.
    """
    out = list(table)
    changed = True
    while changed:
        changed = False
        for i in range(len(out) - 1):
            a, b = out[i], out[i + 1]
            if a[0] == SERVER_TO_CLIENT and _unordered(a, b):
                out[i], out[i + 1] = b, a
                changed = True
    return out


class CaptureUnavailable(Exception):
    """dumpcap is missing or may not capture on ``lo`` (the reason is the message)."""


class LoopbackCapture:
    """``dumpcap`` on ``lo`` for one server port, as a context manager.

    ``with LoopbackCapture(port) as cap: ...`` returns once the capture is
    known to be live; :meth:`stop` returns the segments of connections to
    ``port``, in capture order, after the capture is known to be complete.
    The dumpcap process never outlives the ``with`` block.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.probe_port = free_port()
        while self.probe_port == port:
            self.probe_port = free_port()
        self._proc: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._buffer = bytearray()
        self._lock = threading.Lock()

    def __enter__(self) -> LoopbackCapture:
        exe = shutil.which("dumpcap")
        if exe is None:
            raise CaptureUnavailable("dumpcap not installed (apt-get install -y tshark)")
        flt = f"tcp port {self.port} or tcp port {self.probe_port}"
        # -P: classic pcap; -w -: to a pipe, which dumpcap flushes per block.
        try:
            self._proc = subprocess.Popen(
                [exe, "-i", "lo", "-f", flt, "-P", "-w", "-", "-q"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        except OSError as exc:
            raise CaptureUnavailable(f"cannot run dumpcap: {exc}") from exc
        assert self._proc.stdout is not None
        self._reader = threading.Thread(target=self._read, args=(self._proc.stdout,), daemon=True)
        self._reader.start()
        try:
            self._await_probe(START_TIMEOUT)
        except BaseException:
            self._kill()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._kill()

    def stop(self) -> list[Segment]:
        """Wait until everything sent so far is captured, stop dumpcap, and
        return the segments of connections to the server port."""
        self._await_probe(DRAIN_TIMEOUT)
        self._kill()
        with self._lock:
            data = bytes(self._complete())
        segments = [seg for _, seg in read_pcap(io.BytesIO(data), verify_checksums=False)]
        return [s for s in segments if self.port in (s.src_port, s.dst_port)]

    # -- internals ---------------------------------------------------------------------------

    def _read(self, stream: IO[bytes]) -> None:
        while chunk := os.read(stream.fileno(), 1 << 16):
            with self._lock:
                self._buffer.extend(chunk)

    def _complete(self) -> memoryview:
        """The pcap header and every complete record received so far."""
        view = memoryview(self._buffer)
        offset = _PCAP_HEADER
        if len(view) < offset:
            return view[:0]
        while offset + _RECORD.size <= len(view):
            incl = _RECORD.unpack_from(view, offset)[2]
            if offset + _RECORD.size + incl > len(view):
                break
            offset += _RECORD.size + incl
        return view[:offset]

    def _probes_seen(self) -> int:
        with self._lock:
            data = bytes(self._complete())
        if not data:
            return 0
        return sum(
            1
            for _, seg in read_pcap(io.BytesIO(data), verify_checksums=False)
            if seg.dst_port == self.probe_port and seg.flags & SYN
        )

    def _await_probe(self, timeout: float) -> None:
        """Send SYNs to the closed probe port until one more than before is
        seen in dumpcap's output (each is answered by a RST)."""
        assert self._proc is not None
        wanted = self._probes_seen() + 1
        deadline = time.monotonic() + timeout
        next_probe = 0.0
        while self._probes_seen() < wanted:
            now = time.monotonic()
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
                raise CaptureUnavailable(
                    f"dumpcap exited with status {self._proc.returncode}: {err.strip()}"
                )
            if now >= deadline:
                raise TimeoutError(f"dumpcap did not deliver a probe within {timeout} s")
            if now >= next_probe:
                self._probe()
                next_probe = now + PROBE_INTERVAL
            time.sleep(0.005)

    def _probe(self) -> None:
        with socket.socket() as s:
            s.settimeout(1.0)
            with contextlib.suppress(OSError):  # refused: the RST is the point
                s.connect(("127.0.0.1", self.probe_port))

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=3.0)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._reader is not None:
            self._reader.join(timeout=3.0)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
