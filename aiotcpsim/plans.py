"""Fault plans and network plans: faults and impairments as plain, printable data.

Rule owned here: a plan is a frozen value whose ``repr`` is the Python code
that rebuilds it, and it touches a network only through its public interface
(``net.faults`` and ``net.link``), when :meth:`FaultPlan.apply` is called.
Nothing here draws a random number or knows about hypothesis: the strategies
that generate plans live in :mod:`aiotcpsim.strategies`.

A :class:`FaultPlan` is a tuple of steps:

* targeted rules, made when the plan is applied -- :class:`Drop`,
  :class:`Delay`, :class:`Duplicate`, :class:`Reset` the ``nth`` segment
  (and the ``count - 1`` after it) that matches a sender (``src``), flags,
  payload and the sender's TCP state, as :meth:`Faults.rule
  <aiotcpsim.net.faults.Faults.rule>` does;
* events at a virtual time -- :class:`Partition` (healed at ``heal``),
  :class:`Crash` (restarted at ``restart``), :class:`HoldLink` (released at
  ``release``).

::

    plan = FaultPlan(Drop(src="server", flags="FIN|ACK", count=None))
    plan.apply(net)            # before the run; times count from 0

A :class:`NetworkPlan` is the network's link impairments as a value
(``NetworkPlan(seed=3, delay=0.01, loss=0.05).build("client", "server")``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from .net.compose import Network
    from .net.faults import PartitionMode

__all__ = [
    "Crash",
    "Delay",
    "Drop",
    "Duplicate",
    "FaultPlan",
    "HoldLink",
    "LinkPlan",
    "NetworkPlan",
    "Partition",
    "Reset",
    "Step",
]


def _check_time(owner: str, name: str, value: object, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{owner}.{name} must be a number of seconds, got {value!r}")
    if not 0 <= value < float("inf"):
        raise ValueError(f"{owner}.{name} must be a finite number of seconds >= 0, got {value!r}")


def _check_name(owner: str, name: str, value: object, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str) or not value:
        raise TypeError(f"{owner}.{name} must be a host name (a str), got {value!r}")


def _code(value: object) -> str:
    """A value as code; strings with double quotes (as ruff formats them)."""
    if isinstance(value, str):
        return '"' + repr(value)[1:-1].replace('"', '\\"') + '"'
    return repr(value)


class _Printed:
    """A frozen dataclass printed as the call that rebuilds it (defaults left out)."""

    def __repr__(self) -> str:
        shown = []
        own = vars(type(self)).get("__annotations__", {})
        fields = dataclasses.fields(self)  # type: ignore[arg-type]
        # A subclass's own fields first: Delay(seconds=2.0, src="server").
        for field in sorted(fields, key=lambda f: f.name not in own):
            value = getattr(self, field.name)
            if field.default is not dataclasses.MISSING and value == field.default:
                continue
            shown.append(f"{field.name}={_code(value)}")
        return f"{type(self).__name__}({', '.join(shown)})"


class Step(_Printed):
    """One step of a :class:`FaultPlan`: frozen, comparable, printed as code."""

    def apply(self, net: Network) -> None:
        """Install this step on ``net`` (a rule now, an event at its time)."""
        raise NotImplementedError


@dataclasses.dataclass(frozen=True, repr=False)
class _Rule(Step):
    """A targeted rule: what it matches, from which match on, how many times."""

    action: ClassVar[str] = ""

    src: str | None = None
    """The sending host's name (the direction); None: either."""
    flags: str | None = None
    """Exactly these control flags (``"FIN|ACK"``); None: any segment."""
    payload: bool | None = None
    """True: only segments with data; False: only segments without."""
    state: str | None = None
    """The sender's TCP state when it sends (``"ESTABLISHED"``); None: any."""
    nth: int = 1
    """Act from the n-th matching segment on (1: the first)."""
    count: int | None = 1
    """Act this many times (None: on every match from the n-th on)."""

    def __post_init__(self) -> None:
        owner = type(self).__name__
        _check_name(owner, "src", self.src, optional=True)
        if self.flags is not None and not isinstance(self.flags, str):
            raise TypeError(f"{owner}.flags must be a str like 'FIN|ACK' or None")
        if self.state is not None and not isinstance(self.state, str):
            raise TypeError(f"{owner}.state must be a TCP state name or None")
        if isinstance(self.nth, bool) or not isinstance(self.nth, int) or self.nth < 1:
            raise ValueError(f"{owner}.nth must be an int >= 1, got {self.nth!r}")
        if self.count is not None and (
            isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 1
        ):
            raise ValueError(f"{owner}.count must be an int >= 1 or None, got {self.count!r}")

    def _criteria(self) -> dict[str, Any]:
        return {
            "src": self.src,
            "flags": self.flags,
            "payload": self.payload,
            "state": self.state,
            "nth": self.nth,
            "count": self.count,
        }

    def apply(self, net: Network) -> None:
        net.faults.rule(self.action, **self._criteria())


