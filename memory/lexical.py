"""Content words of a question and of a path, counted: what whole-path embeddings cannot see.

A sentence embedding is a mean over tokens, so "the person married to the person married to X" and "the
person married to X" land close together: it barely sees how many times a relation is asked for. Counting
words sees it. `word_fit` is the F1 of the question's content words against the words of the path's
hops, repeats counted: a path with one spouse hop matches one "married" of two (recall), and a path that
goes on past the question brings words the question does not have (precision). Path search adds it to
its whole-path similarity (`RetrievalConfig.lexical_weight`).

Words are lower-cased, function words dropped and a few English suffixes stripped, so "employs",
"employed" and "employer" count as one word.

A word that several relations of the memory use tells less about which one a question asks for: where
"Moldrin is a city in Kefania" phrases the country relation and "campus city" is another relation's label,
"city" in a question is no evidence for either. `relation_word_weights` gives each word the weight 1/n,
n the number of relations using it, and `word_fit` counts matches with those weights (inverse document
frequency, with relations as the documents).

Questions paraphrase relations ("waterway" for the river relation, "nation" for country, "boss" for chief
executive), and exact words miss those. With a `nearness` (`RetrievalConfig.near_word_cosine`), a
question word that no path word equals may match the path word nearest to it, worth their similarity:
each question word matches one path word only, its nearest, so a hop whose label and phrasing are
synonyms ("spouse", "married") still answers one "married" of the question, not two.

Counting words cannot see their order either: "the person who founded the company that employs X" and
"the company that employs the person who founded X" have the same words. `relation_order` reads the
order in which the question mentions a path's relations, outward from the start's name, for path search
to choose between paths that take the same relations in another order.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence

FUNCTION_WORDS = frozenset(
    {
        "a",
        "an",
        "the",
        "of",
        "in",
        "on",
        "at",
        "to",
        "by",
        "for",
        "from",
        "with",
        "and",
        "or",
        "as",
        "into",
        "onto",
        "about",
        "is",
        "was",
        "are",
        "were",
        "be",
        "been",
        "being",
        "do",
        "does",
        "did",
        "has",
        "have",
        "had",
        "which",
        "what",
        "who",
        "whom",
        "whose",
        "where",
        "when",
        "how",
        "name",
        "tell",
        "me",
        "this",
        "that",
        "these",
        "those",
        "it",
        "its",
        "his",
        "her",
        "their",
        "there",
        "located",
    }
)
# Longest first; "ies" becomes "y" so "countries" meets "country".
_SUFFIXES = (
    ("ship", ""), ("ies", "y"), ("ing", ""), ("ers", ""), ("er", ""), ("ed", ""), ("es", ""), ("s", "")
)  # fmt: skip
_MIN_STEM = 3
_WORD = re.compile(r"[^\W\d_]+")


def stem(word: str) -> str:
    """Strip the first matching suffix when at least three letters stay."""
    for suffix, replacement in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= _MIN_STEM:
            return word[: -len(suffix)] + replacement
    return word


def content_words(text: str) -> list[tuple[str, str]]:
    """(stem, word) for each of the text's content words, in order, repeats kept."""
    return [(stem(word), word) for word in _WORD.findall(text.lower()) if word not in FUNCTION_WORDS]


def content_terms(text: str) -> list[str]:
    """The stems of the text's content words, in order, repeats kept."""
    return [term for term, _ in content_words(text)]


def surface_words(texts: Iterable[str]) -> dict[str, str]:
    """A word to stand for each stem of the texts (the shortest, then the first alphabetically), so
    that a stem's meaning can be embedded: "marri" reads as nothing, "married" does."""
    surfaces: dict[str, str] = {}
    for text in texts:
        for term, word in content_words(text):
            known = surfaces.get(term)
            if known is None or (len(word), word) < (len(known), known):
                surfaces[term] = word
    return surfaces


