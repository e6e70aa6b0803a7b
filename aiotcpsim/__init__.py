"""aiotcpsim: a simulated TCP for async Python, on virtual time."""

from __future__ import annotations

from .config import TcpConfig

__all__ = ["TcpConfig"]
__version__ = "0.1.0"
