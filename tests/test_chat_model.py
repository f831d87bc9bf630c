"""Chat turns answered by the real model: an edit changes the next multi-hop answer; Ctrl-C cancels.

The entities are invented, so the model cannot know the answer: it must come from the edits.
"""

from __future__ import annotations

import pytest
from helpers_chat import CHAT_METHOD, PROMPT, quit_chat, require_shipped_prefixes, send, spawn_chat

QUESTION = "Who is the head of state of the country Zorblat Quinn is a citizen of?"
ANSWER_TIMEOUT = 300


def split_answer(out: str) -> tuple[str, str]:
    """(the answer panel, the facts-used table): the table repeats the facts' objects, so an answer
    is asserted on the panel alone."""
    assert "facts used" in out, out
    answer, _, used = out.partition("facts used")
    return answer, used


@pytest.mark.slow
@pytest.mark.ci
def test_edit_changes_the_next_multi_hop_answer(tmp_path):
    require_shipped_prefixes()
    child = spawn_chat(tmp_path / "store", "--method", CHAT_METHOD)
    send(child, "/edit Zorblat Quinn | is a citizen of | Vellmoria")
    send(child, "/edit Vellmoria | head of state | Queen Ardith")
    answer, used = split_answer(send(child, QUESTION, timeout=ANSWER_TIMEOUT))
    assert "Ardith" in answer
    assert "Zorblat Quinn" in used and "Queen Ardith" in used

    out = send(child, "/edit Vellmoria | head of state | King Oswin")
    assert "superseded:" in out and "Queen Ardith" in out
    answer, used = split_answer(send(child, QUESTION, timeout=ANSWER_TIMEOUT))
    assert "Oswin" in answer and "Ardith" not in answer
    assert "King Oswin" in used and "Ardith" not in used

    out = send(child, "/why")
    assert "trace" in out
    quit_chat(child)


@pytest.mark.slow
def test_ctrl_c_cancels_the_answer_not_the_session(tmp_path):
    require_shipped_prefixes()
    child = spawn_chat(tmp_path / "store", "--method", CHAT_METHOD)
    send(child, "/edit Zorblat Quinn | is a citizen of | Vellmoria")
    child.sendline(QUESTION)
    child.expect_exact("Ctrl-C cancels")  # the answer (and the first model load) is under way
    child.sendintr()
    child.expect_exact("cancelled")
    child.expect_exact(PROMPT)
    out = send(child, "/facts")
    assert "Zorblat Quinn" in out
    # The session still answers, on the same loaded model and the memory as it stands: the cancelled
    # question left nothing behind, and the edit made after it is used.
    send(child, "/edit Vellmoria | head of state | Queen Ardith")
    out = send(child, QUESTION, timeout=ANSWER_TIMEOUT)
    assert "Traceback" not in out
    answer, used = split_answer(out)
    assert "Ardith" in answer
    assert "Vellmoria" in used
    quit_chat(child)
