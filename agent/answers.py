"""Turn a model's free-form reply into the short answer the exact-match evaluation compares.

Every method and the evaluator share this one function so that differences between methods come
from their reasoning, not from how their output was cleaned.
"""

from __future__ import annotations

import re

_PREFIX = re.compile(
    r"^\s*(?:final answer|the answer is|answer|a)\s*[:\-]\s*|^\s*the answer is\s+", re.IGNORECASE
)
# A sentence ends at ". " / "! " / "? " unless the period follows a single capital (initials, "U.S.").
_SENTENCE_END = re.compile(r"(?<![A-Z])(?<!\b[A-Z]\.[A-Z])[.!?](?=\s|$)")
_TRIM = " \t\"'`“”‘’.,;:!?*()[]"
# "The capital of Veltoria is Dramen": a small model often restates the question; the answer is the
# short complement after the last copula.
_RESTATED = re.compile(r"^the\s.+\s(?:is|was|are|were)\s+(.+)$", re.IGNORECASE)
_MAX_COMPLEMENT_WORDS = 6


def short_answer(text: str) -> str:
    """First line and first sentence of `text`, without an "Answer:" label, quotes or end punctuation."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    line = lines[0]
    while True:
        stripped = _PREFIX.sub("", line, count=1)
        if stripped == line:
            break
        line = stripped
    if not line.strip() and len(lines) > 1:
        line = lines[1]
    match = _SENTENCE_END.search(line)
    if match:
        line = line[: match.start()]
    restated = _RESTATED.match(line.strip())
    if restated and len(restated.group(1).split()) <= _MAX_COMPLEMENT_WORDS:
        line = restated.group(1)
    return line.strip(_TRIM).strip()
