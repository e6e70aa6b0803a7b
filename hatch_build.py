"""The compiled build: the sans-I/O core compiled with mypyc, when it can be.

The pure-Python source is the truth and runs everywhere.  Where a C compiler
(and Python's headers) are present, the modules listed in ``pyproject.toml``
(``[tool.hatch.build.targets.wheel.hooks.custom]``, ``mypyc-include`` minus
``mypyc-exclude``, globs; paths that match nothing are skipped) are compiled
with mypyc, as black and mypy ship.  This file has two roles:

* hatchling's build hook for wheels (``pip wheel .``, ``python -m build``):
  the compiled extension modules go into the wheel next to the ``.py`` files,
  and the wheel gets a platform tag.  Editable installs and sdists stay pure.
* a script for development (``./dev``): ``python hatch_build.py compile DIR``
  copies the package into ``DIR/aiotcpsim`` and compiles it there, never in
  the source tree, so a compiled module can never shadow edited source; it
  rebuilds only when a file of the package (or the configuration, Python or
  mypy version) changed since the last build.  ``python hatch_build.py check``
  says whether a compiled build is possible here.

``AIOTCPSIM_PURE=1`` forces the pure build (as black's own switch does);
``AIOTCPSIM_PURE=0`` makes compiling mandatory (an error instead of the
fallback to pure); unset, the build compiles when it can and falls back to
the pure wheel with a warning otherwise.
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Any

PACKAGE = "aiotcpsim"
HOOK_TABLE = ("tool", "hatch", "build", "targets", "wheel", "hooks", "custom")
# The shared library that holds every compiled module (one mypyc group), a
# top-level module beside the package (as black's wheels have one):
# aiotcpsim__mypyc.<abi>.so.  (Inside the package, mypyc would give the modules
# it imports from there a wrong __file__.)
GROUP_NAME = PACKAGE


# -- configuration -------------------------------------------------------------------


def read_config(root: Path) -> dict[str, Any]:
    """The hook's table of ``pyproject.toml`` (what hatchling hands the hook)."""
    import tomllib

    with open(root / "pyproject.toml", "rb") as f:
        table: Any = tomllib.load(f)
    for key in HOOK_TABLE:
        table = table.get(key, {})
    return dict(table)


def compiled_sources(root: Path, config: dict[str, Any]) -> list[str]:
    """The package-relative paths (``aiotcpsim/...py``) that mypyc compiles."""
    excluded: set[str] = set()
    for pattern in config.get("mypyc-exclude", []):
        excluded.update(glob.glob(pattern, root_dir=root, recursive=True))
    chosen: list[str] = []
    for pattern in config.get("mypyc-include", []):
        for path in sorted(glob.glob(pattern, root_dir=root, recursive=True)):
            path = path.replace(os.sep, "/")
            if path.endswith(".py") and path not in excluded and path not in chosen:
                chosen.append(path)
    return chosen


def pure_requested() -> bool | None:
    """True: pure forced; False: compiling required; None: compile when possible."""
    value = os.environ.get("AIOTCPSIM_PURE", "").strip().lower()
    if value in ("", "auto"):
        return None
    return value not in ("0", "false", "no", "off")


def why_not_compiled() -> str | None:
    """None when a compiled build is possible here, else the reason it is not."""
    if sys.implementation.name != "cpython":
        return f"mypyc needs CPython (this is {sys.implementation.name})"
    cc = (sysconfig.get_config_var("CC") or "cc").split()
    compiler = os.environ.get("CC", cc[0] if cc else "cc").split()[0]
    if shutil.which(compiler) is None:
        return f"no C compiler ({compiler!r} not found)"
    include = sysconfig.get_paths()["include"]
    if not os.path.exists(os.path.join(include, "Python.h")):
        return f"no Python headers (Python.h not in {include})"
    try:
        import mypyc.build  # noqa: F401
        import setuptools  # noqa: F401
    except ImportError as exc:
        return f"mypyc or setuptools is not installed ({exc})"
    return None


# -- compiling -----------------------------------------------------------------------


def copy_package(root: Path, dest: Path) -> None:
    """Copy the package's source files (no caches, no build products) to dest."""
    shutil.rmtree(dest / PACKAGE, ignore_errors=True)
    for old in dest.glob("*__mypyc*"):
        old.unlink()
    shutil.copytree(
        root / PACKAGE,
        dest / PACKAGE,
        ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.pyd", "*.pyc"),
    )


def compile_tree(tree: Path, sources: list[str], config: dict[str, Any]) -> list[Path]:
    """Compile ``sources`` (relative to ``tree``) in place with mypyc; return the
    extension modules written under ``tree``.  Changes directory for the time
    of the build (mypy and setuptools both work relative to it)."""
    from mypyc.build import mypycify
    from setuptools import Distribution
    from setuptools.command.build_ext import build_ext

    old = os.getcwd()
    os.chdir(tree)
    try:
        extensions = mypycify(
            sources,
            opt_level=str(config.get("mypyc-opt-level", "3")),
            debug_level=str(config.get("mypyc-debug-level", "0")),
            group_name=GROUP_NAME if len(sources) > 1 else None,
            target_dir="build",
        )
        # A bare Distribution: setuptools does not read our pyproject.toml.
        dist = Distribution({"name": PACKAGE, "ext_modules": extensions})
        cmd = build_ext(dist)
        cmd.inplace = True
        cmd.parallel = os.cpu_count() or 1
        cmd.ensure_finalized()
        cmd.run()
    finally:
        os.chdir(old)
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    return sorted([*tree.glob(f"*__mypyc{suffix}"), *(tree / PACKAGE).rglob(f"*{suffix}")])