def question_terms(question: str, names: Iterable[str]) -> Counter[str]:
    """The question's content words without the words of the entity names it was linked by: a name is
    not something a relation has to account for."""
    named = {term for name in names for term in content_terms(name)}
    return Counter(term for term in content_terms(question) if term not in named)


def hop_terms(label: str, phrase: str) -> frozenset[str]:
    """One hop's words: its relation label and the source's phrasing, each word once per hop."""
    return frozenset(content_terms(label)) | frozenset(content_terms(phrase))


def relation_word_weights(relation_words: Iterable[frozenset[str]]) -> dict[str, float]:
    """1/n for each word that n of the relations use (one set of words per relation); a word no relation
    uses is absent and weighs 1."""
    counts = Counter(word for words in relation_words for word in words)
    return {word: 1.0 / count for word, count in counts.items()}


def word_fit(
    question: Counter[str],
    path: Counter[str],
    weights: Mapping[str, float] | None = None,
    nearness: Callable[[str, str], float] | None = None,
) -> float:
    """F1 of the question's content words against the path's, repeats counted, each word with its weight
    (`relation_word_weights`; 1 when absent or no weights given); 0 when either is empty.

    `nearness(question word, path word)`: how near two different words are, in [0, 1] (0: not near
    enough to match). A question word the path does not have matches the path word nearest to it, worth
    that nearness times the mean of the two words' weights. Each question word has one partner, its
    equal or else its nearest, and a path word matches at most as many question words as it occurs:
    the nearest first."""
    weights = weights or {}

    def total(counts: Mapping[str, int]) -> float:
        return sum(count * weights.get(term, 1.0) for term, count in counts.items())

    # Each path word's claimants: (value of one match, how many the question has of that word).
    claims: dict[str, list[tuple[float, int]]] = {}
    for term, count in question.items():
        if term in path:
            claims.setdefault(term, []).append((weights.get(term, 1.0), count))
        elif nearness is not None and path:
            partner, near = max(((word, nearness(term, word)) for word in path), key=lambda pair: pair[1])
            if near > 0:
                value = near * (weights.get(term, 1.0) + weights.get(partner, 1.0)) / 2
                claims.setdefault(partner, []).append((value, count))
    matched = 0.0
    for word, claimants in claims.items():
        room = path[word]
        for value, count in sorted(claimants, reverse=True):
            taken = min(room, count)
            matched += taken * value
            room -= taken
    if not matched:
        return 0.0
    precision, recall = matched / total(path), matched / total(question)
    return 2 * precision * recall / (precision + recall)


def relation_order(question: str, name: str, hops: Sequence[frozenset[str]]) -> int:
    """How far the order of a path's hops agrees with the order the question mentions them in.

    English nests relations outward from the entity they start at, before its name ("the capital of the
    country of X": country, then capital; "the person who founded the company that employs X": employer,
    then founder) and after it ("X's manufacturer's boss": manufacturer, then boss; "... that employs X
    married to?": the spouse last). So the question is read from the name outward: its words before the
    name nearest first, then its words after it in order. Each hop is placed at its word read first
    (equal words, `hop_terms`). Every pair of placed hops counts +1 when the path has them in that order
    and -1 when it has them the other way round; 0 when the question does not hold the name."""
    words = _WORD.findall(question.lower())
    named = _WORD.findall(name.lower())
    start = next(
        (i for i in range(len(words) - len(named) + 1) if named and words[i : i + len(named)] == named), None
    )
    if start is None:
        return 0
    end = start + len(named)
    # Reading rank: before the name, nearest first; after it, in order, after all the words before.
    ranked = [(start - index, words[index]) for index in range(start)]
    ranked += [(start + index - end + 1, words[index]) for index in range(end, len(words))]
    placed = []
    for terms in hops:
        ranks = [rank for rank, word in ranked if word not in FUNCTION_WORDS and stem(word) in terms]
        placed.append(min(ranks) if ranks else None)
    agreement = 0
    for first, rank in enumerate(placed):
        for later in placed[first + 1 :]:
            if rank is not None and later is not None and rank != later:
                agreement += 1 if rank < later else -1
    return agreement
