"""Chat turns answered by the real model: an edit changes the next multi-hop answer; Ctrl-C cancels.

The entities are invented, so the model cannot know the answer: it must come from the edits.
"""

from __future__ import annotations

import pytest
from helpers_chat import CHAT_METHOD, PROMPT, quit_chat, send, spawn_chat

QUESTION = "Who is the head of state of the country Zorblat Quinn is a citizen of?"
ANSWER_TIMEOUT = 300


@pytest.mark.slow
@pytest.mark.ci
def test_edit_changes_the_next_multi_hop_answer(tmp_path):
    child = spawn_chat(tmp_path / "store", "--method", CHAT_METHOD)
    send(child, "/edit Zorblat Quinn | is a citizen of | Vellmoria")
    send(child, "/edit Vellmoria | head of state | Queen Ardith")
    out = send(child, QUESTION, timeout=ANSWER_TIMEOUT)
    assert "Ardith" in out
    assert "facts used" in out and "Vellmoria" in out

    out = send(child, "/edit Vellmoria | head of state | King Oswin")
    assert "superseded:" in out and "Queen Ardith" in out
    out = send(child, QUESTION, timeout=ANSWER_TIMEOUT)
    assert "Oswin" in out
    assert "Ardith" not in out

    out = send(child, "/why")
    assert "trace" in out
    quit_chat(child)


@pytest.mark.slow
def test_ctrl_c_cancels_the_answer_not_the_session(tmp_path):
    child = spawn_chat(tmp_path / "store", "--method", CHAT_METHOD)
    send(child, "/edit Zorblat Quinn | is a citizen of | Vellmoria")
    child.sendline(QUESTION)
    child.expect_exact("Ctrl-C cancels")  # the answer (and the first model load) is under way
    child.sendintr()
    child.expect_exact("cancelled")
    child.expect_exact(PROMPT)
    out = send(child, "/facts")
    assert "Zorblat Quinn" in out
    # The session still answers, on the same loaded model.
    out = send(child, QUESTION, timeout=ANSWER_TIMEOUT)
    assert "answer" in out and "Traceback" not in out
    quit_chat(child)
