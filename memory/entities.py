"""Entity linking: which entities of the memory a question names, by name or alias.

Names are compared as token sequences after folding case, accents and punctuation ("Grabar-Kitarović",
"grabar kitarovic" and "GRABAR KITAROVIC" are one key). The index maps each folded token sequence to
the entities it names, so linking a question costs one dictionary lookup per (position, length) pair of
its tokens, independent of the memory's size: no scan over the entity list, whatever it holds.
"""

from __future__ import annotations

import string
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

_PUNCT = set(string.punctuation) | {"‘", "’", "“", "”", "–", "—", "…", "«", "»", "¿", "¡"}
# Names longer than this are not indexed: linking tries at most this many token lengths per position.
MAX_NAME_TOKENS = 16
# An alias this short (one token of at most this many characters: "IN", "OF", "US") reads as an ordinary
# word in questions; such aliases are kept on the facts but not used for linking. Names always are.
MIN_ALIAS_CHARS = 4


_PUNCT_TO_SPACE = str.maketrans(dict.fromkeys(_PUNCT, " "))


def _without_accents_and_punctuation(text: str) -> str:
    # ASCII text has no accents to strip, and NFKD leaves it as it is: opening a large memory folds
    # every name once, so the common case skips the per-character pass.
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text)
        text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return text.translate(_PUNCT_TO_SPACE)


def cased_tokens(text: str) -> list[str]:
    """The text's words with accents and punctuation folded away but case kept, one per token of
    `name_tokens`: where a question's capitals matter (is this word the start of a name?)."""
    return _without_accents_and_punctuation(text).split()


def name_tokens(text: str) -> tuple[str, ...]:
    """The folded token sequence of a name or a question (case, accents and punctuation ignored)."""
    # Case folding never makes or removes whitespace, so the whole text is folded in one call.
    return tuple(_without_accents_and_punctuation(text).casefold().split())


# Lower-case words that join the parts of a personal or place name ("Paul von Jank", "Charles de
# Gaulle", "Abd al Rahman", "Carrera y Verdugo"): a capitalised word after one still belongs to the name.
NAME_PARTICLES = frozenset(
    {
        "al", "bin", "d", "da", "das", "de", "del", "della", "der", "di", "dos", "du", "el", "ibn",
        "la", "le", "ter", "van", "von", "y", "zu",
    }
)  # fmt: skip


def _capitalised(word: str) -> bool:
    return word[:1].isupper()


def _ends_sentence(chunk: str) -> bool:
    """Whether a white-space separated chunk ends a sentence: "?" or "!", or "." after a word of more than
    three letters, a lower-case word or a number ("... of Moscow. It is", but not "St. Louis" or "Mr.
    Smith")."""
    if chunk.endswith(("?", "!")):
        return True
    if not chunk.endswith("."):
        return False
    word = chunk.rstrip(".")
    return len(word) > 3 or word.islower() or word.isdigit()


def sentence_starts(text: str) -> frozenset[int]:
    """The indices (in `cased_tokens(text)`) of the tokens that open a sentence, the first included: a
    capitalised word there is capitalised anyway ("What is the twin city of Moscow? It is")."""
    starts, count = {0}, 0
    for chunk in text.split():
        count += len(cased_tokens(chunk))
        if _ends_sentence(chunk):
            starts.add(count)
    return frozenset(starts)


def _inside_longer_name(cased: list[str], start: int, end: int, opening: frozenset[int]) -> bool:
    """Whether the mention tokens[start:end] continue a capitalised name the text goes on with ("Paul" in
    "Paul Jank" or "Paul von Jank", "Jerusalem" in "Jerusalem District"): then the text names another
    entity, one the memory does not hold. A word that opens a sentence (`opening`, see
    `sentence_starts`) is capitalised anyway and does not count, and a name does not go on across the end
    of a sentence."""

    def name_word(index: int) -> bool:
        return 0 <= index < len(cased) and index not in opening and _capitalised(cased[index])

    def particle(index: int) -> bool:
        return 0 <= index < len(cased) and cased[index] in NAME_PARTICLES

    before = start not in opening and (
        name_word(start - 1) or (particle(start - 1) and start - 1 not in opening and name_word(start - 2))
    )
    after = end not in opening and (
        name_word(end) or (particle(end) and end + 1 not in opening and name_word(end + 1))
    )
    return before or after


