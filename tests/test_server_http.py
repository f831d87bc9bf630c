"""The HTTP contract of `hopedit serve` without generation: auth, errors, limits, facts API, metrics.

One real server (real model loaded, real Chroma store in a temp dir) serves the whole module.
"""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from helpers_server import BASE_MODEL, RunningServer, running_server

pytestmark = pytest.mark.server

API_KEY = "test-key-123"
BODY_LIMIT = 256 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> RunningServer:
    store = tmp_path_factory.mktemp("serve-http") / "store"
    with running_server(store, "--max-body-bytes", str(BODY_LIMIT), api_key=API_KEY) as running:
        yield running


@pytest.fixture
def client(server: RunningServer) -> httpx.Client:
    with server.client() as c:
        yield c


def _error(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert {"message", "type", "param", "code"} <= set(body["error"])
    assert body["error"]["message"]
    return body["error"]


def _unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]}"


def test_api_key_required_on_v1_but_not_on_health(server: RunningServer) -> None:
    assert _error(httpx.get(f"{server.v1}/models"), 401)["type"] == "authentication_error"
    wrong = {"Authorization": "Bearer not-the-key"}
    _error(httpx.get(f"{server.v1}/models", headers=wrong), 401)
    for malformed in ("Bearer ключ".encode(), b"\xff\xfe", b"Bearer", b"Basic dGVzdA=="):
        _error(httpx.get(f"{server.v1}/models", headers={"Authorization": malformed}), 401)
    _error(httpx.post(f"{server.v1}/facts", json={"subject": "a", "relation": "b", "object": "c"}), 401)
    health = httpx.get(f"{server.url}/health")
    assert health.status_code == 200 and health.json()["status"] == "ok"


def test_models_lists_pipelines_and_base_model(client: httpx.Client) -> None:
    ids = [card["id"] for card in client.get("/v1/models").json()["data"]]
    assert ids == ["hopedit-instructed", "hopedit-mello", "hopedit-pokemqa", BASE_MODEL]
    assert client.get(f"/v1/models/{BASE_MODEL}").json()["id"] == BASE_MODEL
    assert _error(client.get("/v1/models/gpt-4"), 404)["code"] == "model_not_found"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": BASE_MODEL, "messages": []}, "messages"),
        ({"model": BASE_MODEL}, "messages"),
        ({"model": BASE_MODEL, "messages": [{"role": "wizard", "content": "hi"}]}, "messages.0.role"),
        ({"model": BASE_MODEL, "messages": [{"role": "user", "content": "hi"}], "n": 2}, "n"),
        (
            {"model": BASE_MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 0},
            "max_tokens",
        ),
        (
            {"model": BASE_MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 100000},
            "max_tokens",
        ),
        ({"model": BASE_MODEL, "messages": [{"role": "user", "content": "hi"}], "stop": ["a"] * 17}, "stop"),
        (
            {"model": BASE_MODEL, "messages": [{"role": "user", "content": "hi"}], "temperature": -1},
            "temperature",
        ),
        (
            {"model": "hopedit-instructed", "messages": [{"role": "system", "content": "no question"}]},
            "messages",
        ),
    ],
)
def test_malformed_chat_requests_get_400_naming_the_parameter(
    client: httpx.Client, body: dict, param: str
) -> None:
    error = _error(client.post("/v1/chat/completions", json=body), 400)
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param


def test_unparseable_json_and_unknown_model(client: httpx.Client) -> None:
    raw = client.post(
        "/v1/chat/completions", content=b"{not json", headers={"content-type": "application/json"}
    )
    _error(raw, 400)
    unknown = client.post("/v1/completions", json={"model": "nope", "prompt": "x"})
    assert _error(unknown, 404)["param"] == "model"


