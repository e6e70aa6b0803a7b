"""A griffe extension: the package's reST habits, read as Markdown by mkdocstrings.

The docstrings are written for people reading the source (``help()``, an
editor): Sphinx roles (:class:`Network`) and ``::`` before an indented example.
This turns them into what the Markdown renderer needs, without touching the
source: a role becomes inline code that links to the object when it is in the
reference (an optional cross-reference: a private target stays plain code), and
a trailing ``::`` becomes ``:`` (the indented block after it is already a
Markdown code block).
"""

from __future__ import annotations

import html
import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:func|class|meth|attr|mod|data|exc|obj|const):`([^`]+)`")
_LABELLED = re.compile(r"^(.*?)\s*<([^>]+)>$")


def _target(obj: griffe.Object, name: str) -> str | None:
    """The canonical path ``name`` means in ``obj``'s scope (where the object
    is defined: the reference registers that one for every object it shows), or None."""
    if name.startswith("aiotcpsim"):
        path = name
    else:
        head, _, rest = name.partition(".")
        try:
            resolved = obj.resolve(head)
        except (griffe.NameResolutionError, ValueError, KeyError):
            return None
        path = f"{resolved}.{rest}" if rest else resolved
    try:
        return obj.modules_collection[path].canonical_path
    except (KeyError, ValueError, griffe.AliasResolutionError):
        return path


def _role(obj: griffe.Object, match: re.Match[str]) -> str:
    text = match.group(1)
    labelled = _LABELLED.match(text)
    if labelled:
        label, name = labelled.group(1), labelled.group(2)
    else:
        name = text.lstrip("~")
        label = name.rsplit(".", 1)[-1] if text.startswith("~") else name
    target = _target(obj, name.lstrip("~"))
    code = f"<code>{html.escape(label)}</code>"
    if target is None:
        return code
    return f'<autoref identifier="{html.escape(target)}" optional>{code}</autoref>'


def _markdown(obj: griffe.Object, text: str) -> str:
    text = _ROLE.sub(lambda m: _role(obj, m), text)
    lines = []
    for line in text.split("\n"):
        stripped = line.rstrip()
        if stripped.endswith("::") and not stripped.endswith(":::"):
            line = stripped[:-2].rstrip() + ":" if stripped[:-2].strip() else ""
        lines.append(line)
    return "\n".join(lines)


class RestToMarkdown(griffe.Extension):
    """Rewrite every docstring of a loaded package (see the module's docstring)."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        seen: set[int] = set()
        stack: list[griffe.Object] = [pkg]
        while stack:
            obj = stack.pop()
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            if obj.docstring is not None:
                obj.docstring.value = _markdown(obj, obj.docstring.value)
            stack.extend(m for m in obj.members.values() if not m.is_alias)
