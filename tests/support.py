"""Helpers for tests that drive the sans-I/O network by hand."""

from __future__ import annotations

from aiotcpsim.connection import Connection
from aiotcpsim.host import Listener


class Recorder:
    """A ConnectionUser / ListenerUser that records what happened, with times."""

    def __init__(self, now: list[float] | None = None) -> None:
        self.events: list[str] = []

    def tcp_connected(self, conn: Connection) -> None:
        self.events.append("connected")

    def tcp_readable(self, conn: Connection) -> None:
        self.events.append("readable")

    def tcp_writable(self, conn: Connection) -> None:
        self.events.append("writable")

    def tcp_closed(self, conn: Connection) -> None:
        self.events.append("closed")

    def tcp_acceptable(self, listener: Listener) -> None:
        self.events.append("acceptable")


def read_all(conn: Connection, now: float) -> bytes:
    """Everything readable now (stops at would-block or end of stream)."""
    out = bytearray()
    while True:
        chunk = conn.recv(1 << 20, now)
        if not chunk:
            return bytes(out)
        out += chunk
