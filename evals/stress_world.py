"""A second, held-out invented world: `python -m evals.stress_world` (evals/data/stress_world.json).

evals/invented_world.py shows what editing does on names no model has seen, but it was written beside the
retriever and asks its questions in the plain words of its relations. This world was written
independently of the retriever and of evals/invented_world.py, in another style, to find out whether
retrieval still holds when the wording moves: questions name relations mostly by paraphrase ("the firm
behind X", "the mother tongue of Y") or as possessive chains ("X's maker's boss's hometown"), and names
carry particles (van der, de la), accents, hyphens, apostrophes and digits, contain other entities' names
("Port X" beside "X", a product named after a company) and have aliases (an unaccented spelling, a short
form, a number in words). The shipped file (seed 2) is held out: nothing in retrieval was changed after
looking at its results. Seed 1 served for development (results/README.md, "A second world, written
independently").

The world is a typed graph of 16 relations over people, companies, products, cities, countries, rivers,
languages, universities and teams, where every entity has every relation of its type. A case is a random
2-4 hop path with one or two edited hops, the edited chain following the world from each new object.
Cases are kept only when no case's edit touches a (subject, relation) of another case's chains, so with
the whole graph and every edit loaded each gold answer follows. `check_world` verifies that, and the
file's format, before anything is written.

All draws come from one random.Random in a fixed order, and the shipped file depends on that order: some
generators below draw values they then discard, and must go on doing so.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Case = dict[str, Any]


@dataclass(frozen=True)
class Relation:
    """One relation of the world and every way the generated text may name it."""

    id: str
    label: str  # the relation's name in the labeled triples
    subject_type: str
    object_type: str
    cloze: str  # "{}" is the subject; the object follows
    questions: tuple[str, ...]  # one-hop questions about "{}"; the first is the plain one
    noun_phrases: tuple[
        str, ...
    ]  # "the object of {}", to nest hops; the first is literal, the rest paraphrase
    possessive_nouns: tuple[str, ...]  # nouns for possessive chains: "X's <noun>"


# fmt: off
MAKER = Relation(
    "R1", "maker", "product", "company", "{} is made by",
    ("Which company makes {}?", "Who manufactures {}?"),
    ("the maker of {}", "the company that makes {}", "the firm behind {}"),
    ("maker", "manufacturer"),
)
CHIEF_EXECUTIVE = Relation(
    "R2", "chief executive", "company", "person", "The chief executive of {} is",
    ("Who is the chief executive of {}?", "Who runs {}?"),
    ("the chief executive of {}", "the person who runs {}", "the boss of {}"),
    ("chief executive", "boss", "CEO"),
)
HEADQUARTERS = Relation(
    "R3", "headquarters", "company", "city", "{} is headquartered in",
    ("In which city is {} headquartered?", "Where does {} have its head office?"),
    ("the headquarters city of {}", "the city where {} has its head office"),
    ("headquarters city", "head-office city"),
)
BIRTHPLACE = Relation(
    "R4", "birthplace", "person", "city", "{} was born in",
    ("Where was {} born?", "In which city was {} born?"),
    ("the birthplace of {}", "the city where {} was born", "the hometown of {}"),
    ("birthplace", "hometown", "city of birth"),
)
ALMA_MATER = Relation(
    "R5", "alma mater", "person", "university", "{} studied at",
    ("Where did {} study?", "Which university did {} attend?"),
    ("the alma mater of {}", "the university {} attended", "the school where {} earned a degree"),
    ("alma mater", "university"),
)
NATIVE_LANGUAGE = Relation(
    "R6", "native language", "person", "language", "The native language of {} is",
    ("What is the native language of {}?", "Which language did {} grow up speaking?"),
    ("the native language of {}", "the mother tongue of {}", "the language {} grew up speaking"),
    ("native language", "mother tongue", "first language"),
)
CAMPUS_CITY = Relation(
    "R7", "campus city", "university", "city", "{} has its campus in",
    ("In which city is {} located?", "Where does {} have its campus?"),
    ("the campus city of {}", "the city where {} is located", "the town that hosts {}"),
    ("campus city", "location"),
)
RIVER = Relation(
    "R8", "river", "city", "river", "{} lies on the",
    ("Which river does {} lie on?", "On which river is {} situated?"),
    ("the river through {}", "the river that {} lies on", "the waterway flowing past {}"),
    ("river", "waterway"),
)
COUNTRY = Relation(
    "R9", "country", "city", "country", "{} is a city in",
    ("In which country is {}?", "Which country is {} part of?"),
    ("the country of {}", "the country {} is in", "the nation that contains {}"),
    ("country", "nation"),
)
MAYOR = Relation(
    "R10", "mayor", "city", "person", "The mayor of {} is",
    ("Who is the mayor of {}?", "Who governs {} as mayor?"),
    ("the mayor of {}", "the person who governs {}", "the elected head of {}"),
    ("mayor", "city leader"),
)
HEAD_OF_STATE = Relation(
    "R11", "head of state", "country", "person", "The head of state of {} is",
    ("Who is the head of state of {}?", "Who leads {} as head of state?"),
    ("the head of state of {}", "the ruler of {}", "the person who leads {}"),
    ("head of state", "ruler", "leader"),
)
OFFICIAL_LANGUAGE = Relation(
    "R12", "official language", "country", "language", "The official language of {} is",
    ("What is the official language of {}?", "Which language is official in {}?"),
    ("the official language of {}", "the language officially used in {}", "the state tongue of {}"),
    ("official language", "state tongue"),
)
CAPITAL = Relation(
    "R13", "capital", "country", "city", "The capital of {} is",
    ("What is the capital of {}?", "Which city is the capital of {}?"),
    ("the capital of {}", "the seat of government of {}", "the capital city of {}"),
    ("capital", "seat of government"),
)
HEAD_COACH = Relation(
    "R14", "head coach", "team", "person", "The head coach of {} is",
    ("Who is the head coach of {}?", "Who coaches {}?"),
    ("the head coach of {}", "the person who coaches {}", "the trainer of {}"),
    ("head coach", "coach", "manager"),
)
HOME_GROUND = Relation(
    "R15", "home ground", "team", "city", "{} plays its home games in",
    ("In which city does {} play its home games?", "Where is the home ground of {}?"),
    ("the home-ground city of {}", "the city where {} plays its home games", "the city that {} calls home"),
    ("home-ground city", "home city"),
)
FLOWS_INTO = Relation(
    "R16", "flows into", "river", "river", "{} flows into the",
    ("Into which river does {} flow?", "Which river does {} drain into?"),
    ("the river that {} flows into", "the river fed by {}", "the downstream river of {}"),
    ("receiving river", "outflow"),
)
# fmt: on

RELATIONS = (
    MAKER, CHIEF_EXECUTIVE, HEADQUARTERS, BIRTHPLACE, ALMA_MATER, NATIVE_LANGUAGE, CAMPUS_CITY, RIVER,
    COUNTRY, MAYOR, HEAD_OF_STATE, OFFICIAL_LANGUAGE, CAPITAL, HEAD_COACH, HOME_GROUND, FLOWS_INTO,
)  # fmt: skip

# Entity type -> the relations leaving it, in the order of RELATIONS (the draws depend on that order).
RELATIONS_FROM: dict[str, tuple[Relation, ...]] = {
    kind: tuple(relation for relation in RELATIONS if relation.subject_type == kind)
    for kind in dict.fromkeys(relation.subject_type for relation in RELATIONS)
}

HOP_COUNTS = (2, 3, 4)
CASES_PER_HOP_COUNT = 40
MAX_CASE_ATTEMPTS = 200_000

# Syllables of invented words; repeated entries make those sounds commoner.
_ONSETS = ("b", "br", "d", "dr", "f", "g", "gl", "h", "k", "kr", "l", "m", "n", "p", "pr", "r", "s", "st",
           "t", "th", "tr", "v", "vr", "z")  # fmt: skip
_NUCLEI = ("a", "a", "e", "e", "i", "o", "o", "u", "ae", "ei", "ou", "y")
_CODAS = ("", "", "", "n", "r", "l", "s", "m", "nd", "rn", "th", "k")
_ACCENTED = {"e": "éè", "o": "öø", "a": "åá"}
_NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
                 "eleven", "twelve")  # fmt: skip
_PERSON_QUESTIONS = ("Who is {}?", "Name {}.", "Identify {}.")
_THING_QUESTIONS = ("What is {}?", "Name {}.", "Tell me {}.")


def fold_accents(text: str) -> str:
    """The unaccented spelling of a name, which a user may type and which is listed as its alias."""
    text = text.replace("ø", "o").replace("Ø", "O")
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def _possessive(name: str) -> str:
    return name + ("'" if name.endswith("s") else "'s")


@dataclass(frozen=True)
class Entity:
    """An entity's type (which relations leave it) and the other names a source may use for it."""

    kind: str
    aliases: tuple[str, ...]


