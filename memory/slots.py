"""Does a question name another subject where a fact's sentence has its own?

Dense search finds facts by sentence similarity, and a sentence about one subject is close to a question
about another with the same relation: "Futabatei Shimei is a citizen of" passes the dense threshold
against "Hitomi Shimatani is a citizen of Japan." Such a hit is not evidence about the question. A
question that really needs a fact it does not name describes the fact's subject instead ("the capital of
*the country where X was born*"), and a question that names the subject itself is linked to it by name.

The test reads the words the sentence puts around its subject (up to two on each side, the object left
out) and looks for them in the question. What the question puts between them is the slot. The slot names
another subject when it is written as a name, not a description:
- it opens with a capital letter or a digit in the question (lower-case questions are never judged);
- its first word is not a determiner, pronoun or question word ("the", "its", "which" ...);
- it is not the fact's subject or one of its aliases (case, accents and punctuation folded).

When the surrounding words are not found, nothing is judged: a paraphrased relation leaves the hit as it
is. So the rule only drops hits, and only for questions that copy the fact's own wording around a
different name.
"""

from __future__ import annotations

from memory.entities import cased_tokens, name_tokens
from memory.facts import Fact

CONTEXT_WORDS = 2  # words of the sentence taken on each side of the subject
MAX_NAME_WORDS = 8  # a longer slot is a clause, not a name
DESCRIBING_WORDS = frozenset(
    {
        "a", "an", "the", "this", "that", "these", "those", "its", "his", "her", "their", "our", "my",
        "your", "which", "what", "who", "whom", "whose", "where", "when", "how", "why", "some", "any",
        "each", "every", "one",
    }
)  # fmt: skip


def _find(words: tuple[str, ...], part: tuple[str, ...], begin: int) -> int:
    """Index of the first occurrence of `part` in `words` at or after `begin`, or -1."""
    for index in range(begin, len(words) - len(part) + 1):
        if words[index : index + len(part)] == part:
            return index
    return -1


def subject_slot(question: str, fact: Fact) -> tuple[int, int, list[str]] | None:
    """The token span of the question that the sentence's subject occupies, and the question's cased
    tokens; None when the sentence's words around its subject are not in the question."""
    sentence = fact.sentence
    at = sentence.casefold().find(fact.subject.casefold())
    if at < 0 or not fact.subject.strip():
        return None
    after = sentence[at + len(fact.subject) :]
    object_at = after.casefold().find(fact.object.casefold()) if fact.object.strip() else -1
    left = name_tokens(sentence[:at])[-CONTEXT_WORDS:]
    right = name_tokens(after[:object_at] if object_at >= 0 else after)[:CONTEXT_WORDS]
    if not left and not right:
        return None
    cased = cased_tokens(question)
    words = tuple(token.casefold() for token in cased)
    begin = 0
    while True:
        start = _find(words, left, begin) + len(left) if left else 0
        if left and start < len(left):
            return None  # the words before the subject are not in the question
        end = _find(words, right, start + 1) if right else len(words)
        if end > start:
            return start, end, cased
        if not left:
            return None
        begin = start - len(left) + 1


def names_other_subject(question: str, fact: Fact) -> bool:
    """Whether the question writes another name where the fact's sentence has its subject."""
    slot = subject_slot(question, fact)
    if slot is None:
        return False
    start, end, cased = slot
    name = tuple(token.casefold() for token in cased[start:end])
    if not name or len(name) > MAX_NAME_WORDS or name[0] in DESCRIBING_WORDS:
        return False
    first = cased[start][:1]
    if not (first.isupper() or first.isdigit()):
        return False
    own = {name_tokens(fact.subject), *(name_tokens(alias) for alias in fact.subject_aliases)}
    return name not in own