def test_oversized_requests_get_413(client: httpx.Client) -> None:
    huge = "word " * (BODY_LIMIT // 4)
    big_body = client.post("/v1/completions", json={"model": BASE_MODEL, "prompt": huge})
    assert _error(big_body, 413)["code"] == "request_too_large"
    long_prompt = "lorem ipsum " * 1500  # ~3000 tokens, under the body limit, over the token limit
    assert _error(client.post("/v1/completions", json={"model": BASE_MODEL, "prompt": long_prompt}), 413)
    many = {"facts": [{"subject": f"s{i}", "relation": "r", "object": "o"} for i in range(1001)]}
    assert _error(client.post("/v1/facts", json=many), 413)["param"] == "facts"


def test_facts_round_trip(client: httpx.Client) -> None:
    subject = _unique("Zorbania")
    one = client.post("/v1/facts", json={"subject": subject, "relation": "capital", "object": "Old Town"})
    assert one.status_code == 200, one.text
    old = one.json()["added"][0]
    assert old["subject"] == subject and old["active"]

    many = client.post(
        "/v1/facts",
        json={
            "facts": [
                {
                    "subject": subject,
                    "relation": "capital",
                    "object": "New Town",
                    "sentence": f"The capital of {subject} is New Town.",
                },
                {"subject": subject, "relation": "currency", "object": "Zorb"},
            ]
        },
    ).json()
    assert [f["object"] for f in many["added"]] == ["New Town", "Zorb"]
    assert [f["id"] for f in many["superseded"]] == [old["id"]]

    again = client.post(
        "/v1/facts", json={"subject": subject, "relation": "currency", "object": "Zorb"}
    ).json()
    assert again["added"] == [] and len(again["unchanged"]) == 1

    found = client.get("/v1/facts", params={"query": f"What is the capital of {subject}?", "k": 3}).json()[
        "data"
    ]
    assert found[0]["object"] == "New Town" and found[0]["score"] is not None
    assert old["id"] not in {f["id"] for f in found}

    history = client.get(f"/v1/facts/{subject}/capital/history").json()["data"]
    assert [(f["object"], f["active"]) for f in history] == [("Old Town", False), ("New Town", True)]

    new_id = many["added"][0]["id"]
    deleted = client.delete(f"/v1/facts/{new_id}")
    assert deleted.status_code == 200 and deleted.json()["deleted"] is True
    assert _error(client.delete(f"/v1/facts/{new_id}"), 404)["code"] == "fact_not_found"
    listed = {f["id"] for f in client.get("/v1/facts", params={"k": 1000}).json()["data"]}
    assert new_id not in listed


def test_invalid_facts_get_400(client: httpx.Client) -> None:
    _error(client.post("/v1/facts", json={"subject": "x", "relation": "y"}), 400)
    _error(client.post("/v1/facts", json={"subject": " ", "relation": "y", "object": "z"}), 400)
    _error(client.post("/v1/facts", json={"facts": []}), 400)
    _error(
        client.post("/v1/facts", json={"subject": "x", "relation": "y", "object": "z", "kind": "rumour"}), 400
    )


def test_load_fact_file_and_report_bad_line(client: httpx.Client) -> None:
    subject = _unique("Quuxland")
    rows = [
        {"subject": subject, "relation": "head of state", "object": "Queen Ada"},
        {"subject": subject, "relation": "official language", "object": "Quux"},
    ]
    body = "\n".join(json.dumps(row) for row in rows).encode()
    loaded = client.post(  # an upload is a background job; wait=true answers once it is done
        "/v1/facts:load", params={"format": "jsonl", "filename": "edits.jsonl", "wait": "true"}, content=body
    )
    assert loaded.status_code == 200, loaded.text
    assert loaded.json()["status"] == "done"
    assert sorted(f["object"] for f in loaded.json()["result"]["added"]) == ["Queen Ada", "Quux"]

    broken = body + b'\n{"subject": "only a subject"\n'
    error = _error(
        client.post("/v1/facts:load", params={"format": "jsonl", "filename": "bad.jsonl"}, content=broken),
        400,
    )
    assert "bad.jsonl" in error["message"] and "line 3" in error["message"]
    _error(client.post("/v1/facts:load", params={"format": "jsonl"}, content=b""), 400)


def test_metrics_count_requests_by_endpoint_and_status(client: httpx.Client) -> None:
    client.get("/v1/models/does-not-exist")
    text = client.get("/metrics").text
    assert 'hopedit_requests_total{endpoint="/v1/models/{model_id}",method="GET",status="404"}' in text
    assert "hopedit_request_latency_seconds_bucket" in text
    assert 'hopedit_queue_depth{stage="admitted"}' in text


def test_loadtest_refuses_remote_servers() -> None:
    from evals.loadtest import require_loopback

    require_loopback("http://127.0.0.1:8000")
    require_loopback("http://localhost:8000")
    for url in ("http://10.0.0.5:8000", "http://example.com", "http://0.0.0.0:8000"):
        with pytest.raises(SystemExit):
            require_loopback(url)


def test_loadtest_counts_acknowledged_writes_and_finds_them(server: RunningServer, tmp_path) -> None:
    from evals.loadtest import main

    out = tmp_path / "writes.json"
    args = [
        "--url",
        server.url,
        "--api-key",
        API_KEY,
        "--clients",
        "3",
        "--seconds",
        "3",
        "--write-ratio",
        "1",
        "--single-requests",
        "0",
        "--label",
        "writes-only",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    result = json.loads(out.read_text())
    assert result["failures"] == 0 and result["lost_facts"] == 0
    assert result["acked_facts"] == result["writes"]["count"] > 0
    assert result["questions"]["count"] == 0
