"""`memory.display`: control characters escaped, long names cut, JSON that round-trips."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from memory.display import ELLIPSIS, printable, safe_json


def test_printable_escapes_every_kind_of_control_character() -> None:
    assert printable("a\x1b[31mb") == "a\\x1b[31mb"
    assert printable("tab\there\nnew\rline") == "tab\\there\\nnew\\rline"
    assert printable("\x00\x7f\x9b") == "\\x00\\x7f\\x9b"
    assert printable("left\u202eright\u2066") == "left\\u202eright\\u2066"
    assert printable("Zürich — 東京") == "Zürich — 東京"  # printable text is left alone


def test_printable_cuts_long_text_with_an_ellipsis_quickly() -> None:
    name = "\x1b" * 100_000
    start = time.perf_counter()
    shown = printable(name, limit=80)
    assert time.perf_counter() - start < 0.05
    assert shown.endswith(ELLIPSIS) and shown.count("\\x1b") == 79
    assert printable("short", limit=80) == "short"
    with pytest.raises(ValueError, match="limit must be at least 1, got 0"):
        printable("x", limit=0)


def test_safe_json_escapes_controls_and_round_trips() -> None:
    value = {"subject": "Evil\x1b[31m\x9b\u202eCorp", "object": "Zürich"}
    text = safe_json(value)
    assert "\x1b" not in text and "\x9b" not in text and "\u202e" not in text
    assert "Zürich" in text
    assert json.loads(text) == value


def test_safe_json_passes_default_for_other_types() -> None:
    assert json.loads(safe_json({"path": Path("/tmp/x\x9b")}, default=str)) == {"path": "/tmp/x\x9b"}
    assert "\x9b" not in safe_json({"path": Path("/tmp/x\x9b")}, default=str)
