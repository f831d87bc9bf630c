"""Everything a server instance is configured with, passed explicitly (never read from globals)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from editor.prompt_lookup import PromptLookupConfig


@dataclass
class ServerConfig:
    host: str = "127.0.0.1"  # loopback by default: exposing the server is an explicit choice
    port: int = 8000
    api_key: str | None = None
    store: Path | None = None
    chroma_url: str | None = None
    model: str | None = None  # base model spec, as for every other command
    prefixes: Path | None = None  # trained InstructEd prefixes; None: the shipped ones
    max_queue: int = 64  # model-bound requests admitted at once; beyond this the server answers 429
    retry_after_s: int = 1  # the Retry-After a 429 carries
    max_batch: int = 16  # requests per model batch; 1 disables dynamic batching
    batch_wait_ms: float = 10.0  # how long the first request of a batch waits for company
    # Guessed tokens the model checks per pass while one greedy request decodes (`editor.prompt_lookup`).
    prompt_lookup: PromptLookupConfig = field(default_factory=PromptLookupConfig)
    max_body_bytes: int = 4 * 1024 * 1024
    max_prompt_tokens: int = 2048
    max_new_tokens: int = 512  # the largest max_tokens a request may ask for
    default_max_tokens: int = 128
    max_facts_per_request: int = 1000
