"""The gate calibration's measurements read paths as retrieval does (`evals.calibrate_gate`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from evals.calibrate_gate import evidence_share, path_gains
from memory import Memory
from memory.facts import Fact

FACTS = [
    ("Norvania", "capital", "Kelbrin", "The capital of Norvania is Kelbrin."),
    ("Norvania", "official language", "Drusk", "The official language of Norvania is Drusk."),
]


def test_path_gains_report_each_path_gain_and_whether_the_question_names_its_relation(tmp_path: Path) -> None:
    memory = Memory.open(tmp_path / "store")
    memory.add([Fact(s, r, o, sentence=text, kind="background") for s, r, o, text in FACTS])
    questions = [
        "What is the capital of Norvania?",
        "What are the main sources of economic growth in Norvania?",
        "Who painted the Mona Lisa?",  # names no entity of the memory: no path, no row
    ]
    gains, named = path_gains(memory, questions)
    memory.close()
    assert named.tolist() == [True, False]
    assert gains[0] > 0.2 > gains[1]
    # At 0.2 the path no question word names needs more gain than it has; without it, both count.
    assert evidence_share(gains, named, 2, None) == 1.0
    assert evidence_share(gains, named, 2, 0.2) == 0.5
    assert evidence_share(np.array([]), np.array([], dtype=bool), 0, 0.2) == 0.0
