"""Reading Chromium's screenshots without dependencies: a PNG decoder and pixel tests."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable

Pixel = tuple[int, int, int]


class Png:
    """A decoded 8-bit RGB or RGBA PNG, as Chromium writes its screenshots."""

    def __init__(self, data: bytes) -> None:
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        pos, idat = 8, b""
        while pos < len(data):
            (length,), kind = struct.unpack(">I", data[pos : pos + 4]), data[pos + 4 : pos + 8]
            body = data[pos + 8 : pos + 8 + length]
            if kind == b"IHDR":
                self.width, self.height, depth, color = struct.unpack(">IIBB", body[:10])
                assert depth == 8 and color in (2, 6) and body[12] == 0  # not interlaced
                self.channels = 3 if color == 2 else 4
            elif kind == b"IDAT":
                idat += body
            pos += 12 + length
        self.rows = self._unfilter(zlib.decompress(idat))

    def _unfilter(self, raw: bytes) -> list[bytearray]:
        """Undo the PNG row filters (RFC 2083 section 6)."""
        stride = self.width * self.channels
        rows: list[bytearray] = []
        prev = bytearray(stride)
        for y in range(self.height):
            kind = raw[y * (stride + 1)]
            line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
            if kind in (2, 4) and not any(line) and prev.count(prev[0]) == stride:
                line = bytearray(prev)  # a plain row under a plain row: a screenshot's margins
            elif kind == 2:
                line = bytearray((v + b) & 255 for v, b in zip(line, prev, strict=True))
            elif kind:
                self._unfilter_row(kind, line, prev)
            rows.append(line)
            prev = line
        return rows

    def _unfilter_row(self, kind: int, line: bytearray, prev: bytearray) -> None:
        bpp = self.channels
        for i in range(len(line)):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            else:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 255

    def pixel(self, x: int, y: int) -> tuple[int, int, int]:
        row, i = self.rows[y], x * self.channels
        return row[i], row[i + 1], row[i + 2]

    def near(self, x: float, y: float, test: Callable[[Pixel], bool], radius: int = 2) -> bool:
        """True when a pixel within ``radius`` of (x, y) passes ``test``."""
        return any(
            test(self.pixel(int(x) + dx, int(y) + dy))
            for dx in range(-radius, radius + 1)
            for dy in range(-radius, radius + 1)
            if 0 <= int(x) + dx < self.width and 0 <= int(y) + dy < self.height
        )


def red(p: tuple[int, int, int]) -> bool:
    return p[0] > 150 and p[1] < 60 and p[2] < 60


def ink(p: tuple[int, int, int]) -> bool:
    return sum(p) < 3 * 200


def red_blobs(png: Png) -> list[tuple[float, float]]:
    """Centres of the connected groups of red pixels."""
    seen: set[tuple[int, int]] = set()
    blobs = []
    for y in range(png.height):
        for x in range(png.width):
            if (x, y) in seen or not red(png.pixel(x, y)):
                continue
            stack, members = [(x, y)], []
            seen.add((x, y))
            while stack:
                px, py = stack.pop()
                members.append((px, py))
                for nx, ny in ((px + 1, py), (px - 1, py), (px, py + 1), (px, py - 1)):
                    inside = 0 <= nx < png.width and 0 <= ny < png.height
                    if inside and (nx, ny) not in seen and red(png.pixel(nx, ny)):
                        seen.add((nx, ny))
                        stack.append((nx, ny))
            blobs.append((sum(m[0] for m in members) / len(members),
                          sum(m[1] for m in members) / len(members)))  # fmt: skip
    return blobs
