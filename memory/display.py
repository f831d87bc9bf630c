"""Names and sentences made safe to show: control characters escaped, long text cut.

Fact names come from files, API clients and chat input, so they can hold terminal escape sequences
(`ESC[31m`, a cursor move, a bidi override) that would recolour or rewrite what a terminal, a log viewer
or a table shows. Everything that displays a fact's text (the CLI, the chat, the server's logs) passes
it through `printable` first. Stored facts keep their text exactly as given; only the display changes.

The module sits in `memory/`, the bottom package, so that every other package can use it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

# The C0 controls, DEL, the C1 controls (0x9b is a one-byte CSI on some terminals), the line and
# paragraph separators, and the bidirectional overrides and isolates, which reorder what follows them.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r", "\x1b": "\\x1b"}
# What JSON text still needs escaped: `json.dumps` already escapes U+0000 to U+001F inside strings, and
# the newlines of its indentation, outside strings, must stay.
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
ELLIPSIS = "…"


def _escape(char: str) -> str:
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(text: str, limit: int | None = None) -> str:
    """`text` with every control character written as an escape (`\\x1b`, `\\n`, `\\u202e`).

    With `limit`, text longer than `limit` characters is cut and ends in an ellipsis, so a 100 KB name
    shows as one readable line. The cut happens before escaping, so the cost does not grow with the
    length of the text.
    """
    if limit is not None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        if len(text) > limit:
            text = text[: limit - 1] + ELLIPSIS
    return _UNSAFE.sub(lambda match: _escape(match.group()), text)


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def safe_json(value: Any, indent: int | None = 2, default: Callable[[Any], Any] | None = None) -> str:
    """JSON text with non-ASCII kept readable but every control character as a `\\uXXXX` escape.

    `json.dumps(ensure_ascii=False)` escapes only U+0000 to U+001F, so DEL, the C1 controls and the bidi
    overrides would reach the terminal raw. Those characters can only occur inside JSON strings, where a
    `\\uXXXX` escape decodes to the same character, so the result parses to exactly `value`.
    """
    text = json.dumps(value, ensure_ascii=False, indent=indent, default=default)
    return _JSON_UNSAFE.sub(_json_escape, text)
