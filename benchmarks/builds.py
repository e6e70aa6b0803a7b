"""Builds benchmark: core lifecycles of this tree compiled and pure, against a
baseline revision.

Prints one ``name: value unit`` line per figure: the median of the rounds and
the ratios against the baseline (and compiled against pure).  Each variant
runs in its own worker process that imports the package from one tree only
(``python -P``, ``PYTHONPATH`` = that tree); rounds alternate the variants
(their order rotating from round to round), each run after a full garbage
collection in its worker.

* ``baseline``: the package at a git revision (default: ``git merge-base HEAD
  59fb0ba``, the main branch before the redesign), extracted with
  ``git archive`` into a temporary directory (the working tree is not touched);
* ``pure``: this tree's source;
* ``compiled``: this tree compiled with mypyc: ``build/mypyc/`` when ./dev has
  built it from the current source, else a fresh build in a temporary
  directory (skipped where no compiled build is possible).

The figure: connection lifecycles per second on a default ``Network()`` with
two hosts (handshake, 100 bytes each way, close, TIME-WAIT expiry), as
``benchmarks/core.py`` measures them, written against the public API that
both the baseline and this tree have.

    python benchmarks/builds.py [--rounds 7] [--quick] [--baseline REV]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BASELINE = "59fb0ba"

WORKER = r"""
import gc, sys, time
import aiotcpsim.segment
from aiotcpsim import Network

PAYLOAD = b"p" * 100


def lifecycles(n):
    net = Network(seed=1)
    client = net.add_host("client")
    server = net.add_host("server")
    listener = server.listen(80, backlog=4096)
    start = time.perf_counter()
    for _ in range(n):
        conn = client.connect(server.ip, 80)
        net.advance(net.now)
        child = listener.accept()
        conn.send(PAYLOAD, net.now)
        net.advance(net.now)
        assert child.recv(1000, net.now) == PAYLOAD
        child.send(PAYLOAD, net.now)
        net.advance(net.now)
        assert conn.recv(1000, net.now) == PAYLOAD
        conn.close(net.now)
        net.advance(net.now)
        child.close(net.now)
        net.advance(net.now + 0.001)
    net.run_until_idle()
    elapsed = time.perf_counter() - start
    assert client.connection_count() == 0 and server.connection_count() == 0
    return n / elapsed


print(aiotcpsim.segment.__file__, flush=True)
for line in sys.stdin:
    gc.collect()
    print(lifecycles(int(line)), flush=True)
"""


class Worker:
    """A process that imports the package from ``tree`` and measures on request."""

    def __init__(self, name: str, tree: Path) -> None:
        self.name = name
        env = dict(os.environ, PYTHONPATH=str(tree))
        self.proc = subprocess.Popen(
            [sys.executable, "-P", "-c", WORKER],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.origin = self.proc.stdout.readline().strip()
        if not self.origin:
            raise RuntimeError(f"the {name} worker did not start (tree {tree})")
        self.values: list[float] = []

    def measure(self, n: int) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"{n}\n")
        self.proc.stdin.flush()
        self.values.append(float(self.proc.stdout.readline()))

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait()


def git(*args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(ROOT), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def extract_baseline(rev: str, dest: Path) -> str:
    """``git archive`` the package at ``rev`` into ``dest``; its short hash."""
    commit = git("merge-base", "HEAD", rev) if rev == DEFAULT_BASELINE else git("rev-parse", rev)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", commit, "aiotcpsim"], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return commit[:7]


def compiled_tree(tmp: Path) -> Path | None:
    """build/mypyc when it is current, else a fresh compiled build in ``tmp``."""
    sys.path.insert(0, str(ROOT))
    try:
        import hatch_build
    finally:
        sys.path.pop(0)
    if hatch_build.why_not_compiled() is not None:
        print(f"no compiled build: {hatch_build.why_not_compiled()}", file=sys.stderr)
        return None
    config = hatch_build.read_config(ROOT)
    sources = hatch_build.compiled_sources(ROOT, config)
    current = ROOT / "build" / "mypyc"
    stamp = current / "fingerprint"
    if stamp.exists() and stamp.read_text() == hatch_build.fingerprint(ROOT, sources, config):
        return current
    out = tmp / "compiled"
    if hatch_build.compile_into(ROOT, out) != 0:
        return None
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=7, help="rounds per figure (median)")
    parser.add_argument("--quick", action="store_true", help="fewer lifecycles, for a smoke run")
    parser.add_argument("--baseline", default=DEFAULT_BASELINE, help="git revision to compare")
    args = parser.parse_args()
    n = 500 if args.quick else 3000

    with tempfile.TemporaryDirectory(prefix="aiotcpsim-builds-") as tmp_name:
        tmp = Path(tmp_name)
        trees: dict[str, Path] = {}
        (tmp / "baseline").mkdir()
        try:
            short = extract_baseline(args.baseline, tmp / "baseline")
            trees[f"baseline_{short}"] = tmp / "baseline"
        except (OSError, subprocess.CalledProcessError) as exc:
            print(f"no baseline ({args.baseline}): {exc}", file=sys.stderr)
        trees["pure"] = ROOT
        compiled = compiled_tree(tmp)
        if compiled is not None:
            trees["compiled"] = compiled
        workers = [Worker(name, tree) for name, tree in trees.items()]
        try:
            for w in workers:
                compiled_origin = w.origin.endswith(tuple(EXTENSION_SUFFIXES))
                assert compiled_origin == (w.name == "compiled"), f"{w.name}: {w.origin}"
            for i in range(args.rounds):
                k = i % len(workers)
                for w in workers[k:] + workers[:k]:
                    w.measure(n)
        finally:
            for w in workers:
                w.close()

    medians = {w.name: statistics.median(w.values) for w in workers}
    for w in workers:
        print(f"builds_core_lifecycles_{w.name}: {medians[w.name]:.0f} lifecycles/s")
    base = next((w for w in workers if w.name.startswith("baseline")), None)
    for w in workers:
        if base is not None and w is not base:
            ratio = statistics.median(a / b for a, b in zip(w.values, base.values, strict=True))
            print(f"builds_core_lifecycles_{w.name}_vs_baseline: {ratio:.2f} ratio")
    names = [w.name for w in workers]
    if "compiled" in names and "pure" in names:
        c, p = workers[names.index("compiled")], workers[names.index("pure")]
        ratio = statistics.median(a / b for a, b in zip(c.values, p.values, strict=True))
        print(f"builds_core_lifecycles_compiled_vs_pure: {ratio:.2f} ratio")


if __name__ == "__main__":
    main()
