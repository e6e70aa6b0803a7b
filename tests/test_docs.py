"""The API reference (mkdocs.yml, docs/) covers the public API, and its code runs.

``./dev test`` builds the site with ``mkdocs build --strict`` (a docstring the
renderer cannot read fails it); these checks are what the build does not see:
a public name left out of the reference, a member listed on a page that does
not exist or has no docstring, a code block of the site that no longer runs.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import aiotcpsim

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
_DIRECTIVE = re.compile(r"^::: (\S+)\n((?:[ \t]+\S.*\n|\n(?=[ \t]))*)", re.M)


def _directives() -> dict[str, list[str] | None]:
    """Each ``::: path`` of the API pages -> its ``members:`` list (None: all)."""
    out: dict[str, list[str] | None] = {}
    for page in sorted((DOCS / "api").glob("*.md")):
        for m in _DIRECTIVE.finditer(page.read_text(encoding="utf-8")):
            members = re.findall(r"^\s+- (\w+)\s*$", m.group(2), re.M)
            out[m.group(1)] = members if "members:" in m.group(2) and members else None
    return out


DIRECTIVES = _directives()


def _public_names() -> list[str]:
    from aiotcpsim import asyncio_loop, trio_net

    names = [f"aiotcpsim.{n}" for n in aiotcpsim.__all__]
    names += [f"aiotcpsim.asyncio_loop.{n}" for n in asyncio_loop.__all__]
    names += [f"aiotcpsim.trio_net.{n}" for n in trio_net.__all__]
    return names


@pytest.mark.parametrize("name", _public_names())
def test_every_public_name_has_a_reference_entry(name: str) -> None:
    short = name.rsplit(".", 1)[-1]
    same = {name, f"aiotcpsim.{short}", f"aiotcpsim.asyncio_loop.{short}"}
    assert same & DIRECTIVES.keys(), f"{name} is public but no docs/api page has '::: {name}'"


def test_the_plugin_and_adapters_have_pages() -> None:
    for module in ("aiotcpsim.pytest_plugin", "aiotcpsim.asyncio_loop", "aiotcpsim.trio_net"):
        assert module in DIRECTIVES, module
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for page in sorted(DOCS.rglob("*.md")):
        assert str(page.relative_to(DOCS)) in nav, f"{page} is not in mkdocs.yml's nav"


def test_listed_members_exist_and_have_docstrings() -> None:
    griffe = pytest.importorskip("griffe")
    package = griffe.load("aiotcpsim", search_paths=[str(ROOT)], resolve_aliases=True)
    problems = []
    for path, members in DIRECTIVES.items():
        obj = package[path.removeprefix("aiotcpsim.")]
        obj = obj.final_target if obj.is_alias else obj
        if obj.docstring is None:
            problems.append(f"{path} has no docstring")
        for name in members or ():
            if name not in obj.all_members:
                problems.append(f"docs list {path}.{name}, which does not exist")
                continue
            member = obj.all_members[name]
            member = member.final_target if member.is_alias else member
            if member.docstring is None:
                problems.append(f"{path}.{name} is listed but has no docstring")
    assert not problems, "\n".join(problems)


def _blocks() -> list[tuple[str, str]]:
    out = []
    for page in sorted(DOCS.rglob("*.md")):
        text = page.read_text(encoding="utf-8")
        for m in re.finditer(r"```python\n(.*?)```", text, re.S):
            line = text.count("\n", 0, m.start()) + 1
            out.append((f"{page.relative_to(DOCS)}:{line}", m.group(1)))
    return out


@pytest.mark.parametrize(("where", "code"), _blocks(), ids=[b[0] for b in _blocks()])
def test_docs_code_block_runs(where: str, code: str, tmp_path: Path) -> None:
    script = tmp_path / "block.py"
    script.write_text(code, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-P", str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"docs/{where}:\n{done.stdout}\n{done.stderr}"


def _layout_rows() -> list[list[str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        if line.startswith("| `"):
            rows.append(re.findall(r"`([^`]+)`", line.split(" | ")[0]))
    return rows


def test_readme_layout_names_files_that_exist_and_every_package() -> None:
    named: set[str] = set()
    for cell in _layout_rows():
        base = Path(cell[0]).parent if "/" in cell[0].rstrip("/") else Path()
        for item in cell:
            path = Path(item) if "/" in item.rstrip("/") or base == Path() else base / item
            assert (ROOT / path).exists(), f"README Layout names {item}, which does not exist"
            named.add(str(path).rstrip("/"))
    packages = {str(p.parent.relative_to(ROOT)) for p in (ROOT / "aiotcpsim").glob("*/__init__.py")}
    wanted = packages | {"benchmarks", "docs", "examples", "hatch_build.py", "mkdocs.yml"}
    missing = [w for w in wanted if not any(n == w or n.startswith(f"{w}/") for n in named)]
    assert not missing, f"README Layout leaves out {sorted(missing)}"


def test_readme_links_stay_inside_the_repository() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)\s]+)\)", text) + re.findall(r"`(\.\./[^`]+)`", text):
        assert "://" not in target or target.startswith("https://"), target
        if "://" not in target:
            path = (ROOT / target.split("#")[0]).resolve()
            assert path.is_relative_to(ROOT), f"README links {target}, outside the repository"
            assert path.exists(), f"README links {target}, which does not exist"


def test_every_tcp_config_field_has_a_docstring() -> None:
    """The reference shows only what has a docstring: a knob without one would vanish."""
    import dataclasses

    from aiotcpsim import TcpConfig

    griffe = pytest.importorskip("griffe")
    package = griffe.load("aiotcpsim", search_paths=[str(ROOT)], resolve_aliases=True)
    config = package["config.TcpConfig"]
    missing = [
        f.name
        for f in dataclasses.fields(TcpConfig)
        if f.name not in config.members or config.members[f.name].docstring is None
    ]
    assert not missing, f"TcpConfig fields without a docstring: {missing}"
