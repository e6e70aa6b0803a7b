"""Where the peer suites come from: the release installed, its sdist fetched at test time.

Rule owned here: the suite that runs is the one of the version installed (the
``test`` extra of pyproject.toml), read from ``importlib.metadata`` -- never a
copy kept in this repository.  ``pip download`` (the running interpreter's pip)
fetches that release's sdist into a cache keyed by version
(``$AIOTCPSIM_PEERS_CACHE``, else ``$XDG_CACHE_HOME/aiotcpsim-peers``, else
``~/.cache/aiotcpsim-peers``), unpacked once with tarfile's ``data`` filter and
reused by later runs.  Without a network (pip fails) the caller skips, saying
why; ``AIOTCPSIM_PEERS=0`` opts out of the peer suites altogether.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import tempfile
from importlib import metadata
from pathlib import Path


class Unavailable(Exception):
    """The sdist could not be had (no network, no such release): skip, saying why."""


def opted_out() -> bool:
    return os.environ.get("AIOTCPSIM_PEERS", "1") == "0"


def cache_dir() -> Path:
    if where := os.environ.get("AIOTCPSIM_PEERS_CACHE"):
        return Path(where)
    xdg = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(xdg) / "aiotcpsim-peers"


def installed_version(project: str) -> str:
    return metadata.version(project)


def sdist_tree(project: str) -> Path:
    """The unpacked sdist of the installed ``project``: ``<cache>/<project>-<version>/``."""
    version = installed_version(project)
    cache = cache_dir()
    tree = cache / f"{project}-{version}"
    if (tree / "pyproject.toml").exists():
        return tree
    cache.mkdir(parents=True, exist_ok=True)
    archive = _download(project, version, cache)
    # Unpack beside the cache and rename into place: a run interrupted half-way
    # leaves no half tree that a later run would take for complete.
    with tempfile.TemporaryDirectory(dir=cache) as scratch, tarfile.open(archive) as tar:
        tar.extractall(scratch, filter="data")
        unpacked = Path(scratch) / f"{project}-{version}"
        if not (unpacked / "pyproject.toml").exists():
            raise Unavailable(f"{archive.name} holds no {unpacked.name}/pyproject.toml")
        try:
            unpacked.rename(tree)
        except OSError:
            if not (tree / "pyproject.toml").exists():
                raise
            # Another process (a pytest-xdist worker) unpacked it first: use that one.
    return tree


def _download(project: str, version: str, cache: Path) -> Path:
    found = sorted(cache.glob(f"{project}-{version}.tar.gz"))
    if found:
        return found[0]
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
        "--disable-pip-version-check", "--quiet", "--timeout", "15", "--retries", "1",
        "--dest", str(cache), f"{project}=={version}",
    ]  # fmt: skip
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=False)
    except subprocess.TimeoutExpired:
        raise Unavailable(f"pip download {project}=={version}: no answer in 180 s") from None
    found = sorted(cache.glob(f"{project}-{version}.tar.gz"))
    if done.returncode != 0 or not found:
        tail = (done.stdout + done.stderr).strip().splitlines()[-3:]
        raise Unavailable(
            f"pip could not download the sdist of {project}=={version} (no network?): "
            + " / ".join(tail)
        )
    return found[0]
