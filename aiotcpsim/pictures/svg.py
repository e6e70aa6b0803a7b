"""Writing SVG text: the one place markup is produced.

Rule owned here: **the same drawing gives the same bytes**.  Every number
goes through :func:`num` (fixed precision, no ``-0``), attributes keep the
order they are given in, text is escaped with :func:`xml.sax.saxutils.escape`.
Styling is done with presentation attributes, never a ``<style>`` element, so
an SVG inlined in an HTML page cannot restyle the page or another picture.

Text widths are estimated for a monospace font (:data:`CHAR_WIDTH` per
character), which is what lets the layouts promise labels that do not overlap.
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

__all__ = ["CHAR_WIDTH", "FONT", "MONO", "Canvas", "num", "text_width"]

FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"
MONO = "DejaVu Sans Mono, Menlo, Consolas, monospace"
CHAR_WIDTH = 0.62
"""Advance width of one monospace character, in ems (DejaVu Sans Mono: 0.602)."""


def num(x: float) -> str:
    """``x`` with at most one decimal, without a trailing ``.0`` or a ``-0``."""
    text = f"{x:.1f}"
    if text.endswith(".0"):
        text = text[:-2]
    return "0" if text == "-0" else text


def text_width(text: str, size: float) -> float:
    """Estimated width in pixels of ``text`` in the monospace font at ``size``."""
    return len(text) * CHAR_WIDTH * size


Attr = str | float | int


class Canvas:
    """An SVG document being written, element after element."""

    def __init__(self, width: float, height: float, *, title: str = "") -> None:
        self.width = width
        self.height = height
        self.layers: dict[str, list[str]] = {}
        self.parts: list[str] = self.use("")
        self.parts += [
            '<svg xmlns="http://www.w3.org/2000/svg" version="1.1"'
            f' width="{num(width)}" height="{num(height)}"'
            f' viewBox="0 0 {num(width)} {num(height)}" font-family={quoteattr(FONT)}>'
        ]
        if title:
            self.parts.append(f"<title>{escape(title)}</title>")
        self.rect(0, 0, width, height, fill="#ffffff", class_="background")

    def use(self, layer: str) -> list[str]:
        """Write into ``layer`` from now on.  Layers are painted in the order
        they were first used (later ones on top), whatever order they are
        written in."""
        self.parts = self.layers.setdefault(layer, [])
        return self.parts

    @staticmethod
    def _attrs(attrs: dict[str, Attr]) -> str:
        out = []
        for name, value in attrs.items():
            name = name.rstrip("_").replace("_", "-")
            text = num(value) if isinstance(value, float) else str(value)
            out.append(f" {name}={quoteattr(text)}")
        return "".join(out)

    def open(self, tag: str, **attrs: Attr) -> None:
        """Open a container element (``g``); :meth:`close` ends it."""
        self.parts.append(f"<{tag}{self._attrs(attrs)}>")

    def close(self, tag: str = "g") -> None:
        self.parts.append(f"</{tag}>")

    def leaf(self, tag: str, body: str = "", /, **attrs: Attr) -> None:
        """An element with text ``body`` (escaped here) or none."""
        if body:
            self.parts.append(f"<{tag}{self._attrs(attrs)}>{escape(body)}</{tag}>")
        else:
            self.parts.append(f"<{tag}{self._attrs(attrs)}/>")

    def raw(self, markup: str) -> None:
        """Markup already written by this module (a nested element run)."""
        self.parts.append(markup)

    def line(self, x1: float, y1: float, x2: float, y2: float, **attrs: Attr) -> None:
        self.leaf("line", x1=float(x1), y1=float(y1), x2=float(x2), y2=float(y2), **attrs)

    def rect(self, x: float, y: float, w: float, h: float, **attrs: Attr) -> None:
        self.leaf("rect", x=float(x), y=float(y), width=float(w), height=float(h), **attrs)

    def text(self, x: float, y: float, body: str, **attrs: Attr) -> None:
        self.leaf("text", body, x=float(x), y=float(y), **attrs)

    def polygon(self, points: list[tuple[float, float]], **attrs: Attr) -> None:
        pts = " ".join(f"{num(x)},{num(y)}" for x, y in points)
        self.leaf("polygon", points=pts, **attrs)

    def polyline(self, points: list[tuple[float, float]], **attrs: Attr) -> None:
        pts = " ".join(f"{num(x)},{num(y)}" for x, y in points)
        self.leaf("polyline", points=pts, **attrs)

    def title(self, body: str) -> None:
        """A tooltip for the enclosing element."""
        self.parts.append(f"<title>{escape(body)}</title>")

    def finish(self) -> str:
        parts = [p for layer in self.layers.values() for p in layer]
        return "\n".join([*parts, "</svg>"]) + "\n"