@dataclass(frozen=True)
class EntityLink:
    """One entity a question names: `surface` is the name or alias as the index knows it."""

    entity: str
    surface: str
    start: int  # token span in the folded question
    end: int
    by_alias: bool
    ambiguous: bool  # the same words name more than one entity

    def to_dict(self) -> dict:
        return {
            "entity": self.entity,
            "surface": self.surface,
            "by_alias": self.by_alias,
            "ambiguous": self.ambiguous,
        }


class EntityIndex:
    """Folded names and aliases -> entities, reference-counted so facts can come and go incrementally."""

    def __init__(self) -> None:
        # key -> entity -> (count of references, surface form, whether the reference is an alias)
        self._keys: dict[tuple[str, ...], Counter[tuple[str, str, bool]]] = defaultdict(Counter)
        self._longest = 0

    def add(self, entity: str, aliases: Iterable[str] = ()) -> None:
        self._change(entity, aliases, +1)

    def add_many(self, named: Iterable[tuple[str, Sequence[str]]]) -> None:
        """`add` for many (entity, aliases) references at once, as when a memory is opened: the
        references are counted first, so a name that many facts share is folded and indexed once."""
        references = Counter((entity, tuple(aliases)) for entity, aliases in named)
        for (entity, aliases), count in references.items():
            self._change(entity, aliases, count)

    def remove(self, entity: str, aliases: Iterable[str] = ()) -> None:
        self._change(entity, aliases, -1)

    def _change(self, entity: str, aliases: Iterable[str], delta: int) -> None:
        for surface, by_alias in ((entity, False), *((alias, True) for alias in aliases)):
            key = name_tokens(surface)
            if not key or len(key) > MAX_NAME_TOKENS:
                continue
            if by_alias and len(key) == 1 and len(key[0]) < MIN_ALIAS_CHARS:
                continue
            counts = self._keys[key]
            reference = (entity, surface, by_alias)
            count = counts.get(reference, 0) + delta
            if count > 0:
                counts[reference] = count
            else:
                counts.pop(reference, None)
            if not counts:
                del self._keys[key]
            elif delta > 0 and len(key) > self._longest:
                self._longest = len(key)

    def __len__(self) -> int:
        return len(self._keys)

    def lookup(self, name: str) -> list[str]:
        """Entities whose name or alias folds to exactly this name."""
        return sorted({entity for entity, _, _ in self._keys.get(name_tokens(name), {})})

    def link(self, text: str) -> list[EntityLink]:
        """Entities named in the text, longest mention first; a mention inside a longer one is dropped
        ("Paris" inside "Paris Saint-Germain"), as is one inside a longer capitalised name the memory does
        not hold; an ambiguous mention yields every entity it names."""
        cased = cased_tokens(text)
        opening = sentence_starts(text)
        tokens = tuple(token.casefold() for token in cased)
        mentions: list[tuple[int, int]] = []
        for start in range(len(tokens)):
            for end in range(min(len(tokens), start + self._longest), start, -1):
                if tokens[start:end] in self._keys:
                    mentions.append((start, end))
                    break
        mentions.sort(key=lambda span: (-(span[1] - span[0]), span[0]))
        taken: list[tuple[int, int]] = []
        links: list[EntityLink] = []
        for start, end in mentions:
            if any(start < other_end and other_start < end for other_start, other_end in taken):
                continue
            taken.append((start, end))
            if _inside_longer_name(cased, start, end, opening):
                continue
            named: dict[str, tuple[str, bool]] = {}
            for entity, surface, by_alias in self._keys[tokens[start:end]]:
                # A name beats an alias of the same entity as the reason it was linked.
                if entity not in named or (named[entity][1] and not by_alias):
                    named[entity] = (surface, by_alias)
            ambiguous = len(named) > 1
            for entity in sorted(named, key=lambda e: (named[e][1], e)):
                surface, by_alias = named[entity]
                links.append(EntityLink(entity, surface, start, end, by_alias, ambiguous))
        return links