@dataclasses.dataclass(frozen=True, repr=False)
class Drop(_Rule):
    """Lose the matching segments (``net.faults.drop``)."""

    action: ClassVar[str] = "drop"


@dataclasses.dataclass(frozen=True, repr=False)
class Reset(_Rule):
    """Drop the matching segments and answer each with a RST to its sender
    (a firewall's ``REJECT --reject-with tcp-reset``; ``net.faults.reset``)."""

    action: ClassVar[str] = "reset"


@dataclasses.dataclass(frozen=True, repr=False, kw_only=True)
class Delay(_Rule):
    """Add ``seconds`` to the matching segments' trip (``net.faults.delay``)."""

    action: ClassVar[str] = "delay"
    seconds: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_time("Delay", "seconds", self.seconds)

    def apply(self, net: Network) -> None:
        net.faults.rule("delay", seconds=self.seconds, **self._criteria())


@dataclasses.dataclass(frozen=True, repr=False, kw_only=True)
class Duplicate(_Rule):
    """Deliver ``copies`` extra copies of the matching segments."""

    action: ClassVar[str] = "duplicate"
    copies: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.copies, bool) or not isinstance(self.copies, int) or self.copies < 1:
            raise ValueError(f"Duplicate.copies must be an int >= 1, got {self.copies!r}")

    def apply(self, net: Network) -> None:
        net.faults.rule("duplicate", copies=self.copies, **self._criteria())


@dataclasses.dataclass(frozen=True, repr=False)
class Partition(Step):
    """Cut ``a`` from ``b`` at virtual time ``at`` and heal at ``heal`` (None:
    never); ``oneway`` cuts only ``a -> b``; ``mode`` as ``net.faults.partition``."""

    a: str
    b: str
    at: float = 0.0
    heal: float | None = None
    oneway: bool = False
    mode: str = "blackhole"

    def __post_init__(self) -> None:
        _check_name("Partition", "a", self.a)
        _check_name("Partition", "b", self.b)
        _check_time("Partition", "at", self.at)
        _check_time("Partition", "heal", self.heal, optional=True)
        if self.heal is not None and self.heal < self.at:
            raise ValueError(f"Partition.heal ({self.heal!r}) comes before at ({self.at!r})")
        if self.mode not in ("blackhole", "reject"):
            raise ValueError(f"Partition.mode must be 'blackhole' or 'reject', got {self.mode!r}")

    def apply(self, net: Network) -> None:
        heal = self.heal
        mode: PartitionMode = "reject" if self.mode == "reject" else "blackhole"

        def start() -> None:
            part = net.faults.partition(self.a, self.b, mode=mode, oneway=self.oneway)
            if heal is not None:
                net.call_at(heal, part.heal)

        net.call_at(self.at, start)


@dataclasses.dataclass(frozen=True, repr=False)
class Crash(Step):
    """Crash ``host`` at virtual time ``at``; bring it back at ``restart`` (None: never)."""

    host: str
    at: float = 0.0
    restart: float | None = None

    def __post_init__(self) -> None:
        _check_name("Crash", "host", self.host)
        _check_time("Crash", "at", self.at)
        _check_time("Crash", "restart", self.restart, optional=True)
        if self.restart is not None and self.restart < self.at:
            raise ValueError(f"Crash.restart ({self.restart!r}) comes before at ({self.at!r})")

    def apply(self, net: Network) -> None:
        net.faults.crash(self.host, at=self.at)
        if self.restart is not None:
            net.faults.restart(self.host, at=self.restart)


@dataclasses.dataclass(frozen=True, repr=False)
class HoldLink(Step):
    """Hold the link ``a -> b`` (and ``b -> a`` unless ``oneway``) from ``at``
    until ``release`` (None: never): what reaches its end waits, then arrives
    at once in the order sent (``net.faults.hold_link``)."""

    a: str
    b: str
    at: float = 0.0
    release: float | None = None
    oneway: bool = False

    def __post_init__(self) -> None:
        _check_name("HoldLink", "a", self.a)
        _check_name("HoldLink", "b", self.b)
        _check_time("HoldLink", "at", self.at)
        _check_time("HoldLink", "release", self.release, optional=True)
        if self.release is not None and self.release < self.at:
            raise ValueError(f"HoldLink.release ({self.release!r}) comes before at ({self.at!r})")

    def apply(self, net: Network) -> None:
        release = self.release

        def start() -> None:
            hold = net.faults.hold_link(self.a, self.b, oneway=self.oneway)
            if release is not None:
                net.call_at(release, hold.release)

        net.call_at(self.at, start)


