"""What every router needs from the request: the app's serving engine."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from agent.server.serving import ServingEngine


def get_engine(request: Request) -> ServingEngine:
    return request.app.state.engine


Engine = Annotated[ServingEngine, Depends(get_engine)]