@dataclass(frozen=True)
class Edit:
    """One edited hop: the subject's relation now points at new_object instead of true_object."""

    subject: str
    relation: Relation
    new_object: str
    true_object: str


@dataclass(frozen=True)
class _CaseDraft:
    """A candidate case before the conflict check: both chains share the start and the relations."""

    original: list[str]  # entities along the relations in the unedited world
    edited: list[str]  # entities along the same relations once the edits are made
    relations: list[Relation]
    edits: list[Edit]


class StressWorld:
    """The typed graph for one seed: entities with their aliases, and one object per (subject, relation).

    Names are unique ignoring case, aliases included, so an answer can only be matched to one entity.
    """

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.taken: set[str] = set()  # lowercased names and aliases in use
        self.entities: dict[str, Entity] = {}
        self.facts: dict[tuple[str, str], str] = {}  # (subject, relation id) -> object
        self._build()
        self.names_of_kind: dict[str, list[str]] = {}
        for name, entity in self.entities.items():
            self.names_of_kind.setdefault(entity.kind, []).append(name)

    # ------------------------------------------------------------------ names

    def _word(self, syllables: int = 2) -> str:
        """An invented word of 4-10 letters that no entity is called."""
        while True:
            word = "".join(
                self.rng.choice(_ONSETS) + self.rng.choice(_NUCLEI) + self.rng.choice(_CODAS)
                for _ in range(syllables)
            ).capitalize()
            if 4 <= len(word) <= 10 and word.lower() not in self.taken:
                return word

    def _accent(self, word: str) -> str:
        """The word with one of its a, e or o accented (unchanged when it has none)."""
        positions = [index for index, char in enumerate(word) if char in "eoa"]
        if not positions:
            return word
        position = self.rng.choice(positions)
        return word[:position] + self.rng.choice(_ACCENTED[word[position]]) + word[position + 1 :]

    def _add(self, kind: str, name: str, aliases: Iterable[str] = ()) -> bool:
        """Register an entity; False (nothing registered) if its name or an alias is taken or repeated."""
        distinct_aliases = tuple(alias for alias in dict.fromkeys(aliases) if alias != name)
        keys = [name.lower()] + [alias.lower() for alias in distinct_aliases]
        if any(key in self.taken for key in keys) or len(set(keys)) < len(keys):
            return False
        self.taken.update(keys)
        self.entities[name] = Entity(kind, distinct_aliases)
        return True

    def _make(self, kind: str, propose: Callable[[], tuple[str, list[str]]], count: int) -> list[str]:
        """Names of count new entities of a kind, proposals whose names clash being dropped."""
        names: list[str] = []
        while len(names) < count:
            name, aliases = propose()
            if self._add(kind, name, aliases):
                names.append(name)
        return names

    def _river_name(self) -> tuple[str, list[str]]:
        base = self._word()
        return f"River {base}", [base]

    def _city_name(self) -> tuple[str, list[str]]:
        if self.rng.random() < 0.2:
            name = self._accent(self._word(self.rng.choice([2, 3])))
        else:
            name = self._word(self.rng.choice([2, 2, 3]))
        return name, [fold_accents(name)]  # the alias is dropped when it equals the name

    def _language_name(self) -> tuple[str, list[str]]:
        return self._word() + self.rng.choice(["i", "ic", "ese"]), []

    def _university_name(self, base_cities: list[str]) -> tuple[str, list[str]]:
        # All three proposals are drawn before one is chosen: the draws are part of the shipped file.
        city = self.rng.choice(base_cities)
        institute = self._word()
        college = self._word()
        proposals = [
            (f"University of {city}", [f"{city} University"]),
            (f"{institute} Institute of Technology", [f"{institute} Tech"]),
            (f"{college} College", []),
        ]
        return self.rng.choice(proposals)

    def _company_name(self) -> tuple[str, list[str]]:
        base = self._word()
        partner = self._word()  # drawn for the "Group" proposal, whichever is chosen
        proposals = [
            (f"{base} Systems", [base]),
            (f"{base} & Daughters", [f"{base} and Daughters"]),
            (f"{base} Holdings", [base]),
            (f"{base} Works", []),
            (f"{base}-{partner} Group", []),
        ]
        return self.rng.choice(proposals)

    def _product_name(self) -> tuple[str, list[str]]:
        number = self.rng.randint(2, 40)
        base = self._word()
        roll = self.rng.random()
        if roll < 0.45:
            spelled = [f"{base} {_NUMBER_WORDS[number]}"] if number < len(_NUMBER_WORDS) else []
            return f"{base} {number}", spelled
        if roll < 0.7:
            return f"{base} X{number % 10}", []
        if roll < 0.85:
            return f"{base}-{number * 100}", [f"{base} {number * 100}"]
        # Misleading on purpose: the name opens with a company's first word (often its alias), but its
        # maker is drawn at random like any product's.
        companies = [name for name, entity in self.entities.items() if entity.kind == "company"]
        company = self.rng.choice(companies)
        return f"{company.split()[0]} {base} {number}", []

    def _team_name(self, cities: list[str]) -> tuple[str, list[str]]:
        # All four proposals are drawn before one is chosen: the draws are part of the shipped file.
        rovers_city = self.rng.choice(cities)
        athletic_city = self.rng.choice(cities)
        club = self._word()
        united = self._word()
        proposals = [
            (f"{rovers_city} Rovers", []),
            (f"{athletic_city} Athletic", []),
            (f"FC {club}", [club]),
            (f"{united} United", []),
        ]
        return self.rng.choice(proposals)

    def _person_name(self) -> tuple[str, list[str]]:
        roll = self.rng.random()
        first = self._word()
        last = self._word()
        if roll < 0.45:
            return f"{first} {last}", []
        if roll < 0.62:
            particle = self.rng.choice(["van der", "de la", "von", "da", "van"])
            return f"{first} {particle} {last}", []
        if roll < 0.75:
            return f"{first} {last}-{self._word()}", []
        if roll < 0.9:
            if self.rng.random() < 0.5:
                name = f"{self._accent(first)} {last}"
            else:
                name = f"{first} {self._accent(last)}"
            return name, [fold_accents(name)]
        return f"{first} {self.rng.choice(['O', 'D'])}'{last}", []

    def _official_language(self, name: str) -> str:
        """The country's own language, or a fresh "-ic" one when its derived name is taken."""
        if self._add("language", name):
            return name
        fallback = self._word() + "ic"
        if self._add("language", fallback):
            return fallback
        raise RuntimeError(f"no free name for the official language {name!r}; try another seed")

    # ------------------------------------------------------------------ graph

    def _set(self, subject: str, relation: Relation, obj: str) -> None:
        self.facts[(subject, relation.id)] = obj

    def _build(self) -> None:
        rivers = self._make("river", self._river_name, 20)
        base_cities = self._make("city", self._city_name, 50)
        cities = list(base_cities)
        # Names that contain other entities' names: "Port X" and "New X" beside X, "Ymouth" on River Y.
        derived = [f"Port {base}" for base in base_cities[:4]] + [f"New {base}" for base in base_cities[4:6]]
        derived += [river.removeprefix("River ") + "mouth" for river in rivers[:3]]
        for name in derived:
            if self._add("city", name):
                cities.append(name)
        countries: list[str] = []
        languages: list[str] = []
        while len(countries) < 12:
            base = self._word()
            if self.rng.random() < 0.3:
                country, aliases = f"Republic of {base}", [base]
            else:
                country, aliases = base + self.rng.choice(["ia", "ovia", "land", "ara"]), []
            if country.endswith("ia"):
                language = country + "n"
            else:
                language = base + self.rng.choice(["ese", "ic", "ish"])
            if self._add("country", country, aliases):
                countries.append(country)
                languages.append(self._official_language(language))
        languages += self._make("language", self._language_name, 4)
        universities = self._make("university", lambda: self._university_name(base_cities), 15)
        companies = self._make("company", self._company_name, 35)
        products = self._make("product", self._product_name, 35)
        teams = self._make("team", lambda: self._team_name(cities), 18)
        people = self._make("person", self._person_name, 120)

        # The first cities give every country one; the others are spread at random.
        home_country: dict[str, str] = {}
        for index, city in enumerate(cities):
            home_country[city] = countries[index] if index < len(countries) else self.rng.choice(countries)
        for index, country in enumerate(countries):
            self._set(country, HEAD_OF_STATE, self.rng.choice(people))
            official = languages[index] if self.rng.random() < 0.85 else self.rng.choice(languages)
            self._set(country, OFFICIAL_LANGUAGE, official)
            own_cities = [city for city in cities if home_country[city] == country]
            self._set(country, CAPITAL, self.rng.choice(own_cities))
        for index, river in enumerate(rivers):
            # Rivers flow into an earlier one; the first two into each other (a cycle chains never close).
            self._set(river, FLOWS_INTO, rivers[1] if index == 0 else rivers[self.rng.randrange(index)])
        for city in cities:
            mayor = self.rng.choice(people)
            self._set(city, COUNTRY, home_country[city])
            self._set(city, MAYOR, mayor)
            mouth_of = "River " + city.split(" ", 1)[-1].removesuffix("mouth")
            if city.endswith("mouth") and mouth_of in self.entities:
                self._set(city, RIVER, mouth_of)
            else:
                self._set(city, RIVER, self.rng.choice(rivers))
        for person in people:
            birthplace = self.rng.choice(cities)
            self._set(person, BIRTHPLACE, birthplace)
            self._set(person, ALMA_MATER, self.rng.choice(universities))
            if self.rng.random() < 0.7:  # mostly the official language of the country of birth
                native = self.facts[(home_country[birthplace], OFFICIAL_LANGUAGE.id)]
            else:
                native = self.rng.choice(languages)
            self._set(person, NATIVE_LANGUAGE, native)
        for company in companies:
            chief = self.rng.choice(people)
            self._set(company, CHIEF_EXECUTIVE, chief)
            self._set(company, HEADQUARTERS, self.rng.choice(cities))
        for product in products:
            self._set(product, MAKER, self.rng.choice(companies))
        for team in teams:
            named_after = team.rsplit(" ", 1)[0]
            self._set(team, HEAD_COACH, self.rng.choice(people))
            if named_after in cities and self.rng.random() < 0.6:  # a city's team mostly plays there
                self._set(team, HOME_GROUND, named_after)
            else:
                self._set(team, HOME_GROUND, self.rng.choice(cities))
        for university in universities:
            named_after = university.removeprefix("University of ")
            if named_after in cities and self.rng.random() < 0.8:
                self._set(university, CAMPUS_CITY, named_after)
            else:
                self._set(university, CAMPUS_CITY, self.rng.choice(cities))
        missing = [
            (name, relation.id)
            for name, entity in self.entities.items()
            for relation in RELATIONS_FROM.get(entity.kind, ())
            if (name, relation.id) not in self.facts
        ]
        if missing:
            raise RuntimeError(f"facts missing from the world: {missing[:5]}")

    # ------------------------------------------------------------------ cases

    def _aliases(self, name: str) -> list[str]:
        return list(self.entities[name].aliases)

    def _noun_phrase(self, start: str, relations: list[Relation], prefer_paraphrase: bool) -> str:
        """The hops from start nested as noun phrases; paraphrases 70% of the time when preferred."""
        phrase = start
        for relation in relations:
            if prefer_paraphrase and self.rng.random() < 0.7:
                template = self.rng.choice(relation.noun_phrases[1:])
            else:
                template = self.rng.choice(relation.noun_phrases)
            phrase = template.format(phrase)
        return phrase

    def _questions(self, start: str, relations: list[Relation]) -> list[str]:
        """Three phrasings: a nested one-hop question, a paraphrased noun phrase, a possessive chain."""
        last = relations[-1]
        asks_for_person = last.object_type == "person"
        # Each template is drawn before the noun phrase it frames: the draws are part of the shipped file.
        nested_template = self.rng.choice(last.questions)
        nested = nested_template.format(self._noun_phrase(start, relations[:-1], prefer_paraphrase=False))
        paraphrase_template = self.rng.choice(_PERSON_QUESTIONS if asks_for_person else _THING_QUESTIONS)
        paraphrased = paraphrase_template.format(self._noun_phrase(start, relations, prefer_paraphrase=True))
        nouns = [self.rng.choice(relation.possessive_nouns) for relation in relations]
        chain = " ".join([_possessive(start), *(noun + "'s" for noun in nouns[:-1]), nouns[-1]])
        possessive = f"Who is {chain}?" if asks_for_person else f"What is {chain}?"
        return [nested, paraphrased, possessive]

    def _try_case(self, n_hops: int) -> _CaseDraft | None:
        """A random path of n_hops with one or two edited hops, or None if either chain is unusable."""
        # Rivers are rarely a start: each draws its own 20% chance of being a candidate.
        candidates = [
            name
            for name, entity in self.entities.items()
            if entity.kind in RELATIONS_FROM and (entity.kind != "river" or self.rng.random() < 0.2)
        ]
        original = [self.rng.choice(candidates)]
        relations: list[Relation] = []
        for _ in range(n_hops):
            kind = self.entities[original[-1]].kind
            if kind not in RELATIONS_FROM:
                return None
            relation = self.rng.choice(RELATIONS_FROM[kind])
            following = self.facts[(original[-1], relation.id)]
            if following in original:
                return None
            original.append(following)
            relations.append(relation)
        n_edits = 2 if self.rng.random() < 0.3 else 1
        edited_hops = sorted(self.rng.sample(range(n_hops), n_edits))
        edited = [original[0]]
        edits: list[Edit] = []
        for hop, relation in enumerate(relations):
            subject = edited[-1]
            true_object = self.facts[(subject, relation.id)]
            following = true_object
            if hop in edited_hops:
                others = [name for name in self.names_of_kind[relation.object_type] if name != true_object]
                following = self.rng.choice(others)
                edits.append(Edit(subject, relation, following, true_object))
            if following in edited:
                return None
            edited.append(following)
        if edited[-1] == original[-1]:
            return None
        return _CaseDraft(original, edited, relations, edits)

    def make_cases(self, per_hop_count: int = CASES_PER_HOP_COUNT) -> list[Case]:
        """per_hop_count cases of each hop count, none of whose edits touches another case's chains."""
        chain_keys: set[tuple[str, str]] = set()  # (subject, relation id) on accepted chains
        edit_keys: set[tuple[str, str]] = set()  # (subject, relation id) edited by accepted cases
        accepted = dict.fromkeys(HOP_COUNTS, 0)
        cases: list[Case] = []
        attempts = 0
        while min(accepted.values()) < per_hop_count:
            attempts += 1
            if attempts >= MAX_CASE_ATTEMPTS:
                raise RuntimeError(f"no conflict-free cases after {attempts} attempts: {accepted}")
            open_hop_counts = [hops for hops in HOP_COUNTS if accepted[hops] < per_hop_count]
            n_hops = open_hop_counts[attempts % len(open_hop_counts)]
            draft = self._try_case(n_hops)
            if draft is None:
                continue
            relation_ids = [relation.id for relation in draft.relations]
            keys = set(zip(draft.original[:-1], relation_ids, strict=True))
            keys |= set(zip(draft.edited[:-1], relation_ids, strict=True))
            these_edits = {(edit.subject, edit.relation.id) for edit in draft.edits}
            if these_edits & chain_keys or these_edits & edit_keys or keys & edit_keys:
                continue
            chain_keys |= keys
            edit_keys |= these_edits
            accepted[n_hops] += 1
            questions = self._questions(draft.original[0], draft.relations)
            while len(set(questions)) < 3:
                questions = self._questions(draft.original[0], draft.relations)
            cases.append(self._record(len(cases) + 1, draft, questions))
        return cases

    def _hops(self, path: list[str], relations: list[Relation]) -> list[dict[str, Any]]:
        return [
            {
                "question": relation.questions[0].format(path[index]),
                "cloze": relation.cloze.format(path[index]),
                "answer": path[index + 1],
                "answer_alias": self._aliases(path[index + 1]),
            }
            for index, relation in enumerate(relations)
        ]

    def _record(self, case_id: int, draft: _CaseDraft, questions: list[str]) -> Case:
        """The case in MQuAKE's format, entity ids being "E:" and the name."""

        numbered_relations = list(enumerate(draft.relations))

        def triples(path: list[str]) -> list[list[str]]:
            return [
                [f"E:{path[index]}", relation.id, f"E:{path[index + 1]}"]
                for index, relation in numbered_relations
            ]

        def labeled(path: list[str]) -> list[list[str]]:
            return [[path[index], relation.label, path[index + 1]] for index, relation in numbered_relations]

        original, edited = draft.original, draft.edited
        return {
            "case_id": case_id,
            "requested_rewrite": [
                {
                    "prompt": edit.relation.cloze,
                    "relation_id": edit.relation.id,
                    "subject": edit.subject,
                    "target_new": {"str": edit.new_object, "id": f"E:{edit.new_object}"},
                    "target_true": {"str": edit.true_object, "id": f"E:{edit.true_object}"},
                    "question": edit.relation.questions[0].format(edit.subject),
                }
                for edit in draft.edits
            ],
            "questions": questions,
            "answer": original[-1],
            "answer_alias": self._aliases(original[-1]),
            "new_answer": edited[-1],
            "new_answer_alias": self._aliases(edited[-1]),
            "single_hops": self._hops(original, draft.relations),
            "new_single_hops": self._hops(edited, draft.relations),
            "orig": {
                "triples": triples(original),
                "triples_labeled": labeled(original),
                "new_triples": triples(edited),
                "new_triples_labeled": labeled(edited),
                "edit_triples": [
                    [f"E:{edit.subject}", edit.relation.id, f"E:{edit.new_object}"] for edit in draft.edits
                ],
            },
        }


