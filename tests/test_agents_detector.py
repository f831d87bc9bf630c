"""The shipped PokeMQA scope detector: small safetensors weights that tell in-scope edits apart."""

from __future__ import annotations

import json

from agent.pokemqa.detector import CONFIG_FILE, WEIGHTS_DIR, WEIGHTS_FILE, ScopeDetector

EMPLOYER = "Mira Solvang is employed by Quorvex Systems."
CITIZENSHIP = "Mira Solvang is a citizen of Veltoria."
CAPITAL = "The capital of Veltoria is Dramen."


def test_weights_are_small_safetensors_with_config() -> None:
    weights = WEIGHTS_DIR / WEIGHTS_FILE
    assert weights.stat().st_size < 1_000_000
    config = json.loads((WEIGHTS_DIR / CONFIG_FILE).read_text())
    assert 0.0 < config["threshold"] < 1.0


# Held-out pairs written for this test (invented entities, never in the training data): each question
# and the index of the one edit in its scope among all of EDITS, or None when no edit applies.
EDITS = [
    EMPLOYER,
    CITIZENSHIP,
    CAPITAL,
    "The author of The Glass Orchard is Tobin Arkwell.",
    "Quorvex Systems was founded by Ilse Marrow.",
    "The official language of Veltoria is Dravish.",
    "Tobin Arkwell plays the sport of fencing.",
    "The head of state of Dramen is Queen Ysolde.",
]
SCOPE_CASES = [
    ("Which company does Mira Solvang work for?", 0),
    ("What country is Mira Solvang a citizen of?", 1),
    ("What is the capital city of Veltoria?", 2),
    ("Who wrote The Glass Orchard?", 3),
    ("Who founded Quorvex Systems?", 4),
    ("What language is spoken officially in Veltoria?", 5),
    ("Which sport does Tobin Arkwell play?", 6),
    ("Who painted the Ostrel Tower mural?", None),
    ("What is the boiling point of water at sea level?", None),
    ("Who is the chief executive of Harnbridge Mills?", None),
]


def test_detector_picks_the_in_scope_edit_or_none_on_held_out_pairs() -> None:
    """The detector's job measured on pairs it never saw, not read from the number its trainer wrote."""
    detector = ScopeDetector.load()
    chosen = [detector.decide(question, EDITS).chosen for question, _ in SCOPE_CASES]
    assert chosen == [expected for _, expected in SCOPE_CASES]


def test_in_scope_edit_ranks_above_unrelated_ones() -> None:
    detector = ScopeDetector.load()
    decision = detector.decide("Which company does Mira Solvang work for?", [CAPITAL, CITIZENSHIP, EMPLOYER])
    assert decision.chosen == 2
    probs = decision.in_scope_prob
    assert probs[2] >= detector.threshold > probs[0]
    assert probs[2] > probs[1]


def test_no_edit_applies_to_an_unrelated_question() -> None:
    detector = ScopeDetector.load()
    decision = detector.decide("Who painted the Ostrel Tower mural?", [EMPLOYER, CAPITAL])
    assert decision.chosen is None
    assert max(decision.in_scope_prob) < detector.threshold


def test_save_and_load_round_trip(tmp_path) -> None:
    detector = ScopeDetector.load()
    detector.save(tmp_path)
    again = ScopeDetector.load(tmp_path)
    question, edits = "Where does Mira Solvang work?", [EMPLOYER, CAPITAL]
    assert again.decide(question, edits) == detector.decide(question, edits)
