"""Which build the suite runs on: ./dev runs it on the compiled build and on the
pure build and says which through AIOTCPSIM_EXPECT_BUILD (compiled | pure); this
checks that the modules really come from that build.  Without the variable the
check is skipped (any build will do)."""

from __future__ import annotations

import importlib.machinery
import os

import pytest

import aiotcpsim.segment

EXPECT = os.environ.get("AIOTCPSIM_EXPECT_BUILD", "")


@pytest.mark.skipif(not EXPECT, reason="AIOTCPSIM_EXPECT_BUILD is not set")
def test_the_build_under_test_is_the_one_expected() -> None:
    origin = aiotcpsim.segment.__file__ or ""
    compiled = origin.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))
    assert EXPECT in ("compiled", "pure"), EXPECT
    if EXPECT == "compiled":
        assert compiled, f"expected the compiled build, imported {origin}"
    else:
        assert origin.endswith(".py"), f"expected the pure build, imported {origin}"