class FaultPlan:
    """Faults as a value: an ordered, immutable tuple of :class:`Step`.

    ``repr(plan)`` is the code that rebuilds it (:meth:`code` adds the
    import); plans compare and hash by their steps.  :meth:`apply` installs
    every step on a network, in order -- rules first match in the order given.
    """

    __slots__ = ("steps",)

    steps: tuple[Step, ...]

    def __init__(self, *steps: Step) -> None:
        for step in steps:
            if not isinstance(step, Step):
                raise TypeError(f"a FaultPlan is made of steps (Drop, Crash...), got {step!r}")
        object.__setattr__(self, "steps", tuple(steps))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("a FaultPlan is immutable")

    def apply(self, net: Network) -> None:
        """Install every step on ``net``: rules now, events at their virtual times.

        Raises:
            ValueError: a step names an unknown host, or a rule no segment can
                match (as :meth:`Faults.rule <aiotcpsim.net.faults.Faults.rule>`).
        """
        for step in self.steps:
            step.apply(net)

    def without(self, index: int) -> FaultPlan:
        """This plan minus its step ``index``."""
        steps = list(self.steps)
        del steps[index]
        return FaultPlan(*steps)

    def code(self) -> str:
        """The plan as a snippet to paste: the import line, then ``plan = ...``."""
        names = sorted({"FaultPlan", *(type(step).__name__ for step in self.steps)})
        body = repr(self)
        if len(self.steps) > 1:
            body = "FaultPlan(\n" + "".join(f"    {step!r},\n" for step in self.steps) + ")"
        return f"from aiotcpsim.plans import {', '.join(names)}\n\nplan = {body}"

    def __len__(self) -> int:
        return len(self.steps)

    def __iter__(self) -> Iterator[Step]:
        return iter(self.steps)

    def __getitem__(self, index: int) -> Step:
        return self.steps[index]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FaultPlan) and self.steps == other.steps

    def __hash__(self) -> int:
        return hash(self.steps)

    def __repr__(self) -> str:
        return f"FaultPlan({', '.join(repr(step) for step in self.steps)})"


_IMPAIRMENTS = ("loss", "delay", "jitter", "duplicate", "reorder", "corrupt", "rate", "mtu")


@dataclasses.dataclass(frozen=True, repr=False)
class LinkPlan(_Printed):
    """Impairments of the one directed link ``src -> dst`` (``net.link(src, dst).update``);
    None leaves the network's default."""

    src: str
    dst: str
    loss: float | None = None
    delay: float | None = None
    jitter: float | None = None
    duplicate: float | None = None
    reorder: float | None = None
    corrupt: float | None = None
    rate: float | None = None
    mtu: int | None = None

    def settings(self) -> dict[str, Any]:
        """The impairments this plan sets."""
        return {k: getattr(self, k) for k in _IMPAIRMENTS if getattr(self, k) is not None}

    def apply(self, net: Network) -> None:
        net.link(self.src, self.dst).update(**self.settings())


@dataclasses.dataclass(frozen=True, repr=False)
class NetworkPlan(_Printed):
    """A network as a value: its seed, the default impairments of every link
    (as :class:`~aiotcpsim.Network` takes them; ``rate``/``mtu`` None:
    unlimited) and per-link overrides.  :meth:`build` makes the network."""

    seed: int = 0
    loss: float = 0.0
    delay: float = 0.0
    jitter: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    corrupt: float = 0.0
    rate: float | None = None
    mtu: int | None = None
    links: tuple[LinkPlan, ...] = ()

    def build(self, *hosts: str, **network: Any) -> Network:
        """A :class:`~aiotcpsim.Network` with these impairments, the ``hosts``
        added by name in order, then the per-link overrides applied.  Other
        keyword arguments (``tcp=``, ``trace=``) go to the network."""
        from .net.compose import Network

        defaults = {k: getattr(self, k) for k in _IMPAIRMENTS}
        net = Network(self.seed, **defaults, **network)
        for name in hosts:
            net.add_host(name)
        self.apply(net)
        return net

    def apply(self, net: Network) -> None:
        """Apply the per-link overrides to ``net`` (their hosts must exist)."""
        for link in self.links:
            link.apply(net)