def cases_json(cases: list[Case]) -> str:
    """The file's text (no final newline: the shipped file was written so)."""
    return json.dumps(cases, ensure_ascii=False, indent=1)


# ---------------------------------------------------------------------- checks

CASE_KEYS = frozenset({"case_id", "requested_rewrite", "questions", "answer", "answer_alias", "new_answer",
                       "new_answer_alias", "single_hops", "new_single_hops", "orig"})  # fmt: skip
ORIG_KEYS = frozenset({"triples", "triples_labeled", "new_triples", "new_triples_labeled", "edit_triples"})


def check_world(cases: list[Case]) -> list[str]:
    """The problems of a world's cases, each naming its case and what is wrong (empty when none).

    It checks the counts, the format, that chains are chains and agree with their labels, hops, answers
    and rewrites, that every question names the start, that no (subject, relation) is edited twice or
    edited by one case while on another's chains, that the unedited facts never contradict each other,
    that following each case's relations through the loaded facts reaches its gold answers, and that no
    two entities share a name or alias. Without these the scores on the world would not mean anything.
    """
    return _WorldChecker().check(cases)


class _WorldChecker:
    """The state check_world gathers over the cases; keys are (subject id, relation id)."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.relation_labels: dict[str, str] = {}
        self.aliases: dict[str, tuple[str, ...]] = {}  # entity name -> its aliases, as first seen
        self.chain_keys: dict[int, set[tuple[str, str]]] = {}  # case id -> keys on its two chains
        self.edit_keys: dict[int, set[tuple[str, str]]] = {}  # case id -> keys it edits
        self.background: dict[tuple[str, str], str] = {}  # unedited facts -> object id
        self.edits: dict[tuple[str, str], str] = {}  # edited keys -> new object id
        self.first_editor: dict[tuple[str, str], int] = {}

    def _fail(self, case_id: object, message: str) -> None:
        self.problems.append(f"case {case_id}: {message}")

    def _name(self, case_id: object, entity_id: str) -> str:
        if entity_id.startswith("E:"):
            return entity_id[2:]
        self._fail(case_id, f"entity id {entity_id!r} does not start with 'E:'")
        return entity_id

    def check(self, cases: list[Case]) -> list[str]:
        expected = CASES_PER_HOP_COUNT * len(HOP_COUNTS)
        if len(cases) != expected:
            self.problems.append(f"{len(cases)} cases, want {expected}")
        hop_counts = Counter(len(case["orig"]["triples"]) for case in cases)
        if hop_counts != Counter(dict.fromkeys(HOP_COUNTS, CASES_PER_HOP_COUNT)):
            self.problems.append(
                f"cases by hop count {dict(sorted(hop_counts.items()))}, want {CASES_PER_HOP_COUNT} of each"
            )
        if len({case["case_id"] for case in cases}) != len(cases):
            self.problems.append("duplicate case ids")
        for case in cases:
            self._check_case(case)
        self._check_conflicts()
        self._check_consistency(cases)
        self._check_unique_names(cases)
        return self.problems

    def _check_aliases(self, case_id: object, name: str, aliases: list[str]) -> None:
        first_seen = self.aliases.setdefault(name, tuple(aliases))
        if first_seen != tuple(aliases):
            self._fail(case_id, f"{name!r} has aliases {aliases} here but {list(first_seen)} elsewhere")

    def _check_chain(self, case: Case, chain_key: str, labeled_key: str, hops_key: str) -> None:
        case_id, chain = case["case_id"], case["orig"][chain_key]
        names = [self._name(case_id, chain[0][0])] + [self._name(case_id, triple[2]) for triple in chain]
        if len(set(names)) != len(names):
            self._fail(case_id, f"{chain_key} revisits an entity: {names}")
        if any(chain[index][2] != chain[index + 1][0] for index in range(len(chain) - 1)):
            self._fail(case_id, f"{chain_key} is not a chain: {chain}")
        for triple, labeled, hop in zip(chain, case["orig"][labeled_key], case[hops_key], strict=False):
            subject, obj = self._name(case_id, triple[0]), self._name(case_id, triple[2])
            if [subject, obj] != [labeled[0], labeled[2]]:
                self._fail(case_id, f"{labeled_key} {labeled} does not match {chain_key} {triple}")
            first_label = self.relation_labels.setdefault(triple[1], labeled[1])
            if first_label != labeled[1]:
                self._fail(
                    case_id, f"relation {triple[1]} is labeled {labeled[1]!r} here, {first_label!r} before"
                )
            if hop["answer"] != obj or subject not in hop["cloze"] or subject not in hop["question"]:
                self._fail(
                    case_id, f"{hops_key} entry {hop} does not ask about {subject!r} with answer {obj!r}"
                )
            if "{}" in hop["cloze"] or hop["answer"] in hop["cloze"].replace(subject, ""):
                self._fail(case_id, f"cloze {hop['cloze']!r} is not filled in or gives its answer away")
            self._check_aliases(case_id, hop["answer"], hop["answer_alias"])

    def _check_rewrites(self, case: Case) -> None:
        case_id, orig = case["case_id"], case["orig"]
        rewrites, edit_triples = case["requested_rewrite"], orig["edit_triples"]
        if not 1 <= len(rewrites) <= 2 or len(rewrites) != len(edit_triples):
            self._fail(
                case_id, f"{len(rewrites)} rewrites and {len(edit_triples)} edit triples, want 1 or 2 of each"
            )
        for rewrite, edit_triple in zip(rewrites, edit_triples, strict=False):
            subject, relation_id = rewrite["subject"], rewrite["relation_id"]
            what = f"rewrite of {subject!r} / {relation_id}"
            if [f"E:{subject}", relation_id, rewrite["target_new"]["id"]] != edit_triple:
                self._fail(case_id, f"{what} does not match its edit triple {edit_triple}")
            if edit_triple not in orig["new_triples"]:
                self._fail(case_id, f"edit triple {edit_triple} is not on the new chain")
            if rewrite["target_new"]["id"] == rewrite["target_true"]["id"]:
                self._fail(case_id, f"{what} does not change its target")
            if "{}" not in rewrite["prompt"] or subject not in rewrite["question"]:
                self._fail(case_id, f"{what} has a prompt without '{{}}' or a question without the subject")
            for target in ("target_new", "target_true"):
                if rewrite[target]["str"] != self._name(case_id, rewrite[target]["id"]):
                    self._fail(case_id, f"{what}: {target} str and id disagree: {rewrite[target]}")

    def _check_case(self, case: Case) -> None:
        case_id, orig = case["case_id"], case["orig"]
        if set(case) != CASE_KEYS or set(orig) != ORIG_KEYS:
            self._fail(
                case_id,
                f"keys {sorted(case)} / {sorted(orig)}, want {sorted(CASE_KEYS)} / {sorted(ORIG_KEYS)}",
            )
        n_hops = len(orig["triples"])
        if not n_hops == len(orig["new_triples"]) == len(case["single_hops"]) == len(case["new_single_hops"]):
            self._fail(case_id, "the chains and single hops differ in length")
        self._check_chain(case, "triples", "triples_labeled", "single_hops")
        self._check_chain(case, "new_triples", "new_triples_labeled", "new_single_hops")
        if [triple[1] for triple in orig["triples"]] != [triple[1] for triple in orig["new_triples"]]:
            self._fail(case_id, "the original and new chains follow different relations")
        if orig["triples"][0][0] != orig["new_triples"][0][0]:
            self._fail(case_id, "the original and new chains start at different entities")
        original_end = self._name(case_id, orig["triples"][-1][2])
        new_end = self._name(case_id, orig["new_triples"][-1][2])
        if original_end != case["answer"]:
            self._fail(
                case_id, f"answer {case['answer']!r} is not the end of the original chain, {original_end!r}"
            )
        if new_end != case["new_answer"]:
            self._fail(
                case_id, f"new_answer {case['new_answer']!r} is not the end of the new chain, {new_end!r}"
            )
        if case["answer"] == case["new_answer"]:
            self._fail(case_id, f"the edits do not change the answer {case['answer']!r}")
        self._check_aliases(case_id, case["answer"], case["answer_alias"])
        self._check_aliases(case_id, case["new_answer"], case["new_answer_alias"])
        self._check_rewrites(case)
        questions, start = case["questions"], self._name(case_id, orig["triples"][0][0])
        if len(questions) != 3 or len(set(questions)) != 3:
            self._fail(case_id, f"want 3 distinct questions, got {questions}")
        for question in questions:
            if start not in question:
                self._fail(case_id, f"question {question!r} does not name the start entity {start!r}")
        case_edits = {(triple[0], triple[1]): triple[2] for triple in orig["edit_triples"]}
        self.chain_keys[case_id] = {
            (triple[0], triple[1]) for triple in orig["triples"] + orig["new_triples"]
        }
        self.edit_keys[case_id] = set(case_edits)
        for key, new_object in case_edits.items():
            if key in self.edits:
                self._fail(
                    case_id, f"edit of {key[0]} / {key[1]} is also made by case {self.first_editor[key]}"
                )
            else:
                self.first_editor[key] = case_id
            self.edits[key] = new_object
        kept = [triple for triple in orig["new_triples"] if (triple[0], triple[1]) not in case_edits]
        unedited = orig["triples"] + kept
        for subject, relation_id, obj in unedited:
            known = self.background.setdefault((subject, relation_id), obj)
            if known != obj:
                self._fail(
                    case_id,
                    f"background contradiction: {subject} / {relation_id} is {obj} here, {known} before",
                )

    def _check_conflicts(self) -> None:
        """No edit may touch a (subject, relation) on another case's chains."""
        editor = {key: case_id for case_id, keys in self.edit_keys.items() for key in keys}
        for case_id, keys in self.chain_keys.items():
            for key in keys:
                if key in editor and editor[key] != case_id:
                    self._fail(case_id, f"chain uses {key[0]} / {key[1]}, which case {editor[key]} edits")

    def _check_consistency(self, cases: list[Case]) -> None:
        """Following the relations from the start reaches the gold answers: with every edit, and without."""
        knowledge = {**self.background, **self.edits}
        for case in cases:
            orig = case["orig"]
            new_end: str | None = orig["triples"][0][0]
            original_end: str | None = orig["triples"][0][0]
            for triple in orig["new_triples"]:
                new_end = knowledge.get((new_end, triple[1]))
            for triple in orig["triples"]:
                original_end = self.background.get((original_end, triple[1]))
            if new_end != f"E:{case['new_answer']}":
                message = f"with every edit loaded the new chain reaches {new_end}, not new_answer"
                self._fail(case["case_id"], f"{message} {case['new_answer']!r}")
            if original_end != f"E:{case['answer']}":
                self._fail(
                    case["case_id"], f"the unedited facts reach {original_end}, not answer {case['answer']!r}"
                )

    def _check_unique_names(self, cases: list[Case]) -> None:
        """No alias equals another entity's name or alias, ignoring case."""
        names = {
            self._name(case["case_id"], entity_id)
            for case in cases
            for triple in case["orig"]["triples"] + case["orig"]["new_triples"]
            for entity_id in (triple[0], triple[2])
        }
        names |= {rewrite["target_true"]["str"] for case in cases for rewrite in case["requested_rewrite"]}
        owners = Counter(name.lower() for name in names)
        owners += Counter(
            alias.lower() for name, aliases in self.aliases.items() for alias in aliases if alias != name
        )
        shared = [name for name, count in owners.items() if count > 1]
        if shared:
            self.problems.append(f"names or aliases shared by several entities: {shared[:10]}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=2, help="2 gives the shipped file")
    parser.add_argument("--out", type=Path, default=Path("evals/data/stress_world.json"))
    args = parser.parse_args(argv)
    world = StressWorld(args.seed)
    cases = world.make_cases()
    problems = check_world(cases)
    if problems:
        listed = "\n".join(f"  {problem}" for problem in problems[:30])
        sys.exit(
            f"not writing {args.out}: {len(problems)} problems in the world of seed {args.seed}\n{listed}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(cases_json(cases), encoding="utf-8")
    world_size = f"{len(world.entities)} entities, {len(world.facts)} facts"
    print(f"wrote {len(cases)} cases, world: {world_size} -> {args.out}")


if __name__ == "__main__":
    main()