def fingerprint(root: Path, sources: list[str], config: dict[str, Any]) -> str:
    """A hash of everything a compiled tree depends on."""
    import mypy.version

    digest = hashlib.sha256()
    digest.update(repr((sys.version, mypy.version.__version__, sources, config)).encode())
    digest.update(Path(__file__).read_bytes())  # this build script itself
    for path in sorted((root / PACKAGE).rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".so":
            digest.update(str(path.relative_to(root)).encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def compile_into(root: Path, out: Path, *, quiet: bool = False) -> int:
    """The development build: ``out/aiotcpsim`` = the package, core compiled.
    Rebuilds only when the fingerprint changed.  Exit status 0 on success."""
    reason = why_not_compiled()
    if reason is not None:
        print(f"compiled build not possible: {reason}", file=sys.stderr)
        return 1
    config = read_config(root)
    sources = compiled_sources(root, config)
    stamp = out / "fingerprint"
    mark = fingerprint(root, sources, config)
    if stamp.exists() and stamp.read_text() == mark and (out / PACKAGE).is_dir():
        if not quiet:
            print(f"compiled build up to date in {out}")
        return 0
    out.mkdir(parents=True, exist_ok=True)
    stamp.unlink(missing_ok=True)
    copy_package(root, out)
    start = time.perf_counter()
    print(f"compiling with mypyc: {' '.join(sources)}", flush=True)
    log = out / "build.log"
    with open(log, "w") as f:
        fd_out, fd_err = os.dup(1), os.dup(2)
        os.dup2(f.fileno(), 1)
        os.dup2(f.fileno(), 2)
        try:
            built = compile_tree(out, sources, config)
            failure = None
        except (Exception, SystemExit) as exc:
            built, failure = [], exc
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(fd_out, 1)
            os.dup2(fd_err, 2)
            os.close(fd_out)
            os.close(fd_err)
    if failure is not None:
        sys.stderr.write(log.read_text()[-4000:])
        print(f"mypyc build failed: {failure!r} (full log: {log})", file=sys.stderr)
        return 1
    stamp.write_text(mark)
    elapsed = time.perf_counter() - start
    print(f"compiled {len(sources)} modules ({len(built)} extension files) in {elapsed:.0f} s")
    return 0


# -- the hatchling hook --------------------------------------------------------------

try:
    from hatchling.builders.hooks.plugin.interface import BuildHookInterface
except ImportError:  # used as a script, outside a build environment
    pass
else:

    class MypycBuildHook(BuildHookInterface):  # type: ignore[type-arg]
        """Compile the core into the wheel when possible (see the module docstring)."""

        def dependencies(self) -> list[str]:
            if pure_requested() is True or sys.implementation.name != "cpython":
                return []
            return list(self.config.get("mypyc-requires", ["mypy>=1.11", "setuptools>=70"]))

        def initialize(self, version: str, build_data: dict[str, Any]) -> None:
            if self.target_name != "wheel" or version == "editable":
                return
            pure = pure_requested()
            if pure is True:
                self.app.display_info("aiotcpsim: pure wheel (AIOTCPSIM_PURE=1)")
                return
            reason = why_not_compiled()
            if reason is not None:
                if pure is False:
                    raise RuntimeError(f"aiotcpsim: AIOTCPSIM_PURE=0 but {reason}")
                self.app.display_warning(f"aiotcpsim: pure wheel: {reason}")
                return
            root = Path(self.root)
            sources = compiled_sources(root, self.config)
            self._tmp = tempfile.mkdtemp(prefix="aiotcpsim-mypyc-")
            tree = Path(self._tmp)
            copy_package(root, tree)
            try:
                built = compile_tree(tree, sources, self.config)
            except (Exception, SystemExit) as exc:
                if pure is False:
                    raise
                self.app.display_warning(f"aiotcpsim: mypyc failed ({exc!r}); pure wheel")
                return
            for path in built:
                build_data["force_include"][str(path)] = str(path.relative_to(tree))
            build_data["pure_python"] = False
            build_data["infer_tag"] = True
            self.app.display_info(f"aiotcpsim: compiled {len(sources)} modules with mypyc")

        def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
            tmp = getattr(self, "_tmp", None)
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str]) -> int:
    root = Path(__file__).resolve().parent
    if len(argv) == 2 and argv[0] == "compile":
        return compile_into(root, Path(argv[1]).resolve())
    if argv == ["check"]:
        reason = why_not_compiled()
        print("compiled build possible" if reason is None else f"pure only: {reason}")
        return 0 if reason is None else 1
    if argv == ["sources"]:
        print("\n".join(compiled_sources(root, read_config(root))))
        return 0
    print("usage: python hatch_build.py compile DIR | check | sources", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
