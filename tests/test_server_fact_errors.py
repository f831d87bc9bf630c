"""The facts API's errors and look-ups, in process: the facts router with a stub engine, no model.

A single fact missing a field must be reported as that field, and a subject containing '/' must be
reachable through the history endpoint.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.testclient import TestClient

from agent.server.app import _validation_error
from agent.server.protocol import FactOut
from agent.server.routers import facts
from agent.server.routers.deps import get_engine


class StubEngine:
    """Records what the router hands on; answers history from a fixed table."""

    def __init__(self) -> None:
        self.facts = self  # the router reaches the facts logic as `engine.facts`
        self.added: list[Any] = []
        self.versions = {
            ("AC/DC", "genre"): [
                FactOut(
                    id="f1",
                    subject="AC/DC",
                    relation="genre",
                    object="hard rock",
                    sentence="AC/DC plays hard rock.",
                    kind="edit",
                    source="api",
                    active=True,
                    superseded_by=None,
                    added_at=0.0,
                )
            ]
        }

    def add_facts(self, facts: list[Any]) -> dict[str, list[FactOut]]:
        self.added.extend(facts)
        return {"added": [], "superseded": [], "unchanged": []}

    def history(self, subject: str, relation: str) -> list[FactOut]:
        return self.versions.get((subject, relation), [])


@pytest.fixture
def client_and_engine() -> tuple[TestClient, StubEngine]:
    engine = StubEngine()
    app = FastAPI()
    app.include_router(facts.router)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.dependency_overrides[get_engine] = lambda: engine
    return TestClient(app), engine


def test_single_fact_missing_object_names_the_field(client_and_engine: tuple[TestClient, StubEngine]) -> None:
    client, engine = client_and_engine
    response = client.post("/v1/facts", json={"subject": "Peltam Looms", "relation": "founded by"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["message"] == "fact.object: Field required"
    assert "Extra inputs" not in error["message"]
    assert engine.added == []


def test_batch_errors_name_the_fact_and_field(client_and_engine: tuple[TestClient, StubEngine]) -> None:
    client, engine = client_and_engine
    body = {"facts": [{"subject": "A", "relation": "r", "object": "B"}, {"subject": "C", "relation": "r"}]}
    response = client.post("/v1/facts", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "batch.facts.1.object: Field required"
    ok = client.post("/v1/facts", json={"subject": "A", "relation": "r", "object": "B"})
    assert ok.status_code == 200, ok.text
    assert [(fact.subject, fact.object) for fact in engine.added] == [("A", "B")]


def test_history_of_a_subject_with_a_slash(client_and_engine: tuple[TestClient, StubEngine]) -> None:
    client, _ = client_and_engine
    response = client.get("/v1/facts:history", params={"subject": "AC/DC", "relation": "genre"})
    assert response.status_code == 200, response.text
    assert [(fact["subject"], fact["object"]) for fact in response.json()["data"]] == [("AC/DC", "hard rock")]
    missing = client.get("/v1/facts:history", params={"subject": "AC/DC"})
    assert missing.status_code == 400 and "relation" in missing.json()["error"]["message"]
