"""`hopedit ask`: answers from the memory, ad-hoc --facts that never reach the store, --json trace."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.request

import pytest
from helpers_chat import CHAT_METHOD, HOPEDIT, chat_env, require_shipped_prefixes

QUESTION = "Who is the head of state of the country Zorblat Quinn is a citizen of?"
CHAIN = ["Zorblat Quinn | is a citizen of | Vellmoria", "Vellmoria | head of state | Queen Ardith"]
CITIZENSHIP = ("Zorblat Quinn", "is a citizen of", "Vellmoria")
HEAD_OF_STATE = ("Vellmoria", "head of state", "Queen Ardith")


def run_hopedit(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(HOPEDIT), *args], capture_output=True, text=True, env=chat_env(), timeout=timeout
    )


def test_bad_method_and_bad_facts_exit_2_without_traceback(tmp_path):
    store = tmp_path / "store"
    result = run_hopedit("ask", QUESTION, "--store", str(store), "--method", "oracle")
    assert result.returncode == 2
    assert "oracle" in result.stderr and "Traceback" not in result.stderr

    result = run_hopedit("ask", QUESTION, "--store", str(store), "--facts", "just two | parts")
    assert result.returncode == 2
    assert "SUBJECT | RELATION | OBJECT" in result.stdout + result.stderr

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"subject": "Vellmoria", "relation": "head of state", "object": "Queen Ardith"}\n{oops\n')
    result = run_hopedit("ask", QUESTION, "--store", str(store), "--facts", str(bad))
    assert result.returncode == 2
    output = result.stdout + result.stderr
    assert f"{bad.name}:2" in output.replace("\n", "") and "Traceback" not in output


def _ask_json(store, *extra: str, method: str = CHAT_METHOD) -> dict:
    result = run_hopedit("ask", QUESTION, "--store", str(store), "--method", method, "--json", *extra)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


@pytest.mark.slow
def test_adhoc_facts_answer_the_question_and_leave_the_store_alone(tmp_path):
    require_shipped_prefixes()
    store = tmp_path / "store"
    facts = [arg for fact in CHAIN for arg in ("--facts", fact)]
    payload = _ask_json(store, *facts)
    assert "Ardith" in payload["answer"]
    used = {(fact["subject"], fact["object"]) for fact in payload["facts_used"]}
    assert ("Vellmoria", "Queen Ardith") in used
    assert all(isinstance(fact["score"], float) for fact in payload["facts_used"])
    assert payload["steps"] and payload["timings"]["total"] > 0

    # Nothing was written: the same question on the bare store has no edits to use.
    payload = _ask_json(store)
    assert "Ardith" not in payload["answer"]
    assert payload["facts_used"] == []


@pytest.mark.slow
@pytest.mark.parametrize("method", ["instructed", "mello", "pokemqa", "ike", "base"])
def test_every_method_answers_with_an_inspectable_trace(tmp_path, method):
    """What each method does with the two-fact chain, and that its trace shows it.

    The pipeline and IKE read both facts and answer. MeLLo and PokeMQA, on the 135M model, take the
    whole question as their first subquestion: they retrieve the first hop's fact and stop there, so
    their answer is not asserted, only that it is the trace's final step and the fact is in the trace.
    The unedited model reads no facts, and cannot know the invented answer.
    """
    if method == "instructed":
        require_shipped_prefixes()
    facts = [arg for fact in CHAIN for arg in ("--facts", fact)]
    payload = _ask_json(tmp_path / "store", *facts, method=method)
    assert payload["method"] == method
    used = {(fact["subject"], fact["relation"], fact["object"]) for fact in payload["facts_used"]}
    kinds = [step["kind"] for step in payload["steps"]]
    assert all({"kind", "text", "data"} <= set(step) for step in payload["steps"])
    if method in ("instructed", "ike"):
        assert "Ardith" in payload["answer"]
        assert used == {CITIZENSHIP, HEAD_OF_STATE}
        assert kinds[0] == "retrieve" and kinds[-1] == "generate"
    elif method in ("mello", "pokemqa"):
        assert CITIZENSHIP in used
        assert kinds[0] == "subquestion" and kinds[-1] == "final"
        assert payload["steps"][-1]["text"] == payload["answer"]
        assert any("Zorblat Quinn is a citizen of Vellmoria" in step["text"] for step in payload["steps"])
    else:
        assert used == set() and "Ardith" not in payload["answer"]
        assert kinds == ["generate"]
        assert payload["model_calls"] == 1


@pytest.fixture
def served_model(tmp_path):
    """hopedit's own OpenAI-compatible server on a free loopback port, as a --llm-url target."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [str(HOPEDIT), "serve", "--port", str(port), "--store", str(tmp_path / "server-store")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=chat_env(),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                urllib.request.urlopen(f"{url}/health", timeout=5).close()
                break
            except OSError:
                assert server.poll() is None, "the server exited before it was healthy"
                assert time.monotonic() < deadline, "the server did not become healthy"
                time.sleep(1)
        yield f"{url}/v1"
    finally:
        server.terminate()
        server.wait(timeout=60)


@pytest.mark.slow
@pytest.mark.server
def test_llm_url_drives_the_agent_through_a_served_model(tmp_path, served_model):
    """Greedy decoding on the same weights: the served model must give the in-process answer."""
    facts = [arg for fact in CHAIN for arg in ("--facts", fact)]
    served = _ask_json(tmp_path / "store", *facts, "--llm-url", served_model, method="ike")
    local = _ask_json(tmp_path / "store", *facts, method="ike")
    assert served["answer"] == local["answer"]
    assert [step["kind"] for step in served["steps"]] == [step["kind"] for step in local["steps"]]
