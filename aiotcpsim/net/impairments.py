"""Link impairments as values: which settings exist, what values they take.

Rule owned here: the names, defaults and valid ranges of every impairment a
:class:`~aiotcpsim.net.link.Link` can carry (netem's vocabulary), Gilbert-Elliott
burst loss, and the size of a segment on the wire.  Validation happens once,
when a setting is made; nothing here runs per segment except
:func:`wire_size` and :func:`clamp_mss` (links with an MTU).

Impairments (netem's names where netem has them):

* ``loss`` -- probability that a segment is lost (independently).
* ``burst`` -- Gilbert-Elliott burst loss, a :class:`GilbertElliott`
  or netem's ``loss gemodel p r 1-h 1-k`` as a tuple ``(p, r, 1-h, 1-k)``.
* ``delay``, ``jitter`` -- seconds; each segment waits
  ``max(0, delay + jitter * z)`` where ``z`` follows ``distribution``:
  ``"uniform"`` on [-1, 1] (netem's default), ``"normal"``, ``"pareto"``
  (Pareto with alpha 3, shifted and scaled to mean 0 and standard deviation 1),
  ``"paretonormal"`` (1/4 normal + 3/4 pareto, as iproute2's table).
* ``duplicate`` -- probability that the network delivers a second copy.
* ``reorder`` -- probability that a segment skips the delay and overtakes
  the ones in flight (netem's ``reorder``).
* ``corrupt`` -- probability that a segment arrives damaged: the receiver
  drops it on its checksum; it counts as ``segments_corrupted``.
* ``rate`` -- bandwidth in bytes per second (None: unlimited); segments
  are serialized one after another (IPv4 + TCP header + options + payload
  bytes each) through a FIFO queue of at most ``queue_limit`` packets
  (netem's default 1000) and ``queue_bytes`` bytes; a segment that finds
  the queue full is dropped (drop-tail).
* ``mtu`` -- bytes (None: unlimited).  The link behaves like a router
  doing MSS clamping (``iptables -j TCPMSS --clamp-mss-to-pmtu``): the MSS
  option of a SYN or SYN-ACK crossing it is lowered to ``mtu - 40`` (a SYN
  without the option gets one, ``min(536, mtu - 40)``), so a correct TCP
  never sends a segment that does not fit.  A segment larger than the MTU
  (the MTU lowered after the handshake) is dropped, as a router drops a
  packet with Don't Fragment set; there is no ICMP "fragmentation needed"
  (a PMTU black hole).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from random import Random
from typing import Any, Final

from ..segment import NO_OPTIONS, Segment, TcpOptions

__all__ = [
    "DEFAULTS",
    "DISTRIBUTIONS",
    "IP_TCP_HEADER",
    "LINK_FIELDS",
    "GilbertElliott",
    "clamp_mss",
    "options_size",
    "validate",
    "variate",
    "wire_size",
]


@dataclass(frozen=True, slots=True)
class GilbertElliott:
    """Burst loss: a two-state Markov chain, as netem's ``loss gemodel p r 1-h 1-k``.

    Per segment the chain moves (good -> bad with probability ``p``, bad ->
    good with ``r``), then the segment is lost with the loss probability of
    the state it was in: ``loss_bad`` (netem's ``1-h``) or ``loss_good``
    (``1-k``) -- the order of netem's ``loss_gilb_ell``.  With only ``p``
    given, ``r = 1 - p``: memoryless loss with probability ``p`` (netem's
    Bernoulli case); ``GilbertElliott(p, r)`` is the simple Gilbert model.

    Raises:
        ValueError: a probability outside [0, 1].
    """

    p: float
    r: float | None = None
    loss_bad: float = 1.0
    loss_good: float = 0.0

    def __post_init__(self) -> None:
        if self.r is None:
            object.__setattr__(self, "r", 1.0 - float(self.p))
        for name in ("p", "r", "loss_bad", "loss_good"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise TypeError(f"GilbertElliott.{name} must be a probability, got {value!r}")
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"GilbertElliott.{name} must be between 0 and 1, got {value!r}")

    @classmethod
    def netem(
        cls, p: float, r: float | None = None, one_minus_h: float = 1.0, one_minus_k: float = 0.0
    ) -> GilbertElliott:
        """From netem's argument order: ``p [r [1-h [1-k]]]`` (probabilities, not percent)."""
        return cls(p, r, one_minus_h, one_minus_k)

    @property
    def mean_loss(self) -> float:
        """The long-run loss rate: ``pi_bad * (1-h) + pi_good * (1-k)``."""
        r = self.r if self.r is not None else 1.0 - self.p
        if self.p + r == 0:
            return self.loss_good
        bad = self.p / (self.p + r)
        return bad * self.loss_bad + (1.0 - bad) * self.loss_good


DISTRIBUTIONS: Final = ("uniform", "normal", "pareto", "paretonormal")
"""Jitter distributions, named as netem's ``delay ... distribution``."""

_PROBABILITIES: Final = ("loss", "duplicate", "reorder", "corrupt")
_SECONDS: Final = ("delay", "jitter")
LINK_FIELDS: Final = (
    "loss",
    "burst",
    "delay",
    "jitter",
    "distribution",
    "duplicate",
    "reorder",
    "corrupt",
    "rate",
    "queue_limit",
    "queue_bytes",
    "mtu",
)
DEFAULTS: dict[str, Any] = {
    "loss": 0.0,
    "burst": None,
    "delay": 0.0,
    "jitter": 0.0,
    "distribution": "uniform",
    "duplicate": 0.0,
    "reorder": 0.0,
    "corrupt": 0.0,
    "rate": None,
    "queue_limit": 1000,
    "queue_bytes": None,
    "mtu": None,
}

IP_TCP_HEADER: Final = 40
"""Bytes of an IPv4 header plus a TCP header without options."""

_PARETO_MEAN: Final = 1.5  # Pareto(alpha=3, xm=1): mean 3/2
_PARETO_SD: Final = math.sqrt(0.75)  # ... and standard deviation sqrt(3)/2


def _check_probability(name: str, value: float) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TypeError(f"{name} must be a number between 0 and 1, got {value!r}")
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be between 0 and 1, got {value!r}")
    return float(value)


def _check_seconds(name: str, value: float) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TypeError(f"{name} must be a number of seconds, got {value!r}")
    if not value >= 0 or math.isinf(value):
        raise ValueError(f"{name} must be a finite number of seconds >= 0, got {value!r}")
    return float(value)


def _check_optional_int(name: str, value: Any, low: int, high: int, unit: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int ({unit}) or None, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be within {low}..{high} {unit}, got {value!r}")
    return value


def validate(name: str, value: Any) -> Any:
    """One impairment value, checked; raises ValueError/TypeError saying what is wrong."""
    if name in _PROBABILITIES:
        return _check_probability(name, value)
    if name in _SECONDS:
        return _check_seconds(name, value)
    if name == "distribution":
        if value not in DISTRIBUTIONS:
            raise ValueError(
                f"distribution must be one of {', '.join(DISTRIBUTIONS)}, got {value!r}"
            )
        return value
    if name == "burst":
        if value is None or isinstance(value, GilbertElliott):
            return value
        if isinstance(value, (tuple, list)) and 1 <= len(value) <= 4:
            return GilbertElliott.netem(*value)
        raise TypeError(
            "burst must be None, a GilbertElliott or a netem-style tuple "
            f"(p[, r[, 1-h[, 1-k]]]), got {value!r}"
        )
    if name == "rate":
        if value is None:
            return None
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise TypeError(f"rate must be bytes per second (a number) or None, got {value!r}")
        if not value > 0 or math.isinf(value):
            raise ValueError(f"rate must be > 0 bytes per second (None: unlimited), got {value!r}")
        return float(value)
    if name == "queue_limit":
        return _check_optional_int(name, value, 1, 1 << 31, "packets")
    if name == "queue_bytes":
        return _check_optional_int(name, value, 1, 1 << 40, "bytes")
    if name == "mtu":
        return _check_optional_int(name, value, 68, 65535, "bytes (IPv4)")
    raise TypeError(f"unknown link impairment {name!r}; expected one of {', '.join(LINK_FIELDS)}")


def wire_size(segment: Segment) -> int:
    """Bytes the segment occupies as an IPv4 packet (headers, options, payload)."""
    size = IP_TCP_HEADER + len(segment.payload)
    if segment.options != NO_OPTIONS:
        size += options_size(segment.options)
    return size


def options_size(options: TcpOptions) -> int:
    """Bytes of the options in Linux's layout (``Segment.encode``): MSS 4,
    timestamps 12 (SACK-permitted rides in their NOPs), SACK-permitted alone 4,
    window scale 4, SACK blocks 4 + 8 each."""
    size = 4 if options.mss is not None else 0
    if options.timestamps is not None:
        size += 12
    elif options.sack_permitted:
        size += 4
    if options.wscale is not None:
        size += 4
    if options.sack:
        size += 4 + 8 * len(options.sack)
    return size


def variate(rng: Random, distribution: str) -> float:
    """One jitter variate of mean 0 and standard deviation 1 (uniform: on [-1, 1])."""
    if distribution == "uniform":
        return rng.uniform(-1.0, 1.0)
    if distribution == "normal":
        return rng.normalvariate(0.0, 1.0)
    pareto = (rng.paretovariate(3.0) - _PARETO_MEAN) / _PARETO_SD
    if distribution == "pareto":
        return pareto
    return 0.25 * rng.normalvariate(0.0, 1.0) + 0.75 * pareto


def clamp_mss(seg: Segment, mss: int) -> Segment:
    """A router's MSS clamping (Linux ``xt_TCPMSS``): lower the MSS option of a SYN."""
    current = seg.options.mss
    if current is None:
        # No option means 536 (RFC 9293 3.7.1); the clamp adds an explicit one.
        new = min(536, mss)
    elif current <= mss:
        return seg
    else:
        new = mss
    return seg._replace(options=seg.options._replace(mss=new))
